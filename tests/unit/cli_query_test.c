/*
 * cli_query_test.c: --query, the JMESPath subset coffer evaluates over a
 * response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_query(void **state)
{
	json_t *doc = json_loads("{\"SecretList\":[{\"Name\":\"a\",\"ARN\":"
	    "\"arn:a\",\"Tags\":[{\"Key\":\"k\",\"Value\":\"1\"}],"
	    "\"RotationRules\":{\"AutomaticallyAfterDays\":30},\"N\":3},"
	    "{\"Name\":\"b\",\"ARN\":\"arn:b\",\"N\":1},{\"Name\":\"prod/c\","
	    "\"ARN\":\"arn:c\",\"N\":2}],\"NextToken\":\"t\","
	    "\"Nested\":[[1,2],[3]],\"Map\":{\"v1\":[\"AWSCURRENT\"],\"v2\":"
	    "[\"AWSPREVIOUS\"]},\"Empty\":[],\"Str\":\"hello\"}", 0, NULL);
	static const char *const cases[][2] = {
		{ "NextToken", "\"t\"" },
		{ "SecretList[0].Name", "\"a\"" },
		{ "SecretList[-1].Name", "\"prod/c\"" },
		{ "SecretList[5].Name", "null" },
		{ "SecretList[].Name", "[\"a\",\"b\",\"prod/c\"]" },
		{ "SecretList[*].Name", "[\"a\",\"b\",\"prod/c\"]" },
		{ "SecretList[0].RotationRules.AutomaticallyAfterDays", "30" },
		{ "SecretList[].RotationRules.AutomaticallyAfterDays", "[30]" },
		{ "SecretList[].Tags[].Key", "[\"k\"]" },
		{ "SecretList[].[Name, ARN]", "[[\"a\",\"arn:a\"],[\"b\","
		    "\"arn:b\"],[\"prod/c\",\"arn:c\"]]" },
		{ "SecretList[*].{N: Name, A: ARN}", "[{\"N\":\"a\",\"A\":"
		    "\"arn:a\"},{\"N\":\"b\",\"A\":\"arn:b\"},{\"N\":\"prod/c\","
		    "\"A\":\"arn:c\"}]" },
		{ "SecretList[0].[Name, Tags[0].Value]", "[\"a\",\"1\"]" },
		{ "[NextToken, Str]", "[\"t\",\"hello\"]" },
		{ "{T: NextToken}", "{\"T\":\"t\"}" },
		{ "length(SecretList)", "3" },
		{ "length(Str)", "5" },
		{ "SecretList[].Name | [0]", "\"a\"" },
		{ "SecretList[?Name=='b'].ARN", "[\"arn:b\"]" },
		{ "SecretList[?Name=='b'].ARN | [0]", "\"arn:b\"" },
		{ "SecretList[?starts_with(Name, 'prod/')].Name",
		    "[\"prod/c\"]" },
		{ "SecretList[?N > `1`].Name", "[\"a\",\"prod/c\"]" },
		{ "SecretList[?N >= `2` && Name != 'a'].Name", "[\"prod/c\"]" },
		{ "SecretList[?!Tags].Name", "[\"b\",\"prod/c\"]" },
		{ "SecretList[?Tags || N == `1`].Name", "[\"a\",\"b\"]" },
		{ "SecretList[?contains(Name, '/')].Name", "[\"prod/c\"]" },
		{ "SecretList[0:2].Name", "[\"a\",\"b\"]" },
		{ "SecretList[::-1].Name", "[\"prod/c\",\"b\",\"a\"]" },
		{ "sort_by(SecretList, &N)[].Name", "[\"b\",\"prod/c\",\"a\"]" },
		{ "max_by(SecretList, &N).Name", "\"a\"" },
		{ "sort(SecretList[].Name)", "[\"a\",\"b\",\"prod/c\"]" },
		{ "join(', ', SecretList[].Name)", "\"a, b, prod/c\"" },
		{ "sum(SecretList[].N)", "6" },
		{ "keys(Map)", "[\"v1\",\"v2\"]" },
		{ "Map.*[]", "[\"AWSCURRENT\",\"AWSPREVIOUS\"]" },
		{ "Map.v1[0]", "\"AWSCURRENT\"" },
		{ "Nested[]", "[1,2,3]" },
		{ "Nested[][]", "[1,2,3]" },
		{ "Empty[].Name", "[]" },
		{ "Missing.Path", "null" },
		{ "Missing[].Name", "null" },
		{ "\"NextToken\"", "\"t\"" },
		{ "`[1, 2]`", "[1,2]" },
		{ "'raw'", "\"raw\"" },
		{ "@.Str", "\"hello\"" },
		{ "not_null(Missing, Str)", "\"hello\"" },
		{ "type(SecretList)", "\"array\"" },
		{ "to_string(`1`)", "\"1\"" },
		{ "reverse(Str)", "\"olleh\"" },
		{ "length(SecretList[?N > `5`])", "0" },
		{ "(NextToken)", "\"t\"" },
		{ "Map.v1[?@ == `AWSCURRENT`]", "[\"AWSCURRENT\"]" },
	};
	static const char *const bad[] = {
		"SecretList[", "SecretList[?Name=='b'", "{a}", "a.", "a ==",
		"foo(", "nosuch(a)", "length(a, b)", "[1:2:0]", "a = b",
		"'open", "a..b", "a[?]",
	};
	char err[512];
	size_t i;
	json_t *r;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		r = cli_query(doc, cases[i][0], err, sizeof(err));
		if (r == NULL)
			fail_msg("%s: %s", cases[i][0], err);
		if (strcmp(ct_dump(json_incref(r)), cases[i][1]) != 0)
			fail_msg("%s: got %s, want %s", cases[i][0],
			    ct_dump(json_incref(r)), cases[i][1]);
		json_decref(r);
	}
	for (i = 0; i < NELEM(bad); i++) {
		if (cli_query_compile(bad[i], err, sizeof(err)) != NULL)
			fail_msg("%s: compiled", bad[i]);
		assert_non_null(strstr(err, "Bad value for --query"));
	}
	/* A type error in a function call is an evaluation error. */
	assert_null(cli_query(doc, "length(SecretList[0].N)", err, sizeof(err)));
	assert_non_null(strstr(err, "In function length()"));
	/* Deep nesting is refused, not a stack overflow. */
	{
		char deep[1202];

		memset(deep, '(', 600);
		deep[600] = 'a';
		memset(deep + 601, ')', 600);
		deep[1201] = '\0';
		assert_null(cli_query_compile(deep, err, sizeof(err)));
	}
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
