/*
 * cli_test.c: coffer's pure parts — AWS member names, response JSON,
 * command-line value forms, --query, and --starting-token round trips.
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

#include "cli.h"
#include "coffer/v1/secrets_manager.pb-c.h"

static const struct cli_opts iso = { 0, 0 }, wire = { 0, 1 };

static char *
dump(json_t *j)
{
	static char buf[4096];
	char *s = json_dumps(j, (CLI_JSON_FLAGS & ~JSON_INDENT(4)) |
	    JSON_COMPACT);

	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	json_decref(j);
	return (buf);
}

static void
test_pascal(void **state)
{
	static const char *const cases[][2] = {
		{ "secret_id", "SecretId" }, { "arn", "ARN" },
		{ "rotation_lambda_arn", "RotationLambdaARN" },
		{ "kms_key_ids", "KmsKeyIds" },
		{ "version_ids_to_stages", "VersionIdsToStages" },
		{ "arnold", "Arnold" },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cli_pascal(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
}

static void
test_response_json(void **state)
{
	Coffer__V1__DescribeSecretResponse r =
	    COFFER__V1__DESCRIBE_SECRET_RESPONSE__INIT;
	Coffer__V1__VersionStagesEntry e = COFFER__V1__VERSION_STAGES_ENTRY__INIT;
	Coffer__V1__VersionStagesEntry *ep = &e;
	char *stages[2] = { "AWSCURRENT", "PUT1" };
	Coffer__V1__GetSecretValueResponse g =
	    COFFER__V1__GET_SECRET_VALUE_RESPONSE__INIT;

	(void)state;
	r.arn = "arn:x";
	r.name = "n";
	r.has_created_date = 1;
	r.created_date = 1523477145729;
	e.version_id = "v1";
	e.n_version_stages = 2;
	e.version_stages = stages;
	r.n_version_ids_to_stages = 1;
	r.version_ids_to_stages = &ep;
	/* Absent members are left out; stages are an object; dates ISO. */
	assert_string_equal(dump(cli_message_to_json(&r.base, &iso)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"VersionIdsToStages\":"
	    "{\"v1\":[\"AWSCURRENT\",\"PUT1\"]},\"CreatedDate\":"
	    "\"2018-04-11T20:05:45.729000+00:00\"}");
	/* wire: fractional epoch seconds, as CLI v1 and the API. */
	r.n_version_ids_to_stages = 0;
	assert_string_equal(dump(cli_message_to_json(&r.base, &wire)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"CreatedDate\":1523477145.729}");
	/* Binary values in base64; booleans present only when set. */
	g.has_secret_binary = 1;
	g.secret_binary.data = (uint8_t *)"\x00\x01\xfe";
	g.secret_binary.len = 3;
	assert_string_equal(dump(cli_message_to_json(&g.base, &iso)),
	    "{\"SecretBinary\":\"AAH+\"}");
}

static ProtobufCMessage *
req(const ProtobufCMessageDescriptor *d)
{

	return (cli_new_message(d));
}

static int
flag(ProtobufCMessage *m, const char *field, char **words, int n,
    const struct cli_opts *o, char *err)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    field);
	int used;

	assert_non_null(f);
	return (cli_set_flag(m, f, words, n, &used, o, err, 256));
}

