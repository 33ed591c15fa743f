/*
 * engine_tags_test.c: TagResource and UntagResource: merging, idempotent
 * untagging, the reserved aws: prefix and the 50-tag limit.  Against a real
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
test_tags(void **state)
{
	struct engine_tag t1[2] = { { "k1", "v1" }, { "k2", "v2" } };
	struct engine_tag t2[2] = { { "k1", "changed" }, { "k3", "" } };
	const char *keys[2] = { "k2", "absent" };
	struct engine_tag many[50];
	char kb[50][8];
	struct engine_create_resp c;
	struct engine_secret_meta m;
	struct cf_error err;
	const char *name;
	int i;

	(void)state;
	fx_fresh();
	name = fx_unique("tags");
	fx_create(name, TOKEN_A, NULL, &c);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, t1, 2, &err),
	    0);
	/* Merge: k1 overwritten in place, k3 appended. */
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, t2, 2, &err),
	    0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.n_tags, 3);
	assert_string_equal(m.tags[0].key, "k1");
	assert_string_equal(m.tags[0].value, "changed");
	assert_string_equal(m.tags[2].key, "k3");
	/* Untag is idempotent. */
	assert_int_equal(engine_untag_resource(fx_w, &fx_call, name, keys, 2,
	    &err), 0);
	assert_int_equal(engine_untag_resource(fx_w, &fx_call, name, keys, 2,
	    &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.n_tags, 2);
	/* aws: is reserved; 50 tags at most in all. */
	t1[0].key = "aws:x";
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, t1, 1, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	for (i = 0; i < 49; i++) {
		snprintf(kb[i], sizeof(kb[i]), "m%d", i);
		many[i].key = kb[i];
		many[i].value = "v";
	}
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, many, 49,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_string_equal(err.msg, "A secret can have at most 50 tags; this "
	    "request would leave it with 51.");
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.n_tags, 2);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, many, 48,
	    &err), 0);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, "missing-secret",
	    t2, 1, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
}

/*
 * Tags: [] once the last tag is removed (AWS), none for a secret never
 * tagged; a refused TagResource (rolled back) marks nothing.
 */
static void
test_tags_present(void **state)
{
	struct engine_tag t1[1] = { { "k1", "v1" } }, bad[1] = { { "aws:x", "" } };
	const char *keys[1] = { "k1" };
	struct engine_create_resp c;
	struct engine_secret_meta m;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("present");
	fx_create(name, TOKEN_A, NULL, &c);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_false(m.tags_present);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, bad, 1,
	    &err), -1);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_false(m.tags_present);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, t1, 1, &err),
	    0);
	assert_int_equal(engine_untag_resource(fx_w, &fx_call, name, keys, 1,
	    &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.n_tags, 0);
	assert_true(m.tags_present);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_tags_present),
	};

	return (fx_run("engine_tags", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
