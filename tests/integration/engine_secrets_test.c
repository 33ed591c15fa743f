/*
 * engine_secrets_test.c: a secret's life: CreateSecret and GetSecretValue
 * round trips (by name, ARN, partial ARN, version and stage; binary values),
 * their errors, idempotency tokens, bad input that leaves nothing behind,
 * DescribeSecret, UpdateSecret, a ciphertext moved to another row, a killed
 * connection.  Against a real PostgreSQL database and SoftHSM token
 * (fixture.h).
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
test_create_get_round_trip(void **state)
{
	struct engine_create_resp c;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("round/trip");
	fx_create(name, TOKEN_A, "s3cr3t-value", &c);
	assert_string_equal(c.name, name);
	assert_string_equal(c.version_id, TOKEN_A);
	/* arn:aws:secretsmanager:local-1:000000000000:secret:NAME-XXXXXX */
	assert_int_equal(strncmp(c.arn, "arn:aws:secretsmanager:local-1:"
	    "000000000000:secret:", 51), 0);
	assert_int_equal(strlen(c.arn), 51 + strlen(name) + 7);
	assert_true(engine_arn_suffix_like(c.arn + 51));

	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "s3cr3t-value");
	assert_string_equal(g.version_id, TOKEN_A);
	assert_int_equal(g.n_stages, 1);
	assert_string_equal(g.stages[0], "AWSCURRENT");
	assert_true(g.created_date > 0);

	/* By full ARN, by partial ARN, by VersionId, by VersionStage. */
	assert_int_equal(fx_get(c.arn, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "s3cr3t-value");
	{
		char partial[600];

		snprintf(partial, sizeof(partial), "%.*s",
		    (int)strlen(c.arn) - 7, c.arn);
		assert_int_equal(fx_get(partial, NULL, NULL, &g, &err), 0);
		fx_assert_value(&g, "s3cr3t-value");
	}
	assert_int_equal(fx_get(name, TOKEN_A, NULL, &g, &err), 0);
	assert_int_equal(fx_get(name, TOKEN_A, "AWSCURRENT", &g, &err), 0);
	assert_int_equal(fx_get(name, NULL, "AWSCURRENT", &g, &err), 0);

	/* Binary values come back as bytes, NULs included. */
	{
		struct engine_create_req req = { 0 };
		static const uint8_t bin[] = { 0, 1, 2, 0xff, 0 };

		fx_fresh();
		req.name = fx_unique("binary");
		req.client_request_token = TOKEN_A;
		req.value.present = 1;
		req.value.binary = 1;
		req.value.data = bin;
		req.value.len = sizeof(bin);
		assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err),
		    0);
		assert_int_equal(fx_get(req.name, NULL, NULL, &g, &err), 0);
		assert_true(g.value.binary);
		assert_int_equal(g.value.len, sizeof(bin));
		assert_memory_equal(g.value.data, bin, sizeof(bin));
	}
}

