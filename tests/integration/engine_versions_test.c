/*
 * engine_versions_test.c: versions and their staging labels: PutSecretValue
 * moving AWSCURRENT/AWSPREVIOUS, custom labels, put idempotency,
 * UpdateSecretVersionStage, the 20-label limit, pruning to 100 versions,
 * ListSecretVersionIds.  Against a real PostgreSQL database and SoftHSM
 * token (fixture.h).
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
test_put_moves_labels(void **state)
{
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("labels");
	fx_create(name, TOKEN_A, "v1", &c);

	/* A plain put moves AWSCURRENT; the old version becomes AWSPREVIOUS. */
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), 0);
	assert_string_equal(p.version_id, TOKEN_B);
	assert_int_equal(p.n_stages, 1);
	assert_string_equal(p.stages[0], "AWSCURRENT");
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSCURRENT");
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v2");
	assert_int_equal(fx_get(name, NULL, "AWSPREVIOUS", &g, &err), 0);
	fx_assert_value(&g, "v1");

	/* Again: v1 loses AWSPREVIOUS and, with no label left, is deprecated. */
	assert_int_equal(fx_put(name, TOKEN_C, "v3", NULL, 0, &p, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_A), "");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_C), "AWSCURRENT");
	/* A deprecated version is still readable by VersionId. */
	assert_int_equal(fx_get(name, TOKEN_A, NULL, &g, &err), 0);
	fx_assert_value(&g, "v1");
	assert_int_equal(g.n_stages, 0);
}

static void
test_put_custom_labels(void **state)
{
	static const char *const l1[] = { "one", "three", "two" };
	static const char *const l2[] = { "one", "two", "four" };
	static const char *const sample[] = { "SAMPLESTAGE0", "SAMPLESTAGE1" };
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("custom");
	fx_create(name, TOKEN_A, "v1", &c);

	/* Labels given: only they move; AWSCURRENT stays (verified AWS). */
	assert_int_equal(fx_put(name, TOKEN_B, "v2", l1, 3, &p, &err), 0);
	assert_int_equal(p.n_stages, 3);
	assert_string_equal(p.stages[0], "one");
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSCURRENT");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "one,three,two");
	assert_int_equal(fx_put(name, TOKEN_C, "v3", l2, 3, &p, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_B), "three");
	assert_string_equal(fx_labels_of(name, TOKEN_C), "four,one,two");
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v1");

	/*
	 * Any characters (a label is 1-256 of anything): the labels travel
	 * to PostgreSQL as a JSON array, which must quote them.  Each finds
	 * the new version.
	 */
	{
		static const char *const odd[] = { "q\"uote", "back\\slash",
		    "\xc3\xbc" "n\xc3\xaf" "code", "{x,y}" };
		size_t k;

		assert_int_equal(fx_put(name, TOKEN_D, "v4", odd, 4, &p, &err),
		    0);
		assert_int_equal(p.n_stages, 4);
		for (k = 0; k < 4; k++) {
			assert_int_equal(fx_get(name, NULL, odd[k], &g, &err),
			    0);
			fx_assert_value(&g, "v4");
		}
	}

	/* SAMPLESTAGE labels do not change what is current. */
	fx_fresh();
	name = fx_unique("sample");
	fx_create(name, TOKEN_A, "v1", &c);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", sample, 2, &p, &err), 0);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v1");

	/* The first value of an empty secret is current whatever is asked. */
	fx_fresh();
	name = fx_unique("first");
	fx_create(name, TOKEN_A, NULL, &c);
	assert_int_equal(fx_put(name, TOKEN_B, "v", sample, 2, &p, &err), 0);
	assert_int_equal(p.n_stages, 3);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v");
}

