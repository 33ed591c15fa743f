/*
 * testlib.h: the environment of integration tests (see ci/testenv.sh).
 * Every helper aborts the test program with a message when the environment
 * is missing: integration tests fail, they never skip.
 */
#ifndef COFFER_TESTLIB_H
#define COFFER_TESTLIB_H

#include "cf.h"

/* The value of environment variable ${name}, or abort. */
const char *tl_env(const char *name);

/*
 * tl_fresh_database(prefix): create an empty database named after ${prefix}
 * and the process id, and return its conninfo (static buffer).
 */
const char *tl_fresh_database(const char *prefix);

/* tl_sql(conninfo, sql): run ${sql} as the superuser; abort on failure. */
void tl_sql(const char *conninfo, const char *sql);

/* tl_sql_value(conninfo, sql): the first column of the first row, malloc'd. */
char *tl_sql_value(const char *conninfo, const char *sql);

/*
 * tl_conn_value(conn, sql): tl_sql_value on an open connection (a libpq
 * PGconn), whose session state (PREPARE, SET) the next call keeps.
 */
struct pg_conn;
char *tl_conn_value(struct pg_conn *, const char *sql);

/* tl_pin(): the token's user PIN (secret memory; caller frees). */
struct cf_secret *tl_pin(void);

#endif
