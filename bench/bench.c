/*
 * bench.c: coffer-bench, a load generator for cofferd.
 *
 *   coffer-bench [--endpoint H:P] [--mix SPEC] [--threads T] [--inflight C]
 *       [--duration S] [--max-calls N] [--secrets K] [--size BYTES] [--json]
 *       [--database CONNINFO] [--baselines [--baseline-duration S]
 *       [--baseline-endpoint H:P]] [--ca-bundle F [--cert F --key F]]
 *
 * It connects (each connection READY before any call), seeds K secrets of
 * BYTES bytes (CreateSecret, C calls in flight per thread), ANALYZEs the
 * tables the calls read if it knows the database (--database;
 * pganalyze.c), then for S seconds, or until N calls have started, keeps
 * C calls in flight on each of T threads (one connection and completion
 * queue each) issuing the mix SPEC: "get", or weights such as
 * "get=90,put=10", of get (GetSecretValue), put (PutSecretValue), create
 * (CreateSecret of a new name), describe (DescribeSecret), list
 * (ListSecrets, 100 per page) and batch-get (BatchGetSecretValue of 10
 * seeded secrets).  Seeding and ANALYZE are outside the measured window.
 * It prints, per operation, the calls that succeeded and failed (with the
 * last failed call's status and coffer-error-type), calls per second and
 * latency percentiles, as a table or, with --json, as one JSON document.
 *
 * With --baselines it then measures, on the same machine and at the same
 * concurrency, what the layers under the server can do:
 *
 *   grpc-health (unaudited)      grpc.health.v1.Health/Check round trips,
 *                                T connections, C in flight each, to
 *                                --baseline-endpoint: another cofferd on
 *                                the same database with audit = off, over
 *                                the same mutual TLS.  The transport and
 *                                gRPC alone; the measured server audits
 *                                every identified call, the health check
 *                                too.  Without --baseline-endpoint, the
 *                                measured server: "grpc-health (measured
 *                                server)".
 *   pg-get-statement             GetSecretValue's read of a secret by name
 *                                and label AWSCURRENT, through coffer's
 *                                store library (store_secret_staged), T
 *                                connections (pgbase.c); read-only.
 *   hsm-open-1k (dek cache on)   opening a 1 KiB envelope in the server's
 *   hsm-open-1k (dek cache off)  token with hsm_open, T sessions, with the
 *                                DEK handle cache as cofferd has it by
 *                                default, then as with dek_cache = off
 *                                (hsmbase.c).
 *
 * and gives each operation's rate as a ratio of the slowest baseline.
 * --max-calls N bounds each baseline too, for a quick smoke run.
 *
 * Every call's status is checked: failures are counted and printed, never
 * hidden in the rate.  The exit status is 1 if any call failed, 2 on a
 * usage or set-up error (including a baseline that cannot run or a
 * connection that never becomes READY), else 0.  With --ca-bundle (and
 * the client certificate and key) it speaks mutual TLS, as cofferd does by
 * default; without, plaintext (a server with plaintext = on).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char usage_text[] =
"usage: coffer-bench [--endpoint HOST:PORT] [--mix SPEC] [--threads T]\n"
"           [--inflight C] [--duration S] [--max-calls N] [--secrets K]\n"
"           [--size BYTES] [--json] [--database CONNINFO]\n"
"           [--baselines [--baseline-duration S]\n"
"            [--baseline-endpoint HOST:PORT]]\n"
"           [--prefix P]\n"
"           [--ca-bundle FILE [--cert FILE --key FILE]] [--cpu-of PID]\n"
"\n"
"  --endpoint HOST:PORT   cofferd's address (127.0.0.1:50051)\n"
"  --mix SPEC             what to call (get): one op, or weights such as\n"
"                         get=90,put=10; ops: get, put, create, describe,\n"
"                         list, batch-get, list-prefix (a page of 100\n"
"                         names starting with --prefix), update\n"
"                         (UpdateSecret with a new value); \"mixed\"\n"
"                         means get=90,put=10\n"
"  --op SPEC              the same as --mix\n"
"  --threads T            threads, one connection each (2)\n"
"  --inflight C           calls in flight per thread (32)\n"
"  --duration S           seconds of load (10)\n"
"  --max-calls N          start at most N calls in the mix, and N\n"
"                         operations in each baseline (no limit)\n"
"  --secrets K            secrets to seed before the run (1000)\n"
"  --size BYTES           bytes per secret value, at most 65536 (1024)\n"
"  --json                 print one JSON document instead of the table\n"
"  --baselines            then measure grpc-health, pg-get-statement and\n"
"                         hsm-open-1k (dek cache on, then off), and\n"
"                         give each op's rate as a ratio of the slowest\n"
"  --baseline-duration S  seconds per baseline (--duration)\n"
"  --baseline-endpoint HOST:PORT\n"
"                         grpc-health against this cofferd instead: one\n"
"                         with audit = off on the same database, same\n"
"                         TLS, so that the baseline is the transport\n"
"                         alone (--endpoint)\n"
"  --prefix P             list-prefix's name filter (this run's secrets)\n"
"  --database CONNINFO    libpq conninfo of cofferd's database, as its\n"
"                         tables' owner: ANALYZE after seeding, and\n"
"                         pg-get-statement (COFFER_DATABASE; without\n"
"                         one, no ANALYZE and no baselines)\n"
"  --ca-bundle FILE       speak mutual TLS, trusting FILE's CAs\n"
"  --cert FILE            client certificate chain (PEM)\n"
"  --key FILE             its private key (PEM)\n"
"  --cpu-of PID           report the busiest thread of process PID (the\n"
"                         server, on this machine) during the run: its\n"
"                         share of one core and the rate it implies\n"
"  --watch                with --cpu-of: no load, only PID's threads over\n"
"                         --duration seconds (while another client, such\n"
"                         as h2load, drives it); prints JSON\n"
"\n"
"hsm-open-1k finds the token as cofferd does: COFFER_PKCS11_MODULE,\n"
"COFFER_TOKEN_LABEL, COFFER_PIN_FILE, COFFER_KEK_LABEL.\n"
"Exit status: 0; 1 if any call failed; 2 on a usage or set-up error.\n";

/* Print ${msg} (if any) and the usage on standard error; exit 2. */
static void
usage(const char *msg, const char *arg)
{

	if (msg != NULL)
		fprintf(stderr, "coffer-bench: %s%s%s%s\n", msg,
		    arg != NULL ? " \"" : "", arg != NULL ? arg : "",
		    arg != NULL ? "\"" : "");
	fputs(usage_text, stderr);
	exit(2);
}

