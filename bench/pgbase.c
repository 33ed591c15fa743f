/*
 * pgbase.c: the pg-get-statement baseline of coffer-bench.
 *
 * What the database alone can do for GetSecretValue: T threads, each with
 * its own connection to the server's database made by coffer's store
 * library (store_connect, every statement prepared, as a cofferd worker
 * has), run the read GetSecretValue sends for a secret named by label,
 * store_secret_staged(name, "AWSCURRENT"): the secret and its current
 * version in one round trip, decoded into a per-call arena as cofferd does.
 * The names are the seeded ones, threads interleaved, one statement in
 * flight per connection.  The statement text stays in store/, so the
 * baseline follows any change to it.
 *
 * It is read-only: LastAccessedDate is written by the audit writer or
 * engine_get_secret_value, never by the lookup, so the baseline leaves the
 * rows as the API run left them.  A lookup that fails, or that does not
 * find the seeded secret and its current version (a --database that is
 * not the server's), counts as failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#include "bench.h"

#define STAGE "AWSCURRENT"		/* GetSecretValue's default label */

/* One connection and the thread that drives it. */
struct pgworker {
	struct bench_thread t;	/* first: bench_threads_run */
	int id;
	struct store *s;
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

/*
 * pgbase_new(conninfo, n, err):
 * Open ${n} store connections to ${conninfo}.  Returns the handle (free
 * with pgbase_free), or NULL with ${err} set.
 */
struct pgbase *
pgbase_new(const char *conninfo, int n, struct cf_error *err)
{
	struct pgbase *b;
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

		/* Connect and prepare, as a cofferd worker does. */
		if ((b->ws[i].s = store_connect(conninfo, err)) == NULL)
			goto err0;
	}

	/* Success! */
	return (b);

err0:
	/* Failure! */
	pgbase_free(b);
	return (NULL);
}

/*
 * One lookup of ${name} on ${s}: 0, or -1 with ${msg} and ${type} saying
 * why it failed.
 */
static int
lookup(struct store *s, const char *name, const char **type,
    char *msg, size_t msgsize)
{
	struct store_secret sec;
	struct store_version v;
	struct cf_arena *a;
	struct cf_error err = { CF_OK, "" };
	enum store_lookup rc;
	int has = 0, ret = -1;

	/* A call's arena, as cofferd gives each call. */
	*type = NULL;
	if ((a = cf_arena_new()) == NULL) {
		snprintf(msg, msgsize, "out of memory");
		return (-1);
	}
	rc = store_secret_staged(s, a, name, 0, STAGE, NULL, &sec, &v, &has,
	    &err);
	if (rc == STORE_ERROR) {
		*type = cf_code_name(err.code);
		snprintf(msg, msgsize, "%s", err.msg);
	} else if (rc != STORE_FOUND || !has)
		snprintf(msg, msgsize, "no %s version for a seeded secret: is "
		    "--database the server's database?", STAGE);
	else if (strcmp(sec.name, name) != 0)
		snprintf(msg, msgsize, "the lookup of %s found %s", name,
		    sec.name);
	else
		ret = 0;
	cf_arena_free(a);
	return (ret);
}

/* A thread: lookups until the run is over. */
static void *
pgworker_main(void *arg)
{
	struct pgworker *w = arg;
	struct pgbase *b = w->b;
	const char *name, *type;
	char msg[256];
	uint64_t i = (uint64_t)w->id;
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

		/* One round trip, decoded. */
		t0 = stats_now_ns();
		if (lookup(w->s, name, &type, msg, sizeof(msg)))
			stats_fail(&w->t.st, 0, type, type != NULL ?
			    strlen(type) : 0, msg, strlen(msg));
		else
			stats_ok(&w->t.st, stats_now_ns() - t0);
	}
	return (NULL);
}

/*
 * pgbase_run(b, names, n_names, seconds, limit, out):
 * Run lookups of the ${n_names} names at ${names} on every connection for
 * ${seconds} (or ${limit} lookups in all, if not 0), and fill ${out}.
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
	bench_threads_run("pg-get-statement", b->ws, sizeof(*b->ws), b->n,
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
		store_free(b->ws[i].s);
	free(b->ws);
	free(b);
}
