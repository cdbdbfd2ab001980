/*
 * Bare C peer for the reconciler's sweep on a Redis Cluster: hiredis 0.14, the slot map from
 * CLUSTER SLOTS of a seed node, the keys product:1..N:stock grouped by the master that owns
 * their slot (CRC16/XMODEM mod 16384, hash tags honoured, as the cluster spec's crc16.c), then
 * every master read at once, one thread and one connection per master, with one of two shapes:
 *
 *   mget  per-slot MGETs (a slot's keys in one MGET, split at B keys), D MGETs in flight;
 *   get   pipelined GETs, written B at a time, D such batches (D*B GETs) in flight.
 *
 * Each batch is written as soon as the oldest one's reply is in, before that reply is walked
 * (as bench/redis_mget_baseline.c does). Key names are built before the clock starts; grouping
 * keys by slot and node is timed on its own ("group_seconds"); "seconds" and "keys_per_s" are
 * the reads alone, from the threads' start to the last reply. Any error reply (MOVED, ASK,
 * CROSSSLOT, ...) fails the run.
 *
 * The loader writes the same keys (value = i mod 1000) per master with pipelined SETs, all
 * masters at once; a value's sum is checked by every read.
 *
 * Build: cc -O2 -Wall -pthread -o redis_cluster_mget_baseline bench/redis_cluster_mget_baseline.c \
 *          $(pkg-config --cflags --libs hiredis)
 * Run:   ./redis_cluster_mget_baseline load HOST PORT N [B D]        (defaults B=1000 D=8)
 *        ./redis_cluster_mget_baseline mget HOST PORT N [B D]
 *        ./redis_cluster_mget_baseline get  HOST PORT N [B D]
 *   HOST PORT is any node of the cluster (the seed). Prints one JSON line per run:
 *   {"bench":"redis-cluster-sweep","impl":"c","mode":"mget","keys":N,"masters":M,"batch":B,
 *    "depth":D,"commands":C,"found":F,"sum":S,"group_seconds":G,"seconds":T,"keys_per_s":R}
 *   (mode "load": the same fields for the writes). A password, when the nodes need one, is read
 *   from REDISCLI_AUTH (as redis-cli does).
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 16384
#define MAX_MASTERS 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The Redis Cluster specification's CRC16 table (XMODEM: polynomial 0x1021, init 0). */
static const uint16_t crc16tab[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

static uint16_t crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) crc = (uint16_t)(crc << 8) ^ crc16tab[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff];
    return crc;
}

/* The key's slot: only the part between the first '{' and the next '}' when it is not empty. */
static int keyslot(const char *key, size_t len) {
    size_t s, e;
    for (s = 0; s < len; s++) if (key[s] == '{') break;
    if (s == len) return crc16(key, len) & (SLOTS - 1);
    for (e = s + 1; e < len; e++) if (key[e] == '}') break;
    if (e == len || e == s + 1) return crc16(key, len) & (SLOTS - 1);
    return crc16(key + s + 1, e - s - 1) & (SLOTS - 1);
}

typedef struct {
    char host[256];
    int port;
    redisContext *c;
    /* This master's keys (indices into the global name arrays), in slot order, and its batches:
       batch b covers keys[bstart[b] .. bstart[b+1]). */
    long *keys, nkeys;
    long *bstart, nbatches;
    /* Results. */
    long found, errors, commands;
    long long sum;
    char err[256];
} master_t;

static char **names;
static size_t *lens;
static const char *mode;
static long batch, depth;

static redisContext *connect_node(const char *host, int port) {
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "connect %s:%d: %s\n", host, port, c ? c->errstr : "out of memory");
        exit(1);
    }
    redisSetTimeout(c, tv);
    const char *pw = getenv("REDISCLI_AUTH");
    if (pw && *pw) {
        redisReply *r = redisCommand(c, "AUTH %s", pw);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) { fprintf(stderr, "AUTH refused by %s:%d\n", host, port); exit(1); }
        freeReplyObject(r);
    }
    return c;
}

