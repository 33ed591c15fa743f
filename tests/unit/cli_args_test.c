/*
 * cli_args_test.c: the whole command line: every verb parsed into its
 * request, identity policy verbs, usage errors and their messages, global
 * options and their environment variables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_parse_verbs(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	Coffer__V1__GetSecretValueRequest *g;
	Coffer__V1__RotateSecretRequest *r;
	Coffer__V1__GetRandomPasswordRequest *pw;
	Coffer__V1__PutSecretValueRequest *p;
	Coffer__V1__DeleteSecretRequest *d;
	struct ct_parsed x;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* The TLDR line; a ClientRequestToken is generated (UUIDv4). */
	ct_parse(&x, "create-secret", "--name", "db", "--secret-string", "v1",
	    NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "CreateSecret");
	c = (void *)x.a.req;
	assert_string_equal(c->name, "db");
	assert_string_equal(c->secret_string, "v1");
	assert_non_null(c->client_request_token);
	assert_int_equal(strlen(c->client_request_token), 36);
	assert_int_equal(c->client_request_token[14], '4');
	assert_non_null(strchr("89ab", c->client_request_token[19]));
	assert_string_equal(x.a.endpoint, CLI_DEFAULT_ENDPOINT);
	assert_string_equal(x.a.output, "json");
	assert_int_equal(x.a.timeout, 60);
	ct_parsed_free(&x);

	/* A token given is kept; --x=value works for flags too. */
	ct_parse(&x, "put-secret-value", "--secret-id=db",
	    "--client-request-token", "0123456789abcdef0123456789abcdef",
	    "--version-stages", "A", "B", "--secret-string", "v2", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->secret_id, "db");
	assert_string_equal(p->client_request_token,
	    "0123456789abcdef0123456789abcdef");
	assert_int_equal(p->n_version_stages, 2);
	assert_string_equal(p->version_stages[1], "B");
	ct_parsed_free(&x);

	/* Delete: integers and bare booleans. */
	ct_parse(&x, "delete-secret", "--secret-id", "db",
	    "--recovery-window-in-days", "30", NULL);
	d = (void *)x.a.req;
	assert_true(d->has_recovery_window_in_days);
	assert_int_equal(d->recovery_window_in_days, 30);
	assert_false(d->has_force_delete_without_recovery);
	ct_parsed_free(&x);
	ct_parse(&x, "delete-secret", "--secret-id", "db",
	    "--force-delete-without-recovery", NULL);
	d = (void *)x.a.req;
	assert_true(d->has_force_delete_without_recovery);
	assert_true(d->force_delete_without_recovery);
	ct_parsed_free(&x);

	/* --x / --no-x pairs. */
	ct_parse(&x, "rotate-secret", "--secret-id", "s",
	    "--no-rotate-immediately", "--rotation-rules",
	    "AutomaticallyAfterDays=7", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	r = (void *)x.a.req;
	assert_true(r->has_rotate_immediately);
	assert_false(r->rotate_immediately);
	assert_non_null(r->client_request_token);
	assert_int_equal(r->rotation_rules->automatically_after_days, 7);
	ct_parsed_free(&x);
	ct_parse(&x, "get-random-password", "--password-length", "20",
	    "--exclude-numbers", "--no-require-each-included-type",
	    "--exclude-characters", "abc", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	pw = (void *)x.a.req;
	assert_int_equal(pw->password_length, 20);
	assert_true(pw->has_exclude_numbers && pw->exclude_numbers);
	assert_true(pw->has_require_each_included_type);
	assert_false(pw->require_each_included_type);
	assert_false(pw->has_exclude_punctuation);
	assert_string_equal(pw->exclude_characters, "abc");
	ct_parsed_free(&x);
	ct_parse(&x, "get-random-password", "--exclude-numbers=true", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "ignored explicit argument"));
	ct_parsed_free(&x);

	/* "help" as a value is a value; as a word it asks for help. */
	ct_parse(&x, "get-secret-value", "--secret-id", "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	g = (void *)x.a.req;
	assert_string_equal(g->secret_id, "help");
	ct_parsed_free(&x);
	ct_parse(&x, "get-secret-value", "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_non_null(x.a.verb);
	ct_parsed_free(&x);
	ct_parse(&x, "create-secret", "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	ct_parsed_free(&x);
	ct_parse(&x, "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_null(x.a.verb);
	ct_parsed_free(&x);
	ct_parse(&x, "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	ct_parsed_free(&x);
	ct_parse(&x, "--version", NULL);
	assert_int_equal(x.r, CLI_PARSE_VERSION);
	ct_parsed_free(&x);

	/* --generate-cli-skeleton needs no required member. */
	ct_parse(&x, "create-secret", "--generate-cli-skeleton", NULL);
	assert_int_equal(x.r, CLI_PARSE_SKELETON);
	assert_string_equal(x.a.skeleton, "input");
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--generate-cli-skeleton", "output", NULL);
	assert_string_equal(x.a.skeleton, "output");
	ct_parsed_free(&x);
}

static void
test_parse_identity_policies(void **state)
{
	Coffer__V1__PutIdentityPolicyRequest *p;
	Coffer__V1__GetIdentityPolicyRequest *g;
	Coffer__V1__ListIdentityPoliciesRequest *l;
	Coffer__V1__DeleteIdentityPolicyRequest *d;
	static const char text[] = "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Effect\":\"Allow\",\"Action\":\"secretsmanager:*\","
	    "\"Resource\":\"*\"}]}\n";
	struct ct_parsed x;
	char arg[128], *path;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* Put: every flag to its field, on Coffer's own service. */
	ct_parse(&x, "put-identity-policy", "--principal",
	    "spiffe://coffer/app", "--policy-name", "read", "--policy-document",
	    "{\"Version\":\"2012-10-17\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "PutIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	assert_ptr_equal(x.a.req->descriptor,
	    &coffer__v1__put_identity_policy_request__descriptor);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "spiffe://coffer/app");
	assert_string_equal(p->policy_name, "read");
	assert_string_equal(p->policy_document, "{\"Version\":\"2012-10-17\"}");
	ct_parsed_free(&x);

	/* The document from file://, kept as it is; --x=value too. */
	path = ct_temp_file(text, 0);
	snprintf(arg, sizeof(arg), "--policy-document=file://%s", path);
	ct_parse(&x, "put-identity-policy", arg, "--policy-name=admin",
	    "--principal=ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "ops");
	assert_string_equal(p->policy_name, "admin");
	assert_string_equal(p->policy_document, text);
	ct_parsed_free(&x);
	unlink(path);

	/* A missing file is a usage error naming the flag. */
	ct_parse(&x, "put-identity-policy", "--principal", "ops",
	    "--policy-name", "admin", "--policy-document",
	    "file:///nonexistent/coffer-cli", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "Error parsing parameter "
	    "'--policy-document': Unable to load paramfile"));
	ct_parsed_free(&x);

	/* Or the whole request as AWS-style JSON. */
	ct_parse(&x, "put-identity-policy", "--cli-input-json",
	    "{\"Principal\":\"ops\",\"PolicyName\":\"n\","
	    "\"PolicyDocument\":\"{}\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "ops");
	assert_string_equal(p->policy_name, "n");
	assert_string_equal(p->policy_document, "{}");
	ct_parsed_free(&x);

	/* Get and Delete: principal and name. */
	ct_parse(&x, "get-identity-policy", "--principal", "ops",
	    "--policy-name", "admin", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "GetIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	g = (void *)x.a.req;
	assert_string_equal(g->principal, "ops");
	assert_string_equal(g->policy_name, "admin");
	ct_parsed_free(&x);
	ct_parse(&x, "delete-identity-policy", "--policy-name", "admin",
	    "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "DeleteIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	d = (void *)x.a.req;
	assert_string_equal(d->principal, "ops");
	assert_string_equal(d->policy_name, "admin");
	ct_parsed_free(&x);

	/* List: the principal is optional. */
	ct_parse(&x, "list-identity-policies", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "ListIdentityPolicies");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	l = (void *)x.a.req;
	assert_null(l->principal);
	ct_parsed_free(&x);
	ct_parse(&x, "list-identity-policies", "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	l = (void *)x.a.req;
	assert_string_equal(l->principal, "ops");
	ct_parsed_free(&x);

	/* Help, and flags the request does not have. */
	ct_parse(&x, "put-identity-policy", "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_string_equal(x.a.verb->name, "put-identity-policy");
	ct_parsed_free(&x);
	ct_parse(&x, "get-identity-policy", "--principal", "ops",
	    "--policy-name", "n", "--secret-id", "s", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "Unknown options: --secret-id"));
	ct_parsed_free(&x);
}

/* list-identity-policies: one call, and Policies even when there are none. */
static int
empty_fetch(void *ctx, const ProtobufCMessage *req, json_t **out,
    struct cli_status *st)
{
	const Coffer__V1__ListIdentityPoliciesRequest *r = (const void *)req;

	(void)st;
	(*(int *)ctx)++;
	assert_ptr_equal(req->descriptor,
	    &coffer__v1__list_identity_policies_request__descriptor);
	assert_string_equal(r->principal, "ops");
	*out = json_object();
	return (0);
}

static void
test_identity_policies_empty(void **state)
{
	struct cli_status st = { 0, "", "" };
	struct ct_parsed x;
	json_t *out = NULL;
	int calls = 0;

	(void)state;
	ct_parse(&x, "list-identity-policies", "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_int_equal(cli_paginate(&x.a, empty_fetch, &calls, &out, &st), 0);
	assert_int_equal(calls, 1);
	assert_string_equal(ct_dump(out), "{\"Policies\":[]}");
	ct_parsed_free(&x);
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *argv[8];
		const char *msg;
	} cases[] = {
		{ { NULL }, "the following arguments are required: command" },
		{ { "get-secret-value" }, "the following arguments are "
		    "required: --secret-id" },
		{ { "update-secret-version-stage" }, "the following arguments "
		    "are required: --secret-id, --version-stage" },
		{ { "tag-resource", "--secret-id", "s" }, "the following "
		    "arguments are required: --tags" },
		{ { "get-secret-value", "--secret-id" }, "argument --secret-id: "
		    "expected one argument" },
		{ { "get-secret-value", "--secret-id", "x", "--bogus" },
		    "Unknown options: --bogus" },
		{ { "get-secret-value", "--secret-id", "x", "stray" },
		    "Unknown options: stray" },
		{ { "get-secret", "--secret-id", "x" }, "argument command: "
		    "Invalid choice: 'get-secret'" },
		{ { "--bogus", "list-secrets" }, "Unknown options: --bogus" },
		{ { "list-secrets", "--output", "yaml" }, "argument --output: "
		    "Invalid choice, valid choices are: json | text | table" },
		{ { "list-secrets", "--max-items", "0" }, "argument "
		    "--max-items: invalid int value: '0'" },
		{ { "list-secrets", "--page-size", "x" }, "argument "
		    "--page-size: invalid int value: 'x'" },
		{ { "list-secrets", "--starting-token", "nope" }, "argument "
		    "--starting-token: invalid token" },
		{ { "list-secrets", "--query" }, "argument --query: expected "
		    "one argument" },
		{ { "list-secrets", "--cli-binary-format", "hex" }, "argument "
		    "--cli-binary-format: Invalid choice" },
		{ { "delete-secret", "--secret-id", "s",
		    "--recovery-window-in-days", "soon" }, "Error parsing "
		    "parameter '--recovery-window-in-days': invalid literal for "
		    "int() with base 10: 'soon'" },
		{ { "get-secret-value", "--cli-input-json", "{\"Nope\":1}" },
		    "Parameter validation failed:\nUnknown parameter in input: "
		    "\"Nope\", must be one of: SecretId, VersionId, "
		    "VersionStage" },
		{ { "get-secret-value", "--cli-input-json", "{" },
		    "Error parsing parameter '--cli-input-json': Invalid JSON" },
		{ { "put-identity-policy" }, "the following arguments are "
		    "required: --principal, --policy-name, --policy-document" },
		{ { "put-identity-policy", "--principal", "p", "--policy-name",
		    "n" }, "the following arguments are required: "
		    "--policy-document" },
		{ { "get-identity-policy", "--principal", "p" }, "the following "
		    "arguments are required: --policy-name" },
		{ { "get-identity-policy", "--policy-name", "n" }, "the "
		    "following arguments are required: --principal" },
		{ { "delete-identity-policy" }, "the following arguments are "
		    "required: --principal, --policy-name" },
		{ { "list-identity-policies", "--principal" }, "argument "
		    "--principal: expected one argument" },
		{ { "put-identity-policy", "--cli-input-json",
		    "{\"Policy\":\"x\"}" }, "Parameter validation failed:\n"
		    "Unknown parameter in input: \"Policy\", must be one of: "
		    "Principal, PolicyName, PolicyDocument" },
	};
	struct ct_parsed x;
	char *argv[10];
	size_t i;
	int n;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");
	for (i = 0; i < NELEM(cases); i++) {
		memset(&x, 0, sizeof(x));
		argv[0] = strdup("coffer");
		for (n = 1; cases[i].argv[n - 1] != NULL; n++)
			argv[n] = strdup(cases[i].argv[n - 1]);
		x.r = cli_args_parse(n, argv, &x.a, &x.u);
		if (x.r != CLI_PARSE_USAGE || strncmp(x.u.msg, cases[i].msg,
		    strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: got %d \"%s\"", i, x.r, x.u.msg);
		cli_args_cleanup(&x.a);
		while (n-- > 0)
			free(argv[n]);
	}
}

static void
test_parse_globals(void **state)
{
	Coffer__V1__GetSecretValueRequest *g;
	Coffer__V1__ListSecretsRequest *l;
	Coffer__V1__CreateSecretRequest *c;
	struct ct_parsed x;
	char arg[128], *path;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* Global options anywhere; --endpoint-url loses its scheme. */
	ct_parse(&x, "--output", "text", "get-secret-value", "--query", "Name",
	    "--secret-id", "x", "--endpoint-url", "http://h.example:1/",
	    "--region", "us-east-1", "--cli-read-timeout", "5", "--debug",
	    "--no-cli-pager", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.endpoint, "h.example:1");
	assert_string_equal(x.a.output, "text");
	assert_string_equal(x.a.query, "Name");
	assert_int_equal(x.a.timeout, 5);
	assert_true(x.a.debug);
	g = (void *)x.a.req;
	assert_string_equal(g->secret_id, "x");
	ct_parsed_free(&x);
	ct_parse(&x, "get-secret-value", "--secret-id", "x", "--endpoint",
	    "https://10.0.0.1:443", "--output=table", NULL);
	assert_string_equal(x.a.endpoint, "10.0.0.1:443");
	assert_string_equal(x.a.output, "table");
	ct_parsed_free(&x);

	/* The environment gives defaults; options win. */
	setenv("COFFER_ENDPOINT", "http://envhost:9/", 1);
	setenv("COFFER_DEFAULT_OUTPUT", "text", 1);
	ct_parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.endpoint, "envhost:9");
	assert_string_equal(x.a.output, "text");
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--endpoint", "h:2", "--output", "json",
	    NULL);
	assert_string_equal(x.a.endpoint, "h:2");
	assert_string_equal(x.a.output, "json");
	ct_parsed_free(&x);
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* --cli-input-json first, then flags win (lists replace). */
	ct_parse(&x, "get-secret-value", "--secret-id", "c", "--cli-input-json",
	    "{\"SecretId\":\"a\",\"VersionStage\":\"B\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	g = (void *)x.a.req;
	assert_string_equal(g->secret_id, "c");
	assert_string_equal(g->version_stage, "B");
	ct_parsed_free(&x);
	path = ct_temp_file("{\"Name\":\"n\",\"SecretBinary\":\"AAH+\","
	    "\"Tags\":[{\"Key\":\"a\",\"Value\":\"1\"}]}", 0);
	snprintf(arg, sizeof(arg), "file://%s", path);
	ct_parse(&x, "create-secret", "--cli-input-json", arg, "--tags",
	    "Key=b,Value=2", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	c = (void *)x.a.req;
	assert_string_equal(c->name, "n");
	assert_int_equal(c->secret_binary.len, 3);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->key, "b");
	assert_non_null(c->client_request_token);
	ct_parsed_free(&x);
	/* Required members may come from the JSON. */
	ct_parse(&x, "get-secret-value", "--cli-input-json",
	    "{\"SecretId\":\"from-json\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	ct_parsed_free(&x);
	unlink(path);

	/* Pagination options; --max-results by hand turns paging off. */
	ct_parse(&x, "list-secrets", "--max-items", "2", "--page-size", "3",
	    "--no-paginate", NULL);
	assert_int_equal(x.a.max_items, 2);
	assert_int_equal(x.a.page_size, 3);
	assert_true(x.a.no_paginate);
	assert_false(x.a.manual_paging);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--max-results", "2", "--include-planned-"
	    "deletion", NULL);
	assert_true(x.a.manual_paging);
	l = (void *)x.a.req;
	assert_true(l->has_include_planned_deletion);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--starting-token",
	    "eyJOZXh0VG9rZW4iOiAidCJ9", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_true(x.a.has_starting_token);
	assert_string_equal(x.a.start_token, "t");
	assert_int_equal(x.a.start_skip, 0);
	ct_parsed_free(&x);

	/* Binary format applies to --secret-binary. */
	ct_parse(&x, "create-secret", "--name", "n", "--cli-binary-format",
	    "raw-in-base64-out", "--secret-binary", "plain text", NULL);
	c = (void *)x.a.req;
	assert_int_equal(c->secret_binary.len, 10);
	assert_memory_equal(c->secret_binary.data, "plain text", 10);
	ct_parsed_free(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_verbs),
		cmocka_unit_test(test_parse_identity_policies),
		cmocka_unit_test(test_identity_policies_empty),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_globals),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
