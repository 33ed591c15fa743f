/*
 * engine_listing_test.c: ListSecrets: paging in both orders and its tokens,
 * pages that skip what the caller may not see, every filter, and pages
 * that split secrets sharing one created_date.  Against a real PostgreSQL
 * database and SoftHSM token (fixture.h).
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

/*
 * Every page of the whole listing (no filter) in ${order}, by ${max}: the
 * names, space-separated, in ${out}.
 */
static void
all_pages(const char *order, int include_deleted, int max, char *out,
    size_t cap)
{
	struct engine_list_req req = { 0 };
	struct engine_list_resp r;
	struct cf_error err;
	char *tok = NULL;
	size_t i, pages = 0;

	req.sort_order = order;
	req.include_planned_deletion = include_deleted;
	req.has_max_results = 1;
	req.max_results = max;
	out[0] = '\0';
	do {
		fx_fresh();
		req.next_token = tok;
		assert_int_equal(engine_list_secrets(fx_w, &fx_call, &req, &r,
		    &err), 0);
		assert_true(r.n_secrets <= (size_t)max);
		for (i = 0; i < r.n_secrets; i++) {
			assert_true(strlen(out) + strlen(r.secrets[i].name) + 2 <
			    cap);
			strcat(out, *out ? " " : "");
			strcat(out, r.secrets[i].name);
		}
		free(tok);
		tok = r.next_token != NULL ? strdup(r.next_token) : NULL;
	} while (tok != NULL && ++pages < 10000);
	assert_null(tok);
}

/*
 * Secrets that share one created_date (one transaction's, as a bulk load
 * makes) page in (created_date, uuid) order, the order the NextToken
 * cursor compares in, so pages that split the run lose and repeat
 * nothing: every secret once, in both orders, the deleted one only with
 * IncludePlannedDeletion.  The expected order is PostgreSQL's own.
 */
static void
test_list_paging_one_created_date(void **state)
{
	static char got[65536];
	struct engine_create_resp c;
	struct engine_delete_resp d;
	struct cf_error err;
	char sql[512], pfx[64], *want;
	const char *order[] = { "asc", "desc" };
	size_t i, o, all;

	(void)state;
	fx_fresh();
	snprintf(pfx, sizeof(pfx), "lsame-%d-", (int)getpid());
	for (i = 0; i < 20; i++) {
		snprintf(sql, sizeof(sql), "%s%02zu", pfx, i);
		fx_create(sql, TOKEN_A, "v", &c);
	}
	snprintf(sql, sizeof(sql), "%s07", pfx);
	assert_int_equal(fx_delete(sql, 1, 7, 0, &d, &err), 0);
	snprintf(sql, sizeof(sql), "UPDATE secrets SET created_date = "
	    "(SELECT min(created_date) FROM secrets WHERE name LIKE '%s%%') "
	    "WHERE name LIKE '%s%%'", pfx, pfx);
	tl_sql(fx_conninfo, sql);

	for (all = 0; all < 2; all++)
		for (o = 0; o < 2; o++) {
			snprintf(sql, sizeof(sql), "SELECT string_agg(name, ' ' "
			    "ORDER BY created_date %s, uuid %s) FROM secrets%s",
			    order[o], order[o], all ? "" :
			    " WHERE deleted_date IS NULL");
			want = tl_sql_value(fx_conninfo, sql);
			all_pages(order[o], (int)all, 3, got, sizeof(got));
			assert_string_equal(got, want);
			snprintf(sql, sizeof(sql), "%s07", pfx);
			assert_true((strstr(got, sql) != NULL) == (all == 1));
			free(want);
		}
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
	/*
	 * Words start at punctuation and at changes of case (issue 15):
	 * MyData has Data, credsDatabase has Database; each word of a value
	 * matches on its own, in any order, for `description` too.
	 */
	v1[0] = "data";
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret,databaseSecret,"
	    "MyData,Other");
	v1[0] = "SECRET";
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret,databaseSecret");
	v1[0] = "database";
	f[0] = (struct engine_filter){ "description", v1, 1 };
	assert_string_equal(listed(pfx, f, 1), "Other");
	v1[0] = "db primary";
	assert_string_equal(listed(pfx, f, 1), "DatabaseSecret");
	v1[0] = "db replica";
	assert_string_equal(listed(pfx, f, 1), "");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_paging),
		cmocka_unit_test(test_list_pages_skip_hidden),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_list_paging_one_created_date),
	};

	return (fx_run("engine_listing", tests,
	    sizeof(tests) / sizeof(tests[0])));
}
