#ifndef CMariaDB_SHIM_H
#define CMariaDB_SHIM_H
#include <mysql.h>
#include <mariadb_rpl.h>
#endif
