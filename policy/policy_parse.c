/*
 * policy_parse.c: a JSON policy document to a compiled struct policy.
 *
 * jansson does the JSON (UTF-8, duplicate keys, line and column of syntax
 * errors); this file checks the IAM grammar on the tree and compiles every
 * pattern, so that evaluation only compares.  The parser does not stop at
 * the first problem: policy_parse() reports the first one and
 * policy_validate() all of them.  The grammar is in policy/DESIGN.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy_internal.h"

/* What a string of a statement's list stands for. */
enum field {
	F_PRINCIPAL,
	F_ACTION,
	F_RESOURCE
};

static const char *const top_keys[] = {
	"Version", "Id", "Statement", NULL
};

static const char *const stmt_keys[] = {
	"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
	"Resource", "NotResource", "Condition", NULL
};

/* Record a problem with the element at ${where}. */
void
policy_perr(struct policy_pctx *c, const char *check, const char *where,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	policy_utf8_fix(msg);

	/* The caller's error holds the first problem (or running out). */
	if (c->nerr++ == 0 && !c->oom) {
		if (where[0] != '\0')
			cf_error_set(c->err, CF_ERR_MALFORMED_POLICY, "%s: %s",
			    where, msg);
		else
			cf_error_set(c->err, CF_ERR_MALFORMED_POLICY, "%s",
			    msg);
	}

	/* Validation wants every one. */
	if (c->f != NULL && !c->oom && policy_findings_add(c->f,
	    POLICY_FINDING_ERROR, check, where, "%s", msg)) {
		c->oom = 1;
		cf_error_set(c->err, CF_ERR_INTERNAL, "out of memory");
	}
}

/* Record that memory ran out; the parse stops.  Returns -1. */
int
policy_nomem(struct policy_pctx *c)
{

	c->oom = 1;
	cf_error_set(c->err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

const char *
policy_clip(char *buf, size_t size, const char *s, size_t len)
{
	size_t n;

	/* It fits. */
	if (len < size) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		return (buf);
	}

	/* Cut before a code point, and say so. */
	for (n = size - 4; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		continue;
	memcpy(buf, s, n);
	memcpy(buf + n, "...", 4);
	return (buf);
}

/* "${base}.${name}" in ${buf}, with the name clipped. */
const char *
policy_join(char *buf, size_t size, const char *base, const char *name)
{
	char n[48];

	policy_clip(n, sizeof(n), name, strlen(name));
	if (snprintf(buf, size, "%s%s%s", base, base[0] != '\0' ? "." : "",
	    n) >= (int)size)
		policy_utf8_fix(buf);
	return (buf);
}

/* "${base}[${i}]" in ${buf}. */
const char *
policy_index(char *buf, size_t size, const char *base, size_t i)
{

	/* A path too long for the buffer is cut; it is only a message. */
	if (snprintf(buf, size, "%s[%zu]", base, i) >= (int)size)
		policy_utf8_fix(buf);
	return (buf);
}

/* Is ${s} one of the NULL-terminated ${names}? */
static int
known(const char *const *names, const char *s)
{

	for (; *names != NULL; names++) {
		if (strcmp(*names, s) == 0)
			return (1);
	}
	return (0);
}

/* Does ${s}[0..n) equal ${lit}[0..n) in ASCII, ignoring case? */
int
policy_ncase_eq(const char *s, const char *lit, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (policy_lower((unsigned char)s[i]) !=
		    policy_lower((unsigned char)lit[i]))
			return (0);
	}
	return (1);
}

/* Refuse elements not in ${names}.  Returns -1 if there was one. */
static int
only_known(struct policy_pctx *c, json_t *obj, const char *base,
    const char *const *names)
{
	char where[128];
	const char *key;
	json_t *v;
	int bad = 0;

	json_object_foreach(obj, key, v) {
		if (known(names, key))
			continue;
		policy_perr(c, "UNKNOWN_ELEMENT", policy_join(where,
		    sizeof(where), base, key), "unknown element");
		bad = 1;
	}
	return (bad ? -1 : 0);
}

/* Is ${s} "*" or "<service>:<action>" with wildcards in the action only? */
static int
action_ok(const char *s, size_t len)
{
	size_t i, colon;

	if (len == 1 && s[0] == '*')
		return (1);
	for (colon = 0; colon < len && s[colon] != ':'; colon++) {
		unsigned char ch = (unsigned char)s[colon];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return (0);
	}
	if (colon == 0 || colon + 1 >= len)
		return (0);
	for (i = colon + 1; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '*' || ch == '?'))
			return (0);
	}
	return (1);
}

