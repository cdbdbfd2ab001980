/*
 * Bare C baseline for the reconciler's full sweep: hiredis 0.14, pipelined MGET of
 * product:1..N:stock in batches of B keys, D MGETs in flight (the next MGET is written as soon
 * as the oldest reply is in, before that reply is walked), exactly like
 * RedisConnection.mget(keys:batchSize:pipelineDepth:).
 *
 * Key names are built before the clock starts (the Swift bench does the same). With a sixth
 * argument SEED > 0 they are read in a shuffled order (srand(SEED)) instead of id order: Redis's
 * lookups cost more when consecutive keys are not neighbours in its memory.
 * Prints one JSON line: {"impl":"c","keys":N,...,"found":F,"sum":S,"seconds":T,"keys_per_s":R}
 *
 * Build: cc -O2 -o redis_mget_baseline bench/redis_mget_baseline.c $(pkg-config --cflags --libs hiredis)
 * Run:   ./redis_mget_baseline HOST PORT N B D [SEED]
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 6379;
    long n = argc > 3 ? atol(argv[3]) : 1000000;
    long batch = argc > 4 ? atol(argv[4]) : 1000;
    long depth = argc > 5 ? atol(argv[5]) : 8;
    if (n <= 0 || batch <= 0 || depth <= 0) { fprintf(stderr, "bad arguments\n"); return 2; }

    /* All key names, built once: argv[0] of every batch is "MGET". */
    char **names = malloc(sizeof(char *) * n);
    size_t *lens = malloc(sizeof(size_t) * n);
    char *pool = malloc((size_t)n * 32);
    for (long i = 0; i < n; i++) {
        names[i] = pool + (size_t)i * 32;
        lens[i] = (size_t)snprintf(names[i], 32, "product:%ld:stock", i + 1);
    }
    long seed = argc > 6 ? atol(argv[6]) : 0;
    if (seed > 0) {
        srand((unsigned)seed);
        for (long i = n - 1; i > 0; i--) {
            long j = (long)(((unsigned long)rand() << 31 | (unsigned long)rand()) % (unsigned long)(i + 1));
            char *t = names[i]; names[i] = names[j]; names[j] = t;
            size_t l = lens[i]; lens[i] = lens[j]; lens[j] = l;
        }
    }
    const char **av = malloc(sizeof(char *) * (batch + 1));
    size_t *avlen = malloc(sizeof(size_t) * (batch + 1));

    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) { fprintf(stderr, "connect: %s\n", c ? c->errstr : "oom"); return 1; }

    long chunks = (n + batch - 1) / batch, sent = 0, found = 0;
    long long sum = 0;
    double t0 = now();

#define SEND()                                                                 \
    do {                                                                       \
        long lo = sent * batch, hi = lo + batch < n ? lo + batch : n;          \
        av[0] = "MGET"; avlen[0] = 4;                                          \
        memcpy(av + 1, names + lo, sizeof(char *) * (hi - lo));                \
        memcpy(avlen + 1, lens + lo, sizeof(size_t) * (hi - lo));              \
        redisAppendCommandArgv(c, (int)(hi - lo + 1), av, avlen);              \
        sent++;                                                                \
    } while (0)

    while (sent < depth && sent < chunks) SEND();
    for (long chunk = 0; chunk < chunks; chunk++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) { fprintf(stderr, "read: %s\n", c->errstr); return 1; }
        if (sent < chunks) {
            int done = 0;
            SEND();
            do {
                if (redisBufferWrite(c, &done) != REDIS_OK) { fprintf(stderr, "write: %s\n", c->errstr); return 1; }
            } while (!done);
        }
        if (r->type != REDIS_REPLY_ARRAY) { fprintf(stderr, "unexpected reply type %d\n", r->type); return 1; }
        for (size_t j = 0; j < r->elements; j++) {
            redisReply *e = r->element[j];
            if (e->type == REDIS_REPLY_STRING) {
                long v = 0;
                for (size_t k = 0; k < e->len; k++) v = v * 10 + (e->str[k] - '0');
                found++;
                sum += v;
            }
        }
        freeReplyObject(r);
    }
    double secs = now() - t0;
    printf("{\"bench\":\"redis-sweep\",\"impl\":\"c\",\"keys\":%ld,\"batch\":%ld,\"depth\":%ld,\"found\":%ld,"
           "\"sum\":%lld,\"seconds\":%.6f,\"keys_per_s\":%.0f}\n",
           n, batch, depth, found, sum, secs, n / secs);
    redisFree(c);
    return 0;
}
