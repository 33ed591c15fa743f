/*
 * bench_stats_test.c: coffer-bench's latency quantiles (bench/stats.c),
 * the figures bench/run and docs/performance.md quote: p50, p99 and p99.9
 * within the histogram's stated 1/64 of the true value, never above the
 * exact maximum, the same after threads' stats are merged, and a tail of
 * slow calls showing at p99.9 once it is more than a thousandth of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"

#define US 1000LL			/* nanoseconds */
#define MS (1000 * US)

/* Is ${got} ms within the histogram's 1/64 of ${want} ms? */
static void
near(double got, double want)
{

	if (got < want * (1 - 1.0 / 64) || got > want * (1 + 1.0 / 64))
		fail_msg("%.4f ms is not within 1/64 of %.4f ms", got, want);
}

static struct stats *
fresh(void)
{
	struct stats *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	return (st);
}

/* 1, 2, ..., 1000 ms: each quantile is its rank's value. */
static void
test_quantiles_of_a_known_spread(void **state)
{
	struct stats *st = fresh();
	int i;

	(void)state;
	for (i = 1; i <= 1000; i++)
		stats_ok(st, i * MS);
	near(stats_quantile_ms(st, 0.50), 500);
	near(stats_quantile_ms(st, 0.99), 990);
	near(stats_quantile_ms(st, 0.999), 999);
	/* The top bucket's middle would be above the maximum: capped. */
	assert_true(stats_quantile_ms(st, 1.0) <= 1000.0);
	near(stats_quantile_ms(st, 1.0), 1000);
	free(st);
}

/*
 * 100,000 calls of 2 ms and a tail of 50 ms calls: 0.05 % of them do not
 * move p99.9; 0.2 % do, and p99 stays where it was.
 */
static void
test_a_tail_shows_at_p999_only_past_a_thousandth(void **state)
{
	struct stats *st = fresh();
	int i;

	(void)state;
	for (i = 0; i < 100000; i++)
		stats_ok(st, 2 * MS);
	for (i = 0; i < 50; i++)
		stats_ok(st, 50 * MS);
	near(stats_quantile_ms(st, 0.999), 2);
	for (i = 0; i < 150; i++)
		stats_ok(st, 50 * MS);
	near(stats_quantile_ms(st, 0.999), 50);
	near(stats_quantile_ms(st, 0.99), 2);
	near(stats_quantile_ms(st, 0.50), 2);
	free(st);
}

/* Two threads' stats merged: the quantiles of all their calls together. */
static void
test_merged_threads_give_the_whole_runs_quantiles(void **state)
{
	struct stats *a = fresh(), *b = fresh(), *all = fresh(),
	    *sum = fresh();
	int i;

	(void)state;
	for (i = 1; i <= 3000; i++) {
		stats_ok(i % 2 ? a : b, i * 37 * US);
		stats_ok(all, i * 37 * US);
	}
	stats_merge(sum, a);
	stats_merge(sum, b);
	assert_int_equal(sum->ok, all->ok);
	assert_int_equal(sum->max_ns, all->max_ns);
	assert_true(stats_quantile_ms(sum, 0.50) ==
	    stats_quantile_ms(all, 0.50));
	assert_true(stats_quantile_ms(sum, 0.999) ==
	    stats_quantile_ms(all, 0.999));
	near(stats_quantile_ms(sum, 0.999), 2997 * 0.037);
	free(a);
	free(b);
	free(all);
	free(sum);
}

/* Fast calls are exact to the microsecond; no call, no latency. */
static void
test_small_and_empty(void **state)
{
	struct stats *st = fresh();

	(void)state;
	assert_true(stats_quantile_ms(st, 0.999) == 0);
	stats_ok(st, 40 * US);
	stats_ok(st, 90 * US);
	assert_true(stats_quantile_ms(st, 0.50) == 0.0405);
	assert_true(stats_quantile_ms(st, 0.999) == 0.09);
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_of_a_known_spread),
		cmocka_unit_test(test_a_tail_shows_at_p999_only_past_a_thousandth),
		cmocka_unit_test(test_merged_threads_give_the_whole_runs_quantiles),
		cmocka_unit_test(test_small_and_empty),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
