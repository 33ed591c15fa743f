/*
 * engine_test.c: the Secrets Manager rules against a real PostgreSQL
 * database and a real SoftHSM token.
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

static void
test_migrations_idempotent(void **state)
{
	struct cf_error err;
	char *n;

	(void)state;
	/* engine_new applied them all; again applies nothing. */
	assert_int_equal(store_migrate(fx_conninfo, &err), 0);
	n = tl_sql_value(fx_conninfo, "SELECT string_agg(version, ',' ORDER BY "
	    "version) FROM schema_migrations");
	assert_string_equal(n, "0001_initial,0002_list_indexes,"
	    "0003_server_keys,0004_audit,0005_policies,0006_rotation,"
	    "0007_rotation_principal,0008_audit_request_params");
	free(n);
}

struct migrate_arg {
	const char *conninfo;
	int rc;
};

static void *
migrate_thread(void *p)
{
	struct migrate_arg *a = p;
	struct cf_error err;

	a->rc = store_migrate(a->conninfo, &err);
	return (NULL);
}

static void
test_migrations_concurrent(void **state)
{
	struct migrate_arg a[2];
	pthread_t t[2];
	char *applied;
	const char *db;
	int i;

	(void)state;
	/* Two "servers" migrate one empty database at the same moment. */
	db = tl_fresh_database("migrate_race");
	for (i = 0; i < 2; i++) {
		a[i].conninfo = db;
		pthread_create(&t[i], NULL, migrate_thread, &a[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* Between them they applied each migration exactly once. */
	assert_true(a[0].rc >= 0 && a[1].rc >= 0);
	applied = tl_sql_value(db, "SELECT count(*) FROM schema_migrations");
	assert_int_equal(a[0].rc + a[1].rc, atoi(applied));
	assert_int_equal(atoi(applied), 8);
	free(applied);
}

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
	char *n;
	char sql[256];

	(void)state;
	fx_fresh();
	name = fx_unique("idem");
	fx_create(name, TOKEN_A, "same", &c);

	/* Same token, same value: a retry returns the same secret. */
	fx_create(name, TOKEN_A, "same", &c2);
	assert_string_equal(c2.arn, c.arn);
	assert_string_equal(c2.version_id, TOKEN_A);

	/* Same token, other value; or other token: the name exists. */
	req.name = name;
	req.client_request_token = TOKEN_A;
	req.value = fx_str("different");
	assert_int_equal(engine_create_secret(fx_w, &fx_call, &req, &c2, &err), -1);
	assert_int_equal(err.code, CF_ERR_RESOURCE_EXISTS);
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
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM secret_versions v "
	    "JOIN secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'",
	    name);
	n = tl_sql_value(fx_conninfo, sql);
	assert_string_equal(n, "1");
	free(n);
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
	char sql[256], *n;

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
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM secret_versions v "
	    "JOIN secrets s ON s.uuid = v.secret_uuid WHERE s.name = '%s'",
	    name);
	n = tl_sql_value(fx_conninfo, sql);
	assert_string_equal(n, "2");
	free(n);
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
test_list_paging(void **state)
{
	struct engine_list_req req = { 0 };
	struct engine_list_resp r;
	struct engine_create_resp c;
	struct cf_error err;
	char *token = NULL;
	char *seen[1000];
	size_t nseen = 0, i, j, pages = 0, total;
	char *count;

	(void)state;
	fx_fresh();
	for (i = 0; i < 7; i++)
		fx_create(fx_unique("list"), TOKEN_A, "v", &c);
	count = tl_sql_value(fx_conninfo, "SELECT count(*) FROM secrets");
	total = (size_t)atoi(count);
	free(count);

	/* Pages of 3 cover every secret once, oldest first. */
	req.has_max_results = 1;
	req.max_results = 3;
	do {
		req.next_token = token;
		assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err),
		    0);
		assert_true(r.n_secrets <= 3);
		for (i = 0; i < r.n_secrets; i++) {
			for (j = 0; j < nseen; j++)
				assert_string_not_equal(seen[j],
				    r.secrets[i].arn);
			seen[nseen++] = strdup(r.secrets[i].arn);
			if (i > 0)
				assert_true(r.secrets[i].created_date >=
				    r.secrets[i - 1].created_date);
		}
		free(token);
		token = r.next_token ? strdup(r.next_token) : NULL;
		pages++;
	} while (token != NULL && pages < 1000);
	assert_int_equal(nseen, total);
	assert_int_equal(pages, (total + 2) / 3);
	for (i = 0; i < nseen; i++)
		free(seen[i]);

	/* Descending order; a token of one order is refused by the other. */
	req.sort_order = "desc";
	req.next_token = NULL;
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), 0);
	assert_int_equal(r.n_secrets, 3);
	assert_true(r.secrets[0].created_date >= r.secrets[2].created_date);
	req.sort_order = "asc";
	req.next_token = r.next_token;
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
	req.next_token = "garbage";
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);

	/* MaxResults bounds and SortOrder enum. */
	req.next_token = NULL;
	req.max_results = 0;
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	req.max_results = 101;
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), -1);
	req.max_results = 100;
	req.sort_order = "sideways";
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
}

