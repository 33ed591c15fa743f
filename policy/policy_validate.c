/*
 * policy_validate.c: ValidateResourcePolicy's findings.
 *
 * Errors come from the parser, which reports every problem in validate
 * mode.  A document that parses is then checked for what Access Analyzer
 * would flag: access for everyone, every action or every secret, Allow
 * with a Not... element, actions and condition keys Coffer never uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_internal.h"

/* Every Secrets Manager action, in lower case. */
static const char *const sm_actions[] = {
	"secretsmanager:batchgetsecretvalue",
	"secretsmanager:cancelrotatesecret",
	"secretsmanager:createsecret",
	"secretsmanager:deleteresourcepolicy",
	"secretsmanager:deletesecret",
	"secretsmanager:describesecret",
	"secretsmanager:getrandompassword",
	"secretsmanager:getresourcepolicy",
	"secretsmanager:getsecretvalue",
	"secretsmanager:listsecretversionids",
	"secretsmanager:listsecrets",
	"secretsmanager:putresourcepolicy",
	"secretsmanager:putsecretvalue",
	"secretsmanager:removeregionsfromreplication",
	"secretsmanager:replicatesecrettoregions",
	"secretsmanager:restoresecret",
	"secretsmanager:rotatesecret",
	"secretsmanager:stopreplicationtoreplica",
	"secretsmanager:tagresource",
	"secretsmanager:untagresource",
	"secretsmanager:updatesecret",
	"secretsmanager:updatesecretversionstage",
	"secretsmanager:validateresourcepolicy",
	NULL
};

#define NSM_ACTIONS (sizeof(sm_actions) / sizeof(sm_actions[0]) - 1)

/* Condition keys a request may carry, in lower case. */
static const char *const known_keys[] = {
	"secretsmanager:addreplicaregions", "secretsmanager:blockpublicpolicy",
	"secretsmanager:description",
	"secretsmanager:forcedeletewithoutrecovery",
	"secretsmanager:forceoverwritereplicasecret",
	"secretsmanager:kmskeyid", "secretsmanager:modifyrotationrules",
	"secretsmanager:name", "secretsmanager:recoverywindowindays",
	"secretsmanager:rotateimmediately", "secretsmanager:rotationlambdaarn",
	"secretsmanager:secretid", "secretsmanager:secretprimaryregion",
	"secretsmanager:versionid", "secretsmanager:versionstage",
	"secretsmanager:resource/allowrotationlambdaarn",
	"aws:username", "aws:principalarn", "aws:userid",
	"aws:principalaccount", "aws:principalorgid", "aws:sourceip",
	"aws:sourcevpc", "aws:sourcevpce", "aws:currenttime", "aws:epochtime",
	"aws:securetransport", "aws:requestedregion", "aws:tagkeys",
	"aws:calledvia", "coffer:principal",
	NULL
};

/* ...and families of them. */
static const char *const known_prefixes[] = {
	"secretsmanager:resourcetag/", "aws:resourcetag/", "aws:principaltag/",
	"aws:requesttag/", NULL
};

static const char *const type_names[] = {
	[POLICY_FINDING_ERROR] = "ERROR",
	[POLICY_FINDING_SECURITY_WARNING] = "SECURITY_WARNING",
	[POLICY_FINDING_WARNING] = "WARNING",
	[POLICY_FINDING_SUGGESTION] = "SUGGESTION",
};

void
policy_utf8_fix(char *s)
{
	size_t len = strlen(s), i, need;
	unsigned char lead;

	/* Drop a sequence that a truncation cut short. */
	for (i = len; i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80; i--)
		continue;
	if (i > 0 && (lead = (unsigned char)s[i - 1]) >= 0xc0) {
		need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
		if (len - (i - 1) < need) {
			s[i - 1] = '\0';
			len = i - 1;
		}
	}

	/* Anything still wrong loses its non-ASCII bytes. */
	if (cf_utf8_valid((const uint8_t *)s, len))
		return;
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			s[i] = '?';
	}
}

int
policy_findings_add(struct policy_findings *f, enum policy_finding_type type,
    const char *check, const char *location, const char *fmt, ...)
{
	struct policy_finding *v, *x;
	size_t cap;
	va_list ap;

	/* Make room. */
	if (f->n == f->cap) {
		cap = f->cap == 0 ? 8 : 2 * f->cap;
		if ((v = reallocarray(f->v, cap, sizeof(*v))) == NULL)
			return (-1);
		f->v = v;
		f->cap = cap;
	}

	/* Fill the finding in. */
	x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->type = type;
	x->check = check;
	snprintf(x->location, sizeof(x->location), "%s", location);
	policy_utf8_fix(x->location);
	va_start(ap, fmt);
	vsnprintf(x->message, sizeof(x->message), fmt, ap);
	va_end(ap);
	policy_utf8_fix(x->message);
	return (0);
}

