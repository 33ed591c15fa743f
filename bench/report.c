/*
 * report.c: what coffer-bench prints.
 *
 * Either a table for people (the machine and the configuration, one line
 * per operation, one per baseline, then the last failure of anything that
 * failed) or one JSON document for programs, with the same figures.  Each
 * operation's rate is also given as a ratio to the slowest baseline, the
 * part of the stack that bounds it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "bench.h"

#define ROW "%-28s %10s %9s %11s %9s %9s %9s %9s %9s %8s\n"

/* The slowest baseline of ${r}, or NULL (none, or none did anything). */
static const struct bench_result *
slowest(const struct bench_report *r)
{
	const struct bench_result *min = NULL;
	size_t i;

	for (i = 0; i < r->n_baselines; i++)
		if (min == NULL ||
		    stats_rate(&r->baselines[i]) < stats_rate(min))
			min = &r->baselines[i];
	if (min != NULL && stats_rate(min) <= 0)
		return (NULL);
	return (min);
}

/* One line of the table for ${res}, ${last} in the last column. */
static void
table_row(const char *name, const struct bench_result *res,
    const char *last)
{
	const struct stats *st = &res->st;
	char ok[24], failed[24], rate[24], q[5][24];

	snprintf(ok, sizeof(ok), "%" PRIu64, st->ok);
	snprintf(failed, sizeof(failed), "%" PRIu64, st->failed);
	snprintf(rate, sizeof(rate), "%.1f", stats_rate(res));
	snprintf(q[0], sizeof(q[0]), "%.3f", stats_quantile_ms(st, 0.50));
	snprintf(q[1], sizeof(q[1]), "%.3f", stats_quantile_ms(st, 0.95));
	snprintf(q[2], sizeof(q[2]), "%.3f", stats_quantile_ms(st, 0.99));
	snprintf(q[3], sizeof(q[3]), "%.3f", stats_quantile_ms(st, 0.999));
	snprintf(q[4], sizeof(q[4]), "%.3f", (double)st->max_ns / 1e6);
	printf(ROW, name, ok, failed, rate, q[0], q[1], q[2], q[3], q[4],
	    last);
}

/* An operation's line: its ratio to the slowest baseline ${min}, if any. */
static void
table_op(const char *name, const struct bench_result *res,
    const struct bench_result *min)
{
	char ratio[24];

	if (min != NULL)
		snprintf(ratio, sizeof(ratio), "%.3f",
		    stats_rate(res) / stats_rate(min));
	else
		snprintf(ratio, sizeof(ratio), "-");
	table_row(name, res, ratio);
}

/* The last failure of ${res}, if it had any. */
static void
table_failure(const char *name, const struct bench_result *res)
{
	const struct stats *st = &res->st;

	if (st->failed == 0)
		return;
	printf("  %s: %" PRIu64 " failed; last: ", name, st->failed);
	if (st->last_status == 0)
		printf("status OK with an error in the response");
	else
		printf("status %d %s", st->last_status,
		    stats_status_name(st->last_status));
	if (st->last_type[0] != '\0')
		printf(", %s %s", st->last_status == 0 ? "error" :
		    "coffer-error-type", st->last_type);
	if (st->last_msg[0] != '\0')
		printf(": %s", st->last_msg);
	printf("\n");
}

/*
 * report_table(r):
 * Print ${r} as text on standard output.
 */
/*
 * The rate the busiest server thread allows if it were the only limit: the
 * run's rate over its share of a core (0 when it was idle).
 */
static double
ceiling(const struct bench_report *r)
{

	if (r->server.busiest_share <= 0)
		return (0);
	return (stats_rate(&r->total) / r->server.busiest_share);
}