static void
test_flag_forms(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	Coffer__V1__ListSecretsRequest *l;
	Coffer__V1__RotateSecretRequest *r;
	char err[256], path[] = "/tmp/coffer-cli-test-XXXXXX";
	char *tags[] = { "Key=env,Value=prod", "Key=team,Value=pay", "--x" };
	char *json_tags[] = { "[{\"Key\":\"k\",\"Value\":\"v\"}]" };
	char *filters[] = { "Key=name,Values=prod/,dev/", "Key=tag-key,Values=!x" };
	char *rules[] = { "AutomaticallyAfterDays=30,Duration=2h" };
	char *rules_json[] = { "{\"ScheduleExpression\":\"rate(10 days)\"}" };
	char *bad_int[] = { "AutomaticallyAfterDays=soon" };
	char *b64[] = { "AAH+" }, *bad64[] = { "@@@" }, *w[1];
	char fileb[64], filet[64];
	int fd;
	struct cli_opts raw = { 1, 0 };

	(void)state;
	c = (void *)req(&coffer__v1__create_secret_request__descriptor);
	/* Shorthand list; the next flag ends it. */
	assert_int_equal(flag(&c->base, "tags", tags, 3, &iso, err), 0);
	assert_int_equal(c->n_tags, 2);
	assert_string_equal(c->tags[1]->value, "pay");
	assert_int_equal(flag(&c->base, "tags", json_tags, 1, &iso, err), 0);
	assert_int_equal(c->n_tags, 3);
	/* Blobs: base64 by default; raw-in-base64-out; bad base64. */
	assert_int_equal(flag(&c->base, "secret_binary", b64, 1, &iso, err), 0);
	assert_int_equal(c->secret_binary.len, 3);
	assert_memory_equal(c->secret_binary.data, "\x00\x01\xfe", 3);
	assert_int_equal(flag(&c->base, "secret_binary", b64, 1, &raw, err), 0);
	assert_memory_equal(c->secret_binary.data, "AAH+", 4);
	assert_int_equal(flag(&c->base, "secret_binary", bad64, 1, &iso, err),
	    -1);
	/* file:// text and fileb:// bytes. */
	fd = mkstemp(path);
	assert_true(write(fd, "\x00line\n", 6) == 6);
	close(fd);
	snprintf(fileb, sizeof(fileb), "fileb://%s", path);
	snprintf(filet, sizeof(filet), "file:///nonexistent/coffer-cli");
	w[0] = fileb;
	assert_int_equal(flag(&c->base, "secret_binary", w, 1, &iso, err), 0);
	assert_int_equal(c->secret_binary.len, 6);
	w[0] = filet;
	assert_int_equal(flag(&c->base, "secret_string", w, 1, &iso, err), -1);
	assert_non_null(strstr(err, "Unable to load paramfile"));
	unlink(path);
	protobuf_c_message_free_unpacked(&c->base, NULL);

	/* Filters: Values takes the comma list. */
	l = (void *)req(&coffer__v1__list_secrets_request__descriptor);
	assert_int_equal(flag(&l->base, "filters", filters, 2, &iso, err), 0);
	assert_int_equal(l->n_filters, 2);
	assert_string_equal(l->filters[0]->key, "name");
	assert_int_equal(l->filters[0]->n_values, 2);
	assert_string_equal(l->filters[0]->values[1], "dev/");
	assert_string_equal(l->filters[1]->values[0], "!x");
	protobuf_c_message_free_unpacked(&l->base, NULL);

	/* Structures: shorthand or JSON; integers checked. */
	r = (void *)req(&coffer__v1__rotate_secret_request__descriptor);
	assert_int_equal(flag(&r->base, "rotation_rules", rules, 1, &iso, err),
	    0);
	assert_true(r->rotation_rules->has_automatically_after_days);
	assert_int_equal(r->rotation_rules->automatically_after_days, 30);
	assert_string_equal(r->rotation_rules->duration, "2h");
	assert_int_equal(flag(&r->base, "rotation_rules", rules_json, 1, &iso,
	    err), 0);
	assert_string_equal(r->rotation_rules->schedule_expression,
	    "rate(10 days)");
	assert_int_equal(flag(&r->base, "rotation_rules", bad_int, 1, &iso, err),
	    -1);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void
test_input_json(void **state)
{
	Coffer__V1__PutSecretValueRequest *p;
	char err[256];
	json_t *j;

	(void)state;
	p = (void *)req(&coffer__v1__put_secret_value_request__descriptor);
	j = json_loads("{\"SecretId\":\"s\",\"SecretString\":\"v\","
	    "\"VersionStages\":[\"A\",\"B\"]}", 0, NULL);
	assert_int_equal(cli_json_to_message(&p->base, j, &iso, err,
	    sizeof(err)), 0);
	assert_string_equal(p->secret_id, "s");
	assert_int_equal(p->n_version_stages, 2);
	json_decref(j);
	j = json_loads("{\"Nope\":1}", 0, NULL);
	assert_int_equal(cli_json_to_message(&p->base, j, &iso, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "Unknown parameter"));
	json_decref(j);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void
test_query(void **state)
{
	json_t *doc = json_loads("{\"SecretList\":[{\"Name\":\"a\",\"Tags\":"
	    "[{\"Key\":\"k\",\"Value\":\"1\"}]},{\"Name\":\"b\"}],\"NextToken\":"
	    "\"t\",\"Nested\":[[1,2],[3]]}", 0, NULL);
	static const char *const cases[][2] = {
		{ "SecretList[].Name", "[\"a\",\"b\"]" },
		{ "SecretList[*].Name", "[\"a\",\"b\"]" },
		{ "SecretList[0].Name", "\"a\"" },
		{ "SecretList[-1].Name", "\"b\"" },
		{ "SecretList[].Tags[].Key", "[\"k\"]" },
		{ "SecretList[].[Name, Tags[0].Value]",
		    "[[\"a\",\"1\"],[\"b\",null]]" },
		{ "SecretList[*].{N: Name}", "[{\"N\":\"a\"},{\"N\":\"b\"}]" },
		{ "length(SecretList)", "2" },
		{ "SecretList[].Name | [0]", "\"a\"" },
		{ "Nested[]", "[1,2,3]" },
		{ "NextToken", "\"t\"" },
		{ "Missing.Path", "null" },
	};
	char err[256];
	size_t i;
	json_t *r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = cli_query(doc, cases[i][0], err, sizeof(err));
		assert_non_null(r);
		assert_string_equal(dump(r), cases[i][1]);
	}
	assert_null(cli_query(doc, "SecretList[", err, sizeof(err)));
	assert_non_null(strstr(err, "--query"));
	json_decref(doc);
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
	t = cli_token_encode(NULL, 2);
	assert_int_equal(cli_token_decode(t, &server, &skip), 0);
	assert_null(server);
	free(t);
	assert_int_equal(cli_token_decode("not base64!", &server, &skip), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pascal),
		cmocka_unit_test(test_response_json),
		cmocka_unit_test(test_flag_forms),
		cmocka_unit_test(test_input_json),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_tokens),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