/* Is ${key} (lower case) a key some request may carry? */
static int
key_known(const char *key)
{
	size_t i, n;

	for (i = 0; known_keys[i] != NULL; i++) {
		if (strcmp(key, known_keys[i]) == 0)
			return (1);
	}
	for (i = 0; known_prefixes[i] != NULL; i++) {
		n = strlen(known_prefixes[i]);
		if (strncmp(key, known_prefixes[i], n) == 0 && key[n] != '\0')
			return (1);
	}
	return (0);
}

/* How many Secrets Manager actions does ${pat} match? */
static size_t
actions_matched(const struct policy_pattern *pat)
{
	struct policy_request r;
	struct policy_req rq;
	size_t i, n = 0;

	memset(&r, 0, sizeof(r));
	memset(&rq, 0, sizeof(rq));
	rq.r = &r;
	for (i = 0; sm_actions[i] != NULL; i++) {
		if (policy_pattern_match(pat, sm_actions[i],
		    strlen(sm_actions[i]), &rq))
			n++;
	}
	return (n);
}

/* Does the Resource pattern ${pat} cover every secret? */
static int
resource_broad(const struct policy_pattern *pat)
{
	const char *name;

	if (policy_pattern_is_open(pat))
		return (1);
	if (pat->kind == PAT_EXACT)
		return (0);

	/* A wildcard where the secret's name starts, or no name at all. */
	if ((name = strstr(pat->src, ":secret:")) == NULL)
		return (1);
	name += 8;
	name += strspn(name, "?");
	return (*name == '*');
}

/* Warn about the actions of ${st}. */
static int
warn_actions(struct policy_findings *f, const struct policy_stmt *st)
{
	char where[64];
	const struct policy_pattern *pat;
	size_t i, nsm;

	snprintf(where, sizeof(where), "%s.%s", st->where,
	    st->actions.negated ? "NotAction" : "Action");
	for (i = 0; i < st->actions.n; i++) {
		pat = &st->actions.v[i];
		nsm = actions_matched(pat);

		/* Every action. */
		if (!st->deny && !st->actions.negated && nsm == NSM_ACTIONS &&
		    policy_findings_add(f,
		    POLICY_FINDING_SECURITY_WARNING, "BROAD_ACTION", where,
		    "\"%s\" allows every Secrets Manager action", pat->src))
			return (-1);

		/* No action at all. */
		if (pat->kind == PAT_ANY || nsm > 0)
			continue;
		if (strncasecmp(pat->src, "secretsmanager:", 15) != 0) {
			if (policy_findings_add(f, POLICY_FINDING_WARNING,
			    "UNKNOWN_ACTION", where, "\"%s\" is not a Secrets "
			    "Manager action; Coffer never asks for it",
			    pat->src))
				return (-1);
		} else if (policy_findings_add(f, POLICY_FINDING_WARNING,
		    "UNKNOWN_ACTION", where, "\"%s\" matches no Secrets "
		    "Manager action", pat->src)) {
			return (-1);
		}
	}

	/* Everything but a few. */
	if (!st->deny && st->actions.negated && policy_findings_add(f,
	    POLICY_FINDING_WARNING, "ALLOW_WITH_NOT_ACTION", where, "an Allow "
	    "with NotAction allows every action it does not list"))
		return (-1);
	return (0);
}

/* Warn about the principals and resources of ${st}. */
static int
warn_scope(struct policy_findings *f, const struct policy *p,
    const struct policy_stmt *st)
{
	char where[64];
	size_t i;

	if (st->deny)
		return (0);

	/* Who. */
	snprintf(where, sizeof(where), "%s.%s", st->where,
	    st->principals.negated ? "NotPrincipal" : "Principal");
	if (st->has_principal && st->principals.negated) {
		if (policy_findings_add(f, POLICY_FINDING_SECURITY_WARNING,
		    "ALLOW_WITH_NOT_PRINCIPAL", where, "an Allow with "
		    "NotPrincipal grants access to every principal it does not "
		    "list"))
			return (-1);
	} else if (policy_stmt_is_public(st) && policy_findings_add(f,
	    POLICY_FINDING_SECURITY_WARNING, "PUBLIC_ACCESS", where, "grants "
	    "access to every principal; PutResourcePolicy with "
	    "BlockPublicPolicy refuses this policy")) {
		return (-1);
	}

	/* On what. */
	snprintf(where, sizeof(where), "%s.%s", st->where,
	    st->resources.negated ? "NotResource" : "Resource");
	if (st->resources.negated) {
		if (policy_findings_add(f, POLICY_FINDING_WARNING,
		    "ALLOW_WITH_NOT_RESOURCE", where, "an Allow with "
		    "NotResource allows every secret it does not list"))
			return (-1);
	} else if (p->kind == POLICY_IDENTITY) {
		for (i = 0; i < st->resources.n; i++) {
			if (resource_broad(&st->resources.v[i]) &&
			    policy_findings_add(f,
			    POLICY_FINDING_SECURITY_WARNING, "BROAD_RESOURCE",
			    where, "\"%s\" allows every secret",
			    st->resources.v[i].src))
				return (-1);
		}
	}
	return (0);
}

