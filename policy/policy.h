/*
 * policy.h: IAM-style JSON policy documents: parse, validate, evaluate.
 *
 * A document is parsed once into a compiled, immutable struct policy; any
 * number of threads may then evaluate requests against it at the same time
 * without locking.  Evaluation allocates nothing and never fails: it is on
 * the path of every call.  The grammar, the evaluation rules and where they
 * differ from AWS IAM are in policy/DESIGN.md.
 */
#ifndef COFFER_POLICY_H
#define COFFER_POLICY_H

#include <stddef.h>

#include "cf.h"

/* The longest document accepted, in characters (AWS's quota). */
#define POLICY_MAX_CHARS 20480

struct policy;
struct policy_findings;

/*
 * An identity policy is attached to a principal and must not name one; a
 * resource policy is attached to a secret and must name (Not)Principal.
 */
enum policy_kind {
	POLICY_IDENTITY,
	POLICY_RESOURCE
};

/* The outcome of an evaluation; only POLICY_ALLOW grants. */
enum policy_decision {
	POLICY_DENY_IMPLICIT = 0,	/* no statement allows */
	POLICY_ALLOW,			/* an Allow applies and no Deny does */
	POLICY_DENY_EXPLICIT		/* a Deny statement applies */
};

/*
 * One condition key of a request and its values: ${key} is matched
 * case-insensitively ("secretsmanager:VersionStage"); ${values} holds
 * ${nvalues} NUL-terminated strings (several for a multi-valued key such
 * as the staging labels of a version; a NULL entry matches nothing).  A
 * key with no values counts as absent.
 */
struct policy_context_key {
	const char *key;
	const char *const *values;
	size_t nvalues;
};

/*
 * A request to authorize.  ${principal} is the authenticated caller (a
 * SPIFFE ID, a certificate CN...) or NULL when there is none; ${action} is
 * "secretsmanager:GetSecretValue"; ${resource} is the secret's ARN, or NULL
 * for account-level actions (ListSecrets, GetRandomPassword), which only
 * "Resource": "*" covers.  ${context} lists ${ncontext} condition keys.
 * coffer:Principal, aws:username and aws:PrincipalArn default to
 * ${principal} when the context does not list them.  Nothing is copied.
 */
struct policy_request {
	const char *principal;
	const char *action;
	const char *resource;
	const struct policy_context_key *context;
	size_t ncontext;
};

/*
 * policy_parse(doc, len, kind, err):
 * Parse and compile the ${len}-byte JSON document ${doc} as a policy of
 * ${kind}.  Returns a policy the caller frees with policy_free(), or NULL
 * with ${err} set: CF_ERR_MALFORMED_POLICY with a message naming the place
 * ("line 3, column 5: ..." for JSON syntax, "Statement[1].Effect: must be
 * \"Allow\" or \"Deny\"" for the grammar), or CF_ERR_INTERNAL when memory
 * runs out.
 */
struct policy *policy_parse(const char *, size_t, enum policy_kind,
    struct cf_error *) CF_MUSTCHECK;

/* policy_free(p): free ${p}; policy_free(NULL) does nothing. */
void policy_free(struct policy *);

/* policy_kind_of(p): the kind ${p} was parsed as. */
enum policy_kind policy_kind_of(const struct policy *);

/*
 * policy_match(p, req):
 * Evaluate ${req} against the one policy ${p}: POLICY_DENY_EXPLICIT if a
 * Deny statement applies, else POLICY_ALLOW if an Allow statement applies,
 * else POLICY_DENY_IMPLICIT.  A statement of a resource policy applies only
 * to the principals its (Not)Principal element covers.
 */
enum policy_decision policy_match(const struct policy *,
    const struct policy_request *);

/*
 * policy_evaluate(identity, n, resource, req):
 * Authorize ${req} against the ${n} identity policies of the caller (NULL
 * entries are skipped) and the secret's resource policy ${resource} (may be
 * NULL; it must have been parsed as POLICY_RESOURCE), with IAM's
 * same-account rules: an explicit Deny in any of them wins; otherwise an
 * Allow in any of them grants; otherwise the request is implicitly denied.
 * Allocates nothing and takes no lock.
 */
enum policy_decision policy_evaluate(const struct policy *const *, size_t,
    const struct policy *, const struct policy_request *);

/*
 * policy_is_public(p):
 * Nonzero if the resource policy ${p} has an Allow statement open to every
 * principal ("Principal": "*", {"AWS": "*"} or NotPrincipal) that no
 * condition on the caller's identity narrows.  PutResourcePolicy with
 * BlockPublicPolicy refuses such a policy (PublicPolicyException).
 * Always 0 for identity policies.
 */
int policy_is_public(const struct policy *);

/*
 * policy_reads_tags(p):
 * Nonzero if ${p} could look at a secret's tags: a condition key or a
 * policy variable anywhere in it names a tag key, "...Tag/<key>" or
 * "...TagKeys" (case insensitive; wider than secretsmanager:ResourceTag/
 * on purpose, so that no tag key the context may ever carry is missed).
 * The engine reads a secret's tags only for requests that some such
 * policy decides: a Deny on a tag is never skipped, and the common read
 * does not pay for tags.
 */
int policy_reads_tags(const struct policy *);

/* The severity of a validation finding, as AWS Access Analyzer names it. */
enum policy_finding_type {
	POLICY_FINDING_ERROR,
	POLICY_FINDING_SECURITY_WARNING,
	POLICY_FINDING_WARNING,
	POLICY_FINDING_SUGGESTION
};

/*
 * One finding: ${check} is a constant issue code ("MISSING_ELEMENT",
 * "PUBLIC_ACCESS"...), ${location} "line 3, column 5" or
 * "Statement[1].Principal" (empty for the whole document), ${message} the
 * explanation.  ValidateResourcePolicy reports ${check} as CheckName and
 * "${location}: ${message}" as ErrorMessage.
 */
struct policy_finding {
	enum policy_finding_type type;
	const char *check;
	char location[128];
	char message[256];
};

/*
 * policy_validate(doc, len, kind, out):
 * Check the document like policy_parse() does but report every problem
 * instead of the first, and on a well-formed document also warn about
 * broad access: an Allow for every principal, for every action ("*",
 * "secretsmanager:*"), for every resource ("*", identity policies only),
 * an Allow with NotPrincipal/NotAction/NotResource, unknown actions and
 * condition keys.  On success *${out} holds the findings (possibly none),
 * which the caller frees with policy_findings_free().  Returns 0, or -1
 * when memory runs out.
 */
int policy_validate(const char *, size_t, enum policy_kind,
    struct policy_findings **) CF_MUSTCHECK;

/* policy_findings_count(f): the number of findings in ${f}. */
size_t policy_findings_count(const struct policy_findings *);

/* policy_findings_get(f, i): the ${i}th finding (NULL past the end). */
const struct policy_finding *policy_findings_get(
    const struct policy_findings *, size_t);

/*
 * policy_findings_passed(f):
 * Nonzero when ${f} holds no ERROR and no SECURITY_WARNING finding
 * (ValidateResourcePolicy's PolicyValidationPassed).
 */
int policy_findings_passed(const struct policy_findings *);

/* policy_finding_type_name(t): "ERROR", "SECURITY_WARNING", ... */
const char *policy_finding_type_name(enum policy_finding_type);

/* policy_findings_free(f): free ${f}; NULL does nothing. */
void policy_findings_free(struct policy_findings *);

#endif /* !COFFER_POLICY_H */