void
report_table(const struct bench_report *r)
{
	const struct bench_opts *o = r->o;
	const struct bench_result *min = slowest(r);
	uint64_t failed = r->total.st.failed;
	char limit[32], conns[16];
	size_t i;

	/* The machine and the configuration. */
	if (o->max_calls != 0)
		snprintf(limit, sizeof(limit), "%" PRIu64, o->max_calls);
	else
		snprintf(limit, sizeof(limit), "none");
	printf("machine: %d cpus, %s\n", r->cpus, r->model);
	printf("config: endpoint %s (%s), %d threads x %d in flight "
	    "(%d), %d secrets of %zu bytes (seeded in %.2f s), mix %s, "
	    "%d s, max calls %s", o->endpoint, o->ca != NULL ? "mTLS" :
	    "plaintext", o->threads, o->inflight, o->threads * o->inflight,
	    o->secrets, o->size, r->seed_s, o->mix_spec, o->duration, limit);
	if (o->baselines)
		printf(", baselines %d s (grpc-health on %s)",
		    o->baseline_duration, o->baseline_endpoint != NULL ?
		    o->baseline_endpoint : o->endpoint);
	if (r->analyzed)
		printf(", ANALYZE after seeding (%.2f s)", r->analyze_s);
	else
		printf(", no ANALYZE after seeding (no --database)");
	printf("\n\n");

	/* The operations. */
	printf(ROW, "op", "calls ok", "failed", "calls/s", "p50 ms", "p95 ms",
	    "p99 ms", "p99.9 ms", "max ms", "ratio");
	for (i = 0; i < r->n_ops; i++)
		table_op(r->ops[i].name, &r->ops[i], min);
	if (r->n_ops > 1)
		table_op("all", &r->total, min);

	/* The server's busiest thread during the run. */
	if (r->server.valid)
		printf("\nserver: busiest thread %s at %.0f %% of a core (its "
		    "ceiling: %.0f calls/s); all %d threads %.2f cores\n",
		    r->server.busiest, 100 * r->server.busiest_share,
		    ceiling(r), r->server.threads, r->server.process_share);

	/* The baselines. */
	if (r->n_baselines > 0) {
		printf("\n");
		printf(ROW, "baseline", "ops ok", "failed", "ops/s", "p50 ms",
		    "p95 ms", "p99 ms", "p99.9 ms", "max ms", "conns");
		for (i = 0; i < r->n_baselines; i++) {
			snprintf(conns, sizeof(conns), "%d",
			    r->baselines[i].connections);
			table_row(r->baselines[i].name, &r->baselines[i],
			    conns);
		}
		if (min != NULL)
			printf("ratio = calls/s / %.1f ops/s of %s, the "
			    "slowest baseline\n", stats_rate(min), min->name);
		else
			printf("ratio: no baseline completed an "
			    "operation\n");
	}

	/* What failed, and how. */
	for (i = 0; i < r->n_baselines; i++)
		failed += r->baselines[i].st.failed;
	if (failed > 0) {
		printf("\nfailures:\n");
		for (i = 0; i < r->n_ops; i++)
			table_failure(r->ops[i].name, &r->ops[i]);
		for (i = 0; i < r->n_baselines; i++)
			table_failure(r->baselines[i].name, &r->baselines[i]);
	}
}

/* ${x} rounded to ${digits} decimals, so the JSON stays readable. */
static json_t *
real(double x, int digits)
{
	double p = pow(10, digits);

	return (json_real(round(x * p) / p));
}

/*
 * The figures of ${res} as a JSON object, its name under ${key}; ${ratio}
 * < 0: null.  NULL on allocation failure.
 */
static json_t *
json_result(const char *key, const struct bench_result *res, double ratio,
    int with_ratio)
{
	const struct stats *st = &res->st;
	json_t *j;
	int rc = 0;

	if ((j = json_object()) == NULL)
		return (NULL);
	rc |= json_object_set_new(j, key, json_string(res->name));
	rc |= json_object_set_new(j, "ok", json_integer((json_int_t)st->ok));
	rc |= json_object_set_new(j, "failed",
	    json_integer((json_int_t)st->failed));
	rc |= json_object_set_new(j, "rate", real(stats_rate(res), 1));
	rc |= json_object_set_new(j, "p50_ms",
	    real(stats_quantile_ms(st, 0.50), 3));
	rc |= json_object_set_new(j, "p95_ms",
	    real(stats_quantile_ms(st, 0.95), 3));
	rc |= json_object_set_new(j, "p99_ms",
	    real(stats_quantile_ms(st, 0.99), 3));
	rc |= json_object_set_new(j, "p999_ms",
	    real(stats_quantile_ms(st, 0.999), 3));
	rc |= json_object_set_new(j, "max_ms",
	    real((double)st->max_ns / 1e6, 3));
	if (with_ratio)
		rc |= json_object_set_new(j, "ratio_to_slowest_baseline",
		    ratio >= 0 ? real(ratio, 4) : json_null());
	else
		rc |= json_object_set_new(j, "connections",
		    json_integer(res->connections));
	if (st->failed > 0) {
		rc |= json_object_set_new(j, "last_status",
		    json_string(stats_status_name(st->last_status)));
		rc |= json_object_set_new(j, "last_error_type",
		    json_string(st->last_type));
		rc |= json_object_set_new(j, "last_error_message",
		    json_string(st->last_msg));
	}
	if (rc != 0) {
		json_decref(j);
		return (NULL);
	}
	return (j);
}