/* Appends batch b's command(s): one MGET, or one GET/SET per key. */
static void send_batch(master_t *m, long b, const char **av, size_t *avlen, char *vals) {
    long lo = m->bstart[b], hi = m->bstart[b + 1];
    if (strcmp(mode, "mget") == 0) {
        av[0] = "MGET"; avlen[0] = 4;
        for (long i = lo; i < hi; i++) { av[1 + i - lo] = names[m->keys[i]]; avlen[1 + i - lo] = lens[m->keys[i]]; }
        redisAppendCommandArgv(m->c, (int)(hi - lo + 1), av, avlen);
        m->commands++;
    } else if (strcmp(mode, "get") == 0) {
        av[0] = "GET"; avlen[0] = 3;
        for (long i = lo; i < hi; i++) {
            av[1] = names[m->keys[i]]; avlen[1] = lens[m->keys[i]];
            redisAppendCommandArgv(m->c, 2, av, avlen);
        }
        m->commands += hi - lo;
    } else { /* load */
        av[0] = "SET"; avlen[0] = 3;
        for (long i = lo; i < hi; i++) {
            long k = m->keys[i];
            char *v = vals + (i - lo) * 8;
            av[1] = names[k]; avlen[1] = lens[k];
            av[2] = v; avlen[2] = (size_t)snprintf(v, 8, "%ld", (k + 1) % 1000);
            redisAppendCommandArgv(m->c, 3, av, avlen);
        }
        m->commands += hi - lo;
    }
    int done = 0;
    do {
        if (redisBufferWrite(m->c, &done) != REDIS_OK) { snprintf(m->err, sizeof m->err, "write: %s", m->c->errstr); return; }
    } while (!done);
}

static void take_value(master_t *m, redisReply *e) {
    if (e->type == REDIS_REPLY_STRING) {
        long v = 0;
        for (size_t k = 0; k < e->len; k++) v = v * 10 + (e->str[k] - '0');
        m->found++;
        m->sum += v;
    } else if (e->type == REDIS_REPLY_ERROR) {
        if (m->errors++ == 0) snprintf(m->err, sizeof m->err, "error reply: %.200s", e->str);
    }
}

