/*
 * Baseline for scripts/bench-replication: the bare libmariadb replication loop.
 *
 * Connects, negotiates the checksum and the MariaDB capability (as ReplicationStream does), opens a
 * NON_BLOCK COM_BINLOG_DUMP at FILE:4 with mariadb_rpl_open, and loops over mariadb_rpl_fetch()
 * until EOF, checking the CRC32 of every event (zlib crc32 over header+body against the stored
 * 4 bytes; the FDE is checked with LOG_EVENT_BINLOG_IN_USE_F clear, as the server computes it).
 * No event is decoded beyond what libmariadb itself does inside mariadb_rpl_fetch.
 *
 * Build: cc -O2 bench/rpl_fetch_baseline.c $(pkg-config --cflags --libs libmariadb) -lz
 * Usage: BR_MYSQL_PASSWORD=... rpl_fetch_baseline HOST PORT USER FILE SERVER_ID
 * Prints one JSON line: {"tool":"c-rpl-fetch","events":…,"bytes":…,"crc_failures":…,"seconds":…}
 */
#include <mysql.h>
#include <mariadb_rpl.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(MYSQL *mysql, const char *what) {
    fprintf(stderr, "rpl_fetch_baseline: %s: %u %s\n", what, mysql_errno(mysql), mysql_error(mysql));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: BR_MYSQL_PASSWORD=... %s HOST PORT USER FILE SERVER_ID\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *user = argv[3], *file = argv[4];
    unsigned int port = (unsigned int)strtoul(argv[2], NULL, 10);
    unsigned int server_id = (unsigned int)strtoul(argv[5], NULL, 10);
    const char *password = getenv("BR_MYSQL_PASSWORD");
    if (!password) {
        fprintf(stderr, "rpl_fetch_baseline: set BR_MYSQL_PASSWORD\n");
        return 2;
    }

    double t0 = now();
    MYSQL *mysql = mysql_init(NULL);
    size_t max_packet = (size_t)1 << 30; /* MYSQL_OPT_MAX_ALLOWED_PACKET reads a size_t */
    mysql_optionsv(mysql, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    if (!mysql_real_connect(mysql, host, user, password, NULL, port, NULL, 0)) die(mysql, "connect");
    if (mysql_query(mysql, "SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4"))
        die(mysql, "SET");

    MARIADB_RPL *rpl = mariadb_rpl_init(mysql);
    if (!rpl) die(mysql, "mariadb_rpl_init");
    /* Exactly the types the library reads with va_arg (libmariadb-notes.md item 10). */
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, file, (size_t)strlen(file));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)4);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, server_id);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, (unsigned int)MARIADB_RPL_BINLOG_DUMP_NON_BLOCK);
    if (mariadb_rpl_open(rpl)) die(mysql, "mariadb_rpl_open");

    MARIADB_RPL_EVENT *ev = NULL;
    unsigned long long events = 0, bytes = 0, crc_failures = 0;
    int checksummed = 1; /* the artificial ROTATE is checksummed when CRC32 was negotiated */
    while ((ev = mariadb_rpl_fetch(rpl, ev))) {
        const unsigned char *p = ev->raw_data + ev->raw_data_ofs;
        size_t n = ev->raw_data_size - ev->raw_data_ofs;
        events++;
        bytes += n;
        if (p[4] == FORMAT_DESCRIPTION_EVENT) checksummed = p[n - 5] == 1;
        if (checksummed && n >= 23) {
            uint32_t stored = (uint32_t)p[n - 4] | (uint32_t)p[n - 3] << 8 | (uint32_t)p[n - 2] << 16 | (uint32_t)p[n - 1] << 24;
            uLong crc;
            if (p[4] == FORMAT_DESCRIPTION_EVENT && (p[17] & 1)) {
                unsigned char flags = p[17] & 0xFE;
                crc = crc32(0L, p, 17);
                crc = crc32(crc, &flags, 1);
                crc = crc32(crc, p + 18, (uInt)(n - 4 - 18));
            } else {
                crc = crc32(0L, p, (uInt)(n - 4));
            }
            if ((uint32_t)crc != stored) crc_failures++;
        }
    }
    /* NULL is both EOF and error (libmariadb-notes.md item 2). */
    if (mysql_errno(mysql)) die(mysql, "mariadb_rpl_fetch");
    if (mariadb_rpl_errno(rpl)) {
        fprintf(stderr, "rpl_fetch_baseline: %u %s\n", mariadb_rpl_errno(rpl), mariadb_rpl_error(rpl));
        return 1;
    }
    double t1 = now();
    mariadb_rpl_close(rpl);
    mysql_close(mysql);
    printf("{\"tool\":\"c-rpl-fetch\",\"events\":%llu,\"bytes\":%llu,\"crc_failures\":%llu,\"seconds\":%.3f}\n",
           events, bytes, crc_failures, t1 - t0);
    return crc_failures ? 1 : 0;
}
