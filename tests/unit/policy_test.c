/*
 * policy_test.c: policy/ — the IAM grammar (valid and malformed documents
 * with the message each gets), evaluation (principals, actions, resources,
 * every condition operator, set operators, variables, Deny over Allow),
 * public-policy detection, validation findings, the wildcard matcher, the
 * size limit, and that evaluation allocates nothing.
 *
 * Documents are written with single quotes, which doc() turns into double
 * quotes, so that the tables stay readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "policy_internal.h"

/* ---- allocation counting (linked with --wrap) ---------------------------- */

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__real_reallocarray(void *, size_t, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);
void *__wrap_reallocarray(void *, size_t, size_t);

static size_t nallocs;

void *
__wrap_malloc(size_t n)
{

	nallocs++;
	return (__real_malloc(n));
}

void *
__wrap_calloc(size_t n, size_t m)
{

	nallocs++;
	return (__real_calloc(n, m));
}

void *
__wrap_realloc(void *p, size_t n)
{

	nallocs++;
	return (__real_realloc(p, n));
}

void *
__wrap_reallocarray(void *p, size_t n, size_t m)
{

	nallocs++;
	return (__real_reallocarray(p, n, m));
}

/* Arenas carve locked pages, not the heap: count them as well. */
struct cf_arena *__real_cf_arena_new(void);
void *__real_cf_arena_alloc(struct cf_arena *, size_t);
void *__real_cf_arena_memdup(struct cf_arena *, const void *, size_t);
char *__real_cf_arena_strdup(struct cf_arena *, const char *);
struct cf_arena *__wrap_cf_arena_new(void);
void *__wrap_cf_arena_alloc(struct cf_arena *, size_t);
void *__wrap_cf_arena_memdup(struct cf_arena *, const void *, size_t);
char *__wrap_cf_arena_strdup(struct cf_arena *, const char *);

struct cf_arena *
__wrap_cf_arena_new(void)
{

	nallocs++;
	return (__real_cf_arena_new());
}

void *
__wrap_cf_arena_alloc(struct cf_arena *a, size_t n)
{

	nallocs++;
	return (__real_cf_arena_alloc(a, n));
}

void *
__wrap_cf_arena_memdup(struct cf_arena *a, const void *p, size_t n)
{

	nallocs++;
	return (__real_cf_arena_memdup(a, p, n));
}

char *
__wrap_cf_arena_strdup(struct cf_arena *a, const char *s)
{

	nallocs++;
	return (__real_cf_arena_strdup(a, s));
}

/* ---- documents ----------------------------------------------------------- */

/* Six ?s, written so that no trigraph forms. */
#define Q6 "?\?\?\?\?\?"
#define SEC "arn:aws:secretsmanager:local-1:000000000000:secret:"
#define ARN_A SEC "team-a/db-AbCdEf"
#define ARN_B SEC "team-b/db-GhIjKl"
#define PA "spiffe://corp/ns/prod/sa/payments"
#define PB "spiffe://corp/ns/prod/sa/billing"
#define GET "secretsmanager:GetSecretValue"
#define PUT "secretsmanager:PutSecretValue"

#define V12 "'Version':'2012-10-17',"
#define DOC(st) "{" V12 "'Statement':[" st "]}"
#define DOC08(st) "{'Version':'2008-10-17','Statement':[" st "]}"
#define ST(eff, act, res, rest) \
	"{'Effect':'" eff "','Action':" act ",'Resource':" res rest "}"
#define ALLOW(act, res) ST("Allow", act, res, "")
#define DENY(act, res) ST("Deny", act, res, "")
#define ALLOW_IF(act, res, cond) ST("Allow", act, res, ",'Condition':" cond)
#define RST(eff, prin, act, res, rest) \
	"{'Effect':'" eff "','Principal':" prin ",'Action':" act \
	",'Resource':" res rest "}"
#define RALLOW(prin, act) RST("Allow", prin, act, "'*'", "")
#define RALLOW_IF(prin, cond) RST("Allow", prin, "'" GET "'", "'*'", \
	",'Condition':" cond)

/* Any statement, for a Condition under test. */
#define COND(cond) DOC(ALLOW_IF("'*'", "'*'", cond))