/* Compile one string of a Principal, Action or Resource list. */
static int
parse_one(struct policy_pctx *c, json_t *e, const char *where, enum field fld,
    struct policy_pattern *p)
{
	char shown[72];
	const char *s, *why;
	size_t len;
	int flags = PAT_WILD;

	/* A nonempty string. */
	if (!json_is_string(e)) {
		policy_perr(c, "INVALID_ELEMENT", where, "must be a string");
		return (-1);
	}
	s = json_string_value(e);
	len = json_string_length(e);
	if (len == 0) {
		policy_perr(c, "INVALID_ELEMENT", where, "must not be empty");
		return (-1);
	}

	/* Check its form. */
	switch (fld) {
	case F_ACTION:
		if (!action_ok(s, len)) {
			policy_perr(c, "INVALID_ACTION", where, "\"%s\" is not "
			    "\"*\" or \"<service>:<action>\"",
			    policy_clip(shown, sizeof(shown), s, len));
			return (-1);
		}
		flags |= PAT_FOLD;
		break;
	case F_RESOURCE:
		if (!(len == 1 && s[0] == '*') && strncmp(s, "arn:", 4) != 0) {
			policy_perr(c, "INVALID_RESOURCE", where,
			    "\"%s\" is not \"*\" or an ARN",
			    policy_clip(shown, sizeof(shown), s, len));
			return (-1);
		}
		if (c->vars)
			flags |= PAT_VARS;
		break;
	case F_PRINCIPAL:
		break;
	}

	/* Compile it. */
	if (policy_pattern_compile(c->a, s, len, flags, p, &why)) {
		if (why == NULL)
			return (policy_nomem(c));
		policy_perr(c, "INVALID_ELEMENT", where, "%s", why);
		return (-1);
	}
	return (0);
}

/* Compile a string or a nonempty list of strings into ${out}. */
static int
parse_strings(struct policy_pctx *c, json_t *v, const char *where,
    enum field fld, struct policy_list *out)
{
	char ewhere[128];
	struct policy_pattern *pats;
	json_t *e;
	size_t i, n;
	int bad = 0;

	/* A string is a list of one. */
	if (json_is_string(v)) {
		n = 1;
	} else if (json_is_array(v)) {
		if ((n = json_array_size(v)) == 0) {
			policy_perr(c, "INVALID_ELEMENT", where, "must not be "
			    "an empty list");
			return (-1);
		}
	} else {
		policy_perr(c, "INVALID_ELEMENT", where, "must be a string or "
		    "a list of strings");
		return (-1);
	}

	/* Compile each. */
	if ((pats = cf_arena_alloc(c->a, n * sizeof(*pats))) == NULL)
		return (policy_nomem(c));
	for (i = 0; i < n; i++) {
		if (json_is_string(v)) {
			e = v;
			snprintf(ewhere, sizeof(ewhere), "%s", where);
		} else {
			e = json_array_get(v, i);
			policy_index(ewhere, sizeof(ewhere), where, i);
		}
		if (parse_one(c, e, ewhere, fld, &pats[i]))
			bad = 1;
		if (c->oom)
			return (-1);
	}
	out->v = pats;
	out->n = n;
	return (bad ? -1 : 0);
}

/* "*", or {"AWS": ..., "Coffer": ...} merged into one list. */
static int
parse_principal(struct policy_pctx *c, json_t *v, const char *where,
    struct policy_list *out)
{
	char kwhere[128];
	struct policy_list part[2] = { { 0, NULL, 0 }, { 0, NULL, 0 } };
	struct policy_pattern *pats;
	const char *key;
	json_t *e;
	size_t np = 0, n;
	int bad = 0;

