/*
 * policy_eval_test.c: policy/'s evaluation of principals, actions and
 * resources (wildcards, NotAction, NotResource, NotPrincipal), Deny over
 * Allow across identity and resource policies, policy_match() on one
 * policy, the wildcard matcher, and that evaluation allocates nothing.
 * Condition operators are policy_conditions_test.c's.
 *
 * Documents are written with single quotes (policy_testlib.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "policy_internal.h"
#include "policy_testlib.h"

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

/* ---- evaluation ---------------------------------------------------------- */

static const struct eval_case evals[] = {
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
};

static void
test_evaluate(void **state)
{

	(void)state;
	pt_evaluate_rows(evals, sizeof(evals) / sizeof(evals[0]));
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

	p = pt_must_parse(DOC(ALLOW("'*'", "'*'") "," DENY("'" PUT "'", "'*'")),
	    ID);
	assert_int_equal(policy_match(p, &rq), POLICY_ALLOW);
	rq.action = PUT;
	assert_int_equal(policy_match(p, &rq), POLICY_DENY_EXPLICIT);
	rq.action = "secretsmanager:Nothing";
	assert_int_equal(policy_match(p, &rq), POLICY_ALLOW);
	policy_free(p);

	p = pt_must_parse(DOC(RALLOW("{'AWS':'" PB "'}", "'" GET "'")), RES);
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
	p1 = pt_must_parse(DOC(ALLOW_IF("'secretsmanager:Get*'",
	    "'" SEC "${aws:username}/*'", "{'ForAllValues:StringLike':"
	    "{'" VS "':'AWS*'}}")), ID);
	p2 = pt_must_parse(DOC(DENY("'" PUT "'", "'*'")), ID);
	res = pt_must_parse(DOC(RALLOW("{'AWS':'spiffe://*/payments'}", "'*'")),
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
	policy_free(pt_must_parse(ALLOW_ANY, ID));
	assert_true(nallocs > before);

	policy_free(p1);
	policy_free(p2);
	policy_free(res);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_no_allocation),
		cmocka_unit_test(test_patterns),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
