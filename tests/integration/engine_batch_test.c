/*
 * engine_batch_test.c: BatchGetSecretValue: by ids with per-secret errors,
 * by filters one page at a time, and its parameter rules.  Against a real
 * PostgreSQL database and SoftHSM token (fixture.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

static void
test_batch_get(void **state)
{
	struct engine_batch_req req = { 0 };
	struct engine_batch_resp r;
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct cf_error err;
	const char *ids[4], *many[21];
	char pfx[64];
	const char *vals[1];
	struct engine_filter f = { "name", vals, 1 };
	int i;

	(void)state;
	fx_fresh();
	snprintf(pfx, sizeof(pfx), "batch%d-", (int)getpid());
	ids[0] = fx_unique(pfx);
	ids[1] = fx_unique(pfx);
	ids[2] = "no-such-secret-anywhere";
	ids[3] = fx_unique(pfx);
	fx_create(ids[0], TOKEN_A, "zero", &c);
	fx_create(ids[1], TOKEN_A, "one", &c);
	fx_create(ids[3], TOKEN_A, "three", &c);
	assert_int_equal(fx_delete(ids[3], 0, 0, 0, &d, &err), 0);

	req.secret_ids = ids;
	req.n_secret_ids = 4;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), 0);
	assert_int_equal(r.n_values, 2);
	assert_int_equal(r.values[0].value.len, 4);
	assert_memory_equal(r.values[0].value.data, "zero", 4);
	assert_int_equal(r.n_errors, 2);
	assert_string_equal(r.errors[0].secret_id, "no-such-secret-anywhere");
	assert_string_equal(r.errors[0].error_code, "ResourceNotFoundException");
	assert_string_equal(r.errors[1].error_code, "InvalidRequestException");

	/* Filters: one page of at most MaxResults. */
	memset(&req, 0, sizeof(req));
	vals[0] = pfx;
	req.filters = &f;
	req.n_filters = 1;
	req.has_max_results = 1;
	req.max_results = 1;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), 0);
	assert_int_equal(r.n_values, 1);
	assert_non_null(r.next_token);
	req.next_token = r.next_token;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), 0);
	assert_int_equal(r.n_values, 1);
	assert_memory_equal(r.values[0].value.data, "one", 3);

	/* Parameter rules. */
	req.secret_ids = ids;
	req.n_secret_ids = 1;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	req.n_filters = 0;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	for (i = 0; i < 21; i++)
		many[i] = ids[0];
	memset(&req, 0, sizeof(req));
	req.secret_ids = many;
	req.n_secret_ids = 21;
	assert_int_equal(engine_batch_get_secret_value(fx_w, &fx_call, &req, &r,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_get),
	};

	return (fx_run("engine_batch", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
