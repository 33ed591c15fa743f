/*
 * cli_paging_test.c: pagination with a fetch function standing in for
 * cofferd: --max-items, --page-size, --no-paginate, merged pages, and
 * --starting-token round trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

/*
 * A stand-in for cofferd's ListSecrets: ${total} secrets s0..sN, pages of
 * MaxResults (default 4), NextToken "o<offset>".
 */
struct fake {
	int total;
	int calls;
	int last_max;
	int repeat_token;		/* answer the same NextToken forever */
	int fail_at;			/* call number that fails, or 0 */
};

static int
fake_fetch(void *ctx, const ProtobufCMessage *req, json_t **out,
    struct cli_status *st)
{
	struct fake *f = ctx;
	const Coffer__V1__ListSecretsRequest *r = (const void *)req;
	int off = 0, max, i;
	json_t *list;
	char name[32];

	f->calls++;
	if (f->fail_at == f->calls) {
		st->code = 3;
		snprintf(st->error_type, sizeof(st->error_type),
		    "InvalidNextTokenException");
		snprintf(st->message, sizeof(st->message), "bad token");
		return (-1);
	}
	max = r->has_max_results ? r->max_results : 4;
	f->last_max = max;
	if (r->next_token != NULL)
		assert_int_equal(sscanf(r->next_token, "o%d", &off), 1);
	*out = json_object();
	list = json_array();
	for (i = off; i < f->total && i < off + max; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		json_array_append_new(list, json_pack("{s:s}", "Name", name));
	}
	if (json_array_size(list) > 0)
		json_object_set_new(*out, "SecretList", list);
	else
		json_decref(list);
	if (i < f->total || f->repeat_token) {
		snprintf(name, sizeof(name), "o%d", f->repeat_token ? 0 : i);
		json_object_set_new(*out, "NextToken", json_string(name));
	}
	return (0);
}

/* Run list-secrets with these options; the merged names as JSON. */
static const char *
paged(struct fake *f, const char *const *opts, char **out_next, int *rc)
{
	static char names[8192];
	struct cli_status st = { 0, "", "" };
	struct ct_parsed x;
	json_t *out = NULL, *next;
	int n;

	memset(&x, 0, sizeof(x));
	x.argv.w = calloc(32, sizeof(char *));
	x.argv.w[x.argv.n++] = strdup("coffer");
	x.argv.w[x.argv.n++] = strdup("list-secrets");
	for (n = 0; opts[n] != NULL; n++)
		x.argv.w[x.argv.n++] = strdup(opts[n]);
	x.r = cli_args_parse(x.argv.n, x.argv.w, &x.a, &x.u);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	*rc = cli_paginate(&x.a, fake_fetch, f, &out, &st);
	*out_next = NULL;
	names[0] = '\0';
	if (*rc == 0) {
		next = json_object_get(out, "NextToken");
		if (next != NULL)
			*out_next = strdup(json_string_value(next));
		json_object_del(out, "NextToken");
		snprintf(names, sizeof(names), "%s", ct_dump(json_incref(
		    json_object_get(out, "SecretList"))));
		json_decref(out);
	} else
		snprintf(names, sizeof(names), "%s", st.error_type);
	ct_parsed_free(&x);
	return (names);
}

