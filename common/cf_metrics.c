/*
 * cf_metrics.c: histograms and the Prometheus text exposition format
 * (version 0.0.4), for the modules' counters (cf_metrics.h).
 */
#include "cf_metrics.h"
#include "cf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t seconds_le[] = { 500, 1000, 2500, 5000, 10000, 25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const uint64_t sizes_le[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
    1024 };

const struct cf_hist_kind cf_hist_seconds = { sizeof(seconds_le) /
    sizeof(seconds_le[0]), seconds_le, 1e-6 };
const struct cf_hist_kind cf_hist_sizes = { sizeof(sizes_le) /
    sizeof(sizes_le[0]), sizes_le, 1 };

_Static_assert(sizeof(seconds_le) / sizeof(seconds_le[0]) <= CF_HIST_MAX,
    "too many buckets");

void
cf_hist_observe(struct cf_hist *h, const struct cf_hist_kind *k, uint64_t v)
{
	size_t i = 0;

	while (i < k->n && v > k->le[i])
		i++;
	atomic_fetch_add_explicit(&h->in[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static void put(struct cf_prom *, const char *, ...) CF_PRINTF(2, 3);

static void
put(struct cf_prom *o, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *grown;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p != NULL ? o->p + o->len : NULL,
		    o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		cap = o->cap ? o->cap * 2 : 8192;
		while (cap < o->len + (size_t)n + 1)
			cap *= 2;
		if ((grown = realloc(o->p, cap)) == NULL) {
			o->oom = 1;
			return;
		}
		o->p = grown;
		o->cap = cap;
	}
}

void
cf_prom_family(struct cf_prom *o, const char *name, const char *type,
    const char *help)
{

	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
cf_prom_value(struct cf_prom *o, const char *name, const char *labels,
    uint64_t v)
{

	put(o, "%s%s%s%s %llu\n", name, labels ? "{" : "", labels ? labels :
	    "", labels ? "}" : "", (unsigned long long)v);
}

void
cf_prom_double(struct cf_prom *o, const char *name, const char *labels,
    double v)
{

	put(o, "%s%s%s%s %.17g\n", name, labels ? "{" : "", labels ? labels :
	    "", labels ? "}" : "", v);
}

void
cf_prom_hist(struct cf_prom *o, const char *name, const char *labels,
    const struct cf_hist *h, const struct cf_hist_kind *k)
{
	uint64_t cum = 0, count;
	size_t i;
	const char *sep = labels ? "," : "";

	if (labels == NULL)
		labels = "";
	/*
	 * Read while others observe: each bucket is a snapshot of its own,
	 * and _count is the cumulative total, so +Inf always equals it.
	 */
	for (i = 0; i < k->n; i++) {
		cum += atomic_load_explicit(&h->in[i], memory_order_relaxed);
		put(o, "%s_bucket{%s%sle=\"%.6g\"} %llu\n", name, labels, sep,
		    (double)k->le[i] * k->scale, (unsigned long long)cum);
	}
	cum += atomic_load_explicit(&h->in[k->n], memory_order_relaxed);
	count = cum;
	put(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)count);
	put(o, "%s_sum%s%s%s %.17g\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", (double)atomic_load_explicit(&h->sum,
	    memory_order_relaxed) * k->scale);
	put(o, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", (unsigned long long)count);
}

void
cf_prom_free(struct cf_prom *o)
{

	free(o->p);
	memset(o, 0, sizeof(*o));
}