	/* The string form is "*" and nothing else. */
	if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0)
		return (parse_strings(c, v, where, F_PRINCIPAL, out));
	if (!json_is_object(v) || json_object_size(v) == 0) {
		policy_perr(c, "INVALID_PRINCIPAL", where, "must be \"*\" or "
		    "an object such as {\"AWS\": \"<principal>\"}");
		return (-1);
	}

	/* Each principal type holds a string or a list. */
	json_object_foreach(v, key, e) {
		policy_join(kwhere, sizeof(kwhere), where, key);
		if (strcmp(key, "AWS") != 0 && strcmp(key, "Coffer") != 0) {
			policy_perr(c, "UNSUPPORTED_PRINCIPAL_TYPE", kwhere,
			    "unsupported principal type (Coffer knows \"AWS\" "
			    "and \"Coffer\")");
			bad = 1;
			continue;
		}
		if (parse_strings(c, e, kwhere, F_PRINCIPAL, &part[np]))
			bad = 1;
		else
			np++;
		if (c->oom)
			return (-1);
	}
	if (bad)
		return (-1);

	/* Merge the lists. */
	n = part[0].n + part[1].n;
	if ((pats = cf_arena_alloc(c->a, n * sizeof(*pats))) == NULL)
		return (policy_nomem(c));
	if (part[0].n > 0)
		memcpy(pats, part[0].v, part[0].n * sizeof(*pats));
	if (part[1].n > 0)
		memcpy(pats + part[0].n, part[1].v, part[1].n * sizeof(*pats));
	out->v = pats;
	out->n = n;
	return (0);
}

/* Exactly one of ${name} and ${notname}, compiled into ${out}. */
static int
parse_pair(struct policy_pctx *c, json_t *js, const char *base,
    const char *name, const char *notname, enum field fld,
    struct policy_list *out)
{
	char where[128];
	json_t *v = json_object_get(js, name);
	json_t *nv = json_object_get(js, notname);

	if (v != NULL && nv != NULL) {
		policy_perr(c, "CONFLICTING_ELEMENTS", base,
		    "\"%s\" and \"%s\" cannot both be given", name, notname);
		return (-1);
	}
	if (v == NULL && nv == NULL) {
		policy_perr(c, "MISSING_ELEMENT", base, "missing element "
		    "\"%s\" or \"%s\"", name, notname);
		return (-1);
	}
	out->negated = nv != NULL;
	policy_join(where, sizeof(where), base, v != NULL ? name : notname);
	return (parse_strings(c, v != NULL ? v : nv, where, fld, out));
}

/* Compile one statement. */
static int
parse_stmt(struct policy_pctx *c, json_t *js, struct policy_stmt *st)
{
	char where[128];
	const char *eff;
	json_t *v, *nv;
	int bad = 0;

	/* An object of known elements. */
	if (!json_is_object(js)) {
		policy_perr(c, "INVALID_ELEMENT", st->where,
		    "must be an object");
		return (-1);
	}
	if (only_known(c, js, st->where, stmt_keys))
		bad = 1;

	/* Sid: an optional string. */
	if ((v = json_object_get(js, "Sid")) != NULL) {
		if (!json_is_string(v)) {
			policy_perr(c, "INVALID_ELEMENT", policy_join(where,
			    sizeof(where), st->where, "Sid"),
			    "must be a string");
			bad = 1;
		} else if ((st->sid = cf_arena_strdup(c->a,
		    json_string_value(v))) == NULL) {
			return (policy_nomem(c));
		}
	}

	/* Effect: "Allow" or "Deny". */
	if ((v = json_object_get(js, "Effect")) == NULL) {
		policy_perr(c, "MISSING_ELEMENT", st->where, "missing element "
		    "\"Effect\"");
		bad = 1;
	} else {
		eff = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(eff, "Allow") == 0) {
			st->deny = 0;
		} else if (strcmp(eff, "Deny") == 0) {
			st->deny = 1;
		} else {
			policy_perr(c, "INVALID_ELEMENT", policy_join(where,
			    sizeof(where), st->where, "Effect"),
			    "must be \"Allow\" or \"Deny\"");
			bad = 1;
		}
	}

	/* Principal or NotPrincipal: resource policies only, and required. */
	v = json_object_get(js, "Principal");
	nv = json_object_get(js, "NotPrincipal");
	if (v != NULL && nv != NULL) {
		policy_perr(c, "CONFLICTING_ELEMENTS", st->where,
		    "\"Principal\" and \"NotPrincipal\" cannot both be given");
		bad = 1;
	} else if ((v != NULL || nv != NULL) && c->kind == POLICY_IDENTITY) {
		policy_perr(c, "UNSUPPORTED_ELEMENT", policy_join(where,
		    sizeof(where), st->where, v != NULL ? "Principal" :
		    "NotPrincipal"), "not allowed in an identity policy");
		bad = 1;
	} else if (v == NULL && nv == NULL && c->kind == POLICY_RESOURCE) {
		policy_perr(c, "MISSING_ELEMENT", st->where, "missing element "
		    "\"Principal\" (a resource policy must name the principals "
		    "it applies to)");
		bad = 1;
	} else if (v != NULL || nv != NULL) {
		st->has_principal = 1;
		if (parse_principal(c, v != NULL ? v : nv,
		    policy_join(where, sizeof(where), st->where,
		    v != NULL ? "Principal" : "NotPrincipal"), &st->principals))
			bad = 1;
		st->principals.negated = nv != NULL;
	}
	if (c->oom)
		return (-1);

	/* Action or NotAction; Resource or NotResource. */
	if (parse_pair(c, js, st->where, "Action", "NotAction", F_ACTION,
	    &st->actions))
		bad = 1;
	if (c->oom)
		return (-1);
	if (parse_pair(c, js, st->where, "Resource", "NotResource", F_RESOURCE,
	    &st->resources))
		bad = 1;
	if (c->oom)
		return (-1);

	/* Condition: optional. */
	if ((v = json_object_get(js, "Condition")) != NULL &&
	    policy_parse_conditions(c, v, policy_join(where, sizeof(where),
	    st->where, "Condition"), st))
		bad = 1;
	if (c->oom)
		return (-1);
	return (bad ? -1 : 0);
}

