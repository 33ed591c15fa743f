/*
 * policy_parse_cond.c: the Condition element of a statement.
 *
 * "Condition": {"<operator>": {"<key>": <values>, ...}, ...}.  Every key
 * under every operator becomes one struct policy_cond; the operator name
 * is split into its set prefix (ForAnyValue:, ForAllValues:), the operator
 * and the IfExists suffix, and the values are compiled as patterns.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "policy_internal.h"

/* A condition operator. */
struct opdef {
	const char *name;
	enum policy_cond_op op;
	int negate;
	int fold;
	int boolean;		/* values are "true" or "false" */
};

static const struct opdef opdefs[] = {
	{ "StringEquals", COND_EQUALS, 0, 0, 0 },
	{ "StringNotEquals", COND_EQUALS, 1, 0, 0 },
	{ "StringEqualsIgnoreCase", COND_EQUALS, 0, 1, 0 },
	{ "StringNotEqualsIgnoreCase", COND_EQUALS, 1, 1, 0 },
	{ "StringLike", COND_LIKE, 0, 0, 0 },
	{ "StringNotLike", COND_LIKE, 1, 0, 0 },
	{ "ArnEquals", COND_LIKE, 0, 0, 0 },
	{ "ArnLike", COND_LIKE, 0, 0, 0 },
	{ "ArnNotEquals", COND_LIKE, 1, 0, 0 },
	{ "ArnNotLike", COND_LIKE, 1, 0, 0 },
	{ "Bool", COND_EQUALS, 0, 1, 1 },
	{ "Null", COND_NULL, 0, 0, 1 },
};

/* Fill ${cd} from an operator name such as "ForAnyValue:StringLike". */
static const struct opdef *
parse_op(const char *name, struct policy_cond *cd)
{
	const struct opdef *d;
	size_t i, len;

	/* The set prefix. */
	if (strlen(name) > 12 && policy_ncase_eq(name, "ForAnyValue:", 12)) {
		cd->set = SET_ANY;
		name += 12;
	} else if (strlen(name) > 13 &&
	    policy_ncase_eq(name, "ForAllValues:", 13)) {
		cd->set = SET_ALL;
		name += 13;
	}

	/* The IfExists suffix. */
	len = strlen(name);
	if (len > 8 && policy_ncase_eq(name + len - 8, "IfExists", 8)) {
		cd->if_exists = 1;
		len -= 8;
	}

	/* The operator itself; Null takes neither. */
	for (i = 0; i < sizeof(opdefs) / sizeof(opdefs[0]); i++) {
		d = &opdefs[i];
		if (strlen(d->name) != len ||
		    !policy_ncase_eq(name, d->name, len))
			continue;
		if (d->op == COND_NULL &&
		    (cd->set != SET_NONE || cd->if_exists))
			return (NULL);
		cd->op = d->op;
		cd->negate = d->negate;
		return (d);
	}
	return (NULL);
}

/* The text of a condition value: a string, a boolean or an integer. */
static int
value_text(json_t *e, char *buf, size_t size, const char **s, size_t *len)
{

	if (json_is_string(e)) {
		*s = json_string_value(e);
		*len = json_string_length(e);
	} else if (json_is_boolean(e)) {
		*s = json_is_true(e) ? "true" : "false";
		*len = strlen(*s);
	} else if (json_is_integer(e)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(e));
		*s = buf;
		*len = strlen(buf);
	} else {
		return (-1);
	}
	return (0);
}

/* Is ${s}[0..len) "true" or "false", in any case?  Sets *${t}. */
static int
truth(const char *s, size_t len, int *t)
{

	if (len == 4 && policy_ncase_eq(s, "true", 4))
		*t = 1;
	else if (len == 5 && policy_ncase_eq(s, "false", 5))
		*t = 0;
	else
		return (-1);
	return (0);
}