static void
test_get_errors(void **state)
{
	struct engine_create_resp c;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name, *empty;
	char arn[600];

	(void)state;
	fx_fresh();
	name = fx_unique("get-errors");
	fx_create(name, TOKEN_A, "v", &c);

	assert_int_equal(fx_get("no-such-secret", NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_string_equal(err.msg,
	    "Secrets Manager can't find the specified secret.");

	assert_int_equal(fx_get(name, TOKEN_B, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_non_null(strstr(err.msg, "for VersionId: " TOKEN_B));

	assert_int_equal(fx_get(name, NULL, "NOPE", &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_non_null(strstr(err.msg, "for staging label: NOPE"));

	assert_int_equal(fx_get(name, TOKEN_A, "AWSPREVIOUS", &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);

	assert_int_equal(fx_get("bad name", NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);

	/* A secret with no value has no AWSCURRENT to read. */
	empty = fx_unique("empty");
	fx_create(empty, TOKEN_A, NULL, &c);
	assert_null(c.version_id);
	assert_int_equal(fx_get(empty, NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	assert_string_equal(err.msg, "Secrets Manager can't find the specified "
	    "secret value for staging label: AWSCURRENT");

	/* A partial ARN whose name ends like a suffix is taken as complete. */
	fx_fresh();
	name = fx_unique("x");
	{
		char n2[128];

		snprintf(n2, sizeof(n2), "%s-a1b2c3", name);
		fx_create(n2, TOKEN_A, "v", &c);
		snprintf(arn, sizeof(arn), "%.*s", (int)strlen(c.arn) - 7,
		    c.arn);
		assert_int_equal(fx_get(arn, NULL, NULL, &g, &err), -1);
		assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	}
	/* Another account's ARN is not ours. */
	assert_int_equal(fx_get("arn:aws:secretsmanager:local-1:111111111111:"
	    "secret:x-abcdef", NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
}

static void
test_create_idempotency(void **state)
{
	struct engine_create_resp c, c2;
	struct engine_create_req req = { 0 };
	struct cf_error err;
	const char *name;
	char want[512];

	(void)state;
	fx_fresh();
	name = fx_unique("idem");
	fx_create(name, TOKEN_A, "same", &c);

	/* Same token, same value: a retry returns the same secret. */
	fx_create(name, TOKEN_A, "same", &c2);
	assert_string_equal(c2.arn, c.arn);
	assert_string_equal(c2.version_id, TOKEN_A);

	/* Same token, other value: the token is in use (AWS's words). */
	req.name = name;
	req.client_request_token = TOKEN_A;
	req.value = fx_str("different");
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c2, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
	snprintf(want, sizeof(want), "You can't use ClientRequestToken %s "
	    "because that value is already in use for a version of secret %s.",
	    TOKEN_A, c.arn);
	assert_string_equal(err.msg, want);
	/* Another token: the name exists. */
	req.client_request_token = TOKEN_B;
	req.value = fx_str("same");
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c2, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
	assert_non_null(strstr(err.msg, "already exists."));

	/* No token at all is refused, as AWS refuses raw requests. */
	req.name = fx_unique("no-token");
	req.client_request_token = NULL;
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c2, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);

	/* Nothing of the failed creates was written. */
	assert_int_equal(fx_versions_of(name), 1);
}

static void
test_bad_input_leaves_nothing(void **state)
{
	struct engine_create_req req = { 0 };
	struct engine_create_resp c;
	struct engine_tag tags[2] = { { "ok", "v" }, { "aws:no", "v" } };
	struct cf_error err;
	char *before, *after;
	static char big[65537];

	(void)state;
	fx_fresh();
	before = tl_sql_value(fx_conninfo, "SELECT count(*) FROM secrets");
	memset(big, 'x', sizeof(big));
	req.name = fx_unique("bad");
	req.client_request_token = TOKEN_A;
	req.value.present = 1;
	req.value.data = (const uint8_t *)big;
	req.value.len = sizeof(big);
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	req.value = fx_str("fine");
	req.tags = tags;
	req.n_tags = 2;
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	req.n_tags = 0;
	req.kms_key_id = "alias/no-such-kek";
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), -1);
	assert_int_equal(err.code, CF_ERR_ENCRYPTION_FAILURE);
	req.kms_key_id = NULL;
	req.n_add_replica_regions = 1;
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	after = tl_sql_value(fx_conninfo, "SELECT count(*) FROM secrets");
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_describe(void **state)
{
	struct engine_create_req req = { 0 };
	struct engine_create_resp c;
	struct engine_secret_meta m;
	struct engine_put_resp p;
	struct engine_get_resp g;
	struct engine_tag tags[3] = { { "b", "2" }, { "a", "1" }, { "c", "" } };
	struct cf_error err;

	(void)state;
	fx_fresh();
	req.name = fx_unique("describe");
	req.client_request_token = TOKEN_A;
	req.description = "the description";
	req.value = fx_str("x");
	req.tags = tags;
	req.n_tags = 3;
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), 0);
	assert_int_equal(fx_put(req.name, TOKEN_B, "y", NULL, 0, &p, &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, req.name, &m, &err),
	    0);
	assert_string_equal(m.arn, c.arn);
	assert_string_equal(m.description, "the description");
	assert_null(m.kms_key_id);		/* default key: left out */
	assert_int_equal(m.rotation_enabled, -1);
	assert_int_equal(m.deleted_date, 0);
	assert_true(m.created_date > 0 && m.last_changed_date >= m.created_date);
	assert_int_equal(m.last_accessed_date, 0);
	/* Tags keep their order. */
	assert_int_equal(m.n_tags, 3);
	assert_string_equal(m.tags[0].key, "b");
	assert_string_equal(m.tags[1].key, "a");
	assert_string_equal(m.tags[2].value, "");
	/* Versions oldest first. */
	assert_int_equal(m.n_versions, 2);
	assert_string_equal(m.versions[0].version_id, TOKEN_A);
	assert_string_equal(m.versions[0].stages[0], "AWSPREVIOUS");
	assert_string_equal(m.versions[1].version_id, TOKEN_B);

	/* Reading sets LastAccessedDate to midnight UTC of today. */
	assert_int_equal(fx_get(req.name, NULL, NULL, &g, &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, req.name, &m, &err),
	    0);
	assert_true(m.last_accessed_date > 0);
	assert_int_equal(m.last_accessed_date % 86400000, 0);
	assert_true(cf_now_ms() - m.last_accessed_date < 86400000);

	/* KmsKeyId names a KEK; the value opens. */
	fx_fresh();
	req.name = fx_unique("kms");
	req.kms_key_id = "alias/coffer-test-kek-2";
	req.n_tags = 0;
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c, &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, req.name, &m, &err),
	    0);
	assert_string_equal(m.kms_key_id, "alias/coffer-test-kek-2");
	assert_int_equal(fx_get(req.name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "x");
}

static void
test_update_secret(void **state)
{
	struct engine_update_req req = { 0 };
	struct engine_update_resp r;
	struct engine_create_resp c;
	struct engine_secret_meta m;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;

	(void)state;
	fx_fresh();
	name = fx_unique("update");
	fx_create(name, TOKEN_A, "v1", &c);

	/* Description only: no new version, no VersionId. */
	req.secret_id = name;
	req.description = "new description";
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    0);
	assert_null(r.version_id);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_string_equal(m.description, "new description");
	assert_int_equal(m.n_versions, 1);

	/* A value: a new AWSCURRENT, the old one AWSPREVIOUS; a retry is a
	 * no-op and another value under the same token a conflict. */
	req.description = NULL;
	req.value = fx_str("v2");
	req.client_request_token = TOKEN_B;
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    0);
	assert_string_equal(r.version_id, TOKEN_B);
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSPREVIOUS");
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    0);
	assert_int_equal(fx_versions_of(name), 2);
	req.value = fx_str("v3");
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
	req.client_request_token = NULL;
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);

	/* KmsKeyId: a new key seals new versions; unknown keys are refused. */
	memset(&req, 0, sizeof(req));
	req.secret_id = name;
	req.kms_key_id = "alias/" KEK2;
	req.value = fx_str("v4");
	req.client_request_token = TOKEN_C;
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    0);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s' AND "
	    "v.version_id = '%s' AND v.kek_label = '%s'", name, TOKEN_C, KEK2),
	    1);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v4");
	assert_int_equal(fx_get(name, TOKEN_A, NULL, &g, &err), 0);
	fx_assert_value(&g, "v1");
	req.kms_key_id = "alias/nope";
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_ENCRYPTION_FAILURE);
	/* "" goes back to the default key. */
	memset(&req, 0, sizeof(req));
	req.secret_id = name;
	req.kms_key_id = "";
	assert_int_equal(engine_update_secret(fx_w, &fx_call, &req, &r, &err),
	    0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_null(m.kms_key_id);
}