/* The number ${s} of option ${opt}, which must lie in [${min}, ${max}]. */
static long long
number(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "coffer-bench: %s wants a number from %lld to "
		    "%lld, not \"%s\"\n", opt, min, max, s);
		exit(2);
	}
	return (v);
}

/* The API operation called ${name}, or -1. */
static int
op_by_name(const char *name, size_t len)
{
	const char *n;
	int op;

	for (op = 0; op <= BENCH_OP_LAST_API; op++) {
		n = load_op_name((enum bench_op)op);
		if (strlen(n) == len && strncmp(n, name, len) == 0)
			return (op);
	}
	return (-1);
}

/*
 * Parse the mix ${spec} ("get", "get=90,put=10", "mixed") into the weights
 * and normalized text of ${o}; exit 2 if it is not one.
 */
static void
parse_mix(struct bench_opts *o, const char *spec)
{
	const char *p, *item, *eq, *end;
	char w[16];
	size_t len, off = 0;
	int op, n = 0;

	memset(o->mix, 0, sizeof(o->mix));
	if (strcmp(spec, "mixed") == 0)
		spec = "get=90,put=10";
	for (p = spec; ; p = end + 1) {
		/* One item: OP or OP=WEIGHT. */
		item = p;
		end = item + strcspn(item, ",");
		eq = memchr(item, '=', (size_t)(end - item));
		len = (size_t)((eq != NULL ? eq : end) - item);
		if ((op = op_by_name(item, len)) < 0 || o->mix[op] != 0)
			usage("not a mix, or an op twice:", spec);
		if (eq != NULL) {
			if ((size_t)(end - eq - 1) >= sizeof(w))
				usage("not a weight in the mix:", spec);
			memcpy(w, eq + 1, (size_t)(end - eq - 1));
			w[end - eq - 1] = '\0';
			o->mix[op] = (int)number("--mix weight", w, 1, 1000000);
		} else
			o->mix[op] = 1;
		n++;
		if (*end == '\0')
			break;
	}

	/* Its text: the op alone, or every op=weight in a fixed order. */
	o->mix_spec[0] = '\0';
	for (op = 0; op <= BENCH_OP_LAST_API; op++) {
		if (o->mix[op] == 0)
			continue;
		if (n == 1)
			snprintf(o->mix_spec, sizeof(o->mix_spec), "%s",
			    load_op_name((enum bench_op)op));
		else
			off += (size_t)snprintf(o->mix_spec + off,
			    sizeof(o->mix_spec) - off, "%s%s=%d",
			    off > 0 ? "," : "",
			    load_op_name((enum bench_op)op), o->mix[op]);
	}
}

