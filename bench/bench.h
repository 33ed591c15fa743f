/*
 * bench.h: what the parts of coffer-bench share.
 *
 * bench.c parses the command line and drives the runs; load.c is the gRPC
 * load (seeding, the API mix, the grpc-health baseline); pganalyze.c
 * analyzes the seeded tables; pgbase.c and hsmbase.c are the database and
 * token baselines; stats.c keeps latency
 * histograms; report.c prints the table or the JSON document.  Nothing
 * here is a library: errors that end the run are reported by the caller.
 */
#ifndef COFFER_BENCH_H
#define COFFER_BENCH_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "cf.h"

#define BENCH_MAX_INFLIGHT 1024
#define BENCH_MAX_THREADS 256
#define BENCH_BATCH 10			/* secret ids per BatchGetSecretValue */
#define BENCH_BASELINES 4		/* grpc, pg, hsm cache on, cache off */

/* The operations a run can issue; BENCH_OP_HEALTH is the gRPC baseline. */
enum bench_op {
	BENCH_OP_GET = 0,		/* GetSecretValue */
	BENCH_OP_PUT,			/* PutSecretValue */
	BENCH_OP_CREATE,		/* CreateSecret, a new name each call */
	BENCH_OP_DESCRIBE,		/* DescribeSecret */
	BENCH_OP_LIST,			/* ListSecrets, MaxResults=100 */
	BENCH_OP_BATCH_GET,		/* BatchGetSecretValue of BENCH_BATCH */
	BENCH_OP_LIST_PREFIX,		/* ListSecrets, 100, name filter */
	BENCH_OP_UPDATE,		/* UpdateSecret with a new value */
	BENCH_OP_HEALTH,		/* grpc.health.v1.Health/Check */
	BENCH_OP_SEED,			/* CreateSecret of a seeded name */
	BENCH_OP__COUNT
};
#define BENCH_OP_LAST_API BENCH_OP_UPDATE

/* The command line, read-only once parsed. */
struct bench_opts {
	const char *endpoint;
	const char *baseline_endpoint;	/* grpc-health's; NULL: endpoint */
	int mix[BENCH_OP__COUNT];	/* weights; only API ops are set */
	char mix_spec[128];		/* the mix as given, normalized */
	int threads, inflight;
	int duration, baseline_duration;	/* seconds */
	uint64_t max_calls;		/* per run; 0: no limit */
	int secrets;
	size_t size;
	int json, baselines;
	const char *database;		/* libpq conninfo for pg-get-statement */
	const char *prefix;		/* list-prefix's name filter; NULL: ours */
	const char *ca, *cert, *key;	/* PEM files; NULL ca: plaintext */
	long cpu_of;			/* the server's pid; 0: not measured */
	int watch;			/* only watch cpu_of for duration s */
};

/*
 * Latency histogram: log-linear buckets of microseconds with 64 sub-buckets
 * per power of two, so a percentile is within 1/64 of the true value while
 * the memory stays fixed however long the run.  The maximum is exact.
 */
#define STATS_SUB 64
#define STATS_BUCKETS (STATS_SUB * 40)

struct stats {
	uint64_t ok, failed;
	uint64_t hist[STATS_BUCKETS];	/* successful calls only */
	int64_t max_ns;
	int64_t last_fail_ns;		/* when the last failure was; 0: none */
	int last_status;		/* its gRPC status (0 for a soft error) */
	char last_type[64];		/* coffer-error-type, or "" */
	char last_msg[256];		/* status details, or "" */
};

/* What one operation or baseline did in one run. */
struct bench_result {
	const char *name;
	int connections;
	int64_t elapsed_ns;
	struct stats st;
};

/* stats.c */
int64_t stats_now_ns(void);
void stats_ok(struct stats *, int64_t);
void stats_fail(struct stats *, int, const char *, size_t, const char *,
    size_t);
void stats_merge(struct stats *, const struct stats *);

/*
 * A baseline's thread: the first member of each baseline's worker struct,
 * so that one runner starts, joins and sums them all.
 */
