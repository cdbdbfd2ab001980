#ifndef CMariaDB_SHIM_H
#define CMariaDB_SHIM_H
#include <stddef.h>
#include <mysql.h>
#include <mariadb_rpl.h>

/*
 * Swift cannot call C variadic functions, so every mysql_optionsv / mariadb_rpl_optionsv call the
 * package makes goes through one of these wrappers. Each wrapper fixes the exact C type the option
 * reads with va_arg (libmariadb 3.3): passing an int where the library reads size_t or unsigned long
 * is undefined behaviour on LP64 (MARIADB_RPL_FILENAME takes char * and size_t, MARIADB_RPL_START
 * unsigned long, MARIADB_RPL_SERVER_ID and MARIADB_RPL_FLAGS unsigned int).
 */

/* ---- mysql_optionsv: the option argument is a pointer to the value (or the string itself). ---- */

/* MYSQL_OPT_CONNECT_TIMEOUT, MYSQL_OPT_READ_TIMEOUT, MYSQL_OPT_WRITE_TIMEOUT, MYSQL_OPT_PROTOCOL:
   the library reads *(unsigned int *)arg. */
static inline int cmariadb_set_option_uint(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_optionsv(mysql, option, &value);
}

/* MYSQL_OPT_SSL_ENFORCE, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, MYSQL_OPT_RECONNECT:
   the library reads *(my_bool *)arg (my_bool is char). */
static inline int cmariadb_set_option_bool(MYSQL *mysql, enum mysql_option option, my_bool value) {
    return mysql_optionsv(mysql, option, &value);
}

/* MYSQL_OPT_MAX_ALLOWED_PACKET: the library reads *(size_t *)arg. */
static inline int cmariadb_set_option_size(MYSQL *mysql, enum mysql_option option, size_t value) {
    return mysql_optionsv(mysql, option, &value);
}

/* MYSQL_OPT_SSL_KEY, MYSQL_OPT_SSL_CERT, MYSQL_OPT_SSL_CA, MYSQL_SET_CHARSET_NAME:
   the library reads (char *)arg and copies the string. */
static inline int cmariadb_set_option_string(MYSQL *mysql, enum mysql_option option, const char *value) {
    return mysql_optionsv(mysql, option, value);
}

/* MARIADB_OPT_TLS_PEER_FP and MARIADB_OPT_RESTRICTED_AUTH are string options too (strdup()ed by
   OPT_SET_EXTENDED_VALUE_STR in libmariadb 3.3; an empty string is stored as "", not as NULL). */

/* The negotiated TLS protocol ("TLSv1.3"), or NULL for a plaintext connection
   (mariadb_get_infov(MARIADB_CONNECTION_TLS_VERSION) writes a const char * through arg). */
static inline const char *cmariadb_tls_version(MYSQL *mysql) {
    const char *version = NULL;
    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_TLS_VERSION, &version) != 0) return NULL;
    return version;
}

/* MYSQL_OPT_CONNECT_ATTR_ADD: two strings (key, value), both copied. */
static inline int cmariadb_add_connect_attribute(MYSQL *mysql, const char *key, const char *value) {
    return mysql_optionsv(mysql, MYSQL_OPT_CONNECT_ATTR_ADD, key, value);
}

/* ---- mariadb_rpl_optionsv ---- */

/* MARIADB_RPL_FILENAME takes (char *, size_t). A non-zero length stores the bytes without a NUL
   terminator; length 0 with a non-NULL name strdup()s it (so "" gives an empty name). */
static inline int cmariadb_rpl_set_filename(MARIADB_RPL *rpl, const char *name, size_t length) {
    return mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, name, length);
}

/* MARIADB_RPL_START takes unsigned long (sent as a u32 in COM_BINLOG_DUMP). */
static inline int cmariadb_rpl_set_start(MARIADB_RPL *rpl, unsigned long position) {
    return mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, position);
}

/* MARIADB_RPL_SERVER_ID takes unsigned int. */
static inline int cmariadb_rpl_set_server_id(MARIADB_RPL *rpl, unsigned int server_id) {
    return mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, server_id);
}

/* MARIADB_RPL_FLAGS takes unsigned int but is stored in a uint16_t: flags above bit 15
   (MARIADB_RPL_IGNORE_HEARTBEAT) are silently dropped. */
static inline int cmariadb_rpl_set_flags(MARIADB_RPL *rpl, unsigned int flags) {
    return mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, flags);
}

/* ---- raw commands ---- */

/* Sends one command packet (command byte + body) the way libmariadb's own ma_simple_command does:
   through mysql->methods->db_command, the function-pointer table public in mysql.h
   (struct st_mariadb_methods; mthd_my_send_cmd in libmariadb 3.3). skip_check = 1: the reply is not
   read here, the caller reads the packets that follow (mariadb_rpl_fetch for a binlog dump). Used
   for COM_BINLOG_DUMP_GTID (0x1e), which libmariadb's API cannot send. An empty body is refused
   (db_command would strlen() it). Returns 0 on success; the error is in mysql_errno(). */
static inline int cmariadb_send_command(MYSQL *mysql, unsigned char command, const unsigned char *body, size_t length) {
    if (!mysql || !mysql->methods || !mysql->methods->db_command || !body || length == 0)
        return 1;
    return mysql->methods->db_command(mysql, (enum enum_server_command)command, (const char *)body, length, 1, NULL);
}

/* ---- reading a binlog dump from the socket ---- */

#include <ma_pvio.h>

/* The connection's socket when the packets that follow can be read from it directly: a TCP or
   Unix socket connection without TLS and without protocol compression, with nothing left unread in
   libmariadb's read-ahead cache (pvio->cache) or in the packet buffer. Then every byte still to come
   on the socket is a plain protocol packet (3-byte length, sequence number, payload). *next_seq gets
   the sequence number the next packet must carry (net.pkt_nr after the command was written).
   Returns -1 when any of that does not hold: the caller then reads with mariadb_rpl_fetch. */
static inline int cmariadb_plain_dump_socket(MYSQL *mysql, unsigned int *next_seq) {
    if (!mysql || !mysql->net.pvio) return -1;
    MARIADB_PVIO *pvio = mysql->net.pvio;
    if (pvio->ctls || mysql->net.compress) return -1;
    if (pvio->type != PVIO_TYPE_SOCKET && pvio->type != PVIO_TYPE_UNIXSOCKET) return -1;
    if (pvio->cache && pvio->cache_pos < pvio->cache + pvio->cache_size) return -1;
    if (mysql->net.remain_in_buf != 0) return -1;
    if (next_seq) *next_seq = mysql->net.pkt_nr & 0xff;
    return (int)mysql_get_socket(mysql);
}

#endif