/* Copy ${s} into ${buf} with every ' turned into ". */
static char *
doc(char *buf, size_t size, const char *s)
{
	size_t i;

	assert_true(strlen(s) < size);
	for (i = 0; s[i] != '\0'; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	buf[i] = '\0';
	return (buf);
}

/* Parse ${s} (single-quoted), failing the test if it does not parse. */
static struct policy *
must_parse(const char *s, enum policy_kind kind)
{
	static char buf[32768];
	struct cf_error err;
	struct policy *p;

	doc(buf, sizeof(buf), s);
	if ((p = policy_parse(buf, strlen(buf), kind, &err)) == NULL)
		fail_msg("%s\n  does not parse: %s", s, err.msg);
	assert_int_equal(err.code, CF_OK);
	return (p);
}

/* ---- the grammar --------------------------------------------------------- */

#define ID POLICY_IDENTITY
#define RES POLICY_RESOURCE

static const struct {
	enum policy_kind kind;
	const char *doc;
	const char *want;	/* NULL: valid; else a substring of the error */
} grammar[] = {
	/* Valid documents. */
	{ ID, DOC(ALLOW("'*'", "'*'")), NULL },
	{ ID, "{" V12 "'Statement':" ALLOW("'*'", "'*'") "}", NULL },
	{ ID, DOC08(ALLOW("'*'", "'*'")), NULL },
	{ ID, "{'Statement':[" ALLOW("'*'", "'*'") "]}", NULL },
	{ ID, "{" V12 "'Id':'x','Statement':[" ALLOW("'*'", "'*'") "]}",
	    NULL },
	{ ID, DOC(ST("Deny", "['" GET "','secretsmanager:Describe*']",
	    "['" ARN_A "','" SEC "x-" Q6 "']", ",'Sid':'s1'")), NULL },
	{ ID, DOC("{'Effect':'Allow','NotAction':'" GET "',"
	    "'NotResource':'*'}"), NULL },
	{ RES, DOC(RALLOW("'*'", "'" GET "'")), NULL },
	{ RES, DOC(RALLOW("{'AWS':'*'}", "'" GET "'")), NULL },
	{ RES, DOC(RALLOW("{'AWS':['" PA "','admin']}", "'" GET "'")), NULL },
	{ RES, DOC(RALLOW("{'Coffer':'admin','AWS':'" PB "'}", "'*'")), NULL },
	{ RES, DOC("{'Effect':'Deny','NotPrincipal':{'AWS':'admin'},"
	    "'Action':'*','Resource':'*'}"), NULL },
	{ ID, COND("{'StringEquals':{'secretsmanager:VersionStage':"
	    "'AWSCURRENT'},'StringNotEquals':{'secretsmanager:Name':['a','b']},"
	    "'StringLike':{'secretsmanager:Name':'a*'},"
	    "'StringNotLike':{'secretsmanager:Name':'?b'},"
	    "'StringEqualsIgnoreCase':{'secretsmanager:Name':'A'},"
	    "'StringNotEqualsIgnoreCase':{'secretsmanager:Name':'B'}}"), NULL },
	{ ID, COND("{'ForAnyValue:StringLike':{'secretsmanager:VersionStage':"
	    "'AWS*'},'ForAllValues:StringEqualsIfExists':"
	    "{'secretsmanager:VersionStage':['AWSCURRENT']}}"), NULL },
	{ ID, COND("{'Null':{'secretsmanager:VersionId':'true'},"
	    "'Bool':{'aws:SecureTransport':true},"
	    "'StringEquals':{'secretsmanager:RecoveryWindowInDays':7}}"),
	    NULL },
	{ ID, COND("{'ArnLike':{'secretsmanager:SecretId':'" SEC "*'},"
	    "'stringequals':{'coffer:Principal':'admin'}}"), NULL },
	{ ID, COND("{}"), NULL },

	/* JSON syntax: jansson's message with the line and column. */
	{ ID, "{", "line 1, column 1: string or '}' expected" },
	{ ID, "", "line 1, column 0:" },
	{ ID, "{'Version':'2012-10-17',}", "line 1, column 25:" },
	{ ID, "{'Version':'2012-10-17','Version':'2012-10-17'}",
	    "duplicate object key" },
	{ ID, "{'Sid':'\xff'}", "unable to decode byte 0xff" },
	{ ID, "{'Id':'a\\u0000b'}", "\\u0000 is not allowed" },
	{ ID, "'x'", "'[' or '{' expected" },
	{ ID, "[]", "a policy must be a JSON object" },
	{ ID, "{} {}", "end of file expected" },

	/* The top level. */
	{ ID, "{" V12 "'Statements':[]}", "Statements: unknown element" },
	{ ID, "{'Version':'2012-10-18','Statement':" ALLOW("'*'", "'*'") "}",
	    "Version: must be \"2012-10-17\" or \"2008-10-17\"" },
	{ ID, "{'Version':2012,'Statement':" ALLOW("'*'", "'*'") "}",
	    "Version: must be" },
	{ ID, "{'Id':1,'Statement':" ALLOW("'*'", "'*'") "}",
	    "Id: must be a string" },
	{ ID, "{" V12 "'Id':'x'}", "missing element \"Statement\"" },
	{ ID, "{" V12 "'Statement':[]}",
	    "Statement: must list at least one statement" },
	{ ID, "{" V12 "'Statement':'x'}",
	    "Statement: must be an object or a list of objects" },
	{ ID, DOC("'x'"), "Statement[0]: must be an object" },

	/* Statements. */
	{ ID, DOC("{'Effect':'Allow','Action':'*','Resource':'*',"
	    "'Principle':'*'}"), "Statement[0].Principle: unknown element" },
	{ ID, DOC("{'Action':'*','Resource':'*'}"),
	    "Statement[0]: missing element \"Effect\"" },
	{ ID, DOC(ST("allow", "'*'", "'*'", "")),
	    "Statement[0].Effect: must be \"Allow\" or \"Deny\"" },
	{ ID, DOC(ALLOW("'*'", "'*'") "," ST("Permit", "'*'", "'*'", "")),
	    "Statement[1].Effect: must be \"Allow\" or \"Deny\"" },
	{ ID, "{" V12 "'Statement':{'Effect':true,'Action':'*',"
	    "'Resource':'*'}}", "Statement.Effect: must be" },
	{ ID, DOC(ST("Allow", "'*'", "'*'", ",'Sid':1")),
	    "Statement[0].Sid: must be a string" },
	{ ID, DOC("{'Effect':'Allow','Resource':'*'}"),
	    "Statement[0]: missing element \"Action\" or \"NotAction\"" },
	{ ID, DOC(ST("Allow", "'*'", "'*'", ",'NotAction':'*'")),
	    "Statement[0]: \"Action\" and \"NotAction\" cannot both be given" },
	{ ID, DOC("{'Effect':'Allow','Action':'*'}"),
	    "Statement[0]: missing element \"Resource\" or \"NotResource\"" },
	{ ID, DOC(ST("Allow", "'*'", "'*'", ",'NotResource':'*'")),
	    "\"Resource\" and \"NotResource\" cannot both be given" },
	{ ID, DOC(ALLOW("[]", "'*'")),
	    "Statement[0].Action: must not be an empty list" },
	{ ID, DOC(ALLOW("['" GET "',5]", "'*'")),
	    "Statement[0].Action[1]: must be a string" },
	{ ID, DOC(ALLOW("5", "'*'")),
	    "Statement[0].Action: must be a string or a list of strings" },
	{ ID, DOC(ALLOW("''", "'*'")),
	    "Statement[0].Action: must not be empty" },
	{ ID, DOC(ALLOW("'GetSecretValue'", "'*'")),
	    "\"GetSecretValue\" is not \"*\" or \"<service>:<action>\"" },
	{ ID, DOC(ALLOW("'secrets*:Get'", "'*'")), "is not \"*\" or" },
	{ ID, DOC(ALLOW("'secretsmanager:'", "'*'")), "is not \"*\" or" },
	{ ID, DOC(ALLOW("'*'", "['*','my-secret']")),
	    "Statement[0].Resource[1]: \"my-secret\" is not \"*\" or an ARN" },
	{ ID, DOC(ALLOW("'*'",
	    "'" SEC "${a}${b}${c}${d}${e}${f}${g}${h}${i}'")),
	    "uses more than 8 policy variables" },

	/* Principals: resource policies need them, identity ones refuse. */
	{ ID, DOC(RALLOW("'*'", "'*'")),
	    "Statement[0].Principal: not allowed in an identity policy" },
	{ ID, DOC("{'Effect':'Deny','NotPrincipal':'*','Action':'*',"
	    "'Resource':'*'}"), "Statement[0].NotPrincipal: not allowed" },
	{ RES, DOC(ALLOW("'*'", "'*'")),
	    "Statement[0]: missing element \"Principal\"" },
	{ RES, DOC(RST("Allow", "'*'", "'*'", "'*'", ",'NotPrincipal':'*'")),
	    "\"Principal\" and \"NotPrincipal\" cannot both be given" },
	{ RES, DOC(RALLOW("'admin'", "'*'")),
	    "Statement[0].Principal: must be \"*\" or an object" },
	{ RES, DOC(RALLOW("{}", "'*'")),
	    "Principal: must be \"*\" or an object" },
	{ RES, DOC(RALLOW("{'Service':'lambda.amazonaws.com'}", "'*'")),
	    "Statement[0].Principal.Service: unsupported principal type" },
	{ RES, DOC(RALLOW("{'AWS':[]}", "'*'")),
	    "Statement[0].Principal.AWS: must not be an empty list" },
	{ RES, DOC(RALLOW("{'AWS':['x',5]}", "'*'")),
	    "Statement[0].Principal.AWS[1]: must be a string" },

	/* Conditions. */
	{ ID, COND("[]"), "Statement[0].Condition: must be an object" },
	{ ID, COND("{'StringEqualz':{'secretsmanager:Name':'a'}}"),
	    "Statement[0].Condition.StringEqualz: unknown condition operator" },
	{ ID, COND("{'NumericLessThan':{'secretsmanager:RecoveryWindowInDays':"
	    "7}}"), "NumericLessThan: unknown condition operator" },
	{ ID, COND("{'ForAnyValue:Null':{'secretsmanager:Name':'true'}}"),
	    "unknown condition operator" },
	{ ID, COND("{'NullIfExists':{'secretsmanager:Name':'true'}}"),
	    "unknown condition operator" },
	{ ID, COND("{'ForSomeValues:StringLike':{'secretsmanager:Name':'a'}}"),
	    "unknown condition operator" },
	{ ID, COND("{'StringEquals':'a'}"),
	    "Condition.StringEquals: must be an object of condition keys" },
	{ ID, COND("{'StringEquals':{}}"),
	    "must be an object of condition keys" },
	{ ID, COND("{'StringEquals':{'VersionStage':'a'}}"),
	    "StringEquals.VersionStage: a condition key must look like" },
	{ ID, COND("{'StringEquals':{'secretsmanager:Name':null}}"),
	    "Condition.StringEquals.secretsmanager:Name: must be a string" },
	{ ID, COND("{'StringEquals':{'secretsmanager:Name':['a',['b']]}}"),
	    "StringEquals.secretsmanager:Name[1]: must be a string" },
	{ ID, COND("{'StringEquals':{'secretsmanager:Name':[]}}"),
	    "secretsmanager:Name: must not be an empty list" },
	{ ID, COND("{'StringEquals':{'secretsmanager:Name':1.5}}"),
	    "must be a string" },
	{ ID, COND("{'Null':{'secretsmanager:Name':'yes'}}"),
	    "Null.secretsmanager:Name: must be \"true\" or \"false\"" },
	{ ID, COND("{'Bool':{'aws:SecureTransport':1}}"),
	    "must be \"true\" or \"false\"" },
};

static void
test_grammar(void **state)
{
	static char buf[32768];
	struct cf_error err;
	struct policy *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
		doc(buf, sizeof(buf), grammar[i].doc);
		p = policy_parse(buf, strlen(buf), grammar[i].kind, &err);
		if (grammar[i].want == NULL) {
			if (p == NULL)
				fail_msg("row %zu: %s\n  refused: %s", i,
				    grammar[i].doc, err.msg);
			assert_int_equal(err.code, CF_OK);
			assert_int_equal(policy_kind_of(p), grammar[i].kind);
		} else {
			if (p != NULL)
				fail_msg("row %zu: %s\n  accepted", i,
				    grammar[i].doc);
			assert_int_equal(err.code, CF_ERR_MALFORMED_POLICY);
			if (strstr(err.msg, grammar[i].want) == NULL)
				fail_msg("row %zu: got \"%s\"\n  want \"%s\"",
				    i, err.msg, grammar[i].want);
		}
		policy_free(p);
	}
	policy_free(NULL);
}

