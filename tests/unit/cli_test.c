/*
 * cli_test.c: coffer's parts that need no server: argument parsing and
 * every value form, response JSON, timestamps, --query, pagination with a
 * fetch function standing in for cofferd, --starting-token round trips,
 * output formats, error lines and usage messages, and the transport: http
 * vs https, the TLS options and variables, and the .coffer-dev/tls search.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_internal.h"
#include "coffer/v1/secrets_manager.pb-c.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct cli_opts iso = { 0, 0 }, wire = { 0, 1 };
static const struct cli_opts raw = { 1, 0 };

/* ---- helpers ------------------------------------------------------------------- */

/* Compact JSON text of ${j} (released), in a static buffer. */
static const char *
dump(json_t *j)
{
	static char buf[8192];
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(16));
	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	json_decref(j);
	return (buf);
}

/* A writable, NULL-terminated copy of a word list (argv or flag words). */
struct words {
	int n;
	char **w;
};

static struct words
words(const char *first, ...)
{
	struct words r = { 0, NULL };
	const char *s;
	va_list ap;

	r.w = calloc(64, sizeof(char *));
	assert_non_null(r.w);
	va_start(ap, first);
	for (s = first; s != NULL && r.n < 63; s = va_arg(ap, const char *))
		r.w[r.n++] = strdup(s);
	va_end(ap);
	return (r);
}

static void
words_free(struct words *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->w[i]);
	free(r->w);
}

/* A temporary file holding ${n} bytes (0: a string's length). */
static char *
temp_file(const void *data, size_t n)
{
	static char path[64];
	int fd;

	if (n == 0)
		n = strlen(data);
	snprintf(path, sizeof(path), "/tmp/coffer-cli-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, data, n) == (ssize_t)n);
	close(fd);
	return (path);
}

static const ProtobufCFieldDescriptor *
field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	assert_non_null(f);
	return (f);
}

/* cli_set_flag on ${m}.${name} with the given words. */
struct opts_words {
	const struct cli_opts *o;
	struct words w;
	int used;
	char err[768];
};

static int
flag(ProtobufCMessage *m, const char *name, struct opts_words *x)
{

	return (cli_set_flag(m, field(m, name), x->w.w, x->w.n, &x->used, x->o,
	    x->err, sizeof(x->err)));
}

static int
set(ProtobufCMessage *m, const char *name, const struct cli_opts *o,
    char *err, const char *first, ...)
{
	struct opts_words ow = { o, { 0, NULL }, 0, "" };
	const char *s;
	va_list ap;
	int rc;

	ow.w.w = calloc(16, sizeof(char *));
	assert_non_null(ow.w.w);
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		ow.w.w[ow.w.n++] = strdup(s);
	va_end(ap);
	rc = flag(m, name, &ow);
	snprintf(err, 768, "%s", ow.err);
	words_free(&ow.w);
	return (rc);
}

/* ---- names, verbs, docs ---------------------------------------------------------- */

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
		cli_pascal(cases[i][0], out, sizeof(out));
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
	/* AWS's 23, list-audit-events, and the four identity-policy verbs. */
	assert_int_equal(i, 28);
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
		if ((cli_parse_date(cases[i].in, &ms) == 0) != cases[i].ok)
			fail_msg("%s: ok should be %d", cases[i].in,
			    cases[i].ok);
		if (cases[i].ok && ms != cases[i].ms)
			fail_msg("%s: %lld, want %lld", cases[i].in,
			    (long long)ms, (long long)cases[i].ms);
	}
}

