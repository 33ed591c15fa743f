/*
 * pgbase.c: the pg-point-select baseline of coffer-bench.
 *
 * What the database alone can do for the server's lookups: T threads, each
 * with its own libpq connection to the server's database, run the prepared
 * point-select "SELECT uuid, name, arn FROM secrets WHERE name = $1" over
 * the seeded names, one query in flight per connection.  A query that
 * fails, or that does not find the seeded secret (a --database that is not
 * the server's), counts as failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"

#define POINT_SQL "SELECT uuid, name, arn FROM secrets WHERE name = $1"

/* One connection and the thread that drives it. */
struct pgworker {
	struct bench_thread t;	/* first: bench_threads_run */
	int id;
	PGconn *conn;
	struct pgbase *b;
};

struct pgbase {
	int n;
	struct pgworker *ws;
	/* The current run. */
	const char *const *names;
	size_t n_names;
	int64_t end_ns;
	uint64_t limit;			/* 0: none */
	_Atomic uint64_t started;
};

/* The first line of libpq's ${msg}, after ${what}, in ${err}. */
static void
set_error(struct cf_error *err, const char *what, const char *msg)
{
	size_t len = strcspn(msg, "\n");

	cf_error_set(err, CF_ERR_UNAVAILABLE, "%s: %.*s", what, (int)len, msg);
}

/*
 * pgbase_new(conninfo, n, err):
 * Open ${n} connections to ${conninfo} and prepare the point-select on each.
 * Returns the handle (free with pgbase_free), or NULL with ${err} set.
 */
struct pgbase *
pgbase_new(const char *conninfo, int n, struct cf_error *err)
{
	struct pgbase *b;
	PGresult *res;
	int i;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->ws = calloc((size_t)n, sizeof(*b->ws))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err0;
	}
	b->n = n;
	for (i = 0; i < n; i++) {
		b->ws[i].id = i;
		b->ws[i].b = b;

		/* Connect. */
		b->ws[i].conn = PQconnectdb(conninfo);
		if (PQstatus(b->ws[i].conn) != CONNECTION_OK) {
			set_error(err, "could not connect to the database",
			    PQerrorMessage(b->ws[i].conn));
			goto err0;
		}

		/* Prepare the query once per connection. */
		res = PQprepare(b->ws[i].conn, "point", POINT_SQL, 1, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			set_error(err, "could not prepare the point-select",
			    PQresultErrorMessage(res));
			PQclear(res);
			goto err0;
		}
		PQclear(res);
	}

	/* Success! */
	return (b);

err0:
	/* Failure! */
	pgbase_free(b);
	return (NULL);
}

/* A thread: point-selects until the run is over. */
static void *
pgworker_main(void *arg)
{
	struct pgworker *w = arg;
	struct pgbase *b = w->b;
	const char *name, *state, *msg;
	uint64_t i = (uint64_t)w->id;
	PGresult *res;
	int64_t t0;

	for (;;) {
		/* Is the run over? */
		if (stats_now_ns() >= b->end_ns)
			break;
		if (atomic_fetch_add(&b->started, 1) >= b->limit &&
		    b->limit != 0)
			break;

		/* The next seeded name, threads interleaved. */
		name = b->names[i % b->n_names];
		i += (uint64_t)b->n;

		/* One round trip. */
		t0 = stats_now_ns();
		res = PQexecPrepared(w->conn, "point", 1, &name, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			msg = PQresultErrorMessage(res);
			if (msg[0] == '\0')
				msg = PQerrorMessage(w->conn);
			stats_fail(&w->t.st, 0, state, state != NULL ?
			    strlen(state) : 0, msg, strcspn(msg, "\n"));
		} else if (PQntuples(res) != 1) {
			msg = "no row for a seeded secret: is --database the "
			    "server's database?";
			stats_fail(&w->t.st, 0, NULL, 0, msg, strlen(msg));
		} else
			stats_ok(&w->t.st, stats_now_ns() - t0);
		PQclear(res);
	}
	return (NULL);
}

/*
 * pgbase_run(b, names, n_names, seconds, limit, out):
 * Run point-selects over the ${n_names} names at ${names} on every
 * connection for ${seconds} (or ${limit} queries in all, if not 0), and
 * fill ${out}.
 */
void
pgbase_run(struct pgbase *b, const char *const *names, size_t n_names,
    int seconds, uint64_t limit, struct bench_result *out)
{
	/* The run. */
	b->names = names;
	b->n_names = n_names;
	b->limit = limit;
	atomic_store(&b->started, 0);
	b->end_ns = stats_now_ns() + (int64_t)seconds * 1000000000;
	bench_threads_run("pg-point-select", b->ws, sizeof(*b->ws), b->n,
	    pgworker_main, out);
}

/*
 * pgbase_free(b):
 * Close the connections and free ${b}.  NULL does nothing.
 */
void
pgbase_free(struct pgbase *b)
{
	int i;

	if (b == NULL)
		return;
	for (i = 0; b->ws != NULL && i < b->n; i++)
		PQfinish(b->ws[i].conn);
	free(b->ws);
	free(b);
}