/* Errors name the line and column of JSON syntax, the path of the rest. */
static void
test_error_locations(void **state)
{
	static const char multi[] = "{\n  \"Version\": \"2012-10-17\",\n"
	    "  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"*\"}"
	    "\n  ]\n}\n";
	struct cf_error err;

	(void)state;
	assert_null(policy_parse(multi, strlen(multi), ID, &err));
	assert_int_equal(err.code, CF_ERR_MALFORMED_POLICY);
	assert_string_equal(err.msg, "line 4, column 31: '}' expected near "
	    "'\"Action\"'");

	/* A document cut short by its length is not read past ${len}. */
	assert_null(policy_parse("{\"Statement\": []}", 5, ID, &err));
	assert_non_null(strstr(err.msg, "line 1"));
	assert_null(policy_parse(NULL, 0, ID, &err));
	assert_int_equal(err.code, CF_ERR_MALFORMED_POLICY);
}

/* 20,480 characters are fine, 20,481 are not; characters, not bytes. */
static void
test_size_limit(void **state)
{
	static char buf[4 * POLICY_MAX_CHARS + 64];
	static const char head[] = "{\"Statement\":{\"Effect\":\"Allow\","
	    "\"Action\":\"*\",\"Resource\":\"*\",\"Sid\":\"";
	static const char tail[] = "\"}}";
	struct cf_error err;
	struct policy *p;
	size_t pad, i, len;

	(void)state;

	/* ASCII padding in the Sid up to exactly the limit, then one more. */
	pad = POLICY_MAX_CHARS - strlen(head) - strlen(tail);
	len = (size_t)snprintf(buf, sizeof(buf), "%s", head);
	memset(buf + len, 'x', pad);
	memcpy(buf + len + pad, tail, sizeof(tail));
	len = strlen(buf);
	assert_int_equal(len, POLICY_MAX_CHARS);
	assert_non_null(p = policy_parse(buf, len, ID, &err));
	policy_free(p);
	memmove(buf + 1, buf, len + 1);
	buf[0] = ' ';
	assert_null(policy_parse(buf, len + 1, ID, &err));
	assert_int_equal(err.code, CF_ERR_MALFORMED_POLICY);
	assert_string_equal(err.msg, "the policy document must be 1 to 20480 "
	    "characters long");

	/* Two-byte characters: 20,480 of them are 40,000-odd bytes. */
	len = (size_t)snprintf(buf, sizeof(buf), "%s", head);
	for (i = 0; i < pad; i++) {
		memcpy(buf + len, "\xc3\xa9", 2);
		len += 2;
	}
	memcpy(buf + len, tail, sizeof(tail));
	len = strlen(buf);
	assert_true(len > POLICY_MAX_CHARS);
	assert_non_null(p = policy_parse(buf, len, ID, &err));
	policy_free(p);
	memmove(buf + 2, buf, len + 1);
	memcpy(buf, "\xc3\xa9", 2);
	assert_null(policy_parse(buf, len + 2, ID, &err));
	assert_non_null(strstr(err.msg, "1 to 20480 characters"));
}

/* ---- evaluation ---------------------------------------------------------- */

#define IDA DOC(ALLOW("'" GET "'", "'" SEC "team-a/*'"))
#define ALLOW_ANY DOC(ALLOW("'*'", "'*'"))

#define ALLOWED POLICY_ALLOW
#define DENIED POLICY_DENY_EXPLICIT
#define IMPLICIT POLICY_DENY_IMPLICIT

#define VS "secretsmanager:VersionStage"
#define NAME "secretsmanager:Name"
#define TAG "secretsmanager:ResourceTag/team"

struct kv {
	const char *key;
	const char *v[4];	/* NULL-terminated */
};