static void
test_put_idempotency(void **state)
{
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("put-idem");
	fx_create(name, TOKEN_A, "v1", &c);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), 0);
	/* Same token, same value: nothing changes, same answer. */
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), 0);
	assert_string_equal(p.version_id, TOKEN_B);
	assert_string_equal(p.stages[0], "AWSCURRENT");
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSPREVIOUS");
	/* Same token, other value: ResourceExistsException. */
	assert_int_equal(fx_put(name, TOKEN_B, "other", NULL, 0, &p, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
	/* Errors: missing secret, missing value, missing token. */
	assert_int_equal(fx_put("nope-nope", TOKEN_C, "v", NULL, 0, &p, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	{
		struct engine_put_req req = { 0 };

		req.secret_id = name;
		req.client_request_token = TOKEN_C;
		assert_int_equal(engine_put_secret_value(fx_w, &fx_call, &req, &p,
		    &err), -1);
		assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
		req.value = fx_str("v");
		req.client_request_token = NULL;
		assert_int_equal(engine_put_secret_value(fx_w, &fx_call, &req, &p,
		    &err), -1);
		assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	}
	assert_int_equal(fx_versions_of(name), 2);
}

static void
test_version_stages(void **state)
{
	static const char *const pending[1] = { "AWSPENDING" };
	static const char *const custom[2] = { "PUT1", "AWSSOMETHING" };
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("stages");
	fx_create(name, TOKEN_A, "v1", &c);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", pending, 1, &p, &err), 0);

	/* Verified AWS: v1:[AWSCURRENT], v2:[AWSPENDING]; move CURRENT. */
	assert_int_equal(fx_stage(name, "AWSCURRENT", NULL, TOKEN_B, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, "RemoveFromVersionId can't be empty"));
	assert_int_equal(fx_stage(name, "AWSCURRENT", TOKEN_C, TOKEN_B, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_stage(name, "AWSCURRENT", TOKEN_A, TOKEN_D, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_stage(name, "AWSCURRENT", TOKEN_A, TOKEN_B, &err),
	    0);
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSCURRENT,AWSPENDING");
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v2");

	/* Custom labels are untouched by the AWSPREVIOUS shuffle. */
	assert_int_equal(fx_stage(name, "AWSPENDING", TOKEN_B, NULL, &err), 0);
	assert_int_equal(fx_put(name, TOKEN_C, "v3", custom, 2, &p, &err), 0);
	assert_int_equal(fx_stage(name, "AWSCURRENT", TOKEN_B, TOKEN_C, &err),
	    0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING,PUT1");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_A), "");
	/* Moving a label onto the version that has it changes nothing. */
	assert_int_equal(fx_stage(name, "PUT1", NULL, TOKEN_C, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING,PUT1");
	/* Remove only; removing a label from a version without it fails. */
	assert_int_equal(fx_stage(name, "PUT1", TOKEN_B, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_stage(name, "PUT1", TOKEN_C, NULL, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING");
	/* AWSCURRENT can be moved, not dropped. */
	assert_int_equal(fx_stage(name, "AWSCURRENT", TOKEN_C, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(fx_stage(name, "AWSCURRENT", NULL, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
}

static void
test_label_limit(void **state)
{
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct cf_error err;
	const char *labels[20], *name;
	char buf[20][8];
	int i;

	(void)state;
	fx_fresh();
	name = fx_unique("limit");
	fx_create(name, TOKEN_A, "v1", &c);
	for (i = 0; i < 19; i++) {
		snprintf(buf[i], sizeof(buf[i]), "L%d", i);
		labels[i] = buf[i];
	}
	/* AWSCURRENT + 19 = 20 labels: fine.  One more: LimitExceeded. */
	assert_int_equal(fx_put(name, TOKEN_B, "v2", labels, 19, &p, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM version_stages s JOIN "
	    "secrets x ON x.uuid = s.secret_uuid WHERE x.name = '%s'", name),
	    20);
	assert_int_equal(fx_stage(name, "ONE-TOO-MANY", NULL, TOKEN_A, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_LIMIT_EXCEEDED);
	labels[0] = "ONE-TOO-MANY";
	assert_int_equal(fx_put(name, TOKEN_C, "v3", labels, 1, &p, &err), -1);
	assert_int_equal(err.code, CF_ERR_LIMIT_EXCEEDED);
	/* Nothing of the refused put remains. */
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s' AND "
	    "v.version_id = '%s'", name, TOKEN_C), 0);
}

static void
test_version_housekeeping(void **state)
{
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct cf_error err;
	const char *name;
	char tok[40];
	int i;

	(void)state;
	fx_fresh();
	name = fx_unique("prune");
	fx_create(name, TOKEN_A, "v0", &c);
	/* 104 versions, all young: nothing is pruned. */
	for (i = 1; i < 104; i++) {
		snprintf(tok, sizeof(tok), "00000000-0000-4000-8000-%012d", i);
		assert_int_equal(fx_put(name, tok, "v", NULL, 0, &p, &err), 0);
	}
	assert_int_equal(fx_versions_of(name), 104);
	/* Age them past 24 hours; the next put prunes unlabeled ones to 100. */
	tl_sql(fx_conninfo, "UPDATE secret_versions SET created_date = "
	    "created_date - interval '2 days'");
	assert_int_equal(fx_put(name, TOKEN_B, "v", NULL, 0, &p, &err), 0);
	assert_int_equal(fx_versions_of(name), 100);
	/* The labelled versions survive; the oldest unlabeled ones went. */
	assert_int_equal(fx_count("SELECT count(*) FROM version_stages l JOIN "
	    "secrets s ON s.uuid = l.secret_uuid WHERE s.name = '%s'", name), 2);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s' AND "
	    "v.version_id = '%s'", name, TOKEN_A), 0);

	/*
	 * The count decides: with one gone, a put makes 100 and prunes
	 * nothing; the next makes 101 and prunes the oldest unlabeled one.
	 */
	tl_sql(fx_conninfo, "DELETE FROM secret_versions WHERE version_id = "
	    "'00000000-0000-4000-8000-000000000050'");
	assert_int_equal(fx_put(name, "00000000-0000-4000-8000-000000000201",
	    "v", NULL, 0, &p, &err), 0);
	assert_int_equal(fx_versions_of(name), 100);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions WHERE "
	    "version_id = '00000000-0000-4000-8000-000000000005'"), 1);
	assert_int_equal(fx_put(name, "00000000-0000-4000-8000-000000000202",
	    "v", NULL, 0, &p, &err), 0);
	assert_int_equal(fx_versions_of(name), 100);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions WHERE "
	    "version_id = '00000000-0000-4000-8000-000000000005'"), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions WHERE "
	    "version_id = '00000000-0000-4000-8000-000000000006'"), 1);
}

static void
test_list_versions(void **state)
{
	struct engine_list_versions_req req = { 0 };
	struct engine_list_versions_resp r;
	struct engine_create_resp c;
	struct engine_put_resp p;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("versions");
	fx_create(name, TOKEN_A, "v1", &c);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), 0);
	assert_int_equal(fx_put(name, TOKEN_C, "v3", NULL, 0, &p, &err), 0);

	/* Deprecated A is hidden unless asked for, and then has no labels. */
	req.secret_id = name;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), 0);
	assert_int_equal(r.n_versions, 2);
	assert_string_equal(r.arn, c.arn);
	assert_string_equal(r.versions[0].version_id, TOKEN_B);
	assert_string_equal(r.versions[0].kms_key_id, "DefaultEncryptionKey");
	req.include_deprecated = 1;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), 0);
	assert_int_equal(r.n_versions, 3);
	assert_string_equal(r.versions[0].version_id, TOKEN_A);
	assert_int_equal(r.versions[0].n_stages, 0);

	/* Paging by one. */
	req.has_max_results = 1;
	req.max_results = 1;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), 0);
	assert_int_equal(r.n_versions, 1);
	assert_non_null(r.next_token);
	req.next_token = r.next_token;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), 0);
	assert_string_equal(r.versions[0].version_id, TOKEN_B);
	req.next_token = r.next_token;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), 0);
	assert_string_equal(r.versions[0].version_id, TOKEN_C);
	assert_null(r.next_token);
	req.next_token = "zz";
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
	req.next_token = NULL;
	req.max_results = 101;
	assert_int_equal(engine_list_secret_version_ids(fx_w, &fx_call, &req,
	    &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_moves_labels),
		cmocka_unit_test(test_put_custom_labels),
		cmocka_unit_test(test_put_idempotency),
		cmocka_unit_test(test_version_stages),
		cmocka_unit_test(test_label_limit),
		cmocka_unit_test(test_version_housekeeping),
		cmocka_unit_test(test_list_versions),
	};

	return (fx_run("engine_versions", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