struct bench_thread {
	pthread_t th;
	struct stats st;
};

/*
 * bench_threads_run(name, ws, size, n, fn, out):
 * Run ${fn} on each of the ${n} workers at ${ws} (${size} bytes apart, each
 * starting with a struct bench_thread, which ${fn} receives), wait for
 * them, and fill ${out} with their sum under ${name}.  Exits 2 if a thread
 * cannot start.
 */
void bench_threads_run(const char *, void *, size_t, int, void *(*)(void *),
    struct bench_result *);
double stats_quantile_ms(const struct stats *, double);
double stats_rate(const struct bench_result *);
const char *stats_status_name(int);

/* load.c: the gRPC side. */
struct load;

struct load *load_new(const struct bench_opts *);
void load_free(struct load *);
int load_connect(struct load *, int) CF_MUSTCHECK;
int load_seed(struct load *, struct bench_result *, double *) CF_MUSTCHECK;
void load_run(struct load *, struct bench_result[BENCH_OP__COUNT]);
void load_health(struct load *, struct bench_result *);
const char *const *load_names(const struct load *);
const char *load_op_name(enum bench_op);

/* pgbase.c: GetSecretValue's read, through the store library. */
struct pgbase;

struct pgbase *pgbase_new(const char *, int, struct cf_error *)
    CF_MUSTCHECK;
void pgbase_run(struct pgbase *, const char *const *, size_t, int, uint64_t,
    struct bench_result *);
void pgbase_free(struct pgbase *);

/*
 * pganalyze.c: ANALYZE of secrets, secret_versions, version_stages and
 * tags, after seeding and before the window; 0, or -1 with ${err} set.
 */
int pganalyze_run(const char *, struct cf_error *) CF_MUSTCHECK;

/* hsmbase.c: opening a 1 KiB envelope in the token, DEK cache on or off. */
struct hsmbase;

struct hsmbase *hsmbase_new(int, int, struct cf_error *) CF_MUSTCHECK;
void hsmbase_run(struct hsmbase *, int, uint64_t, struct bench_result *);
void hsmbase_free(struct hsmbase *);

/*
 * threadcpu.c: the CPU time of every thread of a process (the server's),
 * before and after a run.
 *
 * threadcpu_snap(pid, s): a snapshot into ${s} (free with threadcpu_free).
 * threadcpu_diff(a, b, out): the busiest thread between two snapshots and
 * its share of one core (1.0: a whole core), and the whole process's.
 */
enum threadcpu_result {
	THREADCPU_OK,
	THREADCPU_GONE,			/* no such process or thread */
	THREADCPU_UNREADABLE		/* /proc said something unexpected */
};

struct threadcpu_snap {
	int64_t at_ns;
	struct tcpu *threads;
	size_t n;
};

struct threadcpu_report {
	int valid;			/* 0: not measured */
	char busiest[16];		/* its name (comm) */
	double busiest_share;		/* of one core */
	double process_share;		/* all threads, in cores */
	int threads;
};

enum threadcpu_result threadcpu_snap(long, struct threadcpu_snap *)
    CF_MUSTCHECK;
void threadcpu_diff(const struct threadcpu_snap *,
    const struct threadcpu_snap *, struct threadcpu_report *);
void threadcpu_free(struct threadcpu_snap *);

/* report.c */
struct bench_report {
	const struct bench_opts *o;
	int cpus;
	char model[128];
	double seed_s;
	int analyzed;			/* ANALYZE ran after seeding */
	double analyze_s;
	struct bench_result *ops;	/* the mix's operations */
	size_t n_ops;
	struct bench_result total;	/* all operations together */
	struct bench_result *baselines;
	size_t n_baselines;
	struct threadcpu_report server;	/* its threads during the API run */
};

void report_table(const struct bench_report *);
/* report_watch_json(t): {"server": ...} of --watch; 0, or -1 out of memory. */
int report_watch_json(const struct threadcpu_report *) CF_MUSTCHECK;
int report_json(const struct bench_report *) CF_MUSTCHECK;

#endif /* !COFFER_BENCH_H */