static const struct eval_case {
	const char *name;
	const char *id1, *id2;	/* identity policies, or NULL */
	const char *res;	/* resource policy, or NULL */
	const char *principal, *action, *resource;
	struct kv ctx[3];
	enum policy_decision want;
} evals[] = {
	/* Identity policies: one principal's secrets, not another's. */
	{ "own secret", IDA, NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "other team's secret", IDA, NULL, NULL, PA, GET, ARN_B, {{0}},
	    IMPLICIT },
	{ "action not granted", IDA, NULL, NULL, PA, PUT, ARN_A, {{0}},
	    IMPLICIT },
	{ "no policy at all", NULL, NULL, NULL, PA, GET, ARN_A, {{0}},
	    IMPLICIT },

	/* Actions: wildcards, case-insensitive. */
	{ "action case", IDA, NULL, NULL, PA, "SecretsManager:getsecretVALUE",
	    ARN_A, {{0}}, ALLOWED },
	{ "policy action case", DOC(ALLOW("'SECRETSMANAGER:GetSecretValue'",
	    "'*'")), NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "Get* GetSecretValue", DOC(ALLOW("'secretsmanager:Get*'", "'*'")),
	    NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "Get* GetResourcePolicy", DOC(ALLOW("'secretsmanager:Get*'", "'*'")),
	    NULL, NULL, PA, "secretsmanager:GetResourcePolicy", ARN_A, {{0}},
	    ALLOWED },
	{ "Get* PutSecretValue", DOC(ALLOW("'secretsmanager:Get*'", "'*'")),
	    NULL, NULL, PA, PUT, ARN_A, {{0}}, IMPLICIT },
	{ "get* lower case", DOC(ALLOW("'secretsmanager:get*'", "'*'")),
	    NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "Get* is a prefix", DOC(ALLOW("'secretsmanager:Get*'", "'*'")),
	    NULL, NULL, PA, "secretsmanager:BatchGetSecretValue", ARN_A, {{0}},
	    IMPLICIT },
	{ "action *", ALLOW_ANY, NULL, NULL, PA, "kms:Decrypt", ARN_A, {{0}},
	    ALLOWED },
	{ "secretsmanager:* other service", DOC(ALLOW("'secretsmanager:*'",
	    "'*'")), NULL, NULL, PA, "kms:Decrypt", ARN_A, {{0}}, IMPLICIT },
	{ "action ?", DOC(ALLOW("'secretsmanager:?etSecretValue'", "'*'")),
	    NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "action list", DOC(ALLOW("['secretsmanager:Describe*','" PUT "']",
	    "'*'")), NULL, NULL, PA, PUT, ARN_A, {{0}}, ALLOWED },

	/* Resources: wildcards, case-sensitive. */
	{ "resource ?????? suffix", DOC(ALLOW("'*'",
	    "'" SEC "team-a/db-" Q6 "'")), NULL, NULL, PA, GET, ARN_A, {{0}},
	    ALLOWED },
	{ "?????? too short", DOC(ALLOW("'*'", "'" SEC "team-a/db-" Q6 "'")),
	    NULL, NULL, PA, GET, SEC "team-a/db-AbCdE", {{0}}, IMPLICIT },
	{ "?????? too long", DOC(ALLOW("'*'", "'" SEC "team-a/db-" Q6 "'")),
	    NULL, NULL, PA, GET, ARN_A "G", {{0}}, IMPLICIT },
	{ "resource case", DOC(ALLOW("'*'", "'" SEC "Team-A/*'")), NULL, NULL,
	    PA, GET, ARN_A, {{0}}, IMPLICIT },
	{ "resource inner *", DOC(ALLOW("'*'",
	    "'arn:aws:secretsmanager:*:*:secret:team-a/*'")), NULL, NULL, PA,
	    GET, ARN_A, {{0}}, ALLOWED },
	{ "no resource, Resource *", ALLOW_ANY, NULL, NULL, PA,
	    "secretsmanager:ListSecrets", NULL, {{0}}, ALLOWED },
	{ "no resource, Resource arn:*", DOC(ALLOW("'*'", "'arn:*'")), NULL,
	    NULL, PA, "secretsmanager:ListSecrets", NULL, {{0}}, IMPLICIT },

	/* An explicit Deny wins wherever it is. */
	{ "deny in a second identity policy", ALLOW_ANY,
	    DOC(DENY("'" GET "'", "'" SEC "team-a/*'")), NULL, PA, GET, ARN_A,
	    {{0}}, DENIED },
	{ "deny elsewhere leaves the allow", ALLOW_ANY,
	    DOC(DENY("'" GET "'", "'" SEC "team-a/*'")), NULL, PA, GET, ARN_B,
	    {{0}}, ALLOWED },
	{ "deny after allow, same policy", DOC(ALLOW("'*'", "'*'") ","
	    DENY("'secretsmanager:*'", "'" ARN_A "'")), NULL, NULL, PA, GET,
	    ARN_A, {{0}}, DENIED },
	{ "deny before allow, same policy", DOC(DENY("'secretsmanager:*'",
	    "'" ARN_A "'") "," ALLOW("'*'", "'*'")), NULL, NULL, PA, GET,
	    ARN_A, {{0}}, DENIED },
	{ "resource policy deny beats identity allow", ALLOW_ANY, NULL,
	    DOC(RST("Deny", "{'AWS':'" PA "'}", "'*'", "'*'", "")), PA, GET,
	    ARN_A, {{0}}, DENIED },
	{ "resource policy deny for someone else", ALLOW_ANY, NULL,
	    DOC(RST("Deny", "{'AWS':'" PB "'}", "'*'", "'*'", "")), PA, GET,
	    ARN_A, {{0}}, ALLOWED },
	{ "resource allow cannot beat identity deny",
	    DOC(DENY("'*'", "'*'")), NULL, DOC(RALLOW("{'AWS':'" PA "'}",
	    "'*'")), PA, GET, ARN_A, {{0}}, DENIED },

	/* A resource policy grants another principal its secret. */
	{ "resource policy grants B", IDA, NULL,
	    DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")), PB, GET, ARN_B,
	    {{0}}, ALLOWED },
	{ "resource policy grants B only GET", NULL, NULL,
	    DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")), PB, PUT, ARN_B,
	    {{0}}, IMPLICIT },
	{ "resource policy names B, not C", NULL, NULL,
	    DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")),
	    "spiffe://corp/ns/prod/sa/c", GET, ARN_B, {{0}}, IMPLICIT },
	{ "resource policy principal *", NULL, NULL,
	    DOC(RALLOW("'*'", "'" GET "'")), "anyone", GET, ARN_B, {{0}},
	    ALLOWED },
	{ "principal * and no principal", NULL, NULL,
	    DOC(RALLOW("'*'", "'" GET "'")), NULL, GET, ARN_B, {{0}},
	    ALLOWED },
	{ "named principal and no principal", NULL, NULL,
	    DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")), NULL, GET, ARN_B,
	    {{0}}, IMPLICIT },
	{ "principal wildcard", NULL, NULL,
	    DOC(RALLOW("{'AWS':'spiffe://corp/ns/prod/sa/*'}", "'*'")), PA,
	    GET, ARN_B, {{0}}, ALLOWED },
	{ "principal wildcard, other namespace", NULL, NULL,
	    DOC(RALLOW("{'AWS':'spiffe://corp/ns/prod/sa/*'}", "'*'")),
	    "spiffe://corp/ns/dev/sa/payments", GET, ARN_B, {{0}}, IMPLICIT },
	{ "Coffer principal CN", NULL, NULL,
	    DOC(RALLOW("{'Coffer':'admin'}", "'*'")), "admin", GET, ARN_B,
	    {{0}}, ALLOWED },
	{ "principals are case-sensitive", NULL, NULL,
	    DOC(RALLOW("{'Coffer':'admin'}", "'*'")), "Admin", GET, ARN_B,
	    {{0}}, IMPLICIT },
	{ "NotPrincipal deny spares admin", NULL, NULL,
	    DOC(RALLOW("'*'", "'*'") ",{'Effect':'Deny','NotPrincipal':"
	    "{'AWS':'admin'},'Action':'*','Resource':'*'}"), "admin", GET,
	    ARN_B, {{0}}, ALLOWED },
	{ "NotPrincipal deny hits the rest", NULL, NULL,
	    DOC(RALLOW("'*'", "'*'") ",{'Effect':'Deny','NotPrincipal':"
	    "{'AWS':'admin'},'Action':'*','Resource':'*'}"), PA, GET, ARN_B,
	    {{0}}, DENIED },

	/* NotAction, NotResource. */
	{ "NotAction allows the rest", DOC("{'Effect':'Allow','NotAction':"
	    "'secretsmanager:Delete*','Resource':'*'}"), NULL, NULL, PA, GET,
	    ARN_A, {{0}}, ALLOWED },
	{ "NotAction leaves out its own", DOC("{'Effect':'Allow','NotAction':"
	    "'secretsmanager:Delete*','Resource':'*'}"), NULL, NULL, PA,
	    "secretsmanager:DeleteSecret", ARN_A, {{0}}, IMPLICIT },
	{ "NotResource deny hits the others", DOC(ALLOW("'*'", "'*'") ","
	    "{'Effect':'Deny','Action':'*','NotResource':'" SEC "team-a/*'}"),
	    NULL, NULL, PA, GET, ARN_B, {{0}}, DENIED },
	{ "NotResource deny spares its own", DOC(ALLOW("'*'", "'*'") ","
	    "{'Effect':'Deny','Action':'*','NotResource':'" SEC "team-a/*'}"),
	    NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },

	/* StringEquals, and a key the request does not carry. */
	{ "StringEquals match",
	    COND("{'StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ VS, { "AWSCURRENT" } }}, ALLOWED },
	{ "StringEquals mismatch",
	    COND("{'StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ VS, { "AWSPENDING" } }}, IMPLICIT },
	{ "StringEquals missing key",
	    COND("{'StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{0}}, IMPLICIT },
	{ "StringEquals key with no values",
	    COND("{'StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ VS, { NULL } }}, IMPLICIT },
	{ "StringEquals is case-sensitive",
	    COND("{'StringEquals':{'" NAME "':'Team-A/db'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ NAME, { "team-a/db" } }}, IMPLICIT },
	{ "key names are case-insensitive",
	    COND("{'StringEquals':{'SECRETSMANAGER:versionstage':"
	    "'AWSCURRENT'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ "secretsManager:VersionStage", { "AWSCURRENT" } }}, ALLOWED },
	{ "StringEquals any of the values",
	    COND("{'StringEquals':{'" NAME "':['a','b','c']}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ NAME, { "b" } }}, ALLOWED },
	{ "StringEquals none of the values",
	    COND("{'StringEquals':{'" NAME "':['a','b','c']}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ NAME, { "d" } }}, IMPLICIT },
	{ "StringEquals * is literal",
	    COND("{'StringEquals':{'" NAME "':'*'}}"), NULL, NULL, PA, GET,
	    ARN_A, {{ NAME, { "a" } }}, IMPLICIT },

	/* IfExists. */
	{ "IfExists missing key",
	    COND("{'StringEqualsIfExists':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "IfExists key with no values",
	    COND("{'StringEqualsIfExists':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ VS, { NULL } }}, ALLOWED },
	{ "IfExists present, mismatch",
	    COND("{'StringEqualsIfExists':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ VS, { "AWSPENDING" } }}, IMPLICIT },
	{ "IfExists present, match",
	    COND("{'StringLikeIfExists':{'" VS "':'AWSCUR*'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ VS, { "AWSCURRENT" } }}, ALLOWED },

	/* StringNotEquals: true for an absent key, like IAM. */
	{ "StringNotEquals differs",
	    COND("{'StringNotEquals':{'" VS "':'AWSPENDING'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ VS, { "AWSCURRENT" } }}, ALLOWED },
	{ "StringNotEquals equal",
	    COND("{'StringNotEquals':{'" VS "':'AWSPENDING'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ VS, { "AWSPENDING" } }}, IMPLICIT },
	{ "StringNotEquals missing key",
	    COND("{'StringNotEquals':{'" VS "':'AWSPENDING'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "StringNotEquals one of several values",
	    COND("{'StringNotEquals':{'" VS "':['AWSPENDING','X']}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ VS, { "X" } }}, IMPLICIT },

	/* StringLike, StringNotLike. */
	{ "StringLike match", COND("{'StringLike':{'" NAME "':'team-a/*'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ NAME, { "team-a/db" } }}, ALLOWED },
	{ "StringLike mismatch", COND("{'StringLike':{'" NAME "':'team-a/*'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ NAME, { "team-b/db" } }}, IMPLICIT },
	{ "StringLike ?", COND("{'StringLike':{'" NAME "':'db-?'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ NAME, { "db-1" } }}, ALLOWED },
	{ "StringNotLike match",
	    COND("{'StringNotLike':{'" NAME "':'team-b/*'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ NAME, { "team-a/db" } }}, ALLOWED },
	{ "StringNotLike mismatch",
	    COND("{'StringNotLike':{'" NAME "':'team-b/*'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ NAME, { "team-b/db" } }}, IMPLICIT },

	/* StringEqualsIgnoreCase. */
	{ "IgnoreCase match",
	    COND("{'StringEqualsIgnoreCase':{'" NAME "':'TEAM-A/DB'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ NAME, { "team-a/db" } }}, ALLOWED },
	{ "IgnoreCase mismatch",
	    COND("{'StringEqualsIgnoreCase':{'" NAME "':'TEAM-A/DB'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ NAME, { "team-a/dbx" } }}, IMPLICIT },
	{ "NotEqualsIgnoreCase",
	    COND("{'StringNotEqualsIgnoreCase':{'" NAME "':'TEAM-A/DB'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ NAME, { "team-a/db" } }}, IMPLICIT },

	/* Multi-valued keys: the staging labels of a version. */
	{ "ForAnyValue one matches",
	    COND("{'ForAnyValue:StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ VS, { "AWSPENDING", "AWSCURRENT" } }},
	    ALLOWED },
	{ "ForAnyValue none matches",
	    COND("{'ForAnyValue:StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ VS, { "AWSPENDING", "X" } }}, IMPLICIT },
	{ "ForAnyValue missing key",
	    COND("{'ForAnyValue:StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{0}}, IMPLICIT },
	{ "ForAllValues all in the set",
	    COND("{'ForAllValues:StringEquals':{'" VS "':"
	    "['AWSCURRENT','AWSPREVIOUS']}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSPREVIOUS", "AWSCURRENT" } }}, ALLOWED },
	{ "ForAllValues one outside",
	    COND("{'ForAllValues:StringEquals':{'" VS "':"
	    "['AWSCURRENT','AWSPREVIOUS']}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSCURRENT", "AWSPENDING" } }}, IMPLICIT },
	{ "ForAllValues missing key is true",
	    COND("{'ForAllValues:StringEquals':{'" VS "':['AWSCURRENT']}}"),
	    NULL, NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "ForAnyValue:StringLike", COND("{'ForAnyValue:StringLike':"
	    "{'" VS "':'AWSPREV*'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSCURRENT", "AWSPREVIOUS" } }}, ALLOWED },
	{ "ForAllValues:StringNotEquals",
	    COND("{'ForAllValues:StringNotEquals':{'" VS "':'AWSPENDING'}}"),
	    NULL, NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSCURRENT", "AWSPENDING" } }}, IMPLICIT },
	{ "ForAnyValue:StringEqualsIfExists missing",
	    COND("{'ForAnyValue:StringEqualsIfExists':{'" VS "':'X'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "deny on any AWSPENDING label", ALLOW_ANY, DOC(ST("Deny", "'*'",
	    "'*'", ",'Condition':{'ForAnyValue:StringEquals':"
	    "{'" VS "':'AWSPENDING'}}")), NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSCURRENT", "AWSPENDING" } }}, DENIED },
	{ "deny on AWSPENDING spares AWSCURRENT", ALLOW_ANY, DOC(ST("Deny",
	    "'*'", "'*'", ",'Condition':{'ForAnyValue:StringEquals':"
	    "{'" VS "':'AWSPENDING'}}")), NULL, PA, GET, ARN_A,
	    {{ VS, { "AWSCURRENT" } }}, ALLOWED },

	/* Tags. */
	{ "ResourceTag match", COND("{'StringEquals':{'" TAG "':'payments'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ TAG, { "payments" } }}, ALLOWED },
	{ "ResourceTag mismatch",
	    COND("{'StringEquals':{'" TAG "':'payments'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ TAG, { "billing" } }}, IMPLICIT },
	{ "ResourceTag absent",
	    COND("{'StringEquals':{'" TAG "':'payments'}}"), NULL, NULL, PA,
	    GET, ARN_A,
	    {{ "secretsmanager:ResourceTag/owner", { "payments" } }},
	    IMPLICIT },
	{ "PrincipalTag", COND("{'StringEquals':"
	    "{'aws:PrincipalTag/dept':'ops'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ "aws:principaltag/DEPT", { "ops" } }}, ALLOWED },

	/* Several keys and operators: all must hold. */
	{ "two keys, both hold", COND("{'StringEquals':{'" NAME "':'a',"
	    "'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ NAME, { "a" } }, { VS, { "AWSCURRENT" } }}, ALLOWED },
	{ "two keys, one fails", COND("{'StringEquals':{'" NAME "':'a',"
	    "'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ NAME, { "a" } }, { VS, { "AWSPENDING" } }}, IMPLICIT },
	{ "two operators, one fails", COND("{'StringLike':{'" NAME "':'a*'},"
	    "'StringEquals':{'" VS "':'AWSCURRENT'}}"), NULL, NULL, PA, GET,
	    ARN_A, {{ NAME, { "ab" } }, { VS, { "AWSPENDING" } }}, IMPLICIT },

	/* Null, Bool, Arn. */
	{ "Null true, absent", COND("{'Null':{'" VS "':'true'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{0}}, ALLOWED },
	{ "Null true, present", COND("{'Null':{'" VS "':'true'}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ VS, { "AWSCURRENT" } }}, IMPLICIT },
	{ "Null false, present", COND("{'Null':{'" VS "':false}}"), NULL, NULL,
	    PA, GET, ARN_A, {{ VS, { "AWSCURRENT" } }}, ALLOWED },
	{ "Null true, key with no values", COND("{'Null':{'" VS "':'true'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ VS, { NULL } }}, ALLOWED },
	{ "Null false, absent", COND("{'Null':{'" VS "':false}}"), NULL, NULL,
	    PA, GET, ARN_A, {{0}}, IMPLICIT },
	{ "Bool true", COND("{'Bool':{'aws:SecureTransport':true}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ "aws:SecureTransport", { "True" } }},
	    ALLOWED },
	{ "Bool false", COND("{'Bool':{'aws:SecureTransport':'true'}}"), NULL,
	    NULL, PA, GET, ARN_A, {{ "aws:SecureTransport", { "false" } }},
	    IMPLICIT },
	{ "ArnLike", COND("{'ArnLike':{'secretsmanager:SecretId':"
	    "'" SEC "team-a/*'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ "secretsmanager:SecretId", { ARN_A } }}, ALLOWED },
	{ "ArnNotLike", COND("{'ArnNotLike':{'secretsmanager:SecretId':"
	    "'" SEC "team-a/*'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ "secretsmanager:SecretId", { ARN_A } }}, IMPLICIT },
	{ "integer value", COND("{'StringEquals':"
	    "{'secretsmanager:RecoveryWindowInDays':7}}"), NULL, NULL, PA, GET,
	    ARN_A, {{ "secretsmanager:RecoveryWindowInDays", { "7" } }},
	    ALLOWED },

	/* Keys about the caller default to the principal. */
	{ "coffer:Principal", COND("{'StringEquals':{'coffer:Principal':"
	    "'admin'}}"), NULL, NULL, "admin", GET, ARN_A, {{0}}, ALLOWED },
	{ "coffer:Principal other", COND("{'StringEquals':{'coffer:Principal':"
	    "'admin'}}"), NULL, NULL, PA, GET, ARN_A, {{0}}, IMPLICIT },
	{ "aws:username no principal", COND("{'StringLike':{'aws:username':"
	    "'*'}}"), NULL, NULL, NULL, GET, ARN_A, {{0}}, IMPLICIT },
	{ "context overrides the default", COND("{'StringEquals':"
	    "{'aws:username':'alice'}}"), NULL, NULL, "admin", GET, ARN_A,
	    {{ "aws:username", { "alice" } }}, ALLOWED },

	/* Policy variables (2012-10-17 only), always literal. */
	{ "${aws:username} in Resource", DOC(ALLOW("'*'",
	    "'" SEC "${aws:username}/*'")), NULL, NULL, "team-a", GET, ARN_A,
	    {{0}}, ALLOWED },
	{ "${aws:username} someone else", DOC(ALLOW("'*'",
	    "'" SEC "${aws:username}/*'")), NULL, NULL, "team-b", GET, ARN_A,
	    {{0}}, IMPLICIT },
	{ "${...} literal in 2008-10-17", DOC08(ALLOW("'*'",
	    "'" SEC "${aws:username}/*'")), NULL, NULL, "team-a", GET, ARN_A,
	    {{0}}, IMPLICIT },
	{ "variable value * is no wildcard", DOC(ALLOW("'*'",
	    "'" SEC "${aws:username}'")), NULL, NULL, "*", GET, ARN_A, {{0}},
	    IMPLICIT },
	{ "variable of an absent key", DOC(ALLOW("'*'",
	    "'" SEC "${coffer:Team}/*'")), NULL, NULL, PA, GET, ARN_A, {{0}},
	    IMPLICIT },
	{ "variable in a condition", COND("{'StringEquals':{'secretsmanager:"
	    "ResourceTag/owner':'${coffer:Principal}'}}"), NULL, NULL, PA,
	    GET, ARN_A, {{ "secretsmanager:ResourceTag/owner", { PA } }},
	    ALLOWED },
	{ "variable in a condition, other", COND("{'StringEquals':"
	    "{'secretsmanager:ResourceTag/owner':'${coffer:Principal}'}}"),
	    NULL, NULL, PB, GET, ARN_A,
	    {{ "secretsmanager:ResourceTag/owner", { PA } }}, IMPLICIT },
	{ "${*} is a literal star", COND("{'StringLike':{'" NAME "':'x${*}'}}"),
	    NULL, NULL, PA, GET, ARN_A, {{ NAME, { "x*" } }}, ALLOWED },
	{ "${*} does not match more", COND("{'StringLike':"
	    "{'" NAME "':'x${*}'}}"), NULL, NULL, PA, GET, ARN_A,
	    {{ NAME, { "xy" } }}, IMPLICIT },
};

/* Evaluate one row. */
static enum policy_decision
decide(const struct eval_case *c)
{
	const struct policy *id[2];
	struct policy *p1 = NULL, *p2 = NULL, *res = NULL;
	struct policy_context_key ctx[3];
	struct policy_request rq;
	enum policy_decision d;
	size_t i, n, nctx = 0;

	if (c->id1 != NULL)
		p1 = must_parse(c->id1, ID);
	if (c->id2 != NULL)
		p2 = must_parse(c->id2, ID);
	if (c->res != NULL)
		res = must_parse(c->res, RES);
	for (i = 0; i < 3 && c->ctx[i].key != NULL; i++) {
		for (n = 0; c->ctx[i].v[n] != NULL; n++)
			continue;
		ctx[nctx].key = c->ctx[i].key;
		ctx[nctx].values = c->ctx[i].v;
		ctx[nctx].nvalues = n;
		nctx++;
	}
	memset(&rq, 0, sizeof(rq));
	rq.principal = c->principal;
	rq.action = c->action;
	rq.resource = c->resource;
	rq.context = ctx;
	rq.ncontext = nctx;
	id[0] = p1;
	id[1] = p2;

	/* The answer must not depend on the order of the identity policies. */
	d = policy_evaluate(id, 2, res, &rq);
	id[0] = p2;
	id[1] = p1;
	assert_int_equal(policy_evaluate(id, 2, res, &rq), d);

	policy_free(p1);
	policy_free(p2);
	policy_free(res);
	return (d);
}

static void
test_evaluate(void **state)
{
	static const char *const names[] = { "IMPLICIT", "ALLOW", "DENIED" };
	enum policy_decision d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(evals) / sizeof(evals[0]); i++) {
		d = decide(&evals[i]);
		if (d != evals[i].want)
			fail_msg("row %zu \"%s\": got %s, want %s", i,
			    evals[i].name, names[d], names[evals[i].want]);
	}
}

/* policy_match() sees one policy; the resource policy needs a principal. */
static void
test_match(void **state)
{
	struct policy *p;
	struct policy_request rq;

	(void)state;
	memset(&rq, 0, sizeof(rq));
	rq.principal = PA;
	rq.action = GET;
	rq.resource = ARN_A;

	p = must_parse(DOC(ALLOW("'*'", "'*'") "," DENY("'" PUT "'", "'*'")),
	    ID);
	assert_int_equal(policy_match(p, &rq), POLICY_ALLOW);
	rq.action = PUT;
	assert_int_equal(policy_match(p, &rq), POLICY_DENY_EXPLICIT);
	rq.action = "secretsmanager:Nothing";
	assert_int_equal(policy_match(p, &rq), POLICY_ALLOW);
	policy_free(p);

	p = must_parse(DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")), RES);
	rq.action = GET;
	assert_int_equal(policy_match(p, &rq), POLICY_DENY_IMPLICIT);
	rq.principal = PB;
	assert_int_equal(policy_match(p, &rq), POLICY_ALLOW);
	policy_free(p);
}

/* Evaluation never allocates, and the same policy gives the same answer. */
static void
test_no_allocation(void **state)
{
	static const char *const stages[] = { "AWSCURRENT", "AWSPREVIOUS" };
	struct policy_context_key ctx[1] = { { VS, stages, 2 } };
	const struct policy *id[2];
	struct policy *p1, *p2, *res;
	struct policy_request rq;
	size_t before, i, allowed = 0;

	(void)state;
	p1 = must_parse(DOC(ALLOW_IF("'secretsmanager:Get*'",
	    "'" SEC "${aws:username}/*'", "{'ForAllValues:StringLike':"
	    "{'" VS "':'AWS*'}}")), ID);
	p2 = must_parse(DOC(DENY("'" PUT "'", "'*'")), ID);
	res = must_parse(DOC(RALLOW("{'AWS':'spiffe://*/payments'}", "'*'")),
	    RES);
	id[0] = p1;
	id[1] = p2;
	memset(&rq, 0, sizeof(rq));
	rq.principal = "team-a";
	rq.action = GET;
	rq.resource = ARN_A;
	rq.context = ctx;
	rq.ncontext = 1;

	before = nallocs;
	for (i = 0; i < 1000; i++) {
		rq.principal = (i & 1) ? "team-a" : PA;
		if (policy_evaluate(id, 2, res, &rq) == POLICY_ALLOW)
			allowed++;
	}
	assert_int_equal(nallocs, before);
	assert_int_equal(allowed, 1000);

	/* The counter works: parsing allocates. */
	policy_free(must_parse(ALLOW_ANY, ID));
	assert_true(nallocs > before);

	policy_free(p1);
	policy_free(p2);
	policy_free(res);
}

/* ---- public policies ----------------------------------------------------- */

static const struct {
	enum policy_kind kind;
	const char *doc;
	int want;
} publics[] = {
	{ RES, DOC(RALLOW("'*'", "'" GET "'")), 1 },
	{ RES, DOC(RALLOW("{'AWS':'*'}", "'" GET "'")), 1 },
	{ RES, DOC(RALLOW("{'AWS':['admin','*']}", "'" GET "'")), 1 },
	{ RES, DOC(RALLOW("{'Coffer':'*'}", "'*'")), 1 },
	{ RES, DOC(RALLOW("{'AWS':'?*'}", "'*'")), 1 },
	{ RES, DOC(RALLOW("{'AWS':'admin'}", "'*'") "," RALLOW("'*'", "'*'")),
	    1 },
	{ RES, DOC(RST("Deny", "'*'", "'*'", "'*'", "")), 0 },
	{ RES, DOC(RALLOW("{'AWS':'admin'}", "'*'")), 0 },
	{ RES, DOC(RALLOW("{'AWS':'spiffe://corp/*'}", "'*'")), 0 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringEquals':{'coffer:Principal':"
	    "'admin'}}")), 0 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringLike':{'aws:PrincipalArn':"
	    "'spiffe://corp/*'}}")), 0 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringEquals':{'aws:PrincipalTag/team':"
	    "'ops'}}")), 0 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringLike':{'coffer:Principal':"
	    "'*'}}")), 1 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringNotEquals':{'coffer:Principal':"
	    "'mallory'}}")), 1 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringEqualsIfExists':"
	    "{'coffer:Principal':'admin'}}")), 1 },
	{ RES, DOC(RALLOW_IF("'*'", "{'ForAllValues:StringEquals':"
	    "{'coffer:Principal':'admin'}}")), 1 },
	{ RES, DOC(RALLOW_IF("'*'", "{'StringEquals':{'" VS "':"
	    "'AWSCURRENT'}}")), 1 },
	{ RES, DOC(RALLOW_IF("'*'", "{'Null':{'coffer:Principal':'false'}}")),
	    1 },
	{ RES, DOC("{'Effect':'Allow','NotPrincipal':{'AWS':'mallory'},"
	    "'Action':'*','Resource':'*'}"), 1 },
	{ RES, DOC("{'Effect':'Allow','NotPrincipal':{'AWS':'*'},"
	    "'Action':'*','Resource':'*'}"), 0 },
	{ ID, ALLOW_ANY, 0 },
};

static void
test_public(void **state)
{
	struct policy *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(publics) / sizeof(publics[0]); i++) {
		p = must_parse(publics[i].doc, publics[i].kind);
		if (policy_is_public(p) != publics[i].want)
			fail_msg("row %zu: %s\n  public: got %d, want %d", i,
			    publics[i].doc, policy_is_public(p),
			    publics[i].want);
		policy_free(p);
	}
}

/* ---- validation ---------------------------------------------------------- */

#define E POLICY_FINDING_ERROR
#define SW POLICY_FINDING_SECURITY_WARNING
#define W POLICY_FINDING_WARNING
#define S POLICY_FINDING_SUGGESTION

static const struct {
	enum policy_kind kind;
	const char *doc;
	int passed;
	size_t count;			/* findings expected */
	enum policy_finding_type type;	/* of the first finding... */
	const char *check;		/* ...its issue code */
	const char *location;
	const char *message;		/* a substring */
} validations[] = {
	{ RES, DOC(RALLOW("{'AWS':'admin'}", "'" GET "'")), 1, 0, 0, NULL,
	    NULL, NULL },
	{ ID, IDA, 1, 0, 0, NULL, NULL, NULL },
	{ RES, DOC(RST("Deny", "'*'", "'*'", "'*'", "")), 1, 0, 0, NULL, NULL,
	    NULL },
	{ RES, DOC(RALLOW("'*'", "'" GET "'")), 0, 1, SW, "PUBLIC_ACCESS",
	    "Statement[0].Principal", "every principal" },
	{ RES, DOC(RALLOW("{'AWS':'admin'}", "'*'")), 0, 1, SW,
	    "BROAD_ACTION", "Statement[0].Action",
	    "\"*\" allows every Secrets Manager action" },
	{ RES, DOC(RALLOW("{'AWS':'admin'}", "'secretsmanager:*'")), 0, 1, SW,
	    "BROAD_ACTION", "Statement[0].Action", "\"secretsmanager:*\"" },
	{ ID, DOC(ALLOW("'" GET "'", "'*'")), 0, 1, SW, "BROAD_RESOURCE",
	    "Statement[0].Resource", "\"*\" allows every secret" },
	{ ID, DOC(ALLOW("'" GET "'", "'" SEC "*'")), 0, 1, SW,
	    "BROAD_RESOURCE", "Statement[0].Resource", "allows every secret" },
	{ ID, DOC(ALLOW("'" GET "'", "'" SEC "prod/*'")), 1, 0, 0, NULL, NULL,
	    NULL },
	{ ID, DOC(DENY("'*'", "'*'")), 1, 0, 0, NULL, NULL, NULL },
	{ ID, DOC("{'Effect':'Allow','NotAction':'secretsmanager:Delete*',"
	    "'Resource':'" ARN_A "'}"), 1, 1, W, "ALLOW_WITH_NOT_ACTION",
	    "Statement[0].NotAction", "every action it does not list" },
	{ ID, DOC("{'Effect':'Allow','Action':'" GET "',"
	    "'NotResource':'" ARN_A "'}"), 1, 1, W, "ALLOW_WITH_NOT_RESOURCE",
	    "Statement[0].NotResource", "every secret it does not list" },
	{ RES, DOC("{'Effect':'Allow','NotPrincipal':{'AWS':'mallory'},"
	    "'Action':'" GET "','Resource':'*'}"), 0, 1, SW,
	    "ALLOW_WITH_NOT_PRINCIPAL", "Statement[0].NotPrincipal",
	    "every principal it does not list" },
	{ ID, DOC(ALLOW("['" GET "','kms:Decrypt']", "'" ARN_A "'")), 1, 1, W,
	    "UNKNOWN_ACTION", "Statement[0].Action",
	    "\"kms:Decrypt\" is not a Secrets Manager action" },
	{ ID, DOC(ALLOW("'secretsmanager:GetSecretVal'", "'" ARN_A "'")), 1, 1,
	    W, "UNKNOWN_ACTION", "Statement[0].Action",
	    "matches no Secrets Manager action" },
	{ ID, DOC(ALLOW_IF("'" GET "'", "'" ARN_A "'",
	    "{'StringEquals':{'secretsmanager:Nmae':'x'}}")), 1, 1, W,
	    "UNKNOWN_CONDITION_KEY",
	    "Statement[0].Condition.StringEquals.secretsmanager:Nmae",
	    "no Coffer request carries this key" },
	{ ID, "{'Statement':" ALLOW("'" GET "'", "'" ARN_A "'") "}", 1, 1, S,
	    "MISSING_VERSION", "", "2012-10-17" },
	{ ID, DOC08(ALLOW("'" GET "'", "'" ARN_A "'")), 1, 1, S,
	    "OLD_VERSION", "Version", "2012-10-17" },
	{ ID, DOC(ST("Allow", "'" GET "'", "'" ARN_A "'", ",'Sid':'a'") ","
	    ST("Deny", "'" PUT "'", "'" ARN_A "'", ",'Sid':'a'")), 1, 1, W,
	    "DUPLICATE_SID", "Statement[1]", "also used by Statement[0]" },
	{ RES, DOC(RALLOW("'*'", "'*'")), 0, 2, SW, "PUBLIC_ACCESS",
	    "Statement[0].Principal", NULL },
	{ ID, "{'Statement':[}", 0, 1, E, "SYNTAX_ERROR", "line 1, column 15",
	    "expected" },
	{ ID, DOC(ST("allow", "'*'", "'*'", "") ","
	    "{'Effect':'Deny','Resource':'*','Foo':1}"), 0, 3, E,
	    "INVALID_ELEMENT", "Statement[0].Effect", "\"Allow\" or \"Deny\"" },
	{ RES, DOC(ALLOW("'" GET "'", "'*'")), 0, 1, E, "MISSING_ELEMENT",
	    "Statement[0]", "missing element \"Principal\"" },
	{ ID, COND("{'NumericEquals':{'a:b':1}}"), 0, 1, E,
	    "UNSUPPORTED_CONDITION_OPERATOR",
	    "Statement[0].Condition.NumericEquals", "unknown" },
};

static void
test_validate(void **state)
{
	static char buf[32768];
	struct policy_findings *f;
	const struct policy_finding *x;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(validations) / sizeof(validations[0]); i++) {
		doc(buf, sizeof(buf), validations[i].doc);
		assert_int_equal(policy_validate(buf, strlen(buf),
		    validations[i].kind, &f), 0);
		if (policy_findings_count(f) != validations[i].count ||
		    policy_findings_passed(f) != validations[i].passed) {
			for (j = 0; j < policy_findings_count(f); j++) {
				x = policy_findings_get(f, j);
				print_message("  %s %s %s: %s\n",
				    policy_finding_type_name(x->type), x->check,
				    x->location, x->message);
			}
			fail_msg("row %zu: %s\n  %zu findings, passed %d", i,
			    validations[i].doc, policy_findings_count(f),
			    policy_findings_passed(f));
		}
		if (validations[i].count > 0) {
			x = policy_findings_get(f, 0);
			assert_int_equal(x->type, validations[i].type);
			assert_string_equal(x->check, validations[i].check);
			assert_string_equal(x->location,
			    validations[i].location);
			if (validations[i].message != NULL &&
			    strstr(x->message, validations[i].message) == NULL)
				fail_msg("row %zu: message \"%s\"", i,
				    x->message);
		}
		assert_null(policy_findings_get(f, policy_findings_count(f)));
		policy_findings_free(f);
	}
	policy_findings_free(NULL);
	assert_string_equal(policy_finding_type_name(SW), "SECURITY_WARNING");
	assert_string_equal(policy_finding_type_name(S), "SUGGESTION");
}

/* Every error of a bad document is reported, in document order. */
static void
test_validate_all_errors(void **state)
{
	static char buf[4096];
	static const char *const want[][2] = {
		{ "UNKNOWN_ELEMENT", "Foo" },
		{ "INVALID_ELEMENT", "Statement[0].Effect" },
		{ "INVALID_ACTION", "Statement[0].Action[1]" },
		{ "MISSING_ELEMENT", "Statement[1]" },
		{ "UNSUPPORTED_CONDITION_OPERATOR",
		    "Statement[1].Condition.DateLessThan" },
	};
	struct policy_findings *f;
	const struct policy_finding *x;
	size_t i;

	(void)state;
	doc(buf, sizeof(buf), "{'Foo':1," V12 "'Statement':["
	    ST("Alow", "['*','Get']", "'*'", "") ","
	    "{'Effect':'Deny','Resource':'*','Condition':"
	    "{'DateLessThan':{'aws:CurrentTime':'2020'}}}]}");
	assert_int_equal(policy_validate(buf, strlen(buf), ID, &f), 0);
	assert_int_equal(policy_findings_count(f), 5);
	assert_false(policy_findings_passed(f));
	for (i = 0; i < 5; i++) {
		x = policy_findings_get(f, i);
		assert_int_equal(x->type, POLICY_FINDING_ERROR);
		assert_string_equal(x->check, want[i][0]);
		assert_string_equal(x->location, want[i][1]);
	}
	policy_findings_free(f);
}

/* ---- the matcher --------------------------------------------------------- */

static const struct {
	const char *pat;
	int flags;
	const char *subject;
	int want;
	enum policy_pat_kind kind;
} patterns[] = {
	{ "*", PAT_WILD, "", 1, PAT_ANY },
	{ "**", PAT_WILD, "anything", 1, PAT_ANY },
	{ "abc", PAT_WILD, "abc", 1, PAT_EXACT },
	{ "abc", PAT_WILD, "abcd", 0, PAT_EXACT },
	{ "abc", PAT_WILD, "ab", 0, PAT_EXACT },
	{ "", 0, "", 1, PAT_EXACT },
	{ "", 0, "a", 0, PAT_EXACT },
	{ "abc*", PAT_WILD, "abc", 1, PAT_PREFIX },
	{ "abc*", PAT_WILD, "abcdef", 1, PAT_PREFIX },
	{ "abc*", PAT_WILD, "abxdef", 0, PAT_PREFIX },
	{ "a*b", PAT_WILD, "ab", 1, PAT_GLOB },
	{ "a*b", PAT_WILD, "axxxb", 1, PAT_GLOB },
	{ "a*b", PAT_WILD, "axxxbc", 0, PAT_GLOB },
	{ "*b*", PAT_WILD, "abc", 1, PAT_GLOB },
	{ "*b*", PAT_WILD, "ac", 0, PAT_GLOB },
	{ "a**b", PAT_WILD, "ab", 1, PAT_GLOB },
	{ "a?c", PAT_WILD, "abc", 1, PAT_GLOB },
	{ "a?c", PAT_WILD, "ac", 0, PAT_GLOB },
	{ "a?c", PAT_WILD, "a\xc3\xa9" "c", 1, PAT_GLOB },
	{ "a??c", PAT_WILD, "a\xc3\xa9" "c", 0, PAT_GLOB },
	{ "*?", PAT_WILD, "", 0, PAT_GLOB },
	{ "*?", PAT_WILD, "x", 1, PAT_GLOB },
	{ "*\xc3\xa9", PAT_WILD, "x\xc3\xa9", 1, PAT_GLOB },
	{ "*a*a*a*a*b", PAT_WILD, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    0, PAT_GLOB },
	{ "*ab*ab", PAT_WILD, "xabyabab", 1, PAT_GLOB },
	{ "a*b", 0, "a*b", 1, PAT_EXACT },
	{ "a*b", 0, "axb", 0, PAT_EXACT },
	{ "ABC", PAT_FOLD, "abc", 1, PAT_EXACT },
	{ "ABC", 0, "abc", 0, PAT_EXACT },
	{ "Get*", PAT_WILD | PAT_FOLD, "gETSecret", 1, PAT_PREFIX },
	{ "a${x}", PAT_WILD, "a${x}", 1, PAT_EXACT },
	{ "a${*}", PAT_WILD | PAT_VARS, "a*", 1, PAT_GLOB },
	{ "a${*}", PAT_WILD | PAT_VARS, "ab", 0, PAT_GLOB },
	{ "${?}${$}", PAT_WILD | PAT_VARS, "?$", 1, PAT_GLOB },
	{ "a${}b", PAT_WILD | PAT_VARS, "a${}b", 1, PAT_EXACT },
	{ "a${x y}", PAT_WILD | PAT_VARS, "a${x y}", 1, PAT_EXACT },
	{ "u-${coffer:who}-*", PAT_WILD | PAT_VARS, "u-bob-1", 1, PAT_GLOB },
	{ "u-${coffer:who}-*", PAT_WILD | PAT_VARS, "u-bo-1", 0, PAT_GLOB },
	{ "u-${COFFER:WHO}", PAT_VARS | PAT_FOLD, "U-BOB", 1, PAT_GLOB },
};

static void
test_patterns(void **state)
{
	static const char *const who[] = { "bob" };
	struct policy_context_key ctx[1] = { { "coffer:who", who, 1 } };
	struct policy_request r;
	struct policy_req rq;
	struct policy_pattern p;
	struct cf_arena *a;
	const char *why;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.context = ctx;
	r.ncontext = 1;
	memset(&rq, 0, sizeof(rq));
	rq.r = &r;
	assert_non_null(a = cf_arena_new());
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		assert_int_equal(policy_pattern_compile(a, patterns[i].pat,
		    strlen(patterns[i].pat), patterns[i].flags, &p, &why), 0);
		if (p.kind != patterns[i].kind)
			fail_msg("row %zu \"%s\": kind %d, want %d", i,
			    patterns[i].pat, p.kind, patterns[i].kind);
		if (policy_pattern_match(&p, patterns[i].subject,
		    strlen(patterns[i].subject), &rq) != patterns[i].want)
			fail_msg("row %zu: \"%s\" vs \"%s\": want %d", i,
			    patterns[i].pat, patterns[i].subject,
			    patterns[i].want);
	}
	cf_arena_free(a);
}

/* Messages stay valid UTF-8 however they are cut. */
static void
test_utf8_fix(void **state)
{
	char s[16];
	char buf[8];

	(void)state;
	snprintf(s, sizeof(s), "ab\xc3");
	policy_utf8_fix(s);
	assert_string_equal(s, "ab");
	snprintf(s, sizeof(s), "a\xe2\x82");
	policy_utf8_fix(s);
	assert_string_equal(s, "a");
	snprintf(s, sizeof(s), "\xc3\xa9x");
	policy_utf8_fix(s);
	assert_string_equal(s, "\xc3\xa9x");
	snprintf(s, sizeof(s), "a\xff\xc3\xa9");
	policy_utf8_fix(s);
	assert_string_equal(s, "a???");
	assert_string_equal(policy_clip(buf, sizeof(buf), "abc", 3), "abc");
	assert_string_equal(policy_clip(buf, sizeof(buf), "abcdefgh", 8),
	    "abcd...");
	assert_string_equal(policy_clip(buf, sizeof(buf),
	    "abc\xc3\xa9" "defg", 9), "abc...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar),
		cmocka_unit_test(test_error_locations),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_no_allocation),
		cmocka_unit_test(test_public),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_validate_all_errors),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_utf8_fix),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