/* Parse the command line into ${o}; exit on --help or a usage error. */
static void
parse(int argc, char **argv, struct bench_opts *o)
{
	const char *opt, *mix = "get";
	int i;

	for (i = 1; i < argc; i++) {
		opt = argv[i];

		/* Flags. */
		if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strcmp(opt, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strcmp(opt, "--baselines") == 0) {
			o->baselines = 1;
			continue;
		}
		if (strcmp(opt, "--watch") == 0) {
			o->watch = 1;
			continue;
		}

		/* Options with a value. */
		if (i + 1 >= argc)
			usage("missing value or unknown option", opt);
		i++;
		if (strcmp(opt, "--endpoint") == 0)
			o->endpoint = argv[i];
		else if (strcmp(opt, "--baseline-endpoint") == 0)
			o->baseline_endpoint = argv[i];
		else if (strcmp(opt, "--mix") == 0 || strcmp(opt, "--op") == 0)
			mix = argv[i];
		else if (strcmp(opt, "--threads") == 0)
			o->threads = (int)number(opt, argv[i], 1,
			    BENCH_MAX_THREADS);
		else if (strcmp(opt, "--inflight") == 0)
			o->inflight = (int)number(opt, argv[i], 1,
			    BENCH_MAX_INFLIGHT);
		else if (strcmp(opt, "--duration") == 0)
			o->duration = (int)number(opt, argv[i], 1, 86400);
		else if (strcmp(opt, "--baseline-duration") == 0)
			o->baseline_duration = (int)number(opt, argv[i], 1,
			    86400);
		else if (strcmp(opt, "--max-calls") == 0)
			o->max_calls = (uint64_t)number(opt, argv[i], 1,
			    1000000000000LL);
		else if (strcmp(opt, "--secrets") == 0)
			o->secrets = (int)number(opt, argv[i], 1, 10000000);
		else if (strcmp(opt, "--size") == 0)
			o->size = (size_t)number(opt, argv[i], 1, 65536);
		else if (strcmp(opt, "--database") == 0)
			o->database = argv[i];
		else if (strcmp(opt, "--prefix") == 0)
			o->prefix = argv[i];
		else if (strcmp(opt, "--ca-bundle") == 0)
			o->ca = argv[i];
		else if (strcmp(opt, "--cert") == 0)
			o->cert = argv[i];
		else if (strcmp(opt, "--key") == 0)
			o->key = argv[i];
		else if (strcmp(opt, "--cpu-of") == 0)
			o->cpu_of = (long)number(opt, argv[i], 1, 4194304);
		else
			usage("unknown option", opt);
	}

	/* What depends on what. */
	parse_mix(o, mix);
	if ((o->cert == NULL) != (o->key == NULL))
		usage("--cert and --key go together", NULL);
	if (o->cert != NULL && o->ca == NULL)
		usage("--cert and --key need --ca-bundle", NULL);
	if (o->watch && o->cpu_of == 0)
		usage("--watch needs --cpu-of PID", NULL);
	if (o->baseline_endpoint != NULL && !o->baselines)
		usage("--baseline-endpoint needs --baselines", NULL);
	if (o->baseline_duration == 0)
		o->baseline_duration = o->duration;
	if (o->database == NULL)
		o->database = getenv("COFFER_DATABASE");
}

