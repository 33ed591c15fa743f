/*
 * cf_metrics.h: what the modules count for Prometheus (cf_metrics.c), and
 * the text they write it in.
 *
 * Each module keeps its own counters and histograms (relaxed atomics: a
 * call pays a few uncontended increments, never a lock) and writes them
 * with these functions when /metrics is scraped (server/metrics.c asks
 * each in turn).  Label values come from fixed sets only (operations,
 * outcomes, rotator kinds), never from a request: no secret name and no
 * principal ever becomes a label (cardinality, and privacy).
 */
#ifndef COFFER_CF_METRICS_H
#define COFFER_CF_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A histogram's buckets: upper bounds in the unit observed. */
struct cf_hist_kind {
	size_t n;
	const uint64_t *le;		/* ascending; +Inf is implied */
	double scale;			/* rendered value = observed * scale */
};

/* Durations observed in microseconds, rendered in seconds (0.5 ms..10 s). */
extern const struct cf_hist_kind cf_hist_seconds;
/* Sizes (events in a batch): 1..1024. */
extern const struct cf_hist_kind cf_hist_sizes;

#define CF_HIST_MAX 16			/* buckets a kind may have */

struct cf_hist {
	atomic_uint_fast64_t in[CF_HIST_MAX + 1];	/* per bucket, not
							   cumulative; last:
							   past every bound */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum;
};

/* cf_hist_observe(h, kind, v): one observation of ${v}. */
void cf_hist_observe(struct cf_hist *, const struct cf_hist_kind *, uint64_t);

/* The exposition being written: a growing text buffer. */
struct cf_prom {
	char *p;
	size_t len, cap;
	int oom;			/* a write failed: the text is cut */
};

/*
 * cf_prom_family(out, name, type, help): the # HELP and # TYPE lines of
 * metric ${name} ("counter", "gauge", "histogram").
 * cf_prom_value(out, name, labels, v): one sample; ${labels} is NULL or
 * the text between the braces (label="value",...), values from fixed sets.
 * cf_prom_double: the same with a fractional value.
 * cf_prom_hist(out, name, labels, h, kind): a histogram's _bucket, _sum and
 * _count samples.
 * cf_prom_free(out): free the text.
 */
void cf_prom_family(struct cf_prom *, const char *, const char *,
    const char *);
void cf_prom_value(struct cf_prom *, const char *, const char *, uint64_t);
void cf_prom_double(struct cf_prom *, const char *, const char *, double);
void cf_prom_hist(struct cf_prom *, const char *, const char *,
    const struct cf_hist *, const struct cf_hist_kind *);
void cf_prom_free(struct cf_prom *);

#endif /* !COFFER_CF_METRICS_H */
