/*
 * fuzz_policy.c: libFuzzer target for IAM policy documents, which clients
 * send in PutIdentityPolicy, PutResourcePolicy and ValidateResourcePolicy.
 * Each input is parsed and validated as both kinds of policy; a document
 * that parses is also evaluated against a fixed request and asked whether
 * it is public.  Checked besides memory safety: a document policy_parse()
 * accepts has no ERROR finding in policy_validate(), and an evaluation
 * returns one of the three decisions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Parse, evaluate and validate ${doc} as a policy of ${kind}. */
static void
one_kind(const char *doc, size_t len, enum policy_kind kind)
{
	static const char *const stages[] = { "AWSCURRENT", NULL };
	static const struct policy_context_key ctx[] = {
		{ "secretsmanager:VersionStage", stages, 2 },
	};
	static const struct policy_request req = {
		"spiffe://coffer.test/sa/alpha", "secretsmanager:GetSecretValue",
		"arn:aws:secretsmanager:local-1:000000000000:secret:db-AbCdEf",
		ctx, 1
	};
	const struct policy *one[1];
	struct policy_findings *f = NULL;
	struct policy *p;
	struct cf_error err;
	enum policy_decision d;
	size_t i, errors = 0;

	/* Parse; what parses can be evaluated. */
	if ((p = policy_parse(doc, len, kind, &err)) != NULL) {
		one[0] = p;
		d = policy_match(p, &req);
		if (d != POLICY_ALLOW && d != POLICY_DENY_IMPLICIT &&
		    d != POLICY_DENY_EXPLICIT)
			abort();
		d = kind == POLICY_RESOURCE ? policy_evaluate(NULL, 0, p, &req) :
		    policy_evaluate(one, 1, NULL, &req);
		if (d != POLICY_ALLOW && d != POLICY_DENY_IMPLICIT &&
		    d != POLICY_DENY_EXPLICIT)
			abort();
		(void)policy_is_public(p);
	}

	/* Validate: every finding; none an ERROR if the parser accepted it. */
	if (policy_validate(doc, len, kind, &f) == 0) {
		for (i = 0; i < policy_findings_count(f); i++)
			if (policy_findings_get(f, i)->type ==
			    POLICY_FINDING_ERROR)
				errors++;
		if (p != NULL && errors > 0)
			abort();	/* accepted, yet called malformed */
		(void)policy_findings_passed(f);
		policy_findings_free(f);
	}
	policy_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc;

	/* A copy of exactly ${size} bytes, so reads past it are caught. */
	if ((doc = malloc(size > 0 ? size : 1)) == NULL)
		return (0);
	memcpy(doc, data, size);
	one_kind(doc, size, POLICY_IDENTITY);
	one_kind(doc, size, POLICY_RESOURCE);
	free(doc);
	return (0);
}