static void
test_paginate(void **state)
{
	struct fake f = { 10, 0, 0, 0, 0 };
	const char *none[] = { NULL };
	const char *ps3[] = { "--page-size", "3", NULL };
	const char *nop[] = { "--no-paginate", NULL };
	const char *man[] = { "--max-results", "2", NULL };
	char *next, *tok, want[256], got[1024];
	int rc, round, i;

	(void)state;

	/* Every page, merged. */
	assert_string_equal(paged(&f, none, &next, &rc), "[{\"Name\":\"s0\"},"
	    "{\"Name\":\"s1\"},{\"Name\":\"s2\"},{\"Name\":\"s3\"},{\"Name\":"
	    "\"s4\"},{\"Name\":\"s5\"},{\"Name\":\"s6\"},{\"Name\":\"s7\"},"
	    "{\"Name\":\"s8\"},{\"Name\":\"s9\"}]");
	assert_null(next);
	assert_int_equal(f.calls, 3);

	/* --page-size is MaxResults of each call. */
	f.calls = 0;
	(void)paged(&f, ps3, &next, &rc);
	free(next);
	assert_int_equal(f.calls, 4);
	assert_int_equal(f.last_max, 3);

	/* One call: --no-paginate, or --max-results by hand. */
	f.calls = 0;
	(void)paged(&f, nop, &next, &rc);
	free(next);
	assert_int_equal(f.calls, 1);
	f.calls = 0;
	(void)paged(&f, man, &next, &rc);
	free(next);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.last_max, 2);

	/* --max-items 4 by pages of 3: resume mid-page, see every item once. */
	got[0] = '\0';
	tok = NULL;
	for (round = 0; round < 5; round++) {
		const char *opts[] = { "--max-items", "4", "--page-size",
		    "3", tok ? "--starting-token" : NULL, tok, NULL };

		strcat(got, paged(&f, opts, &next, &rc));
		assert_int_equal(rc, 0);
		free(tok);
		tok = next;
		if (tok == NULL)
			break;
	}
	assert_int_equal(round, 2);
	want[0] = '\0';
	strcat(want, "[");
	for (i = 0; i < 10; i++) {
		char one[32];

		snprintf(one, sizeof(one), "%s{\"Name\":\"s%d\"}",
		    i == 0 || i == 4 || i == 8 ? "" : ",", i);
		strcat(want, one);
		if (i == 3 || i == 7)
			strcat(want, "][");
	}
	strcat(want, "]");
	assert_string_equal(got, want);

	/* An empty result still has its list, as AWS sends it. */
	f.total = 0;
	assert_string_equal(paged(&f, none, &next, &rc), "[]");
	assert_string_equal(paged(&f, nop, &next, &rc), "[]");

	/* A server that repeats its token is stopped; errors pass through. */
	f.total = 2;
	f.repeat_token = 1;
	assert_string_equal(paged(&f, none, &next, &rc), "");
	assert_int_equal(rc, -1);
	f.repeat_token = 0;
	f.total = 10;
	f.calls = 0;
	f.fail_at = 2;
	assert_string_equal(paged(&f, none, &next, &rc),
	    "InvalidNextTokenException");
	assert_int_equal(rc, -1);
}

static void
test_tokens(void **state)
{
	char *t, *server;
	long skip;

	(void)state;
	t = cli_token_encode("server-token", 7);
	assert_int_equal(cli_token_decode(t, &server, &skip), 0);
	assert_string_equal(server, "server-token");
	assert_int_equal(skip, 7);
	free(server);
	free(t);
	/* No skip: botocore's plain {"NextToken": ...}. */
	t = cli_token_encode("abc", 0);
	assert_string_equal(t, "eyJOZXh0VG9rZW4iOiJhYmMifQ==");
	free(t);
	t = cli_token_encode(NULL, 2);
	assert_int_equal(cli_token_decode(t, &server, &skip), 0);
	assert_null(server);
	assert_int_equal(skip, 2);
	free(t);
	/* botocore's own encoding (json.dumps with spaces) decodes. */
	assert_int_equal(cli_token_decode("eyJOZXh0VG9rZW4iOiAidCIsICJib3RvX3"
	    "RydW5jYXRlX2Ftb3VudCI6IDJ9", &server, &skip), 0);
	assert_string_equal(server, "t");
	assert_int_equal(skip, 2);
	free(server);
	assert_int_equal(cli_token_decode("not base64!", &server, &skip), -1);
	assert_int_equal(cli_token_decode("WzFd", &server, &skip), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paginate),
		cmocka_unit_test(test_tokens),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