/* Compile the values of one key under one operator. */
static int
parse_values(struct policy_pctx *c, json_t *v, const char *where,
    const struct opdef *d, struct policy_cond *cd)
{
	char ewhere[160], num[32];
	struct policy_pattern *pats;
	const char *s, *why;
	json_t *e;
	size_t i, n, len;
	int bad = 0, flags, t;

	/* A value or a nonempty list of values. */
	if (json_is_array(v)) {
		if ((n = json_array_size(v)) == 0) {
			policy_perr(c, "INVALID_CONDITION_VALUE", where,
			    "must not be an empty list");
			return (-1);
		}
	} else {
		n = 1;
	}
	if ((pats = cf_arena_alloc(c->a, n * sizeof(*pats))) == NULL)
		return (policy_nomem(c));

	/* How the values compare. */
	flags = (d->op == COND_LIKE ? PAT_WILD : 0) | (d->fold ? PAT_FOLD : 0);
	if (c->vars && !d->boolean)
		flags |= PAT_VARS;

	for (i = 0; i < n; i++) {
		e = json_is_array(v) ? json_array_get(v, i) : v;
		if (json_is_array(v))
			policy_index(ewhere, sizeof(ewhere), where, i);
		else
			snprintf(ewhere, sizeof(ewhere), "%s", where);

		/* Strings, booleans and integers; nothing nested. */
		if (value_text(e, num, sizeof(num), &s, &len)) {
			policy_perr(c, "INVALID_CONDITION_VALUE", ewhere,
			    "must be a string");
			bad = 1;
			continue;
		}

		/* Bool and Null take "true" or "false". */
		if (d->boolean) {
			if (truth(s, len, &t)) {
				policy_perr(c, "INVALID_CONDITION_VALUE",
				    ewhere, "must be \"true\" or \"false\"");
				bad = 1;
				continue;
			}
			if (d->op == COND_NULL) {
				if (t)
					cd->null_true = 1;
				else
					cd->null_false = 1;
			}
		}
		if (policy_pattern_compile(c->a, s, len, flags, &pats[i],
		    &why)) {
			if (why == NULL)
				return (policy_nomem(c));
			policy_perr(c, "INVALID_CONDITION_VALUE", ewhere, "%s",
			    why);
			bad = 1;
		}
	}
	cd->values = pats;
	cd->nvalues = n;
	return (bad ? -1 : 0);
}

/* Is ${key} a plausible condition key ("<prefix>:<name>")? */
static int
cond_key_ok(const char *key)
{
	const char *colon = strchr(key, ':');
	const char *p;

	if (colon == NULL || colon == key || colon[1] == '\0')
		return (0);
	for (p = key; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || *p == '*' || *p == '?')
			return (0);
	}
	return (1);
}

/* Compile one condition key of one operator block into ${cd}. */
static int
parse_cond(struct policy_pctx *c, const char *opname, const struct opdef *d,
    const char *key, json_t *v, const char *where, struct policy_cond *cd)
{
	char *lk;
	size_t i;

	/* The key is a name such as secretsmanager:VersionStage. */
	if (!cond_key_ok(key)) {
		policy_perr(c, "INVALID_CONDITION_KEY", where, "a condition "
		    "key must look like \"<service>:<name>\"");
		return (-1);
	}
	if ((cd->opname = cf_arena_strdup(c->a, opname)) == NULL ||
	    (cd->name = cf_arena_strdup(c->a, key)) == NULL ||
	    (lk = cf_arena_strdup(c->a, key)) == NULL)
		return (policy_nomem(c));
	for (i = 0; lk[i] != '\0'; i++)
		lk[i] = (char)policy_lower((unsigned char)lk[i]);
	cd->key = lk;
	cd->keylen = i;

	/* Then its values. */
	return (parse_values(c, v, where, d, cd));
}

/* "Condition": {"<operator>": {"<key>": <values>, ...}, ...}. */
int
policy_parse_conditions(struct policy_pctx *c, json_t *v, const char *where,
    struct policy_stmt *st)
{
	char owhere[128], kwhere[160];
	struct policy_cond *conds, probe;
	const struct opdef *d;
	const char *op, *key;
	json_t *block, *vals;
	size_t n = 0;
	int bad = 0;

	/* An object of operator blocks, each an object of keys. */
	if (!json_is_object(v)) {
		policy_perr(c, "INVALID_ELEMENT", where, "must be an object");
		return (-1);
	}
	json_object_foreach(v, op, block) {
		if (json_is_object(block))
			n += json_object_size(block);
	}
	if (n == 0) {
		conds = NULL;
	} else if ((conds = cf_arena_alloc(c->a, n * sizeof(*conds))) == NULL) {
		return (policy_nomem(c));
	}

	/* Compile each key of each operator. */
	n = 0;
	json_object_foreach(v, op, block) {
		policy_join(owhere, sizeof(owhere), where, op);
		memset(&probe, 0, sizeof(probe));
		if ((d = parse_op(op, &probe)) == NULL) {
			policy_perr(c, "UNSUPPORTED_CONDITION_OPERATOR", owhere,
			    "unknown condition operator");
			bad = 1;
			continue;
		}
		if (!json_is_object(block) || json_object_size(block) == 0) {
			policy_perr(c, "INVALID_ELEMENT", owhere, "must be an "
			    "object of condition keys");
			bad = 1;
			continue;
		}
		json_object_foreach(block, key, vals) {
			conds[n] = probe;
			policy_join(kwhere, sizeof(kwhere), owhere, key);
			if (parse_cond(c, op, d, key, vals, kwhere, &conds[n]))
				bad = 1;
			if (c->oom)
				return (-1);
			n++;
		}
	}
	st->conds = conds;
	st->nconds = n;
	return (bad ? -1 : 0);
}

