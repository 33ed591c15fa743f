/*
 * policy_conditions_test.c: policy/'s evaluation of Condition blocks: every
 * condition operator, IfExists, the ForAnyValue/ForAllValues set operators
 * on multi-valued keys, tags, keys about the caller, policy variables, and
 * keys the request does not carry.
 *
 * Documents are written with single quotes (policy_testlib.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy.h"
#include "policy_testlib.h"

/* ---- conditions ---------------------------------------------------------- */

static const struct eval_case conditions[] = {
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

static void
test_conditions(void **state)
{

	(void)state;
	pt_evaluate_rows(conditions,
	    sizeof(conditions) / sizeof(conditions[0]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conditions),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
