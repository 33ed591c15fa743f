/*
 * cli_output_test.c: output formats (json, text, table), the error lines of
 * the AWS CLI and their exit codes, and generated ClientRequestTokens
 * (UUIDv4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static char *
render(const char *json, const char *format, const char *title)
{
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	assert_non_null(v);
	f = open_memstream(&buf, &n);
	assert_non_null(f);
	assert_int_equal(cli_render(f, v, format, title), 0);
	fclose(f);
	json_decref(v);
	return (buf);
}

static void
test_render(void **state)
{
	static const char *const text_cases[][2] = {
		/* Scalars sorted by key on one line, then lists by name. */
		{ "{\"Name\":\"n\",\"ARN\":\"a\",\"VersionStages\":[\"AWSCURRENT\","
		    "\"X\"],\"CreatedDate\":\"2024\"}",
		    "a\t2024\tn\nVERSIONSTAGES\tAWSCURRENT\nVERSIONSTAGES\tX\n" },
		/* List of objects: the union of their scalar keys. */
		{ "{\"SecretList\":[{\"Name\":\"a\",\"ARN\":\"x\"},{\"Name\":"
		    "\"b\",\"Description\":\"d\"}]}",
		    "SECRETLIST\tx\t\ta\nSECRETLIST\t\td\tb\n" },
		/* Nested objects and maps. */
		{ "{\"RotationRules\":{\"AutomaticallyAfterDays\":30},"
		    "\"VersionIdsToStages\":{\"v1\":[\"AWSCURRENT\"]}}",
		    "ROTATIONRULES\t30\nV1\tAWSCURRENT\n" },
		/* A bare list (a --query result) on one line. */
		{ "[\"a\",\"b\",\"c\"]", "a\tb\tc\n" },
		{ "\"bare\"", "bare\n" },
		{ "null", "None\n" },
		{ "[true,false,1.5,7]", "True\tFalse\t1.5\t7\n" },
		{ "[]", "" },
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(text_cases); i++) {
		s = render(text_cases[i][0], "text", NULL);
		if (strcmp(s, text_cases[i][1]) != 0)
			fail_msg("text %zu: got [%s]", i, s);
		free(s);
	}

	/* json: 4-space indent, UTF-8 as it is, a newline. */
	s = render("{\"Name\":\"\xc3\xa9\",\"L\":[1]}", "json", NULL);
	assert_string_equal(s, "{\n    \"Name\": \"\xc3\xa9\",\n    \"L\": [\n"
	    "        1\n    ]\n}\n");
	free(s);

	/* table: boxes with the title, names and values. */
	s = render("{\"ARN\":\"arn:x\",\"Name\":\"n\",\"VersionStages\":"
	    "[\"AWSCURRENT\"],\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]}",
	    "table", "GetSecretValue");
	assert_non_null(strstr(s, "|  GetSecretValue"));
	assert_non_null(strstr(s, "ARN"));
	assert_non_null(strstr(s, "|  arn:x"));
	assert_non_null(strstr(s, "VersionStages"));
	assert_non_null(strstr(s, "AWSCURRENT"));
	assert_non_null(strstr(s, "||  k"));
	/* Every line has the same width. */
	{
		char *line, *save = NULL;
		size_t w = 0;

		for (line = strtok_r(s, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (w == 0)
				w = strlen(line);
			assert_int_equal(strlen(line), w);
		}
	}
	free(s);
	s = render("{\"Name\":\"only\"}", "table", "T");
	assert_non_null(strstr(s, "|  Name"));
	free(s);
	s = render("\"x\"", "table", "T");
	assert_string_equal(s, "x\n");
	free(s);
}

static void
test_errors(void **state)
{
	static const struct {
		int code;
		const char *type, *msg, *want;
		int exit;
	} cases[] = {
		{ 5, "ResourceNotFoundException", "Secrets Manager can't find "
		    "the specified secret.", "\nAn error occurred "
		    "(ResourceNotFoundException) when calling the GetSecretValue "
		    "operation: Secrets Manager can't find the specified "
		    "secret.\n", 254 },
		{ 12, "", "", "\nAn error occurred (UNIMPLEMENTED) when calling "
		    "the GetSecretValue operation: \n", 254 },
		{ 14, "", "failed to connect to all addresses", "\nCould not "
		    "connect to the endpoint URL: \"127.0.0.1:50051\"\n", 255 },
		{ 14, "ServiceUnavailable", "the database is unreachable",
		    "\nAn error occurred (ServiceUnavailable) when calling the "
		    "GetSecretValue operation: the database is unreachable\n",
		    254 },
		{ 4, "", "Deadline Exceeded", "\nRead timeout on endpoint URL: "
		    "\"127.0.0.1:50051\"\n", 255 },
		{ 13, "", "boom", "\nAn error occurred (INTERNAL) when calling "
		    "the GetSecretValue operation: boom\n", 254 },
		{ CLI_STATUS_LOCAL, "", "could not decode the response",
		    "\ncould not decode the response\n", 255 },
	};
	struct cli_status st;
	struct cli_usage u;
	char buf[1024], *s = NULL;
	size_t i, n;
	FILE *f;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		st.code = cases[i].code;
		snprintf(st.error_type, sizeof(st.error_type), "%s",
		    cases[i].type);
		snprintf(st.message, sizeof(st.message), "%s", cases[i].msg);
		assert_int_equal(cli_error_text(buf, sizeof(buf),
		    "GetSecretValue", &st, "127.0.0.1:50051"), cases[i].exit);
		assert_string_equal(buf, cases[i].want);
	}

	/* Usage errors, as the AWS CLI prints them. */
	memset(&u, 0, sizeof(u));
	u.verb = cli_verb_find("get-secret-value");
	snprintf(u.msg, sizeof(u.msg), "the following arguments are required: "
	    "--secret-id");
	f = open_memstream(&s, &n);
	cli_usage_print(f, &u);
	fclose(f);
	assert_string_equal(s, "\nusage: coffer [options] <command> "
	    "[parameters]\nTo see help text, you can run:\n\n  coffer help\n"
	    "  coffer get-secret-value help\n\ncoffer: error: the following "
	    "arguments are required: --secret-id\n");
	free(s);

	/* Help names every flag of a verb. */
	s = NULL;
	f = open_memstream(&s, &n);
	cli_help(f, cli_verb_find("rotate-secret"));
	fclose(f);
	assert_non_null(strstr(s, "--secret-id <value>"));
	assert_non_null(strstr(s, "[--rotate-immediately | "
	    "--no-rotate-immediately]"));
	assert_non_null(strstr(s, "AutomaticallyAfterDays=long"));
	assert_non_null(strstr(s, "VersionId -> (string)"));
	free(s);
}

static void
test_uuid(void **state)
{
	char a[37], b[37];
	size_t i;

	(void)state;
	assert_int_equal(cf_uuid_random(a), 0);
	assert_int_equal(cf_uuid_random(b), 0);
	assert_string_not_equal(a, b);
	for (i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_int_equal(a[14], '4');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_uuid),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
