/*
 * policy_eval.c: deciding a request against compiled policies.
 *
 * This runs on every call, so it only reads: no allocation, no locks, no
 * failure path.  The rules (IAM's, for one account) are in
 * policy/DESIGN.md: a Deny that applies wins, then an Allow that applies
 * grants, and anything else is an implicit deny.
 */
#include <string.h>

#include "policy_internal.h"

/* Does any pattern of ${l} match ${s}, after Not...?  */
static int
list_covers(const struct policy_list *l, const char *s, size_t n,
    const struct policy_req *rq)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (policy_pattern_match(&l->v[i], s, n, rq))
			return (!l->negated);
	}
	return (l->negated);
}

/* Does one context value match any of the condition's values? */
static int
value_hits(const struct policy_cond *cd, const char *v,
    const struct policy_req *rq)
{
	size_t i, n;

	if (v == NULL)
		return (0);
	n = strlen(v);
	for (i = 0; i < cd->nvalues; i++) {
		if (policy_pattern_match(&cd->values[i], v, n, rq))
			return (1);
	}
	return (0);
}

/* Is one condition (one key under one operator) true for ${rq}? */
static int
cond_holds(const struct policy_cond *cd, const struct policy_req *rq)
{
	const char *const *vals = NULL;
	size_t i, n = 0;
	int present;

	present = policy_context_get(rq, cd->key, cd->keylen, &vals, &n);

	/* Null asks only whether the key is there. */
	if (cd->op == COND_NULL)
		return (present ? cd->null_false : cd->null_true);

	/* An absent key. */
	if (!present) {
		if (cd->if_exists || cd->set == SET_ALL)
			return (1);
		if (cd->set == SET_ANY)
			return (0);
		return (cd->negate);
	}

	/*
	 * ForAllValues, and a negated operator on its own: every value of the
	 * request must satisfy the operator (for a negated one: match none of
	 * the policy's values).
	 */
	if (cd->set == SET_ALL || (cd->set == SET_NONE && cd->negate)) {
		for (i = 0; i < n; i++) {
			if (value_hits(cd, vals[i], rq) == cd->negate)
				return (0);
		}
		return (1);
	}

	/* ForAnyValue, and a positive operator alone: one value will do. */
	for (i = 0; i < n; i++) {
		if (value_hits(cd, vals[i], rq) != cd->negate)
			return (1);
	}
	return (0);
}

/* Does statement ${st} apply to ${rq}? */
static int
stmt_applies(const struct policy_stmt *st, const struct policy_req *rq)
{
	size_t i;

	/* Who: a resource policy's statement names its principals. */
	if (st->has_principal) {
		if (rq->principal == NULL) {
			if (!list_covers(&st->principals, "", 0, rq))
				return (0);
		} else if (!list_covers(&st->principals, rq->principal,
		    rq->plen, rq)) {
			return (0);
		}
	}

	/* What, on which secret. */
	if (!list_covers(&st->actions, rq->action, rq->alen, rq))
		return (0);
	if (!list_covers(&st->resources, rq->resource, rq->rlen, rq))
		return (0);

	/* Under which conditions: all of them. */
	for (i = 0; i < st->nconds; i++) {
		if (!cond_holds(&st->conds[i], rq))
			return (0);
	}
	return (1);
}

/* Decide ${rq} against one policy. */
static enum policy_decision
match_one(const struct policy *p, const struct policy_req *rq)
{
	enum policy_decision d = POLICY_DENY_IMPLICIT;
	size_t i;

	for (i = 0; i < p->nstmts; i++) {
		if (!stmt_applies(&p->stmts[i], rq))
			continue;
		if (p->stmts[i].deny)
			return (POLICY_DENY_EXPLICIT);
		d = POLICY_ALLOW;
	}
	return (d);
}

/* Measure the strings of ${r} once. */
static void
req_init(struct policy_req *rq, const struct policy_request *r)
{

	rq->r = r;
	rq->principal = r->principal;
	rq->action = r->action != NULL ? r->action : "";
	rq->resource = r->resource != NULL ? r->resource : "";
	rq->plen = r->principal != NULL ? strlen(r->principal) : 0;
	rq->alen = strlen(rq->action);
	rq->rlen = strlen(rq->resource);
}

enum policy_decision
policy_match(const struct policy *p, const struct policy_request *r)
{
	struct policy_req rq;

	req_init(&rq, r);
	return (match_one(p, &rq));
}

enum policy_decision
policy_evaluate(const struct policy *const *identity, size_t n,
    const struct policy *resource, const struct policy_request *r)
{
	struct policy_req rq;
	enum policy_decision d;
	size_t i;
	int allowed = 0;

	req_init(&rq, r);

	/* The caller's own policies. */
	for (i = 0; i < n; i++) {
		if (identity[i] == NULL)
			continue;
		d = match_one(identity[i], &rq);
		if (d == POLICY_DENY_EXPLICIT)
			return (d);
		if (d == POLICY_ALLOW)
			allowed = 1;
	}

	/* The secret's policy. */
	if (resource != NULL) {
		d = match_one(resource, &rq);
		if (d == POLICY_DENY_EXPLICIT)
			return (d);
		if (d == POLICY_ALLOW)
			allowed = 1;
	}
	return (allowed ? POLICY_ALLOW : POLICY_DENY_IMPLICIT);
}

/* Is ${key} (lower case) a key that says who the caller is? */
static int
identity_key(const char *key)
{
	static const char *const keys[] = {
		"coffer:principal", "aws:username", "aws:principalarn",
		"aws:userid", "aws:principalaccount", "aws:principalorgid",
		"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", NULL
	};
	size_t i;

	for (i = 0; keys[i] != NULL; i++) {
		if (strcmp(key, keys[i]) == 0)
			return (1);
	}
	return (strncmp(key, "aws:principaltag/", 17) == 0);
}

/*
 * Does ${cd} restrict who can use the statement?  Only a positive test of
 * a key about the caller, that fails when the key is absent, with no value
 * that matches everyone.
 */
static int
cond_narrows(const struct policy_cond *cd)
{
	size_t i;

	if (cd->op == COND_NULL || cd->negate || cd->if_exists ||
	    cd->set == SET_ALL || !identity_key(cd->key))
		return (0);
	for (i = 0; i < cd->nvalues; i++) {
		if (cd->op == COND_LIKE &&
		    policy_pattern_is_open(&cd->values[i]))
			return (0);
	}
	return (1);
}

int
policy_stmt_is_public(const struct policy_stmt *st)
{
	size_t i;
	int open = 0;

	/* An Allow for everyone: "*", or NotPrincipal (all but a few). */
	if (st->deny || !st->has_principal)
		return (0);
	for (i = 0; i < st->principals.n; i++) {
		if (policy_pattern_is_open(&st->principals.v[i]))
			open = 1;
	}
	if (st->principals.negated)
		open = !open;
	if (!open)
		return (0);

	/* ...that no condition on the caller narrows. */
	for (i = 0; i < st->nconds; i++) {
		if (cond_narrows(&st->conds[i]))
			return (0);
	}
	return (1);
}

int
policy_is_public(const struct policy *p)
{
	size_t i;

	if (p->kind != POLICY_RESOURCE)
		return (0);
	for (i = 0; i < p->nstmts; i++) {
		if (policy_stmt_is_public(&p->stmts[i]))
			return (1);
	}
	return (0);
}