/* Warn about condition keys no request carries. */
static int
warn_conditions(struct policy_findings *f, const struct policy_stmt *st)
{
	char where[128];
	const struct policy_cond *cd;
	size_t i;

	for (i = 0; i < st->nconds; i++) {
		cd = &st->conds[i];
		if (key_known(cd->key))
			continue;
		snprintf(where, sizeof(where), "%s.Condition.%s.%s", st->where,
		    cd->opname, cd->name);
		if (policy_findings_add(f, POLICY_FINDING_WARNING,
		    "UNKNOWN_CONDITION_KEY", where, "no Coffer request carries "
		    "this key"))
			return (-1);
	}
	return (0);
}

/* Warn about what the well-formed policy ${p} allows. */
static int
warn_policy(struct policy_findings *f, const struct policy *p)
{
	const struct policy_stmt *st;
	size_t i, j;

	/* The document. */
	if (!p->has_version) {
		if (policy_findings_add(f, POLICY_FINDING_SUGGESTION,
		    "MISSING_VERSION", "", "add \"Version\": \"2012-10-17\"; "
		    "without it policy variables are not expanded"))
			return (-1);
	} else if (p->version == 2008 && policy_findings_add(f,
	    POLICY_FINDING_SUGGESTION, "OLD_VERSION", "Version", "use "
	    "\"2012-10-17\"; with \"2008-10-17\" policy variables are not "
	    "expanded")) {
		return (-1);
	}

	/* Each statement. */
	for (i = 0; i < p->nstmts; i++) {
		st = &p->stmts[i];
		for (j = 0; st->sid != NULL && j < i; j++) {
			if (p->stmts[j].sid == NULL ||
			    strcmp(p->stmts[j].sid, st->sid) != 0)
				continue;
			if (policy_findings_add(f, POLICY_FINDING_WARNING,
			    "DUPLICATE_SID", st->where, "Sid \"%s\" is also "
			    "used by %s", st->sid, p->stmts[j].where))
				return (-1);
			break;
		}
		if (warn_scope(f, p, st) || warn_actions(f, st) ||
		    warn_conditions(f, st))
			return (-1);
	}
	return (0);
}

int
policy_validate(const char *doc, size_t len, enum policy_kind kind,
    struct policy_findings **out)
{
	struct policy_findings *f;
	struct policy *p;
	struct cf_error err;

	/* An empty list to fill. */
	if ((f = calloc(1, sizeof(*f))) == NULL)
		goto err0;

	/* The parser reports every error; a sound policy gets warnings. */
	if ((p = policy_parse_doc(doc, len, kind, &err, f)) == NULL) {
		if (err.code != CF_ERR_MALFORMED_POLICY)
			goto err1;
	} else {
		if (warn_policy(f, p)) {
			policy_free(p);
			goto err1;
		}
		policy_free(p);
	}
	*out = f;

	/* Success! */
	return (0);

err1:
	policy_findings_free(f);
err0:
	/* Failure! */
	return (-1);
}

size_t
policy_findings_count(const struct policy_findings *f)
{

	return (f->n);
}

const struct policy_finding *
policy_findings_get(const struct policy_findings *f, size_t i)
{

	return (i < f->n ? &f->v[i] : NULL);
}

int
policy_findings_passed(const struct policy_findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (f->v[i].type == POLICY_FINDING_ERROR ||
		    f->v[i].type == POLICY_FINDING_SECURITY_WARNING)
			return (0);
	}
	return (1);
}

const char *
policy_finding_type_name(enum policy_finding_type t)
{

	if ((int)t < 0 || (size_t)t >= sizeof(type_names) /
	    sizeof(type_names[0]))
		return ("ERROR");
	return (type_names[t]);
}

void
policy_findings_free(struct policy_findings *f)
{

	if (f == NULL)
		return;
	free(f->v);
	free(f);
}
