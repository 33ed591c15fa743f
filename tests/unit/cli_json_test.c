/*
 * cli_json_test.c: response JSON in the AWS CLI's shape: dates (ISO 8601 and
 * wire), every response message, identity policies, base64 of SecretBinary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_dates(void **state)
{
	static const struct {
		int64_t ms;
		const char *iso, *wire;
	} cases[] = {
		{ 1523477145729, "\"2018-04-11T20:05:45.729000+00:00\"",
		    "1523477145.729" },
		{ 1523923200000, "\"2018-04-17T00:00:00+00:00\"",
		    "1523923200.0" },
		{ 1714566896001, "\"2024-05-01T12:34:56.001000+00:00\"",
		    "1714566896.001" },
		{ 0, "\"1970-01-01T00:00:00+00:00\"", "0.0" },
		{ -1, "\"1969-12-31T23:59:59.999000+00:00\"", "-0.001" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		assert_string_equal(ct_dump(shape_date(cases[i].ms, 0)),
		    cases[i].iso);
		assert_string_equal(ct_dump(shape_date(cases[i].ms, 1)),
		    cases[i].wire);
	}
}

static void
test_response_json(void **state)
{
	Coffer__V1__DescribeSecretResponse r =
	    COFFER__V1__DESCRIBE_SECRET_RESPONSE__INIT;
	Coffer__V1__VersionStagesEntry e1 = COFFER__V1__VERSION_STAGES_ENTRY__INIT;
	Coffer__V1__VersionStagesEntry e2 = COFFER__V1__VERSION_STAGES_ENTRY__INIT;
	Coffer__V1__VersionStagesEntry *ep[2] = { &e1, &e2 };
	Coffer__V1__RotationRulesType rules =
	    COFFER__V1__ROTATION_RULES_TYPE__INIT;
	Coffer__V1__Tag t = COFFER__V1__TAG__INIT, *tp = &t;
	Coffer__V1__GetSecretValueResponse g =
	    COFFER__V1__GET_SECRET_VALUE_RESPONSE__INIT;
	Coffer__V1__ValidateResourcePolicyResponse vr =
	    COFFER__V1__VALIDATE_RESOURCE_POLICY_RESPONSE__INIT;
	Coffer__V1__ListSecretsResponse ls =
	    COFFER__V1__LIST_SECRETS_RESPONSE__INIT;
	Coffer__V1__SecretListEntry le = COFFER__V1__SECRET_LIST_ENTRY__INIT;
	Coffer__V1__SecretListEntry *lep = &le;
	Coffer__V1__BatchGetSecretValueResponse bg =
	    COFFER__V1__BATCH_GET_SECRET_VALUE_RESPONSE__INIT;
	Coffer__V1__APIErrorType ae = COFFER__V1__APIERROR_TYPE__INIT, *aep = &ae;
	char arn[] = "arn:x", name[] = "n", v1[] = "v1", v2[] = "v2";
	char cur[] = "AWSCURRENT", put[] = "PUT1", prev[] = "AWSPREVIOUS";
	char *s1[2] = { cur, put }, *s2[1] = { prev };
	char key[] = "env", val[] = "prod", str[] = "s\xc3\xa9" "cret";
	char code[] = "ResourceNotFoundException", msg[] = "not found";
	uint8_t bin[] = { 0x00, 0x01, 0xfe };

	(void)state;
	r.arn = arn;
	r.name = name;
	r.has_created_date = 1;
	r.created_date = 1523477145729;
	e1.version_id = v1;
	e1.n_version_stages = 2;
	e1.version_stages = s1;
	e2.version_id = v2;
	e2.n_version_stages = 1;
	e2.version_stages = s2;
	r.n_version_ids_to_stages = 2;
	r.version_ids_to_stages = ep;
	rules.has_automatically_after_days = 1;
	rules.automatically_after_days = 30;
	r.rotation_rules = &rules;
	r.has_rotation_enabled = 1;
	r.rotation_enabled = 0;
	t.key = key;
	t.value = val;
	r.n_tags = 1;
	r.tags = &tp;

	/* Absent members left out, in AWS order; a stage map; ISO dates. */
	assert_string_equal(ct_dump(shape_message_to_json(&r.base, &ct_iso)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"RotationEnabled\":false,"
	    "\"RotationRules\":{\"AutomaticallyAfterDays\":30},"
	    "\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}],"
	    "\"VersionIdsToStages\":{\"v1\":[\"AWSCURRENT\",\"PUT1\"],"
	    "\"v2\":[\"AWSPREVIOUS\"]},"
	    "\"CreatedDate\":\"2018-04-11T20:05:45.729000+00:00\"}");

	/* wire: fractional epoch seconds, as CLI v1 and the API. */
	r.n_version_ids_to_stages = 0;
	r.n_tags = 0;
	r.rotation_rules = NULL;
	r.has_rotation_enabled = 0;
	assert_string_equal(ct_dump(shape_message_to_json(&r.base, &ct_wire)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"CreatedDate\":1523477145.729}");

	/* "Tags": [] once the secret has had tags; the flag is no member. */
	r.has_tags_present = 1;
	r.tags_present = 1;
	assert_string_equal(ct_dump(shape_message_to_json(&r.base, &ct_wire)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"Tags\":[],"
	    "\"CreatedDate\":1523477145.729}");
	r.tags_present = 0;
	assert_string_equal(ct_dump(shape_message_to_json(&r.base, &ct_wire)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"CreatedDate\":1523477145.729}");
	r.has_tags_present = 0;

	/* Values: bytes in base64, strings as UTF-8, stages a list. */
	g.has_secret_binary = 1;
	g.secret_binary.data = bin;
	g.secret_binary.len = sizeof(bin);
	g.secret_string = str;
	g.n_version_stages = 1;
	g.version_stages = s1;
	assert_string_equal(ct_dump(shape_message_to_json(&g.base, &ct_iso)),
	    "{\"SecretBinary\":\"AAH+\",\"SecretString\":\"s\xc3\xa9" "cret\","
	    "\"VersionStages\":[\"AWSCURRENT\"]}");

	/* A false boolean is a member; an empty list is not. */
	vr.has_policy_validation_passed = 1;
	assert_string_equal(ct_dump(shape_message_to_json(&vr.base, &ct_iso)),
	    "{\"PolicyValidationPassed\":false}");

	/* List entries use SecretVersionsToStages, also a map. */
	le.name = name;
	le.n_secret_versions_to_stages = 1;
	le.secret_versions_to_stages = ep;
	ls.n_secret_list = 1;
	ls.secret_list = &lep;
	assert_string_equal(ct_dump(shape_message_to_json(&ls.base, &ct_iso)),
	    "{\"SecretList\":[{\"Name\":\"n\",\"SecretVersionsToStages\":"
	    "{\"v1\":[\"AWSCURRENT\",\"PUT1\"]}}]}");

	/* Errors of BatchGetSecretValue. */
	ae.secret_id = name;
	ae.error_code = code;
	ae.message = msg;
	bg.n_errors = 1;
	bg.errors = &aep;
	assert_string_equal(ct_dump(shape_message_to_json(&bg.base, &ct_iso)),
	    "{\"Errors\":[{\"SecretId\":\"n\",\"ErrorCode\":"
	    "\"ResourceNotFoundException\",\"Message\":\"not found\"}]}");
}

static void
test_identity_policy_json(void **state)
{
	Coffer__V1__PutIdentityPolicyResponse pr =
	    COFFER__V1__PUT_IDENTITY_POLICY_RESPONSE__INIT;
	Coffer__V1__GetIdentityPolicyResponse gr =
	    COFFER__V1__GET_IDENTITY_POLICY_RESPONSE__INIT;
	Coffer__V1__ListIdentityPoliciesResponse lr =
	    COFFER__V1__LIST_IDENTITY_POLICIES_RESPONSE__INIT;
	Coffer__V1__DeleteIdentityPolicyResponse dr =
	    COFFER__V1__DELETE_IDENTITY_POLICY_RESPONSE__INIT;
	Coffer__V1__IdentityPolicyEntry e1 =
	    COFFER__V1__IDENTITY_POLICY_ENTRY__INIT;
	Coffer__V1__IdentityPolicyEntry e2 =
	    COFFER__V1__IDENTITY_POLICY_ENTRY__INIT;
	Coffer__V1__IdentityPolicyEntry *ep[2] = { &e1, &e2 };
	char who[] = "spiffe://coffer/app", cn[] = "ops", name[] = "read";
	char name2[] = "admin", doc[] = "{\"Version\":\"2012-10-17\"}";

	(void)state;

	/* Put and Delete: who and which. */
	pr.principal = who;
	pr.policy_name = name;
	assert_string_equal(ct_dump(shape_message_to_json(&pr.base, &ct_iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\"}");
	dr.principal = who;
	dr.policy_name = name;
	assert_string_equal(ct_dump(shape_message_to_json(&dr.base, &ct_iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\"}");

	/* Get: the document as text, both dates as timestamps. */
	gr.principal = who;
	gr.policy_name = name;
	gr.policy_document = doc;
	gr.has_created_date = 1;
	gr.created_date = 1523477145729;
	gr.has_updated_date = 1;
	gr.updated_date = 1714566896000;
	assert_string_equal(ct_dump(shape_message_to_json(&gr.base, &ct_iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\","
	    "\"PolicyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\"}\","
	    "\"CreatedDate\":\"2018-04-11T20:05:45.729000+00:00\","
	    "\"UpdatedDate\":\"2024-05-01T12:34:56+00:00\"}");
	assert_string_equal(ct_dump(shape_message_to_json(&gr.base, &ct_wire)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\","
	    "\"PolicyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\"}\","
	    "\"CreatedDate\":1523477145.729,\"UpdatedDate\":1714566896.0}");

	/* List: entries in order, each with its date. */
	e1.principal = who;
	e1.policy_name = name;
	e1.has_updated_date = 1;
	e1.updated_date = 1523477145729;
	e2.principal = cn;
	e2.policy_name = name2;
	e2.has_updated_date = 1;
	e2.updated_date = 1714566896000;
	lr.n_policies = 2;
	lr.policies = ep;
	assert_string_equal(ct_dump(shape_message_to_json(&lr.base, &ct_iso)),
	    "{\"Policies\":[{\"Principal\":\"spiffe://coffer/app\","
	    "\"PolicyName\":\"read\",\"UpdatedDate\":"
	    "\"2018-04-11T20:05:45.729000+00:00\"},{\"Principal\":\"ops\","
	    "\"PolicyName\":\"admin\",\"UpdatedDate\":"
	    "\"2024-05-01T12:34:56+00:00\"}]}");
}

static void
test_base64(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *out;
		size_t len;
	} cases[] = {
		{ "", 1, "", 0 },
		{ "AAH+", 1, "\x00\x01\xfe", 3 },
		{ "aGVsbG8=", 1, "hello", 5 },
		{ "aGVs\nbG8=\n", 1, "hello", 5 },
		{ "aGk=", 1, "hi", 2 },
		{ "aA==", 1, "h", 1 },
		{ "aGVsbG8", 0, NULL, 0 },
		{ "@@@@", 0, NULL, 0 },
		{ "aA==aA==", 0, NULL, 0 },
		{ "a===", 0, NULL, 0 },
	};
	uint8_t *out;
	size_t i, n;
	char *enc;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		assert_int_equal(shape_b64_decode(cases[i].in,
		    strlen(cases[i].in), &out, &n), cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			continue;
		assert_int_equal(n, cases[i].len);
		assert_memory_equal(out, cases[i].out, n);
		enc = shape_b64_encode(out, n);
		if (strchr(cases[i].in, '\n') == NULL)
			assert_string_equal(enc, cases[i].in);
		free(enc);
		cf_heap_wipe_free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_response_json),
		cmocka_unit_test(test_identity_policy_json),
		cmocka_unit_test(test_base64),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
