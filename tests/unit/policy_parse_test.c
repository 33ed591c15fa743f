/*
 * policy_parse_test.c: policy/'s documents without evaluating them: the IAM
 * grammar (valid and malformed documents with the message each gets, and
 * where it points), the size limit, public-policy detection, validation
 * findings, and messages kept valid UTF-8 however they are cut.
 *
 * Documents are written with single quotes (policy_testlib.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "policy_internal.h"
#include "policy_testlib.h"

/* ---- the grammar --------------------------------------------------------- */

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
		pt_doc(buf, sizeof(buf), grammar[i].doc);
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
		p = pt_must_parse(publics[i].doc, publics[i].kind);
		if (policy_is_public(p) != publics[i].want)
			fail_msg("row %zu: %s\n  public: got %d, want %d", i,
			    publics[i].doc, policy_is_public(p),
			    publics[i].want);
		policy_free(p);
	}
}

/* ---- which policies look at tags ------------------------------------------ */

/*
 * The engine reads a secret's tags only when a policy could look at them:
 * a policy that could but says it cannot would skip a Deny on a tag.
 */
static const struct {
	enum policy_kind kind;
	const char *doc;
	int want;
} tag_readers[] = {
	{ ID, ALLOW_ANY, 0 },
	{ ID, IDA, 0 },
	{ ID, COND("{'StringLike':{'" NAME "':'team-a/*'}}"), 0 },
	{ ID, COND("{'StringEquals':{'" VS "':'AWSCURRENT'}}"), 0 },
	{ ID, COND("{'StringEquals':{'" TAG "':'payments'}}"), 1 },
	/* Keys are case-insensitive. */
	{ ID, COND("{'StringEquals':{'SecretsManager:RESOURCETAG/team':'x'}}"),
	    1 },
	{ ID, COND("{'Null':{'" TAG "':'true'}}"), 1 },
	{ ID, COND("{'ForAnyValue:StringEquals':{'aws:TagKeys':'team'}}"), 1 },
	{ ID, COND("{'StringEquals':{'aws:ResourceTag/team':'x'}}"), 1 },
	/* A Deny, in a second statement. */
	{ ID, DOC(ALLOW("'*'", "'*'") "," ST("Deny", "'" GET "'", "'*'",
	    ",'Condition':{'StringNotEquals':{'" TAG "':'ops'}}")), 1 },
	/* Variables: in a Resource, and in a condition's value. */
	{ ID, DOC(ALLOW("'" GET "'", "'" SEC "${" TAG "}-*'")), 1 },
	{ ID, COND("{'StringEquals':{'" NAME "':'${" TAG "}'}}"), 1 },
	{ ID, COND("{'StringEquals':{'" NAME "':'${coffer:Principal}'}}"), 0 },
	/* 2008-10-17 has no variables: "${...}" is literal text. */
	{ ID, DOC08(ALLOW("'" GET "'", "'" SEC "${" TAG "}-*'")), 0 },
	{ RES, DOC(RALLOW("{'AWS':'" PA "'}", "'" GET "'")), 0 },
	{ RES, DOC(RALLOW_IF("{'AWS':'" PA "'}", "{'StringEquals':{'" TAG
	    "':'payments'}}")), 1 },
};

static void
test_reads_tags(void **state)
{
	struct policy *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tag_readers) / sizeof(tag_readers[0]); i++) {
		p = pt_must_parse(tag_readers[i].doc, tag_readers[i].kind);
		if (policy_reads_tags(p) != tag_readers[i].want)
			fail_msg("row %zu: %s\n  reads tags: got %d, want %d",
			    i, tag_readers[i].doc, policy_reads_tags(p),
			    tag_readers[i].want);
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
		pt_doc(buf, sizeof(buf), validations[i].doc);
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
	pt_doc(buf, sizeof(buf), "{'Foo':1," V12 "'Statement':["
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
		cmocka_unit_test(test_public),
		cmocka_unit_test(test_reads_tags),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_validate_all_errors),
		cmocka_unit_test(test_utf8_fix),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