/*
 * The server's threads during a run as a JSON object (null if not
 * measured); ${ceiling} < 0: none (its rate is not ours to know).
 */
static json_t *
json_server(const struct threadcpu_report *t, double ceil_rate)
{

	if (!t->valid)
		return (json_null());
	return (json_pack("{s:s, s:o, s:o, s:o, s:i}",
	    "busiest_thread", t->busiest,
	    "busiest_share", real(t->busiest_share, 3),
	    "busiest_ceiling", ceil_rate >= 0 ? real(ceil_rate, 0) :
	    json_null(),
	    "process_cores", real(t->process_share, 3),
	    "threads", t->threads));
}

int
report_watch_json(const struct threadcpu_report *t)
{
	json_t *doc;
	char *text;

	if ((doc = json_pack("{s:o}", "server", json_server(t, -1))) == NULL)
		return (-1);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		return (-1);
	printf("%s\n", text);
	free(text);
	return (0);
}

/* The configuration of ${r} as a JSON object, or NULL. */
static json_t *
json_config(const struct bench_report *r)
{
	const struct bench_opts *o = r->o;
	json_t *mix;
	int op;

	if ((mix = json_object()) == NULL)
		return (NULL);
	for (op = 0; op < BENCH_OP__COUNT; op++)
		if (o->mix[op] > 0 && json_object_set_new(mix,
		    load_op_name((enum bench_op)op),
		    json_integer(o->mix[op])) != 0) {
			json_decref(mix);
			return (NULL);
		}
	return (json_pack("{s:s, s:s?, s:b, s:i, s:i, s:i, s:o, s:i, s:i, "
	    "s:I, s:b, s:I, s:b, s:i, s:o}",
	    "endpoint", o->endpoint,
	    "baseline_endpoint", o->baseline_endpoint,
	    "tls", o->ca != NULL,
	    "threads", o->threads,
	    "inflight", o->inflight,
	    "duration_s", o->duration,
	    "max_calls", o->max_calls != 0 ?
	    json_integer((json_int_t)o->max_calls) : json_null(),
	    "secrets", o->secrets,
	    "size", (int)o->size,
	    "seed_ms", (json_int_t)llround(r->seed_s * 1e3),
	    "analyzed_after_seeding", r->analyzed,
	    "analyze_ms", (json_int_t)llround(r->analyze_s * 1e3),
	    "baselines", o->baselines,
	    "baseline_duration_s", o->baselines ? o->baseline_duration : 0,
	    "mix", mix));
}

/*
 * report_json(r):
 * Print ${r} as one JSON document on standard output.  Returns 0, or -1 if
 * memory ran out.
 */
int
report_json(const struct bench_report *r)
{
	const struct bench_result *min = slowest(r);
	json_t *doc = NULL, *ops, *bases, *j;
	char *text;
	size_t i;

	/* The document's frame. */
	if ((ops = json_array()) == NULL || (bases = json_array()) == NULL)
		goto err0;
	doc = json_pack("{s:{s:i, s:s}, s:o, s:o, s:o, s:o, s:s?, s:o}",
	    "machine", "cpus", r->cpus, "model", r->model,
	    "config", json_config(r),
	    "operations", ops,
	    "total", json_result("op", &r->total, min != NULL ?
	    stats_rate(&r->total) / stats_rate(min) : -1, 1),
	    "baselines", bases,
	    "slowest_baseline", min != NULL ? min->name : NULL,
	    "server", json_server(&r->server, ceiling(r)));
	if (doc == NULL)
		goto err0;

	/* One object per operation and per baseline. */
	for (i = 0; i < r->n_ops; i++) {
		j = json_result("op", &r->ops[i], min != NULL ?
		    stats_rate(&r->ops[i]) / stats_rate(min) : -1, 1);
		if (json_array_append_new(ops, j) != 0)
			goto err1;
	}
	for (i = 0; i < r->n_baselines; i++) {
		j = json_result("name", &r->baselines[i], -1, 0);
		if (json_array_append_new(bases, j) != 0)
			goto err1;
	}

	/* Print it. */
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(12));
	if (text == NULL)
		goto err1;
	printf("%s\n", text);
	free(text);
	json_decref(doc);

	/* Success! */
	return (0);

err1:
	json_decref(doc);
err0:
	/* Failure! */
	fprintf(stderr, "coffer-bench: out of memory\n");
	return (-1);
}
