/*
 * testlib.c: environment helpers for integration tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "testlib.h"

const char *
tl_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set: run the tests with ci/test "
		    "(ci/testenv.sh sets up PostgreSQL and SoftHSM)\n", name);
		exit(2);
	}
	return (v);
}

static PGresult *
run(const char *conninfo, const char *sql, PGconn **out)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect %s: %s", conninfo, PQerrorMessage(c));
		exit(2);
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	*out = c;
	return (r);
}

/* The first column of ${r}'s first row (malloc'd), or NULL; clears ${r}. */
static char *
first_value(PGresult *r)
{
	char *v = NULL;

	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return (v);
}

void
tl_sql(const char *conninfo, const char *sql)
{
	PGconn *c;

	PQclear(run(conninfo, sql, &c));
	PQfinish(c);
}

char *
tl_sql_value(const char *conninfo, const char *sql)
{
	PGconn *c;
	PGresult *r = run(conninfo, sql, &c);
	char *v = first_value(r);

	PQfinish(c);
	return (v);
}

char *
tl_conn_value(struct pg_conn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	return (first_value(r));
}

const char *
tl_fresh_database(const char *prefix)
{
	static char conninfo[512];
	char sql[256], db[64];

	snprintf(db, sizeof(db), "%s_%ld", prefix, (long)getpid());
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
	tl_sql(tl_env("COFFER_TEST_PG_ADMIN"), sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	tl_sql(tl_env("COFFER_TEST_PG_ADMIN"), sql);
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%s user=postgres "
	    "dbname=%s", tl_env("COFFER_TEST_PGHOST"),
	    tl_env("COFFER_TEST_PGPORT"), db);
	return (conninfo);
}

struct cf_secret *
tl_pin(void)
{
	struct cf_secret *pin = NULL;
	struct cf_error err;

	if (cf_read_secret_file(tl_env("COFFER_TEST_PIN_FILE"), &pin, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
	return (pin);
}
