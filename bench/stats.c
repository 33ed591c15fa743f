/*
 * stats.c: per-operation counters and latency histograms for coffer-bench.
 *
 * Each thread keeps its own struct stats per operation, so recording a call
 * takes no lock; the threads' stats are merged once the run is over.
 * Latencies of successful calls go into log-linear buckets (see bench.h),
 * failures keep the last status, coffer-error-type and message seen.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/*
 * stats_now_ns():
 * Monotonic time in nanoseconds.
 */
int64_t
stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* The bucket of a latency of ${us} microseconds. */
static size_t
bucket_of(uint64_t us)
{
	unsigned shift;
	size_t b;

	/* Below two powers of the sub-bucket count, one bucket per us. */
	if (us < 2 * STATS_SUB)
		return ((size_t)us);

	/* Above, 64 buckets per power of two. */
	shift = (unsigned)(63 - __builtin_clzll(us)) - 6;
	b = (size_t)shift * STATS_SUB + (size_t)(us >> shift);
	return (b < STATS_BUCKETS ? b : STATS_BUCKETS - 1);
}

/* The middle of bucket ${b}, in microseconds. */
static double
bucket_mid(size_t b)
{
	unsigned shift;
	uint64_t sub;

	if (b < 2 * STATS_SUB)
		return ((double)b + 0.5);
	shift = (unsigned)(b / STATS_SUB) - 1;
	sub = b - (size_t)shift * STATS_SUB;
	return ((double)(sub << shift) + (double)(1ULL << shift) / 2);
}

/*
 * stats_ok(st, ns):
 * Count a successful call that took ${ns} nanoseconds.
 */
void
stats_ok(struct stats *st, int64_t ns)
{

	if (ns < 0)
		ns = 0;
	st->ok++;
	st->hist[bucket_of((uint64_t)ns / 1000)]++;
	if (ns > st->max_ns)
		st->max_ns = ns;
}

/* Copy ${len} bytes at ${s} into ${dst} of ${size} bytes, NUL-terminated. */
static void
copy_bounded(char *dst, size_t size, const char *s, size_t len)
{

	if (s == NULL)
		len = 0;
	if (len >= size)
		len = size - 1;
	if (len > 0)
		memcpy(dst, s, len);
	dst[len] = '\0';
}

/*
 * stats_fail(st, status, type, type_len, msg, msg_len):
 * Count a failed call and remember it as the last failure: its gRPC
 * ${status}, the ${type_len} bytes of its coffer-error-type at ${type} and
 * the ${msg_len} bytes of its message at ${msg} (either may be NULL).
 */
void
stats_fail(struct stats *st, int status, const char *type, size_t type_len,
    const char *msg, size_t msg_len)
{

	st->failed++;
	st->last_fail_ns = stats_now_ns();
	st->last_status = status;
	copy_bounded(st->last_type, sizeof(st->last_type), type, type_len);
	copy_bounded(st->last_msg, sizeof(st->last_msg), msg, msg_len);
}

/*
 * stats_merge(dst, src):
 * Add ${src} into ${dst}; the later of the two last failures wins.
 */
void
stats_merge(struct stats *dst, const struct stats *src)
{
	size_t i;

	dst->ok += src->ok;
	dst->failed += src->failed;
	for (i = 0; i < STATS_BUCKETS; i++)
		dst->hist[i] += src->hist[i];
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	if (src->last_fail_ns > dst->last_fail_ns) {
		dst->last_fail_ns = src->last_fail_ns;
		dst->last_status = src->last_status;
		memcpy(dst->last_type, src->last_type, sizeof(dst->last_type));
		memcpy(dst->last_msg, src->last_msg, sizeof(dst->last_msg));
	}
}

/*
 * stats_quantile_ms(st, q):
 * The latency in milliseconds below which a fraction ${q} of the successful
 * calls fall (the middle of its bucket, never above the maximum); 0 when
 * no call succeeded.
 */
double
stats_quantile_ms(const struct stats *st, double q)
{
	uint64_t rank, seen = 0;
	double ms;
	size_t i;

	if (st->ok == 0)
		return (0);

	/* The rank of the call at ${q}, counting from 1. */
	rank = (uint64_t)ceil(q * (double)st->ok);
	if (rank < 1)
		rank = 1;

	/* Walk the buckets up to it. */
	for (i = 0; i < STATS_BUCKETS; i++) {
		seen += st->hist[i];
		if (seen >= rank)
			break;
	}
	if (i == STATS_BUCKETS)
		i = STATS_BUCKETS - 1;
	ms = bucket_mid(i) / 1e3;
	if (ms > (double)st->max_ns / 1e6)
		ms = (double)st->max_ns / 1e6;
	return (ms);
}

/*
 * stats_rate(r):
 * Successful calls per second of the run ${r}.
 */
double
stats_rate(const struct bench_result *r)
{

	if (r->elapsed_ns <= 0)
		return (0);
	return ((double)r->st.ok / ((double)r->elapsed_ns / 1e9));
}

/*
 * stats_status_name(status):
 * The name of a gRPC status code ("NOT_FOUND"), or "UNKNOWN".
 */
const char *
stats_status_name(int status)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED"
	};

	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
		return ("UNKNOWN");
	return (names[status]);
}

void
bench_threads_run(const char *name, void *ws, size_t size, int n,
    void *(*fn)(void *), struct bench_result *out)
{
	struct bench_thread *t;
	int64_t t0 = stats_now_ns();
	int i;

	for (i = 0; i < n; i++) {
		t = (struct bench_thread *)(void *)((char *)ws + (size_t)i * size);
		memset(&t->st, 0, sizeof(t->st));
		if (pthread_create(&t->th, NULL, fn, t) != 0) {
			fprintf(stderr, "coffer-bench: could not start a "
			    "thread\n");
			exit(2);
		}
	}
	for (i = 0; i < n; i++) {
		t = (struct bench_thread *)(void *)((char *)ws + (size_t)i * size);
		pthread_join(t->th, NULL);
	}
	memset(out, 0, sizeof(*out));
	out->name = name;
	out->connections = n;
	out->elapsed_ns = stats_now_ns() - t0;
	for (i = 0; i < n; i++) {
		t = (struct bench_thread *)(void *)((char *)ws + (size_t)i * size);
		stats_merge(&out->st, &t->st);
	}
}