/* The number of CPUs and the model name of the first, into ${r}. */
static void
machine(struct bench_report *r)
{
	char line[256], *v;
	size_t len;
	FILE *f;

	r->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(r->model, sizeof(r->model), "unknown");
	if ((f = fopen("/proc/cpuinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) != 0 ||
		    (v = strchr(line, ':')) == NULL)
			continue;
		v += strspn(v + 1, " \t") + 1;
		len = strcspn(v, "\n");
		snprintf(r->model, sizeof(r->model), "%.*s", (int)len, v);
		break;
	}
	fclose(f);
}

/* Say that a set-up step failed, with ${err}'s message; exit 2. */
static void
setup_failed(const char *what, const struct cf_error *err)
{

	fprintf(stderr, "coffer-bench: %s: %s\n", what, err->msg);
	exit(2);
}

/*
 * --watch: the busiest thread of the process --cpu-of names over
 * --duration seconds, with no load of ours, as one JSON document (the
 * shape of report_json's "server").  Exits as main does.
 */
static int
watch(const struct bench_opts *o)
{
	struct threadcpu_snap a, b;
	struct threadcpu_report t;
	struct timespec left = { o->duration, 0 };

	if (threadcpu_snap(o->cpu_of, &a) != THREADCPU_OK) {
		fprintf(stderr, "coffer-bench: --cpu-of %ld: cannot read its "
		    "threads in /proc\n", o->cpu_of);
		return (2);
	}
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
	if (threadcpu_snap(o->cpu_of, &b) != THREADCPU_OK) {
		fprintf(stderr, "coffer-bench: --cpu-of %ld: the process is "
		    "gone\n", o->cpu_of);
		threadcpu_free(&a);
		return (2);
	}
	threadcpu_diff(&a, &b, &t);
	threadcpu_free(&a);
	threadcpu_free(&b);
	if (report_watch_json(&t))
		return (2);
	return (0);
}

/*
 * Set up the baselines' connections (so that a missing one fails before any
 * load), connect and seed, run the mix, run the baselines, report.
 */
int
main(int argc, char **argv)
{
	struct bench_opts o = {
		.endpoint = "127.0.0.1:50051", .threads = 2, .inflight = 32,
		.duration = 10, .secrets = 1000, .size = 1024
	};
	struct bench_report r;
	struct bench_result *res = NULL, *bases = NULL, seed;
	struct threadcpu_snap cpu0 = { 0 }, cpu1 = { 0 };
	struct pgbase *pg = NULL;
	struct hsmbase *hb_on = NULL, *hb_off = NULL;
	struct load *l;
	struct cf_error err;
	uint64_t failed = 0;
	int64_t t0;
	size_t i;
	int op, rc = 0;

	parse(argc, argv, &o);
	if (o.watch)
		return (watch(&o));
	memset(&r, 0, sizeof(r));
	r.o = &o;
	machine(&r);
	if ((res = calloc(BENCH_OP__COUNT, sizeof(*res))) == NULL ||
	    (r.ops = calloc(BENCH_OP__COUNT, sizeof(*r.ops))) == NULL ||
	    (bases = calloc(BENCH_BASELINES, sizeof(*bases))) == NULL) {
		fprintf(stderr, "coffer-bench: out of memory\n");
		exit(2);
	}

	/* The baselines' connections first, so a missing one stops us now. */
	if (o.baselines) {
		if (o.database == NULL) {
			fprintf(stderr, "coffer-bench: --baselines needs the "
			    "server's database: --database CONNINFO or "
			    "COFFER_DATABASE\n");
			exit(2);
		}
		if ((pg = pgbase_new(o.database, o.threads, &err)) == NULL)
			setup_failed("pg-get-statement", &err);
		if ((hb_on = hsmbase_new(o.threads, 1, &err)) == NULL)
			setup_failed("hsm-open-1k (dek cache on)", &err);
		if ((hb_off = hsmbase_new(o.threads, 0, &err)) == NULL)
			setup_failed("hsm-open-1k (dek cache off)", &err);
	}

	/*
	 * The connections to cofferd (and to the unaudited one, so that a
	 * missing one stops us now), READY before any call; the secrets.
	 */
	if ((l = load_new(&o)) == NULL)
		exit(2);
	if (load_connect(l, 0) || (o.baselines && load_connect(l, 1))) {
		rc = 2;
		goto out;
	}
	if (load_seed(l, &seed, &r.seed_s)) {
		fprintf(stderr, "coffer-bench: could not seed the secrets: "
		    "%" PRIu64 " of %d CreateSecret calls failed; last: status "
		    "%d %s%s%s: %s\n", seed.st.failed, o.secrets,
		    seed.st.last_status, stats_status_name(seed.st.last_status),
		    seed.st.last_type[0] != '\0' ? ", coffer-error-type " : "",
		    seed.st.last_type, seed.st.last_msg);
		rc = 1;
		goto out;
	}

	/* Statistics on what was just seeded, before the window opens. */
	if (o.database != NULL) {
		t0 = stats_now_ns();
		if (pganalyze_run(o.database, &err)) {
			fprintf(stderr, "coffer-bench: ANALYZE after seeding: "
			    "%s\n", err.msg);
			rc = 2;
			goto out;
		}
		r.analyze_s = (double)(stats_now_ns() - t0) / 1e9;
		r.analyzed = 1;
	}

	/* The API run, and the server's threads' CPU time around it. */
	if (o.cpu_of != 0 && threadcpu_snap(o.cpu_of, &cpu0) != THREADCPU_OK) {
		fprintf(stderr, "coffer-bench: --cpu-of %ld: cannot read its "
		    "threads in /proc\n", o.cpu_of);
		rc = 2;
		goto out;
	}
	load_run(l, res);
	if (o.cpu_of != 0) {
		if (threadcpu_snap(o.cpu_of, &cpu1) == THREADCPU_OK)
			threadcpu_diff(&cpu0, &cpu1, &r.server);
		else
			fprintf(stderr, "coffer-bench: --cpu-of %ld: the "
			    "process is gone; no thread figures\n", o.cpu_of);
	}
	r.total.name = "all";
	r.total.connections = o.threads;
	r.total.elapsed_ns = res[0].elapsed_ns;
	for (op = 0; op <= BENCH_OP_LAST_API; op++) {
		if (o.mix[op] == 0)
			continue;
		r.ops[r.n_ops++] = res[op];
		stats_merge(&r.total.st, &res[op].st);
	}

	/* The baselines, one after the other. */
	if (o.baselines) {
		if (load_connect(l, 1)) {
			rc = 2;
			goto out;
		}
		load_health(l, &bases[0]);
		pgbase_run(pg, load_names(l), (size_t)o.secrets,
		    o.baseline_duration, o.max_calls, &bases[1]);
		hsmbase_run(hb_on, o.baseline_duration, o.max_calls,
		    &bases[2]);
		hsmbase_run(hb_off, o.baseline_duration, o.max_calls,
		    &bases[3]);
		r.baselines = bases;
		r.n_baselines = BENCH_BASELINES;
	}

	/* Report; any failed call fails the run. */
	if (o.json) {
		if (report_json(&r))
			rc = 2;
	} else
		report_table(&r);
	failed = r.total.st.failed;
	for (i = 0; i < r.n_baselines; i++)
		failed += r.baselines[i].st.failed;
	if (rc == 0 && failed > 0)
		rc = 1;

out:
	threadcpu_free(&cpu0);
	threadcpu_free(&cpu1);
	load_free(l);
	hsmbase_free(hb_off);
	hsmbase_free(hb_on);
	pgbase_free(pg);
	free(bases);
	free(r.ops);
	free(res);
	return (rc);
}