/* ---- response JSON ------------------------------------------------------------- */

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
		assert_string_equal(dump(cli_date(cases[i].ms, 0)),
		    cases[i].iso);
		assert_string_equal(dump(cli_date(cases[i].ms, 1)),
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
	assert_string_equal(dump(cli_message_to_json(&r.base, &iso)),
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
	assert_string_equal(dump(cli_message_to_json(&r.base, &wire)),
	    "{\"ARN\":\"arn:x\",\"Name\":\"n\",\"CreatedDate\":1523477145.729}");

	/* Values: bytes in base64, strings as UTF-8, stages a list. */
	g.has_secret_binary = 1;
	g.secret_binary.data = bin;
	g.secret_binary.len = sizeof(bin);
	g.secret_string = str;
	g.n_version_stages = 1;
	g.version_stages = s1;
	assert_string_equal(dump(cli_message_to_json(&g.base, &iso)),
	    "{\"SecretBinary\":\"AAH+\",\"SecretString\":\"s\xc3\xa9" "cret\","
	    "\"VersionStages\":[\"AWSCURRENT\"]}");

	/* A false boolean is a member; an empty list is not. */
	vr.has_policy_validation_passed = 1;
	assert_string_equal(dump(cli_message_to_json(&vr.base, &iso)),
	    "{\"PolicyValidationPassed\":false}");

	/* List entries use SecretVersionsToStages, also a map. */
	le.name = name;
	le.n_secret_versions_to_stages = 1;
	le.secret_versions_to_stages = ep;
	ls.n_secret_list = 1;
	ls.secret_list = &lep;
	assert_string_equal(dump(cli_message_to_json(&ls.base, &iso)),
	    "{\"SecretList\":[{\"Name\":\"n\",\"SecretVersionsToStages\":"
	    "{\"v1\":[\"AWSCURRENT\",\"PUT1\"]}}]}");

	/* Errors of BatchGetSecretValue. */
	ae.secret_id = name;
	ae.error_code = code;
	ae.message = msg;
	bg.n_errors = 1;
	bg.errors = &aep;
	assert_string_equal(dump(cli_message_to_json(&bg.base, &iso)),
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
	assert_string_equal(dump(cli_message_to_json(&pr.base, &iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\"}");
	dr.principal = who;
	dr.policy_name = name;
	assert_string_equal(dump(cli_message_to_json(&dr.base, &iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\"}");

	/* Get: the document as text, both dates as timestamps. */
	gr.principal = who;
	gr.policy_name = name;
	gr.policy_document = doc;
	gr.has_created_date = 1;
	gr.created_date = 1523477145729;
	gr.has_updated_date = 1;
	gr.updated_date = 1714566896000;
	assert_string_equal(dump(cli_message_to_json(&gr.base, &iso)),
	    "{\"Principal\":\"spiffe://coffer/app\",\"PolicyName\":\"read\","
	    "\"PolicyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\"}\","
	    "\"CreatedDate\":\"2018-04-11T20:05:45.729000+00:00\","
	    "\"UpdatedDate\":\"2024-05-01T12:34:56+00:00\"}");
	assert_string_equal(dump(cli_message_to_json(&gr.base, &wire)),
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
	assert_string_equal(dump(cli_message_to_json(&lr.base, &iso)),
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
		assert_int_equal(cli_b64_decode(cases[i].in,
		    strlen(cases[i].in), &out, &n), cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			continue;
		assert_int_equal(n, cases[i].len);
		assert_memory_equal(out, cases[i].out, n);
		enc = cli_b64_encode(out, n);
		if (strchr(cases[i].in, '\n') == NULL)
			assert_string_equal(enc, cases[i].in);
		free(enc);
		cf_heap_wipe_free(out);
	}
}

/* ---- value forms ---------------------------------------------------------------- */

static void
test_structures(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	Coffer__V1__ListSecretsRequest *l;
	Coffer__V1__RotateSecretRequest *r;
	Coffer__V1__BatchGetSecretValueRequest *b;
	char err[768];
	struct opts_words ow = { &iso, { 0, NULL }, 0, "" };

	(void)state;
	c = (void *)cli_message_new(&coffer__v1__create_secret_request__descriptor);
	/* Shorthand structures, one per word; the next flag ends the list. */
	ow.w = words("Key=env,Value=prod", "Key=team,Value=pay", "--x", NULL);
	assert_int_equal(flag(&c->base, "tags", &ow), 0);
	assert_int_equal(ow.used, 2);
	assert_int_equal(c->n_tags, 2);
	assert_string_equal(c->tags[0]->key, "env");
	assert_string_equal(c->tags[1]->value, "pay");
	words_free(&ow.w);
	/* JSON replaces the list (flags replace, as argparse does). */
	assert_int_equal(set(&c->base, "tags", &iso, err,
	    "[{\"Key\":\"k\",\"Value\":\"v\"}]", NULL), 0);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->key, "k");
	/* A JSON object per word; quoted shorthand values keep commas. */
	assert_int_equal(set(&c->base, "tags", &iso, err,
	    "{\"Key\":\"a\",\"Value\":\"1\"}", "Key=b,Value=\"x, y\"", NULL), 0);
	assert_int_equal(c->n_tags, 2);
	assert_string_equal(c->tags[1]->value, "x, y");
	assert_int_equal(set(&c->base, "add_replica_regions", &iso, err,
	    "Region=eu-west-1,KmsKeyId=k", NULL), 0);
	assert_string_equal(c->add_replica_regions[0]->region, "eu-west-1");
	/* Bad forms. */
	assert_int_equal(set(&c->base, "tags", &iso, err, "Key=a,Nope=b",
	    NULL), -1);
	assert_non_null(strstr(err, "Error parsing parameter '--tags'"));
	assert_int_equal(set(&c->base, "tags", &iso, err, "Keyb", NULL), -1);
	assert_int_equal(set(&c->base, "tags", &iso, err, "[{\"Key\":1}]",
	    NULL), -1);
	assert_non_null(strstr(err, "Invalid type for parameter Tags[0].Key"));
	assert_int_equal(set(&c->base, "tags", &iso, err, "[{", NULL), -1);
	assert_non_null(strstr(err, "Invalid JSON"));
	assert_int_equal(set(&c->base, "tags", &iso, err, "--name", NULL), -1);
	assert_string_equal(err, "argument --tags: expected one argument");
	cli_message_free(&c->base);

	/* Filters: Values takes the comma list, or [a,b]. */
	l = (void *)cli_message_new(&coffer__v1__list_secrets_request__descriptor);
	assert_int_equal(set(&l->base, "filters", &iso, err,
	    "Key=name,Values=prod/,dev/", "Key=tag-key,Values=!x",
	    "Values=[a,b],Key=all", NULL), 0);
	assert_int_equal(l->n_filters, 3);
	assert_string_equal(l->filters[0]->key, "name");
	assert_int_equal(l->filters[0]->n_values, 2);
	assert_string_equal(l->filters[0]->values[1], "dev/");
	assert_string_equal(l->filters[1]->values[0], "!x");
	assert_int_equal(l->filters[2]->n_values, 2);
	assert_string_equal(l->filters[2]->key, "all");
	assert_int_equal(set(&l->base, "filters", &iso, err,
	    "[{\"Key\":\"description\",\"Values\":[\"db\"]}]", NULL), 0);
	assert_int_equal(l->n_filters, 1);
	assert_string_equal(l->filters[0]->values[0], "db");
	/* Scalars: integers checked, choices left to the server. */
	assert_int_equal(set(&l->base, "max_results", &iso, err, "7", NULL), 0);
	assert_true(l->has_max_results);
	assert_int_equal(l->max_results, 7);
	assert_int_equal(set(&l->base, "max_results", &iso, err, "x", NULL), -1);
	assert_non_null(strstr(err, "invalid literal for int()"));
	assert_int_equal(set(&l->base, "sort_order", &iso, err, "desc", NULL), 0);
	assert_string_equal(l->sort_order, "desc");
	cli_message_free(&l->base);

	/* Structures: shorthand or JSON; integers typed; quotes. */
	r = (void *)cli_message_new(&coffer__v1__rotate_secret_request__descriptor);
	assert_int_equal(set(&r->base, "rotation_rules", &iso, err,
	    "AutomaticallyAfterDays=30,Duration=2h", NULL), 0);
	assert_true(r->rotation_rules->has_automatically_after_days);
	assert_int_equal(r->rotation_rules->automatically_after_days, 30);
	assert_string_equal(r->rotation_rules->duration, "2h");
	assert_int_equal(set(&r->base, "rotation_rules", &iso, err,
	    "{\"ScheduleExpression\":\"rate(10 days)\"}", NULL), 0);
	assert_string_equal(r->rotation_rules->schedule_expression,
	    "rate(10 days)");
	assert_false(r->rotation_rules->has_automatically_after_days);
	assert_int_equal(set(&r->base, "rotation_rules", &iso, err,
	    "ScheduleExpression='cron(0 16 1,15 * ? *)'", NULL), 0);
	assert_string_equal(r->rotation_rules->schedule_expression,
	    "cron(0 16 1,15 * ? *)");
	assert_int_equal(set(&r->base, "rotation_rules", &iso, err,
	    "AutomaticallyAfterDays=soon", NULL), -1);
	assert_non_null(strstr(err, "invalid literal for int() with base 10: "
	    "'soon'"));
	assert_int_equal(set(&r->base, "rotation_rules", &iso, err,
	    "{\"AutomaticallyAfterDays\":\"30\"}", NULL), -1);
	assert_non_null(strstr(err, "valid types: <class 'int'>"));
	cli_message_free(&r->base);

	/* Lists of strings: words, or one JSON array. */
	b = (void *)cli_message_new(
	    &coffer__v1__batch_get_secret_value_request__descriptor);
	assert_int_equal(set(&b->base, "secret_id_list", &iso, err, "a", "b",
	    NULL), 0);
	assert_int_equal(b->n_secret_id_list, 2);
	assert_int_equal(set(&b->base, "secret_id_list", &iso, err,
	    "[\"x\",\"y\",\"z\"]", NULL), 0);
	assert_int_equal(b->n_secret_id_list, 3);
	assert_string_equal(b->secret_id_list[2], "z");
	cli_message_free(&b->base);
}

static void
test_values_and_files(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	char err[768], arg[128], *path;
	size_t len;
	int bin;
	char *v;

	(void)state;
	c = (void *)cli_message_new(&coffer__v1__create_secret_request__descriptor);

	/* Blobs: base64 by default; raw-in-base64-out; bad base64. */
	assert_int_equal(set(&c->base, "secret_binary", &iso, err, "AAH+",
	    NULL), 0);
	assert_true(c->has_secret_binary);
	assert_int_equal(c->secret_binary.len, 3);
	assert_memory_equal(c->secret_binary.data, "\x00\x01\xfe", 3);
	assert_int_equal(set(&c->base, "secret_binary", &raw, err, "AAH+",
	    NULL), 0);
	assert_int_equal(c->secret_binary.len, 4);
	assert_memory_equal(c->secret_binary.data, "AAH+", 4);
	assert_int_equal(set(&c->base, "secret_binary", &iso, err, "hello",
	    NULL), -1);
	assert_non_null(strstr(err, "Invalid base64"));
	assert_null(strstr(err, "hello"));	/* never echo a value */

	/* fileb:// raw bytes, whatever the binary format. */
	path = temp_file("\x00line\n\xff", 7);
	snprintf(arg, sizeof(arg), "fileb://%s", path);
	assert_int_equal(set(&c->base, "secret_binary", &iso, err, arg, NULL), 0);
	assert_int_equal(c->secret_binary.len, 7);
	assert_memory_equal(c->secret_binary.data, "\x00line\n\xff", 7);
	unlink(path);

	/* file:// text, kept as it is (trailing newline included). */
	path = temp_file("{\"password\": \"p\"}\n", 19);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(set(&c->base, "secret_string", &iso, err, arg, NULL), 0);
	assert_string_equal(c->secret_string, "{\"password\": \"p\"}\n");
	/* file:// for a blob holds base64 text (wrapped lines allowed). */
	unlink(path);
	path = temp_file("aGVs\nbG8=\n", 10);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(set(&c->base, "secret_binary", &iso, err, arg, NULL), 0);
	assert_memory_equal(c->secret_binary.data, "hello", 5);
	/* and for structures and lists. */
	unlink(path);
	path = temp_file("[{\"Key\":\"f\",\"Value\":\"g\"}]", 25);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(set(&c->base, "tags", &iso, err, arg, NULL), 0);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->value, "g");
	unlink(path);

	/* A missing file. */
	assert_int_equal(set(&c->base, "secret_string", &iso, err,
	    "file:///nonexistent/coffer-cli", NULL), -1);
	assert_string_equal(err, "Error parsing parameter '--secret-string': "
	    "Unable to load paramfile /nonexistent/coffer-cli: No such file or "
	    "directory");
	cli_message_free(&c->base);

	/* A plain word is itself. */
	v = cli_param_value("plain", &len, &bin, err, sizeof(err));
	assert_string_equal(v, "plain");
	assert_int_equal(len, 5);
	assert_int_equal(bin, 0);
	cf_heap_wipe_free(v);
}

/* ---- the whole command line ------------------------------------------------------ */

struct parsed {
	struct words argv;
	struct cli_args a;
	struct cli_usage u;
	enum cli_parse r;
};

static void
parse(struct parsed *p, const char *first, ...)
{
	const char *s;
	va_list ap;

	memset(p, 0, sizeof(*p));
	p->argv.w = calloc(64, sizeof(char *));
	assert_non_null(p->argv.w);
	p->argv.w[p->argv.n++] = strdup("coffer");
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		p->argv.w[p->argv.n++] = strdup(s);
	va_end(ap);
	p->r = cli_args_parse(p->argv.n, p->argv.w, &p->a, &p->u);
}

static void
parsed_free(struct parsed *p)
{

	cli_args_cleanup(&p->a);
	words_free(&p->argv);
}

static void
test_parse_verbs(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	Coffer__V1__GetSecretValueRequest *g;
	Coffer__V1__RotateSecretRequest *r;
	Coffer__V1__GetRandomPasswordRequest *pw;
	Coffer__V1__PutSecretValueRequest *p;
	Coffer__V1__DeleteSecretRequest *d;
	struct parsed x;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* The TLDR line; a ClientRequestToken is generated (UUIDv4). */
	parse(&x, "create-secret", "--name", "db", "--secret-string", "v1",
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
	parsed_free(&x);

	/* A token given is kept; --x=value works for flags too. */
	parse(&x, "put-secret-value", "--secret-id=db",
	    "--client-request-token", "0123456789abcdef0123456789abcdef",
	    "--version-stages", "A", "B", "--secret-string", "v2", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->secret_id, "db");
	assert_string_equal(p->client_request_token,
	    "0123456789abcdef0123456789abcdef");
	assert_int_equal(p->n_version_stages, 2);
	assert_string_equal(p->version_stages[1], "B");
	parsed_free(&x);

	/* Delete: integers and bare booleans. */
	parse(&x, "delete-secret", "--secret-id", "db",
	    "--recovery-window-in-days", "30", NULL);
	d = (void *)x.a.req;
	assert_true(d->has_recovery_window_in_days);
	assert_int_equal(d->recovery_window_in_days, 30);
	assert_false(d->has_force_delete_without_recovery);
	parsed_free(&x);
	parse(&x, "delete-secret", "--secret-id", "db",
	    "--force-delete-without-recovery", NULL);
	d = (void *)x.a.req;
	assert_true(d->has_force_delete_without_recovery);
	assert_true(d->force_delete_without_recovery);
	parsed_free(&x);

	/* --x / --no-x pairs. */
	parse(&x, "rotate-secret", "--secret-id", "s", "--no-rotate-immediately",
	    "--rotation-rules", "AutomaticallyAfterDays=7", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	r = (void *)x.a.req;
	assert_true(r->has_rotate_immediately);
	assert_false(r->rotate_immediately);
	assert_non_null(r->client_request_token);
	assert_int_equal(r->rotation_rules->automatically_after_days, 7);
	parsed_free(&x);
	parse(&x, "get-random-password", "--password-length", "20",
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
	parsed_free(&x);
	parse(&x, "get-random-password", "--exclude-numbers=true", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "ignored explicit argument"));
	parsed_free(&x);

	/* "help" as a value is a value; as a word it asks for help. */
	parse(&x, "get-secret-value", "--secret-id", "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	g = (void *)x.a.req;
	assert_string_equal(g->secret_id, "help");
	parsed_free(&x);
	parse(&x, "get-secret-value", "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_non_null(x.a.verb);
	parsed_free(&x);
	parse(&x, "create-secret", "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	parsed_free(&x);
	parse(&x, "help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_null(x.a.verb);
	parsed_free(&x);
	parse(&x, "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	parsed_free(&x);
	parse(&x, "--version", NULL);
	assert_int_equal(x.r, CLI_PARSE_VERSION);
	parsed_free(&x);

	/* --generate-cli-skeleton needs no required member. */
	parse(&x, "create-secret", "--generate-cli-skeleton", NULL);
	assert_int_equal(x.r, CLI_PARSE_SKELETON);
	assert_string_equal(x.a.skeleton, "input");
	parsed_free(&x);
	parse(&x, "list-secrets", "--generate-cli-skeleton", "output", NULL);
	assert_string_equal(x.a.skeleton, "output");
	parsed_free(&x);
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
	struct parsed x;
	char arg[128], *path;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* Put: every flag to its field, on Coffer's own service. */
	parse(&x, "put-identity-policy", "--principal", "spiffe://coffer/app",
	    "--policy-name", "read", "--policy-document", "{\"Version\":"
	    "\"2012-10-17\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "PutIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	assert_ptr_equal(x.a.req->descriptor,
	    &coffer__v1__put_identity_policy_request__descriptor);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "spiffe://coffer/app");
	assert_string_equal(p->policy_name, "read");
	assert_string_equal(p->policy_document, "{\"Version\":\"2012-10-17\"}");
	parsed_free(&x);

	/* The document from file://, kept as it is; --x=value too. */
	path = temp_file(text, 0);
	snprintf(arg, sizeof(arg), "--policy-document=file://%s", path);
	parse(&x, "put-identity-policy", arg, "--policy-name=admin",
	    "--principal=ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "ops");
	assert_string_equal(p->policy_name, "admin");
	assert_string_equal(p->policy_document, text);
	parsed_free(&x);
	unlink(path);

	/* A missing file is a usage error naming the flag. */
	parse(&x, "put-identity-policy", "--principal", "ops", "--policy-name",
	    "admin", "--policy-document", "file:///nonexistent/coffer-cli",
	    NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "Error parsing parameter "
	    "'--policy-document': Unable to load paramfile"));
	parsed_free(&x);

	/* Or the whole request as AWS-style JSON. */
	parse(&x, "put-identity-policy", "--cli-input-json",
	    "{\"Principal\":\"ops\",\"PolicyName\":\"n\","
	    "\"PolicyDocument\":\"{}\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	p = (void *)x.a.req;
	assert_string_equal(p->principal, "ops");
	assert_string_equal(p->policy_name, "n");
	assert_string_equal(p->policy_document, "{}");
	parsed_free(&x);

	/* Get and Delete: principal and name. */
	parse(&x, "get-identity-policy", "--principal", "ops", "--policy-name",
	    "admin", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "GetIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	g = (void *)x.a.req;
	assert_string_equal(g->principal, "ops");
	assert_string_equal(g->policy_name, "admin");
	parsed_free(&x);
	parse(&x, "delete-identity-policy", "--policy-name", "admin",
	    "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "DeleteIdentityPolicy");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	d = (void *)x.a.req;
	assert_string_equal(d->principal, "ops");
	assert_string_equal(d->policy_name, "admin");
	parsed_free(&x);

	/* List: the principal is optional. */
	parse(&x, "list-identity-policies", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.verb->op, "ListIdentityPolicies");
	assert_string_equal(x.a.verb->service, "coffer.v1.IdentityPolicies");
	l = (void *)x.a.req;
	assert_null(l->principal);
	parsed_free(&x);
	parse(&x, "list-identity-policies", "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	l = (void *)x.a.req;
	assert_string_equal(l->principal, "ops");
	parsed_free(&x);

	/* Help, and flags the request does not have. */
	parse(&x, "put-identity-policy", "--help", NULL);
	assert_int_equal(x.r, CLI_PARSE_HELP);
	assert_string_equal(x.a.verb->name, "put-identity-policy");
	parsed_free(&x);
	parse(&x, "get-identity-policy", "--principal", "ops", "--policy-name",
	    "n", "--secret-id", "s", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "Unknown options: --secret-id"));
	parsed_free(&x);
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
	struct parsed x;
	json_t *out = NULL;
	int calls = 0;

	(void)state;
	parse(&x, "list-identity-policies", "--principal", "ops", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_int_equal(cli_paginate(&x.a, empty_fetch, &calls, &out, &st), 0);
	assert_int_equal(calls, 1);
	assert_string_equal(dump(out), "{\"Policies\":[]}");
	parsed_free(&x);
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
	struct parsed x;
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
	struct parsed x;
	char arg[128], *path;

	(void)state;
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* Global options anywhere; --endpoint-url loses its scheme. */
	parse(&x, "--output", "text", "get-secret-value", "--query", "Name",
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
	parsed_free(&x);
	parse(&x, "get-secret-value", "--secret-id", "x", "--endpoint",
	    "https://10.0.0.1:443", "--output=table", NULL);
	assert_string_equal(x.a.endpoint, "10.0.0.1:443");
	assert_string_equal(x.a.output, "table");
	parsed_free(&x);

	/* The environment gives defaults; options win. */
	setenv("COFFER_ENDPOINT", "http://envhost:9/", 1);
	setenv("COFFER_DEFAULT_OUTPUT", "text", 1);
	parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.endpoint, "envhost:9");
	assert_string_equal(x.a.output, "text");
	parsed_free(&x);
	parse(&x, "list-secrets", "--endpoint", "h:2", "--output", "json",
	    NULL);
	assert_string_equal(x.a.endpoint, "h:2");
	assert_string_equal(x.a.output, "json");
	parsed_free(&x);
	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_DEFAULT_OUTPUT");

	/* --cli-input-json first, then flags win (lists replace). */
	parse(&x, "get-secret-value", "--secret-id", "c", "--cli-input-json",
	    "{\"SecretId\":\"a\",\"VersionStage\":\"B\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	g = (void *)x.a.req;
	assert_string_equal(g->secret_id, "c");
	assert_string_equal(g->version_stage, "B");
	parsed_free(&x);
	path = temp_file("{\"Name\":\"n\",\"SecretBinary\":\"AAH+\","
	    "\"Tags\":[{\"Key\":\"a\",\"Value\":\"1\"}]}", 0);
	snprintf(arg, sizeof(arg), "file://%s", path);
	parse(&x, "create-secret", "--cli-input-json", arg, "--tags",
	    "Key=b,Value=2", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	c = (void *)x.a.req;
	assert_string_equal(c->name, "n");
	assert_int_equal(c->secret_binary.len, 3);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->key, "b");
	assert_non_null(c->client_request_token);
	parsed_free(&x);
	/* Required members may come from the JSON. */
	parse(&x, "get-secret-value", "--cli-input-json",
	    "{\"SecretId\":\"from-json\"}", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	parsed_free(&x);
	unlink(path);

	/* Pagination options; --max-results by hand turns paging off. */
	parse(&x, "list-secrets", "--max-items", "2", "--page-size", "3",
	    "--no-paginate", NULL);
	assert_int_equal(x.a.max_items, 2);
	assert_int_equal(x.a.page_size, 3);
	assert_true(x.a.no_paginate);
	assert_false(x.a.manual_paging);
	parsed_free(&x);
	parse(&x, "list-secrets", "--max-results", "2", "--include-planned-"
	    "deletion", NULL);
	assert_true(x.a.manual_paging);
	l = (void *)x.a.req;
	assert_true(l->has_include_planned_deletion);
	parsed_free(&x);
	parse(&x, "list-secrets", "--starting-token", "eyJOZXh0VG9rZW4iOiAidCJ9",
	    NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_true(x.a.has_starting_token);
	assert_string_equal(x.a.start_token, "t");
	assert_int_equal(x.a.start_skip, 0);
	parsed_free(&x);

	/* Binary format applies to --secret-binary. */
	parse(&x, "create-secret", "--name", "n", "--cli-binary-format",
	    "raw-in-base64-out", "--secret-binary", "plain text", NULL);
	c = (void *)x.a.req;
	assert_int_equal(c->secret_binary.len, 10);
	assert_memory_equal(c->secret_binary.data, "plain text", 10);
	parsed_free(&x);
}

/* ---- --query -------------------------------------------------------------------- */

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
		if (strcmp(dump(json_incref(r)), cases[i][1]) != 0)
			fail_msg("%s: got %s, want %s", cases[i][0],
			    dump(json_incref(r)), cases[i][1]);
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

/* ---- pagination ------------------------------------------------------------------ */

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
	struct parsed x;
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
		snprintf(names, sizeof(names), "%s", dump(json_incref(
		    json_object_get(out, "SecretList"))));
		json_decref(out);
	} else
		snprintf(names, sizeof(names), "%s", st.error_type);
	parsed_free(&x);
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

/* ---- output --------------------------------------------------------------------- */

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

/* ---- the transport -------------------------------------------------------------- */

/* The variables that choose TLS files, unset. */
static void
tls_env_clear(void)
{

	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_CA_BUNDLE");
	unsetenv("COFFER_CERT");
	unsetenv("COFFER_KEY");
	unsetenv("COFFER_DEV_DIR");
}

static void
test_transport_scheme(void **state)
{
	static const struct {
		const char *url, *target;
		int plaintext;
	} cases[] = {
		{ "http://127.0.0.1:5/", "127.0.0.1:5", 1 },
		{ "HTTP://h:5", "h:5", 1 },
		{ "https://h.example:443/x", "h.example:443", 0 },
		{ "h:5", "h:5", 0 },
		{ "unix:/run/coffer.sock", "unix:/run/coffer.sock", 0 },
		{ "http://unix:/run/c.sock", "unix:/run/c.sock", 1 },
	};
	struct cli_tls t;
	struct parsed x;
	char target[64];
	size_t i;

	(void)state;
	tls_env_clear();

	/* http:// is plaintext; https:// and a bare HOST:PORT are TLS. */
	for (i = 0; i < NELEM(cases); i++) {
		memset(&t, 0, sizeof(t));
		t.plaintext = !cases[i].plaintext;
		assert_int_equal(cli_endpoint_parse(cases[i].url, target,
		    sizeof(target), &t), 0);
		assert_string_equal(target, cases[i].target);
		if (t.plaintext != cases[i].plaintext)
			fail_msg("case %zu: plaintext %d", i, t.plaintext);
	}
	assert_int_equal(cli_endpoint_parse("http://", target,
	    sizeof(target), &t), -1);
	assert_int_equal(cli_endpoint_parse("https:///x", target,
	    sizeof(target), &t), -1);
	assert_int_equal(cli_endpoint_parse("a-rather-long-host:1", target, 8,
	    &t), -1);

	/* The default endpoint is TLS; so is a bare --endpoint. */
	parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.endpoint, CLI_DEFAULT_ENDPOINT);
	assert_false(x.a.tls.plaintext);
	parsed_free(&x);
	parse(&x, "list-secrets", "--endpoint", "h:2", NULL);
	assert_false(x.a.tls.plaintext);
	parsed_free(&x);
	parse(&x, "list-secrets", "--endpoint-url=http://127.0.0.1:7", NULL);
	assert_string_equal(x.a.endpoint, "127.0.0.1:7");
	assert_true(x.a.tls.plaintext);
	parsed_free(&x);

	/* COFFER_ENDPOINT's scheme counts, and the last endpoint wins. */
	setenv("COFFER_ENDPOINT", "http://envhost:9", 1);
	parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.endpoint, "envhost:9");
	assert_true(x.a.tls.plaintext);
	parsed_free(&x);
	parse(&x, "list-secrets", "--endpoint-url", "https://h:3", NULL);
	assert_string_equal(x.a.endpoint, "h:3");
	assert_false(x.a.tls.plaintext);
	parsed_free(&x);
	setenv("COFFER_ENDPOINT", "envhost:9", 1);
	parse(&x, "list-secrets", "--endpoint-url", "http://h:3",
	    "--endpoint", "h:4", NULL);
	assert_string_equal(x.a.endpoint, "h:4");
	assert_false(x.a.tls.plaintext);
	parsed_free(&x);
	tls_env_clear();
}

static void
test_transport_options(void **state)
{
	struct parsed x;

	(void)state;
	tls_env_clear();

	/* Nothing given: no paths (cli_tls_resolve searches later). */
	parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "");
	assert_string_equal(x.a.tls.cert, "");
	assert_string_equal(x.a.tls.key, "");
	parsed_free(&x);

	/* The options, anywhere on the line, as NAME VALUE or NAME=VALUE. */
	parse(&x, "--ca-bundle", "/o/ca.pem", "list-secrets", "--cert=/o/c.pem",
	    "--key", "/o/c.key", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/o/ca.pem");
	assert_string_equal(x.a.tls.cert, "/o/c.pem");
	assert_string_equal(x.a.tls.key, "/o/c.key");
	parsed_free(&x);

	/* The environment; an empty variable is not set. */
	setenv("COFFER_CA_BUNDLE", "/e/ca.pem", 1);
	setenv("COFFER_CERT", "/e/c.pem", 1);
	setenv("COFFER_KEY", "/e/c.key", 1);
	parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/e/ca.pem");
	assert_string_equal(x.a.tls.cert, "/e/c.pem");
	assert_string_equal(x.a.tls.key, "/e/c.key");
	parsed_free(&x);

	/* Each option wins over its variable, one file at a time. */
	parse(&x, "list-secrets", "--ca-bundle", "/o/ca.pem", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/o/ca.pem");
	assert_string_equal(x.a.tls.cert, "/e/c.pem");
	assert_string_equal(x.a.tls.key, "/e/c.key");
	parsed_free(&x);
	parse(&x, "list-secrets", "--cert", "/o/c.pem", "--key", "/o/c.key",
	    NULL);
	assert_string_equal(x.a.tls.ca_bundle, "/e/ca.pem");
	assert_string_equal(x.a.tls.cert, "/o/c.pem");
	assert_string_equal(x.a.tls.key, "/o/c.key");
	parsed_free(&x);
	setenv("COFFER_CA_BUNDLE", "", 1);
	parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.tls.ca_bundle, "");
	parsed_free(&x);
	tls_env_clear();

	/* A certificate needs its key and a key its certificate. */
	parse(&x, "list-secrets", "--cert", "/o/c.pem", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --cert: a client certificate "
	    "needs its key: give --key as well (or COFFER_KEY)");
	parsed_free(&x);
	parse(&x, "--key", "/o/c.key", "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "give --cert as well"));
	parsed_free(&x);
	setenv("COFFER_CERT", "/e/c.pem", 1);
	parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	parsed_free(&x);
	parse(&x, "list-secrets", "--key", "/o/c.key", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	parsed_free(&x);
	tls_env_clear();

	/* A missing or empty value. */
	parse(&x, "list-secrets", "--ca-bundle", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --ca-bundle: expected one "
	    "argument");
	parsed_free(&x);
	parse(&x, "list-secrets", "--ca-bundle=", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --ca-bundle: invalid path ''");
	parsed_free(&x);
}

/* mkdir -p of ${root}/${rel}. */
static void
mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX + 64], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '/') {
			*p = '\0';
			assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
			*p = '/';
		} else {
			assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
			break;
		}
	}
}

/* Remove the test tree ${root}, or only its .coffer-dev directories. */
static void
rmdirs(const char *root, int all)
{
	static const char *const rel[] = { "x/.coffer-dev/tls",
	    "x/.coffer-dev", ".coffer-dev/tls", ".coffer-dev", "x/y/z", "x/y",
	    "x", "" };
	char path[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < (all ? NELEM(rel) : 4); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, rel[i]);
		(void)rmdir(path);
	}
}

static void
test_transport_discovery(void **state)
{
	char tmpl[] = "/tmp/cli_test.XXXXXX", root[PATH_MAX], cwd[PATH_MAX];
	char want[PATH_MAX + 64], err[512], devdir[PATH_MAX + 32];
	char exe[PATH_MAX + 64], found[CLI_PATH_MAX];
	struct cli_tls t;

	(void)state;
	tls_env_clear();
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, root));
	mkdirs(root, ".coffer-dev/tls");
	mkdirs(root, "x/y/z");

	/* Plaintext needs nothing. */
	memset(&t, 0, sizeof(t));
	t.plaintext = 1;
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	assert_string_equal(t.ca_bundle, "");

	/*
	 * A .coffer-dev/tls planted in the working directory or one of its
	 * parents is never used (it could hold an attacker's CA and key).
	 */
	assert_int_equal(chdir(root), 0);
	assert_int_equal(chdir("x/y/z"), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle"));
	assert_string_equal(t.ca_bundle, "");
	assert_string_equal(t.dev_dir, "");
	assert_int_equal(chdir(root), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);

	/* Beside the binary: its directory, or the one above (build/). */
	snprintf(exe, sizeof(exe), "%s/x/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls", root);
	assert_string_equal(found, want);
	snprintf(exe, sizeof(exe), "%s/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 1);
	assert_string_equal(found, want);

	/* Not further up. */
	snprintf(exe, sizeof(exe), "%s/x/y/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 0);
	assert_string_equal(found, "");

	/* Nor one that others may write to. */
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls", root);
	assert_int_equal(chmod(want, 0770), 0);
	snprintf(exe, sizeof(exe), "%s/x/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 0);
	assert_int_equal(chmod(want, 0700), 0);
	mkdirs(root, "x/.coffer-dev/tls");

	/* COFFER_DEV_DIR comes first, and is the only place looked at. */
	assert_int_equal(chdir("x/y"), 0);
	snprintf(devdir, sizeof(devdir), "%s/.coffer-dev", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls/ca.pem", root);
	assert_string_equal(t.ca_bundle, want);
	snprintf(devdir, sizeof(devdir), "%s/x/y", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "COFFER_DEV_DIR"));
	unsetenv("COFFER_DEV_DIR");

	/* A CA bundle given: no search, and no client certificate. */
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.ca_bundle, "/o/ca.pem"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	assert_string_equal(t.ca_bundle, "/o/ca.pem");
	assert_string_equal(t.cert, "");

	/* A client certificate alone: the dev CA, the certificate kept. */
	snprintf(devdir, sizeof(devdir), "%s/x/.coffer-dev", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.cert, "/o/c.pem"), 0);
	assert_int_equal(cli_tls_path(t.key, "/o/c.key"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/x/.coffer-dev/tls/ca.pem", root);
	assert_string_equal(t.ca_bundle, want);
	assert_string_equal(t.cert, "/o/c.pem");
	assert_string_equal(t.key, "/o/c.key");
	snprintf(want, sizeof(want), "%s/x/.coffer-dev/tls", root);
	assert_string_equal(t.dev_dir, want);
	unsetenv("COFFER_DEV_DIR");

	/*
	 * Nowhere to be found (nor in /tmp or /): an error naming the
	 * options and variables.
	 */
	rmdirs(root, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.cert, "/o/c.pem"), 0);
	assert_int_equal(cli_tls_path(t.key, "/o/c.key"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle"));
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle PATH (or COFFER_CA_BUNDLE)"));
	assert_non_null(strstr(err, "COFFER_CERT and COFFER_KEY"));
	assert_non_null(strstr(err, "COFFER_DEV_DIR"));

	assert_int_equal(chdir(cwd), 0);
	rmdirs(root, 1);
	assert_int_equal(access(root, F_OK), -1);
}

/*
 * ${fn} on the words ${first}... (NULL-terminated), after ${argv0} when it
 * is not NULL; its exit code.
 */
static int
words_run(int (*fn)(int, char **), const char *argv0, const char *first,
    va_list ap)
{
	struct words w = { 0, NULL };
	const char *s;
	int rc;

	w.w = calloc(16, sizeof(char *));
	assert_non_null(w.w);
	if (argv0 != NULL)
		w.w[w.n++] = strdup(argv0);
	for (s = first; s != NULL && w.n < 15; s = va_arg(ap, const char *))
		w.w[w.n++] = strdup(s);
	rc = fn(w.n, w.w);
	words_free(&w);
	return (rc);
}

/* cli_audit_main on these words; its exit code. */
static int
audit_run(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = words_run(cli_audit_main, NULL, first, ap);
	va_end(ap);
	return (rc);
}

static void
test_transport_audit(void **state)
{
	char tmpl[] = "/tmp/cli_test.XXXXXX", cwd[PATH_MAX];

	(void)state;
	tls_env_clear();

	/* coffer audit takes the same options, with the same checks. */
	assert_int_equal(audit_run("verify", "--endpoint-url", "h:1", "--cert",
	    "c.pem", NULL), CLI_EXIT_USAGE);
	assert_int_equal(audit_run("export", "--key", "c.key", NULL),
	    CLI_EXIT_USAGE);
	setenv("COFFER_CERT", "c.pem", 1);
	assert_int_equal(audit_run("export", NULL), CLI_EXIT_USAGE);
	unsetenv("COFFER_CERT");
	assert_int_equal(audit_run("export", "--ca-bundle", "", NULL),
	    CLI_EXIT_USAGE);

	/* TLS without a CA bundle, or with one unreadable: no call made. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chdir(tmpl), 0);
	assert_int_equal(audit_run("export", "--endpoint-url",
	    "https://127.0.0.1:1", NULL), CLI_EXIT_CLIENT);
	setenv("COFFER_ENDPOINT", "127.0.0.1:1", 1);
	assert_int_equal(audit_run("verify", NULL), CLI_EXIT_CLIENT);
	unsetenv("COFFER_ENDPOINT");
	assert_int_equal(audit_run("verify", "--ca-bundle",
	    "/nonexistent/ca.pem", NULL), CLI_EXIT_CLIENT);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

/* cli_main on these words (argv[0] "coffer" added); its exit code. */
static int
main_run(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = words_run(cli_main, "coffer", first, ap);
	va_end(ap);
	return (rc);
}

static void
test_audit_global_options(void **state)
{

	(void)state;
	tls_env_clear();

	/*
	 * Global transport options before "audit" reach it, in both forms:
	 * the call is tried (nothing listens: CLI_EXIT_CLIENT), where the
	 * word "audit" used to be an invalid choice (CLI_EXIT_USAGE).
	 */
	assert_int_equal(main_run("--endpoint-url", "http://127.0.0.1:1",
	    "audit", "verify", NULL), CLI_EXIT_CLIENT);
	assert_int_equal(main_run("--endpoint-url=http://127.0.0.1:1", "audit",
	    "export", NULL), CLI_EXIT_CLIENT);

	/* And are checked as the subcommand's own: a cert without its key. */
	assert_int_equal(main_run("--cert", "c.pem", "audit", "verify",
	    "--endpoint-url", "https://127.0.0.1:1", NULL), CLI_EXIT_USAGE);

	/* Anything else before it is not a global option of audit's. */
	assert_int_equal(main_run("--bogus", "x", "audit", "verify", NULL),
	    CLI_EXIT_USAGE);
	assert_int_equal(main_run("--endpoint-url", "http://127.0.0.1:1",
	    "audit", NULL), CLI_EXIT_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_response_json),
		cmocka_unit_test(test_identity_policy_json),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_structures),
		cmocka_unit_test(test_values_and_files),
		cmocka_unit_test(test_parse_verbs),
		cmocka_unit_test(test_parse_identity_policies),
		cmocka_unit_test(test_identity_policies_empty),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_globals),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_paginate),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_transport_scheme),
		cmocka_unit_test(test_transport_options),
		cmocka_unit_test(test_transport_discovery),
		cmocka_unit_test(test_transport_audit),
		cmocka_unit_test(test_audit_global_options),
	};

	/* The tests choose their endpoints and TLS files themselves. */
	tls_env_clear();

	/* As cli_main does: jansson wipes what it frees. */
	json_set_alloc_funcs(malloc, cf_heap_wipe_free);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