/* Every page of "lister"'s listing under ${prefix}: the names, joined. */
static void
lister_pages(struct engine_call *c, const char *prefix, int max,
    char *out, size_t cap, size_t *pages)
{
	struct engine_list_req req = { 0 };
	struct engine_filter f = { "name", NULL, 1 };
	const char *vals[1] = { prefix };
	struct engine_list_resp r;
	struct cf_error err;
	char *tok = NULL;
	size_t i;

	f.values = vals;
	req.filters = prefix != NULL ? &f : NULL;
	req.n_filters = prefix != NULL ? 1 : 0;
	req.has_max_results = 1;
	req.max_results = max;
	out[0] = '\0';
	*pages = 0;
	do {
		req.next_token = tok;
		assert_int_equal(engine_list_secrets(fx_w, c, &req, &r, &err),
		    0);
		assert_true(r.n_secrets <= (size_t)max);
		for (i = 0; i < r.n_secrets; i++) {
			strncat(out, r.secrets[i].name, cap - strlen(out) - 2);
			strcat(out, " ");
		}
		strcat(out, "|");
		free(tok);
		tok = r.next_token != NULL ? strdup(r.next_token) : NULL;
		(*pages)++;
	} while (tok != NULL && *pages < 1000);
	free(tok);
}

/*
 * A caller who may describe three secrets with 300 hidden ones between them
 * (more than a batch) pages over those three only: pages of MaxResults
 * visible secrets, their number set by the visible ones alone.  Its token
 * is refused for another principal.
 */
static void
test_list_pages_skip_hidden(void **state)
{
	struct engine_list_req req = { 0 };
	struct engine_list_resp r;
	struct engine_create_resp c;
	struct engine_call lc;
	struct cf_error err;
	char doc[512], want[512], got[4096], name[128], tok[64];
	const char *vis[3];
	size_t i, pages;
	int pid = (int)getpid();

	(void)state;
	fx_fresh();
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "lvis-%d-%zu", pid, i);
		vis[i] = cf_arena_strdup(fx_call.arena, name);
	}
	for (i = 0; i < 308; i++) {
		snprintf(tok, sizeof(tok), "00000000-0000-4000-8000-%012zu", i);
		fx_create(i == 0 ? vis[0] : i == 301 ? vis[1] : i == 307 ?
		    vis[2] : fx_unique(i < 301 ? "lhid" : "lvis-hidden"), tok,
		    "v", &c);
	}
	snprintf(doc, sizeof(doc), "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Effect\":\"Allow\",\"Action\":\"secretsmanager:ListSecrets\","
	    "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":"
	    "\"secretsmanager:DescribeSecret\",\"Resource\":"
	    "\"arn:aws:secretsmanager:*:*:secret:lvis-%d-*\"}]}", pid);
	assert_int_equal(engine_put_identity_policy(fx_w, &fx_call, "lister",
	    "lists", doc, &err), 0);
	lc = fx_call;
	lc.principal = "lister";
	lc.action = "secretsmanager:ListSecrets";

	/* By one, by two, with and without a filter matching hidden ones. */
	snprintf(want, sizeof(want), "%s |%s |%s |", vis[0], vis[1], vis[2]);
	lister_pages(&lc, "l", 1, got, sizeof(got), &pages);
	assert_string_equal(got, want);
	assert_int_equal(pages, 3);
	lister_pages(&lc, NULL, 1, got, sizeof(got), &pages);
	assert_string_equal(got, want);
	snprintf(want, sizeof(want), "%s %s |%s |", vis[0], vis[1], vis[2]);
	lister_pages(&lc, "lvis", 2, got, sizeof(got), &pages);
	assert_string_equal(got, want);
	assert_int_equal(pages, 2);
	lister_pages(&lc, "lhid", 1, got, sizeof(got), &pages);
	assert_string_equal(got, "|");

	/* The token is the lister's: refused for the admin. */
	req.has_max_results = 1;
	req.max_results = 1;
	assert_int_equal(engine_list_secrets(fx_w, &lc, &req, &r, &err), 0);
	assert_non_null(r.next_token);
	req.next_token = r.next_token;
	assert_int_equal(engine_list_secrets(fx_w, &lc, &req, &r, &err), 0);
	assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r, &err),
	    -1);
	assert_int_equal(err.code, CF_ERR_INVALID_NEXT_TOKEN);
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

static int
setup(void **state)
{

	(void)state;
	return (fx_setup("engine_test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations_idempotent),
		cmocka_unit_test(test_migrations_concurrent),
		cmocka_unit_test(test_create_get_round_trip),
		cmocka_unit_test(test_get_errors),
		cmocka_unit_test(test_create_idempotency),
		cmocka_unit_test(test_bad_input_leaves_nothing),
		cmocka_unit_test(test_put_moves_labels),
		cmocka_unit_test(test_put_custom_labels),
		cmocka_unit_test(test_put_idempotency),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_list_paging),
		cmocka_unit_test(test_list_pages_skip_hidden),
		cmocka_unit_test(test_moved_ciphertext_fails),
		cmocka_unit_test(test_connection_loss_recovers),
	};

	return (cmocka_run_group_tests(tests, setup, fx_teardown));
}