static void
test_moved_ciphertext_fails(void **state)
{
	struct engine_create_resp a, b;
	struct engine_get_resp g;
	struct cf_error err;
	const char *na, *nb;
	char sql[1024];

	(void)state;
	fx_fresh();
	na = fx_unique("move-a");
	nb = fx_unique("move-b");
	fx_create(na, TOKEN_A, "value of A", &a);
	fx_create(nb, TOKEN_A, "value of B", &b);

	/* The database owner copies A's envelope into B's row. */
	snprintf(sql, sizeof(sql), "UPDATE secret_versions vb SET iv = va.iv, "
	    "wrapped_dek = va.wrapped_dek, ciphertext = va.ciphertext FROM "
	    "secret_versions va, secrets sa, secrets sb WHERE sa.name = '%s' "
	    "AND sb.name = '%s' AND va.secret_uuid = sa.uuid AND "
	    "vb.secret_uuid = sb.uuid", na, nb);
	tl_sql(fx_conninfo, sql);
	assert_int_equal(fx_get(nb, NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_DECRYPTION_FAILURE);
	assert_null(strstr(err.msg, "value of"));
	assert_int_equal(fx_get(na, NULL, NULL, &g, &err), 0);
}

static void
test_connection_loss_recovers(void **state)
{
	struct engine_create_resp c;
	struct engine_get_resp g;
	struct cf_error err;
	const char *name;
	char sql[256];

	(void)state;
	fx_fresh();
	name = fx_unique("reconnect");
	fx_create(name, TOKEN_A, "v", &c);
	/* Kill every other session on this database. */
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "pid <> pg_backend_pid()");
	tl_sql(fx_conninfo, sql);
	/* The next fx_call reconnects and succeeds. */
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_get_round_trip),
		cmocka_unit_test(test_get_errors),
		cmocka_unit_test(test_create_idempotency),
		cmocka_unit_test(test_bad_input_leaves_nothing),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_update_secret),
		cmocka_unit_test(test_moved_ciphertext_fails),
		cmocka_unit_test(test_connection_loss_recovers),
	};

	return (fx_run("engine_secrets", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
