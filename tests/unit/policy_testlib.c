/*
 * policy_testlib.c: the helpers policy/'s unit test programs share (see
 * policy_testlib.h).
 */
#include <stdio.h>
#include <string.h>

#include "policy_testlib.h"

char *
pt_doc(char *buf, size_t size, const char *s)
{
	size_t i;

	assert_true(strlen(s) < size);
	for (i = 0; s[i] != '\0'; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	buf[i] = '\0';
	return (buf);
}

struct policy *
pt_must_parse(const char *s, enum policy_kind kind)
{
	static char buf[32768];
	struct cf_error err;
	struct policy *p;

	pt_doc(buf, sizeof(buf), s);
	if ((p = policy_parse(buf, strlen(buf), kind, &err)) == NULL)
		fail_msg("%s\n  does not parse: %s", s, err.msg);
	assert_int_equal(err.code, CF_OK);
	return (p);
}

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
		p1 = pt_must_parse(c->id1, ID);
	if (c->id2 != NULL)
		p2 = pt_must_parse(c->id2, ID);
	if (c->res != NULL)
		res = pt_must_parse(c->res, RES);
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

void
pt_evaluate_rows(const struct eval_case *rows, size_t n)
{
	static const char *const names[] = { "IMPLICIT", "ALLOW", "DENIED" };
	enum policy_decision d;
	size_t i;

	for (i = 0; i < n; i++) {
		d = decide(&rows[i]);
		if (d != rows[i].want)
			fail_msg("row %zu \"%s\": got %s, want %s", i,
			    rows[i].name, names[d], names[rows[i].want]);
	}
}