static void *run_master(void *arg) {
    master_t *m = arg;
    const char **av = malloc(sizeof(char *) * (batch + 3));
    size_t *avlen = malloc(sizeof(size_t) * (batch + 3));
    char *vals = malloc((size_t)batch * 8);
    long sent = 0;
    while (sent < depth && sent < m->nbatches && !m->err[0]) send_batch(m, sent++, av, avlen, vals);
    for (long b = 0; b < m->nbatches && !m->err[0]; b++) {
        long replies = strcmp(mode, "mget") == 0 ? 1 : m->bstart[b + 1] - m->bstart[b];
        for (long j = 0; j < replies; j++) {
            redisReply *r;
            if (redisGetReply(m->c, (void **)&r) != REDIS_OK) {
                snprintf(m->err, sizeof m->err, "read: %s", m->c->errstr);
                break;
            }
            /* The next batch goes out as soon as the oldest batch's first reply is in. */
            if (j == 0 && sent < m->nbatches) send_batch(m, sent++, av, avlen, vals);
            if (strcmp(mode, "mget") == 0 && r->type == REDIS_REPLY_ARRAY) {
                for (size_t k = 0; k < r->elements; k++) take_value(m, r->element[k]);
            } else if (strcmp(mode, "load") == 0 && r->type == REDIS_REPLY_STATUS) {
                m->found++;
            } else {
                take_value(m, r);
            }
            freeReplyObject(r);
        }
    }
    free(av); free(avlen); free(vals);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s load|mget|get HOST PORT N [B D]\n", argv[0]);
        return 2;
    }
    mode = argv[1];
    const char *seed_host = argv[2];
    int seed_port = atoi(argv[3]);
    long n = atol(argv[4]);
    batch = argc > 5 ? atol(argv[5]) : 1000;
    depth = argc > 6 ? atol(argv[6]) : 8;
    if ((strcmp(mode, "load") && strcmp(mode, "mget") && strcmp(mode, "get")) || n <= 0 || batch <= 0 || depth <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }

    /* All key names, built once. */
    names = malloc(sizeof(char *) * n);
    lens = malloc(sizeof(size_t) * n);
    char *pool = malloc((size_t)n * 32);
    for (long i = 0; i < n; i++) {
        names[i] = pool + (size_t)i * 32;
        lens[i] = (size_t)snprintf(names[i], 32, "product:%ld:stock", i + 1);
    }

    /* The slot map: CLUSTER SLOTS of the seed; masters by address. */
    redisContext *seed = connect_node(seed_host, seed_port);
    redisReply *slots = redisCommand(seed, "CLUSTER SLOTS");
    if (slots == NULL || slots->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "CLUSTER SLOTS: %s\n", slots && slots->type == REDIS_REPLY_ERROR ? slots->str : "unexpected reply");
        return 1;
    }
    static master_t masters[MAX_MASTERS];
    int nmasters = 0;
    static int16_t owner[SLOTS];
    for (int s = 0; s < SLOTS; s++) owner[s] = -1;
    for (size_t i = 0; i < slots->elements; i++) {
        redisReply *e = slots->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2) { fprintf(stderr, "CLUSTER SLOTS: unexpected entry\n"); return 1; }
        redisReply *node = e->element[2];
        const char *host = node->element[0]->len ? node->element[0]->str : seed_host;
        int port = (int)node->element[1]->integer, m;
        for (m = 0; m < nmasters; m++) if (masters[m].port == port && strcmp(masters[m].host, host) == 0) break;
        if (m == nmasters) {
            if (nmasters == MAX_MASTERS) { fprintf(stderr, "too many masters\n"); return 1; }
            snprintf(masters[m].host, sizeof masters[m].host, "%s", host);
            masters[m].port = port;
            nmasters++;
        }
        for (long long s = e->element[0]->integer; s <= e->element[1]->integer && s < SLOTS; s++) owner[s] = (int16_t)m;
    }
    freeReplyObject(slots);
    redisFree(seed);
    for (int s = 0; s < SLOTS; s++) if (owner[s] < 0) { fprintf(stderr, "slot %d is not served\n", s); return 1; }
    for (int m = 0; m < nmasters; m++) masters[m].c = connect_node(masters[m].host, masters[m].port);

    /* Grouping (timed): each key's slot; keys by master in slot order (a counting sort over
       the slots), then batches: per slot up to B keys for mget, B keys in a row otherwise. */
    double g0 = now();
    int *slot_of = malloc(sizeof(int) * n);
    long *per_slot = calloc(SLOTS + 1, sizeof(long));
    for (long i = 0; i < n; i++) { slot_of[i] = keyslot(names[i], lens[i]); per_slot[slot_of[i] + 1]++; }
    for (int s = 0; s < SLOTS; s++) per_slot[s + 1] += per_slot[s];
    long *by_slot = malloc(sizeof(long) * n);
    long *fill = malloc(sizeof(long) * SLOTS);
    memcpy(fill, per_slot, sizeof(long) * SLOTS);
    for (long i = 0; i < n; i++) by_slot[fill[slot_of[i]]++] = i;
    for (int s = 0; s < SLOTS; s++) masters[owner[s]].nkeys += per_slot[s + 1] - per_slot[s];
    for (int m = 0; m < nmasters; m++) {
        masters[m].keys = malloc(sizeof(long) * (masters[m].nkeys + 1));
        masters[m].bstart = malloc(sizeof(long) * (masters[m].nkeys + SLOTS + 2));
        masters[m].nkeys = 0;
    }
    for (int s = 0; s < SLOTS; s++) {
        master_t *m = &masters[owner[s]];
        int per_slot_batches = strcmp(mode, "mget") == 0;
        for (long j = per_slot[s]; j < per_slot[s + 1]; j++) {
            long here = m->nkeys - (m->nbatches ? m->bstart[m->nbatches - 1] : 0);
            if (m->nbatches == 0 || here == batch || (per_slot_batches && j == per_slot[s]))
                m->bstart[m->nbatches++] = m->nkeys;
            m->keys[m->nkeys++] = by_slot[j];
        }
    }
    for (int m = 0; m < nmasters; m++) masters[m].bstart[masters[m].nbatches] = masters[m].nkeys;
    double group_secs = now() - g0;

    /* The reads (or writes): one thread per master. */
    pthread_t threads[MAX_MASTERS];
    double t0 = now();
    for (int m = 0; m < nmasters; m++) pthread_create(&threads[m], NULL, run_master, &masters[m]);
    for (int m = 0; m < nmasters; m++) pthread_join(threads[m], NULL);
    double secs = now() - t0;

    long found = 0, commands = 0;
    long long sum = 0, expected = 0;
    int failed = 0;
    for (int m = 0; m < nmasters; m++) {
        found += masters[m].found; sum += masters[m].sum; commands += masters[m].commands;
        if (masters[m].err[0]) { fprintf(stderr, "%s:%d: %s\n", masters[m].host, masters[m].port, masters[m].err); failed = 1; }
        redisFree(masters[m].c);
    }
    for (long i = 0; i < n; i++) expected += (i + 1) % 1000;
    if (strcmp(mode, "load") == 0) sum = expected;
    printf("{\"bench\":\"redis-cluster-sweep\",\"impl\":\"c\",\"mode\":\"%s\",\"keys\":%ld,\"masters\":%d,\"batch\":%ld,"
           "\"depth\":%ld,\"commands\":%ld,\"found\":%ld,\"sum\":%lld,\"group_seconds\":%.6f,\"seconds\":%.6f,"
           "\"keys_per_s\":%.0f}\n",
           mode, n, nmasters, batch, depth, commands, found, sum, group_secs, secs, n / secs);
    if (!failed && found != n) { fprintf(stderr, "%ld of %ld keys found (load them first)\n", found, n); failed = 1; }
    if (!failed && sum != expected) { fprintf(stderr, "sum %lld, expected %lld\n", sum, expected); failed = 1; }
    return failed;
}
