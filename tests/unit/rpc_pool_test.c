/*
 * rpc_pool_test.c: the pools' queue (rpc/pool.c), which long calls and
 * changes wait in: first in, first out; bounded (a full queue refuses and
 * keeps nothing); a thread waiting for a call is woken by the next one;
 * told to stop, the pool's threads still take what is queued, then end.
 * Calls are opaque to the queue, so made-up pointers stand for them
 * (never dereferenced: nothing is left queued for destroy to release).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rpc_pool.h"

/* The ${i}th made-up call. */
#define CALL(i) ((grpc_call *)(uintptr_t)(0x1000 + (i)))

static gpr_timespec
never(void)
{

	return (gpr_inf_future(GPR_CLOCK_MONOTONIC));
}

static void
test_first_in_first_out_and_bounded(void **state)
{
	struct rpc_pool p;
	struct rpc_job *j;
	size_t i;

	(void)state;
	rpc_pool_init(&p, "coffer-test", "test calls", "test_queue", 1, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(rpc_pool_push(&p, CALL(i), i, NULL, never()),
		    RPC_POOL_QUEUED);
	/* Full: refused, and the queue keeps what it had. */
	assert_int_equal(rpc_pool_push(&p, CALL(9), 9, NULL, never()),
	    RPC_POOL_FULL);
	assert_int_equal(p.queued, 3);
	for (i = 0; i < 3; i++) {
		assert_non_null(j = rpc_pool_next(&p));
		assert_ptr_equal(j->call, CALL(i));
		assert_int_equal(j->method, i);
		free(j);
	}
	/* Room again once taken. */
	assert_int_equal(rpc_pool_push(&p, CALL(5), 5, NULL, never()),
	    RPC_POOL_QUEUED);
	assert_non_null(j = rpc_pool_next(&p));
	assert_ptr_equal(j->call, CALL(5));
	free(j);
	assert_int_equal(p.queued, 0);
	rpc_pool_destroy(&p);
}

struct taker {
	struct rpc_pool *p;
	size_t taken;
	grpc_call *calls[8];
};

/* A pool thread: take calls until told to stop. */
static void *
take(void *arg)
{
	struct taker *t = arg;
	struct rpc_job *j;

	while ((j = rpc_pool_next(t->p)) != NULL) {
		t->calls[t->taken++] = j->call;
		free(j);
	}
	return (NULL);
}

static void
test_a_waiting_thread_is_woken_and_stop_drains_first(void **state)
{
	struct rpc_pool p;
	struct taker t = { &p, 0, { NULL } };
	pthread_t th;
	size_t i;

	(void)state;
	rpc_pool_init(&p, "coffer-test", "test calls", "test_queue", 1, 8);
	assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
	/* Woken by each call, in order; the stop comes after them all. */
	for (i = 0; i < 5; i++)
		assert_int_equal(rpc_pool_push(&p, CALL(i), i, NULL, never()),
		    RPC_POOL_QUEUED);
	rpc_pool_stop(&p);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.taken, 5);
	for (i = 0; i < 5; i++)
		assert_ptr_equal(t.calls[i], CALL(i));
	/* Stopped and empty: nothing to wait for. */
	assert_null(rpc_pool_next(&p));
	rpc_pool_destroy(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_in_first_out_and_bounded),
		cmocka_unit_test(
		    test_a_waiting_thread_is_woken_and_stop_drains_first),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
