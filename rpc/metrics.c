/*
 * metrics.c: the calls answered, by operation and outcome, how long they
 * took, and how many are being answered now, for /metrics.
 *
 * Counted at the one place every call ends, whatever carried it
 * (rpc_exchange_result: gRPC and AWS's JSON protocol alike), with the
 * outcome the caller got.  The operation is the method table's name, or
 * "Unknown" for a method the table does not have, so that no request can
 * make a label value of its own.  Process-wide, like the calls: one
 * table, indexed by method.
 */
#include <stdio.h>

#include "rpc.h"
#include "rpc_internal.h"

#define MAX_METHODS 64			/* the table has 42 */

static atomic_uint_fast64_t calls[MAX_METHODS + 1][CF_ERR__COUNT];
static struct cf_hist latency[MAX_METHODS + 1];
static atomic_long in_flight;

/* The row of method ${m}: the last is "Unknown". */
static size_t
row(size_t m)
{

	return (m < rpc_service_count() && m < MAX_METHODS ? m : MAX_METHODS);
}

void
rpc_metrics_begin(void)
{

	atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
}

void
rpc_metrics_end(size_t method, int answered, enum cf_code outcome,
    int64_t us)
{
	size_t r = row(method);

	atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
	/* A call whose client went away before its answer: in flight no more. */
	if (!answered)
		return;
	if ((unsigned)outcome >= CF_ERR__COUNT)
		outcome = CF_ERR_INTERNAL;
	atomic_fetch_add_explicit(&calls[r][outcome], 1,
	    memory_order_relaxed);
	cf_hist_observe(&latency[r], &cf_hist_seconds, us > 0 ?
	    (uint64_t)us : 0);
}

void
rpc_metrics_write(struct cf_prom *out)
{
	char labels[160];
	const char *op;
	uint64_t n;
	size_t m, c, count = rpc_service_count();

	if (count > MAX_METHODS)
		count = MAX_METHODS;
	cf_prom_family(out, "coffer_requests_total", "counter", "Calls "
	    "answered, by operation and outcome (OK or the AWS exception "
	    "name), over gRPC and AWS's JSON protocol.");
	for (m = 0; m <= MAX_METHODS; m++) {
		if (m < MAX_METHODS && m >= count)
			continue;
		op = m < count ? rpc_service_op(m) : "Unknown";
		for (c = 0; c < CF_ERR__COUNT; c++) {
			if ((n = atomic_load_explicit(&calls[m][c],
			    memory_order_relaxed)) == 0)
				continue;
			snprintf(labels, sizeof(labels), "operation=\"%s\","
			    "outcome=\"%s\"", op, c == CF_OK ? "OK" :
			    cf_code_name((enum cf_code)c));
			cf_prom_value(out, "coffer_requests_total", labels, n);
		}
	}
	cf_prom_family(out, "coffer_request_duration_seconds", "histogram",
	    "Time from a call's arrival to its answer, by operation (the "
	    "audit event's commit included).");
	for (m = 0; m <= MAX_METHODS; m++) {
		if ((m < MAX_METHODS && m >= count) ||
		    atomic_load_explicit(&latency[m].count,
		    memory_order_relaxed) == 0)
			continue;
		snprintf(labels, sizeof(labels), "operation=\"%s\"", m < count ?
		    rpc_service_op(m) : "Unknown");
		cf_prom_hist(out, "coffer_request_duration_seconds", labels,
		    &latency[m], &cf_hist_seconds);
	}
	cf_prom_family(out, "coffer_requests_in_flight", "gauge", "Calls "
	    "being answered now.");
	cf_prom_value(out, "coffer_requests_in_flight", NULL,
	    (uint64_t)(atomic_load(&in_flight) > 0 ? atomic_load(&in_flight) :
	    0));
}