/* "Statement": one object or a nonempty list of them. */
static int
parse_statements(struct policy_pctx *c, json_t *v, struct policy *p)
{
	struct policy_stmt *stmts;
	size_t i, n;
	int bad = 0;

	if (json_is_object(v)) {
		n = 1;
	} else if (json_is_array(v) && json_array_size(v) > 0) {
		n = json_array_size(v);
	} else {
		policy_perr(c, json_is_array(v) ? "MISSING_ELEMENT" :
		    "INVALID_ELEMENT", "Statement", json_is_array(v) ?
		    "must list at least one statement" :
		    "must be an object or a list of objects");
		return (-1);
	}
	if ((stmts = cf_arena_alloc(c->a, n * sizeof(*stmts))) == NULL)
		return (policy_nomem(c));
	for (i = 0; i < n; i++) {
		if (json_is_object(v))
			snprintf(stmts[i].where, sizeof(stmts[i].where),
			    "Statement");
		else
			policy_index(stmts[i].where, sizeof(stmts[i].where),
			    "Statement", i);
		if (parse_stmt(c, json_is_object(v) ? v :
		    json_array_get(v, i), &stmts[i]))
			bad = 1;
		if (c->oom)
			return (-1);
	}
	p->stmts = stmts;
	p->nstmts = n;
	return (bad ? -1 : 0);
}

/* Is the document longer than POLICY_MAX_CHARS characters? */
static int
too_long(const char *doc, size_t len)
{

	if (len <= POLICY_MAX_CHARS)
		return (0);
	if (len > 4 * (size_t)POLICY_MAX_CHARS ||
	    !cf_utf8_valid((const uint8_t *)doc, len))
		return (1);
	return (cf_utf8_length((const uint8_t *)doc, len) > POLICY_MAX_CHARS);
}

/*
 * Does ${s} (${len} bytes, lower case) name a tag key: "...tag/<key>"
 * (ResourceTag/, RequestTag/, PrincipalTag/) or "...tagkeys"?  ("tag"
 * alone would take secretsmanager:VersionStage.)
 */
static int
names_tag(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++)
		if (memcmp(s + i, "tag/", 4) == 0)
			return (1);
	for (i = 0; i + 7 <= len; i++)
		if (memcmp(s + i, "tagkeys", 7) == 0)
			return (1);
	return (0);
}

