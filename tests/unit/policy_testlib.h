/*
 * policy_testlib.h: what policy/'s unit test programs share: documents
 * written with single quotes (pt_doc() turns them into double quotes, so
 * that the tables stay readable), the macros that build them, and the
 * evaluation rows of unit.policy_eval and unit.policy_conditions with the
 * function that checks them.  Every helper fails the running cmocka test on
 * a broken precondition.
 */
#ifndef COFFER_POLICY_TESTLIB_H
#define COFFER_POLICY_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy.h"

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

#define ID POLICY_IDENTITY
#define RES POLICY_RESOURCE

/* An identity policy granting team-a's secrets, and one granting all. */
#define IDA DOC(ALLOW("'" GET "'", "'" SEC "team-a/*'"))
#define ALLOW_ANY DOC(ALLOW("'*'", "'*'"))

/* Copy ${s} into ${buf} with every ' turned into "; returns ${buf}. */
char *pt_doc(char *buf, size_t size, const char *s);

/*
 * Parse ${s} (single-quoted), failing the test if it does not parse.  The
 * caller frees the policy with policy_free().
 */
struct policy *pt_must_parse(const char *s, enum policy_kind kind);

/* ---- evaluation ---------------------------------------------------------- */

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

struct eval_case {
	const char *name;
	const char *id1, *id2;	/* identity policies, or NULL */
	const char *res;	/* resource policy, or NULL */
	const char *principal, *action, *resource;
	struct kv ctx[3];
	enum policy_decision want;
};

/*
 * Evaluate each of the ${n} ${rows}, its identity policies in both orders
 * (the answer must not depend on it), and fail the test at the first whose
 * decision is not the one it wants.
 */
void pt_evaluate_rows(const struct eval_case *rows, size_t n);

#endif /* !COFFER_POLICY_TESTLIB_H */
