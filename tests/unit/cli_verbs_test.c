/*
 * cli_verbs_test.c: verb and flag names against the AWS CLI's, every verb's
 * table entry and its help, and timestamps on the command line
 * (--start-date).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_names(void **state)
{
	static const char *const cases[][3] = {
		{ "secret_id", "SecretId", "secret-id" },
		{ "arn", "ARN", "arn" },
		{ "rotation_lambda_arn", "RotationLambdaARN",
		    "rotation-lambda-arn" },
		{ "kms_key_ids", "KmsKeyIds", "kms-key-ids" },
		{ "version_ids_to_stages", "VersionIdsToStages",
		    "version-ids-to-stages" },
		{ "arnold", "Arnold", "arnold" },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		shape_pascal(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
		cli_kebab(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][2]);
	}
}

static void
test_verbs(void **state)
{
	static const char *const ident[][2] = {
		{ "delete-identity-policy", "DeleteIdentityPolicy" },
		{ "get-identity-policy", "GetIdentityPolicy" },
		{ "list-identity-policies", "ListIdentityPolicies" },
		{ "put-identity-policy", "PutIdentityPolicy" },
	};
	const ProtobufCFieldDescriptor *f;
	const struct cli_verb *v, *prev = NULL;
	const char *syntax;
	size_t i, j, k;

	(void)state;
	for (i = 0; (v = cli_verb_at(i)) != NULL; i++) {
		/* Sorted, found by name, every member documented. */
		if (prev != NULL)
			assert_true(strcmp(prev->name, v->name) < 0);
		prev = v;
		assert_ptr_equal(cli_verb_find(v->name), v);
		for (j = 0; j < v->req->n_fields; j++) {
			f = &v->req->fields[j];
			assert_string_not_equal(cli_member_doc(v, f->name,
			    &syntax), "(no description)");
			if (f->type == PROTOBUF_C_TYPE_MESSAGE)
				assert_non_null(syntax);
		}
		for (k = 0; k < 3 && v->required[k] != NULL; k++)
			assert_non_null(
			    protobuf_c_message_descriptor_get_field_by_name(
			    v->req, v->required[k]));
		if (v->token)
			assert_non_null(
			    protobuf_c_message_descriptor_get_field_by_name(
			    v->req, "client_request_token"));
	}
	/*
	 * AWS's 23, list-audit-events, rotate-audit-key and
	 * export-audit-key-bundle, the four identity-policy verbs, the four
	 * access-key verbs and the six encryption-key verbs.
	 */
	assert_int_equal(i, 40);
	assert_null(cli_verb_find("get-secret"));
	assert_string_equal(cli_member_doc(cli_verb_find(
	    "validate-resource-policy"), "secret_id", NULL),
	    "The ARN or name of the secret the policy is meant for "
	    "(optional).");

	/* Coffer's own services name themselves; AWS verbs do not. */
	assert_null(cli_verb_find("get-secret-value")->service);
	assert_string_equal(cli_verb_find("list-audit-events")->service,
	    "coffer.v1.Audit");
	for (i = 0; i < NELEM(ident); i++) {
		v = cli_verb_find(ident[i][0]);
		assert_non_null(v);
		assert_string_equal(v->op, ident[i][1]);
		assert_string_equal(v->service, "coffer.v1.IdentityPolicies");
	}
	v = cli_verb_find("put-identity-policy");
	assert_true(cli_verb_requires(v, "principal"));
	assert_true(cli_verb_requires(v, "policy_name"));
	assert_true(cli_verb_requires(v, "policy_document"));
	v = cli_verb_find("get-identity-policy");
	assert_true(cli_verb_requires(v, "principal"));
	assert_true(cli_verb_requires(v, "policy_name"));
	assert_false(cli_verb_paginated(v));
	v = cli_verb_find("list-identity-policies");
	assert_false(cli_verb_requires(v, "principal"));
	assert_true(cli_verb_paginated(v));
	assert_string_equal(v->results[0], "Policies");
	assert_string_not_equal(cli_member_doc(v, "principal", NULL),
	    cli_member_doc(cli_verb_find("delete-identity-policy"),
	    "principal", NULL));
}

/* Timestamps on the command line (--start-date): ISO 8601 or epoch. */
static void
test_parse_date(void **state)
{
	static const struct {
		const char *in;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "2018-04-11T20:05:45.729Z", 1, 1523477145729 },
		{ "2018-04-11T20:05:45.729000+00:00", 1, 1523477145729 },
		{ "2018-04-11T20:05:45", 1, 1523477145000 },
		{ "2018-04-11 20:05", 1, 1523477100000 },
		{ "2018-04-11", 1, 1523404800000 },
		{ "2024-02-29T00:00:00Z", 1, 1709164800000 },
		{ "1523477145.729", 1, 1523477145729 },
		{ "0", 1, 0 },
		{ "2018-13-01", 0, 0 },
		{ "2018-04-11T25:00", 0, 0 },
		{ "2018-04-11T20:05:45+02:00", 0, 0 },
		{ "yesterday", 0, 0 },
		{ "", 0, 0 },
	};
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -1;
		if ((shape_parse_date(cases[i].in, &ms) == 0) != cases[i].ok)
			fail_msg("%s: ok should be %d", cases[i].in,
			    cases[i].ok);
		if (cases[i].ok && ms != cases[i].ms)
			fail_msg("%s: %lld, want %lld", cases[i].in,
			    (long long)ms, (long long)cases[i].ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_parse_date),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