/* Does a variable of one of ${n} patterns at ${v} name a tag key? */
static int
vars_read_tags(const struct policy_pattern *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; v[i].nvars > 0 && j < v[i].ntoks; j++)
			if (v[i].toks[j].type == TOK_VAR &&
			    names_tag(v[i].toks[j].s, v[i].toks[j].len))
				return (1);
	return (0);
}

/* policy_reads_tags(), worked out once (see policy.h). */
static int
reads_tags(const struct policy *p)
{
	const struct policy_stmt *st;
	const struct policy_cond *cd;
	size_t i, j;

	for (i = 0; i < p->nstmts; i++) {
		st = &p->stmts[i];
		if (vars_read_tags(st->principals.v, st->principals.n) ||
		    vars_read_tags(st->actions.v, st->actions.n) ||
		    vars_read_tags(st->resources.v, st->resources.n))
			return (1);
		for (j = 0; j < st->nconds; j++) {
			cd = &st->conds[j];
			if (names_tag(cd->key, cd->keylen) ||
			    vars_read_tags(cd->values, cd->nvalues))
				return (1);
		}
	}
	return (0);
}

int
policy_reads_tags(const struct policy *p)
{

	return (p->reads_tags);
}

struct policy *
policy_parse_doc(const char *doc, size_t len, enum policy_kind kind,
    struct cf_error *err, struct policy_findings *f)
{
	struct policy_pctx c;
	struct cf_arena *a = NULL;
	struct policy *p;
	json_error_t je;
	json_t *root = NULL, *v;
	char where[64];
	const char *ver;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.err = err;
	c.f = f;
	cf_error_clear(err);

	/* Refuse an oversized document before parsing it. */
	if (doc == NULL || too_long(doc, len)) {
		policy_perr(&c, "POLICY_SIZE_EXCEEDED", "", "the policy "
		    "document must be 1 to %d characters long",
		    POLICY_MAX_CHARS);
		goto err0;
	}

	/* Parse the JSON: UTF-8, one value, no duplicate keys. */
	if ((root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		snprintf(where, sizeof(where), "line %d, column %d", je.line,
		    je.column);
		policy_perr(&c, "SYNTAX_ERROR", where, "%s", je.text);
		goto err0;
	}
	if (!json_is_object(root)) {
		policy_perr(&c, "SYNTAX_ERROR", "",
		    "a policy must be a JSON object");
		goto err1;
	}

	/* The policy and everything it points to live in one arena. */
	if ((a = cf_arena_new()) == NULL ||
	    (p = cf_arena_alloc(a, sizeof(*p))) == NULL) {
		(void)policy_nomem(&c);
		goto err2;
	}
	p->a = a;
	p->kind = kind;
	c.a = a;

	/* Version, Id and Statement, nothing else. */
	(void)only_known(&c, root, "", top_keys);
	p->version = 2008;
	if ((v = json_object_get(root, "Version")) != NULL) {
		p->has_version = 1;
		ver = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(ver, "2012-10-17") == 0)
			p->version = 2012;
		else if (strcmp(ver, "2008-10-17") != 0)
			policy_perr(&c, "INVALID_ELEMENT", "Version", "must be "
			    "\"2012-10-17\" or \"2008-10-17\"");
	}
	c.vars = p->version == 2012;
	if ((v = json_object_get(root, "Id")) != NULL && !json_is_string(v))
		policy_perr(&c, "INVALID_ELEMENT", "Id", "must be a string");
	if ((v = json_object_get(root, "Statement")) == NULL)
		policy_perr(&c, "MISSING_ELEMENT", "",
		    "missing element \"Statement\"");
	else
		(void)parse_statements(&c, v, p);
	if (c.nerr > 0 || c.oom)
		goto err2;
	json_decref(root);
	p->reads_tags = reads_tags(p);

	/* Success! */
	return (p);

err2:
	cf_arena_free(a);
err1:
	json_decref(root);
err0:
	/* Failure! */
	return (NULL);
}

struct policy *
policy_parse(const char *doc, size_t len, enum policy_kind kind,
    struct cf_error *err)
{

	return (policy_parse_doc(doc, len, kind, err, NULL));
}

void
policy_free(struct policy *p)
{

	if (p == NULL)
		return;
	cf_arena_free(p->a);
}

enum policy_kind
policy_kind_of(const struct policy *p)
{

	return (p->kind);
}
