/*
 * engine_ops_test.c: UpdateSecret, DeleteSecret/RestoreSecret and the purge,
 * UpdateSecretVersionStage, ListSecretVersionIds, tags, ListSecrets
 * filters, BatchGetSecretValue and GetRandomPassword, against a real
 * PostgreSQL database and SoftHSM token.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

static int
stage(const char *id, const char *label, const char *rm, const char *mv,
    struct cf_error *err)
{
	struct engine_stage_req req = { id, label, rm, mv };
	const char *arn, *name;

	return (engine_update_secret_version_stage(fx_w, &fx_call, &req, &arn,
	    &name, err));
}

static int
delete(const char *id, int has_days, int64_t days, int force,
    struct engine_delete_resp *resp, struct cf_error *err)
{
	struct engine_delete_req req = { id, has_days, days, force };

	return (engine_delete_secret(fx_w, &fx_call, &req, resp, err));
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
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'", name), 2);
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
test_delete_restore_purge(void **state)
{
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct engine_secret_meta m;
	struct engine_get_resp g;
	struct engine_put_resp p;
	struct engine_list_req lr = { 0 };
	struct engine_list_resp l;
	struct cf_error err;
	const char *name, *arn, *nm;
	int64_t before = cf_now_ms();
	size_t i;
	int found, purged;

	(void)state;
	fx_fresh();
	name = fx_unique("delete");
	fx_create(name, TOKEN_A, "v", &c);

	/* Parameter rules. */
	assert_int_equal(delete(name, 1, 7, 1, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(delete(name, 1, 6, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(delete(name, 1, 31, 0, &d, &err), -1);

	/* Scheduled (default 30 days): describe works, values do not. */
	assert_int_equal(delete(name, 0, 0, 0, &d, &err), 0);
	assert_string_equal(d.arn, c.arn);
	assert_true(d.deletion_date >= before + 30LL * 86400000 - 1000);
	assert_true(d.deletion_date <= cf_now_ms() + 30LL * 86400000 + 1000);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_true(m.deleted_date == d.deletion_date);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	assert_int_equal(fx_put(name, TOKEN_B, "v2", NULL, 0, &p, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	assert_int_equal(delete(name, 1, 7, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
	/* Creating the name again is refused as AWS refuses it. */
	{
		struct engine_create_req req = { 0 };

		req.name = name;
		req.client_request_token = TOKEN_D;
		assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c,
		    &err), -1);
		assert_int_equal(err.code, CF_ERR_INVALID_REQUEST);
		assert_non_null(strstr(err.msg, "scheduled for deletion"));
	}
	/* Listed only with IncludePlannedDeletion. */
	for (lr.include_planned_deletion = 0; lr.include_planned_deletion < 2;
	    lr.include_planned_deletion++) {
		const char *vals[1] = { name };
		struct engine_filter f = { "name", vals, 1 };

		lr.filters = &f;
		lr.n_filters = 1;
		assert_int_equal(engine_list_secrets(fx_w, &fx_call, &lr, &l,
		    &err), 0);
		for (i = 0, found = 0; i < l.n_secrets; i++)
			found |= strcmp(l.secrets[i].name, name) == 0;
		assert_int_equal(found, lr.include_planned_deletion);
	}

	/* Restore: usable again. */
	assert_int_equal(engine_restore_secret(fx_w, &fx_call, name, &arn, &nm,
	    &err), 0);
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.deleted_date, 0);

	/* The purge removes what is due, wrapped keys and all. */
	assert_int_equal(delete(name, 1, 7, 0, &d, &err), 0);
	assert_int_equal(engine_purge_due(fx_w, NULL, 100, &purged, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 1);
	tl_sql(fx_conninfo, "UPDATE secrets SET purge_after = now() - "
	    "interval '1 second' WHERE deleted_date IS NOT NULL");
	assert_int_equal(engine_purge_due(fx_w, NULL, 100, &purged, &err), 0);
	assert_true(purged >= 1);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions WHERE "
	    "secret_uuid NOT IN (SELECT uuid FROM secrets)"), 0);
	assert_int_equal(engine_restore_secret(fx_w, &fx_call, name, &arn, &nm,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);

	/* Force: gone at once; force on a missing secret succeeds. */
	fx_fresh();
	name = fx_unique("force");
	fx_create(name, TOKEN_A, "v", &c);
	assert_int_equal(delete(name, 0, 0, 1, &d, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name = "
	    "'%s'", name), 0);
	assert_int_equal(delete(name, 0, 0, 1, &d, &err), 0);
	assert_string_equal(d.name, name);
	assert_int_equal(delete(name, 0, 0, 0, &d, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
	/* The name is free again, with a new ARN suffix. */
	{
		struct engine_create_resp c2;

		fx_create(name, TOKEN_A, "again", &c2);
		assert_string_not_equal(c2.arn, c.arn);
	}
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
	assert_int_equal(stage(name, "AWSCURRENT", NULL, TOKEN_B, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, "RemoveFromVersionId can't be empty"));
	assert_int_equal(stage(name, "AWSCURRENT", TOKEN_C, TOKEN_B, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(stage(name, "AWSCURRENT", TOKEN_A, TOKEN_D, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(stage(name, "AWSCURRENT", TOKEN_A, TOKEN_B, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_A), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSCURRENT,AWSPENDING");
	assert_int_equal(fx_get(name, NULL, NULL, &g, &err), 0);
	fx_assert_value(&g, "v2");

	/* Custom labels are untouched by the AWSPREVIOUS shuffle. */
	assert_int_equal(stage(name, "AWSPENDING", TOKEN_B, NULL, &err), 0);
	assert_int_equal(fx_put(name, TOKEN_C, "v3", custom, 2, &p, &err), 0);
	assert_int_equal(stage(name, "AWSCURRENT", TOKEN_B, TOKEN_C, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING,PUT1");
	assert_string_equal(fx_labels_of(name, TOKEN_B), "AWSPREVIOUS");
	assert_string_equal(fx_labels_of(name, TOKEN_A), "");
	/* Moving a label onto the version that has it changes nothing. */
	assert_int_equal(stage(name, "PUT1", NULL, TOKEN_C, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING,PUT1");
	/* Remove only; removing a label from a version without it fails. */
	assert_int_equal(stage(name, "PUT1", TOKEN_B, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(stage(name, "PUT1", TOKEN_C, NULL, &err), 0);
	assert_string_equal(fx_labels_of(name, TOKEN_C),
	    "AWSCURRENT,AWSSOMETHING");
	/* AWSCURRENT can be moved, not dropped. */
	assert_int_equal(stage(name, "AWSCURRENT", TOKEN_C, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_int_equal(stage(name, "AWSCURRENT", NULL, NULL, &err), -1);
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
	assert_int_equal(stage(name, "ONE-TOO-MANY", NULL, TOKEN_A, &err), -1);
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
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'", name),
	    104);
	/* Age them past 24 hours; the next put prunes unlabeled ones to 100. */
	tl_sql(fx_conninfo, "UPDATE secret_versions SET created_date = "
	    "created_date - interval '2 days'");
	assert_int_equal(fx_put(name, TOKEN_B, "v", NULL, 0, &p, &err), 0);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'", name),
	    100);
	/* The labelled versions survive; the oldest unlabeled ones went. */
	assert_int_equal(fx_count("SELECT count(*) FROM version_stages l JOIN "
	    "secrets s ON s.uuid = l.secret_uuid WHERE s.name = '%s'", name), 2);
	assert_int_equal(fx_count("SELECT count(*) FROM secret_versions v JOIN "
	    "secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s' AND "
	    "v.version_id = '%s'", name, TOKEN_A), 0);
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
	assert_int_equal(engine_describe_secret(fx_w, &fx_call, name, &m,
	    &err), 0);
	assert_int_equal(m.n_tags, 2);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, name, many, 48,
	    &err), 0);
	assert_int_equal(engine_tag_resource(fx_w, &fx_call, "missing-secret",
	    t2, 1, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_NOT_FOUND);
}

/* Names (of this test's secrets) that ListSecrets returns for filters. */
static const char *
listed(const char *prefix, const struct engine_filter *f, size_t n)
{
	struct engine_list_req req = { 0 };
	struct engine_list_resp r;
	static struct cf_error err;
	static char out[1024];
	size_t i;

	req.filters = f;
	req.n_filters = n;
	if (engine_list_secrets(fx_w, &fx_call, &req, &r, &err))
		return (err.msg);
	out[0] = '\0';
	for (i = 0; i < r.n_secrets; i++)
		if (strncmp(r.secrets[i].name, prefix, strlen(prefix)) == 0) {
			strcat(out, *out ? "," : "");
			strcat(out, r.secrets[i].name + strlen(prefix));
		}
	return (out);
}

static void
test_list_filters(void **state)
{
	char pfx[64], names[4][96];
	const char *v1[2], *v2[2];
	struct engine_filter f[2];
	struct engine_create_req req = { 0 };
	struct engine_create_resp c;
	struct engine_tag tags[2] = { { "env", "prod" }, { "Team", "Payments" } };
	struct cf_error err;
	int i;
	static const char *const suffix[4] = { "DatabaseSecret",
	    "databaseSecret", "MyData", "Other" };
	static const char *const desc[4] = { "Primary DB credentials",
	    "replica creds", NULL, "credsDatabase#892 stuff" };

	(void)state;
	fx_fresh();
	snprintf(pfx, sizeof(pfx), "flt%d-", (int)getpid());
	for (i = 0; i < 4; i++) {
		snprintf(names[i], sizeof(names[i]), "%s%s", pfx, suffix[i]);
		memset(&req, 0, sizeof(req));
		req.name = names[i];
		req.client_request_token = TOKEN_A;
		req.description = desc[i];
		req.tags = i == 0 ? tags : NULL;
		req.n_tags = i == 0 ? 2 : 0;
		assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c,
		    &err), 0);
	}

	/* name: case-sensitive prefix ("Data" = DatabaseSecret only). */
	snprintf(names[0], sizeof(names[0]), "%sData", pfx);
	v1[0] = names[0];
	f[0] = (struct engine_filter){ "name", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret");
	/* Two values: either; a negated value excludes. */
	snprintf(names[1], sizeof(names[1]), "%sd", pfx);
	v1[1] = names[1];
	f[0].n_values = 2;
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret,databaseSecret");
	snprintf(names[2], sizeof(names[2]), "!%sMy", pfx);
	v2[0] = pfx;
	v2[1] = names[2];
	f[0] = (struct engine_filter){ "name", v2, 2 };
	assert_string_equal(listed(pfx, f, 1),
	    "DatabaseSecret,databaseSecret,Other");
	/* description: the start of any word, any case; with a name: AND. */
	v1[0] = "CREDS";
	f[0] = (struct engine_filter){ "description", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "databaseSecret,Other");
	v1[0] = "cred";
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret,databaseSecret,"
	    "Other");
	v1[0] = "edentials";
	assert_string_equal(listed(pfx, f, 1), "");
	v2[0] = pfx;
	f[1] = (struct engine_filter){ "name", v2, 1 };
	v1[0] = "replica";
	assert_string_equal(listed(pfx, f, 2), "databaseSecret");
	/* tag-key / tag-value: case-sensitive prefixes. */
	v1[0] = "Te";
	f[0] = (struct engine_filter){ "tag-key", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret");
	v1[0] = "te";
	assert_string_equal(listed(pfx, f, 1), "");
	v1[0] = "prod";
	f[0] = (struct engine_filter){ "tag-value", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret");
	v1[0] = "!prod";
	f[1] = (struct engine_filter){ "name", v2, 1 };
	assert_string_equal(listed(pfx, f, 2), "databaseSecret,MyData,Other");
	/* all: every word somewhere, ignoring case. */
	v1[0] = "payments PRIMARY";
	f[0] = (struct engine_filter){ "all", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret");
	/* primary-region: Coffer secrets are not replicas. */
	v1[0] = "us";
	f[0] = (struct engine_filter){ "primary-region", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "");
	/* "_" (a LIKE wildcard) is a literal character here. */
	snprintf(names[3], sizeof(names[3]), "%s_atabase", pfx);
	v1[0] = names[3];
	f[0] = (struct engine_filter){ "name", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "");

	/* Bad filters. */
	v1[0] = "x";
	f[0] = (struct engine_filter){ "colour", v1, 1 };
	assert_non_null(strstr(listed(pfx, f, 1), "enum value set"));
	f[0] = (struct engine_filter){ "name", v1, 0 };
	assert_non_null(strstr(listed(pfx, f, 1), "Invalid filter values"));
	v1[0] = "semi;colon";
	f[0] = (struct engine_filter){ "name", v1, 1 };
	assert_non_null(strstr(listed(pfx, f, 1), "match pattern"));
}

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
	assert_int_equal(delete(ids[3], 0, 0, 0, &d, &err), 0);

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

static void
test_random_password_from_token(void **state)
{
	struct engine_password_req req = { 0 };
	const char *pw, *pw2;
	struct cf_error err;

	(void)state;
	fx_fresh();
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw,
	    &err), 0);
	assert_int_equal(strlen(pw), 32);
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw2,
	    &err), 0);
	assert_string_not_equal(pw, pw2);
	req.has_password_length = 1;
	req.password_length = 4097;
	assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req, &pw,
	    &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

/*
 * A chi-square test of the token-drawn passwords: 40,960 characters over
 * the 94 printable ones.  With 93 degrees of freedom the statistic is about
 * 93 +- 14; 170 is exceeded by chance about once in ten million runs,
 * while a modulo-biased mapping (68 characters 1.5 times as likely) scores
 * in the thousands.
 */
static void
test_random_password_is_flat(void **state)
{
	struct engine_password_req req = { 0 };
	unsigned counts[256] = { 0 };
	const char *pw;
	struct cf_error err;
	double expected, chi = 0;
	int i, c, symbols = 0;
	size_t k;

	(void)state;
	req.has_password_length = 1;
	req.password_length = 4096;
	req.has_require_each_included_type = 1;
	req.require_each_included_type = 0;
	for (i = 0; i < 10; i++) {
		fx_fresh();
		assert_int_equal(engine_get_random_password(fx_w, &fx_call, &req,
		    &pw, &err), 0);
		for (k = 0; pw[k] != '\0'; k++)
			counts[(unsigned char)pw[k]]++;
	}
	expected = 40960.0 / 94;
	for (c = 0; c < 256; c++) {
		if (counts[c] == 0)
			continue;
		symbols++;
		chi += (counts[c] - expected) * (counts[c] - expected) /
		    expected;
	}
	printf("chi-square over %d symbols: %.1f\n", symbols, chi);
	assert_int_equal(symbols, 94);
	assert_true(chi < 170.0);
}

struct purger {
	int purged;
	int failed;
};

static void *
purge_thread(void *arg)
{
	struct purger *p = arg;
	struct engine_worker *w;
	struct cf_error err;
	int n;

	if ((w = engine_worker_new(fx_engine, &err)) == NULL) {
		p->failed = 1;
		return (NULL);
	}
	do {
		if (engine_purge_due(w, NULL, 3, &n, &err)) {
			p->failed = 1;
			break;
		}
		p->purged += n;
	} while (n > 0);
	engine_worker_free(w);
	return (NULL);
}

/* Two "servers" purge at once: every due secret goes exactly once. */
static void
test_concurrent_purge(void **state)
{
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct purger p[2] = { { 0, 0 }, { 0, 0 } };
	struct cf_error err;
	pthread_t t[2];
	char name[64];
	int i;

	(void)state;
	fx_fresh();
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "purge-race-%d-%d", (int)getpid(), i);
		fx_create(name, TOKEN_A, "v", &c);
		assert_int_equal(delete(name, 1, 7, 0, &d, &err), 0);
	}
	tl_sql(fx_conninfo, "UPDATE secrets SET purge_after = now() - "
	    "interval '1 s' WHERE name LIKE 'purge-race-%'");
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, purge_thread, &p[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(p[0].failed + p[1].failed, 0);
	assert_int_equal(p[0].purged + p[1].purged, 40);
	assert_int_equal(fx_count("SELECT count(*) FROM secrets WHERE name "
	    "LIKE 'purge-race-%%'"), 0);
}

static int
setup(void **state)
{

	(void)state;
	return (fx_setup("engine_ops_test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_secret),
		cmocka_unit_test(test_delete_restore_purge),
		cmocka_unit_test(test_version_stages),
		cmocka_unit_test(test_label_limit),
		cmocka_unit_test(test_version_housekeeping),
		cmocka_unit_test(test_list_versions),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_batch_get),
		cmocka_unit_test(test_random_password_from_token),
		cmocka_unit_test(test_random_password_is_flat),
		cmocka_unit_test(test_concurrent_purge),
	};

	return (cmocka_run_group_tests(tests, setup, fx_teardown));
}
