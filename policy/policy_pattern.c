/*
 * policy_pattern.c: the wildcard patterns of Principal, Action, Resource
 * and condition values, compiled once and matched without allocating.
 *
 * A pattern is split at parse time into literal runs, '*', '?' and policy
 * variables.  The common shapes ("*", a literal, "literal*") are matched by
 * one comparison; the rest by the classic glob walk that remembers only the
 * last '*', which is exact for patterns made of '*' and '?' and takes at
 * most O(pattern x subject) steps.  No regex library is involved.
 */
#include <string.h>

#include "policy_internal.h"

/* One step of the pattern, as the matcher sees it. */
enum unit {
	U_END,
	U_STAR,
	U_QMARK,
	U_CHAR
};

/* A position in a token list: token index and offset inside it. */
struct cursor {
	size_t t;
	size_t o;
};

/* The values of a pattern's variables for one request. */
struct vars {
	const char *s[POLICY_MAX_VARS];
	size_t len[POLICY_MAX_VARS];
};

/* Is ${c} allowed in the name of a policy variable? */
static int
var_char(unsigned char c)
{

	if (c <= ' ' || c == '$' || c == '{' || c == '}' || c == ',' ||
	    c == '\'' || c == '"')
		return (0);
	return (1);
}

/*
 * Length of the "${...}" at ${s}[0..len): a variable reference, or one of
 * the escapes ${*}, ${?} and ${$} (then *${escape} is set).  0 if neither.
 */
static size_t
dollar(const char *s, size_t len, int *escape)
{
	size_t i;

	*escape = 0;
	if (len < 4 || s[0] != '$' || s[1] != '{')
		return (0);
	if ((s[2] == '*' || s[2] == '?' || s[2] == '$') && s[3] == '}') {
		*escape = 1;
		return (4);
	}
	for (i = 2; i < len && s[i] != '}'; i++) {
		if (!var_char((unsigned char)s[i]))
			return (0);
	}
	if (i == len || i == 2)
		return (0);
	return (i + 1);
}

/*
 * Split ${buf}[0..len) into tokens.  With ${toks} NULL only count them.
 * Returns the number of tokens and sets *${nvars}.
 */
static size_t
tokenize(const char *buf, size_t len, int flags, struct policy_tok *toks,
    size_t *nvars)
{
	struct policy_tok t;
	size_t i = 0, n = 0, r, j;
	int esc;

	*nvars = 0;
	while (i < len) {
		memset(&t, 0, sizeof(t));
		r = (flags & PAT_VARS) ? dollar(buf + i, len - i, &esc) : 0;
		if (r > 0 && esc) {
			/* ${*}, ${?} and ${$} stand for the character. */
			t.type = TOK_LIT;
			t.s = buf + i + 2;
			t.len = 1;
			i += r;
		} else if (r > 0) {
			t.type = TOK_VAR;
			t.var = (unsigned int)(*nvars)++;
			t.s = buf + i + 2;
			t.len = r - 3;
			i += r;
		} else if ((flags & PAT_WILD) && buf[i] == '*') {
			/* Consecutive stars are one star. */
			t.type = TOK_STAR;
			while (i < len && buf[i] == '*')
				i++;
		} else if ((flags & PAT_WILD) && buf[i] == '?') {
			t.type = TOK_QMARK;
			i++;
		} else {
			/* A literal run, up to the next special character. */
			t.type = TOK_LIT;
			t.s = buf + i;
			for (j = i + 1; j < len; j++) {
				if ((flags & PAT_WILD) &&
				    (buf[j] == '*' || buf[j] == '?'))
					break;
				if ((flags & PAT_VARS) &&
				    dollar(buf + j, len - j, &esc) > 0)
					break;
			}
			t.len = j - i;
			i = j;
		}
		if (toks != NULL)
			toks[n] = t;
		n++;
	}
	return (n);
}

int
policy_pattern_compile(struct cf_arena *a, const char *s, size_t len,
    int flags, struct policy_pattern *out, const char **why)
{
	struct policy_tok *toks;
	char *src, *buf;
	size_t i, n, nvars;

	*why = NULL;
	memset(out, 0, sizeof(*out));
	out->fold = (flags & PAT_FOLD) != 0;

	/* Keep the text as written, and a copy lowered for matching. */
	if ((src = cf_arena_memdup(a, s, len)) == NULL)
		goto err0;
	if (out->fold) {
		if ((buf = cf_arena_memdup(a, s, len)) == NULL)
			goto err0;
		for (i = 0; i < len; i++)
			buf[i] = (char)policy_lower((unsigned char)buf[i]);
	} else {
		buf = src;
	}
	out->src = src;

	/* Count the tokens, then fill them in. */
	n = tokenize(buf, len, flags, NULL, &nvars);
	if (nvars > POLICY_MAX_VARS) {
		*why = "uses more than 8 policy variables";
		goto err0;
	}
	if (n > 0) {
		if ((toks = cf_arena_alloc(a, n * sizeof(*toks))) == NULL)
			goto err0;
		(void)tokenize(buf, len, flags, toks, &nvars);
	} else {
		toks = NULL;
	}

	/* Variable names are matched in lower case. */
	for (i = 0; i < n; i++) {
		if (toks[i].type == TOK_VAR && !out->fold) {
			char *k;

			if ((k = cf_arena_memdup(a, toks[i].s, toks[i].len)) ==
			    NULL)
				goto err0;
			for (size_t j = 0; j < toks[i].len; j++)
				k[j] = (char)policy_lower((unsigned char)k[j]);
			toks[i].s = k;
		}
	}

	/* Pick the cheapest way to match. */
	out->toks = toks;
	out->ntoks = n;
	out->nvars = nvars;
	if (n == 1 && toks[0].type == TOK_STAR) {
		out->kind = PAT_ANY;
	} else if (n == 0) {
		out->kind = PAT_EXACT;
		out->lit = buf;
		out->len = 0;
	} else if (toks[0].type == TOK_LIT && (n == 1 ||
	    (n == 2 && toks[1].type == TOK_STAR))) {
		out->kind = n == 1 ? PAT_EXACT : PAT_PREFIX;
		out->lit = toks[0].s;
		out->len = toks[0].len;
	} else {
		out->kind = PAT_GLOB;
	}

	/* Success! */
	return (0);

err0:
	/* Failure! */
	return (-1);
}

/* Compare ${n} bytes, ASCII case-insensitively when ${fold}. */
static int
same(const char *p, const char *s, size_t n, int fold)
{
	size_t i;

	if (!fold)
		return (memcmp(p, s, n) == 0);
	for (i = 0; i < n; i++) {
		if (policy_lower((unsigned char)p[i]) !=
		    policy_lower((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

/* The unit of the pattern at ${c}, skipping exhausted literal tokens. */
static enum unit
unit_at(const struct policy_pattern *p, const struct vars *v,
    struct cursor *c, unsigned char *ch)
{
	const struct policy_tok *t;
	const char *s;
	size_t len;

	for (;;) {
		if (c->t == p->ntoks)
			return (U_END);
		t = &p->toks[c->t];
		if (t->type == TOK_STAR)
			return (U_STAR);
		if (t->type == TOK_QMARK)
			return (U_QMARK);
		if (t->type == TOK_LIT) {
			s = t->s;
			len = t->len;
		} else {
			s = v->s[t->var];
			len = v->len[t->var];
		}
		if (c->o < len) {
			*ch = (unsigned char)s[c->o];
			return (U_CHAR);
		}
		c->t++;
		c->o = 0;
	}
}

/* Step past the unit ${u} at ${c}. */
static void
advance(struct cursor *c, enum unit u)
{

	if (u == U_CHAR) {
		c->o++;
	} else {
		c->t++;
		c->o = 0;
	}
}

/* The index after the code point that starts at ${s}[i]. */
static size_t
next_cp(const char *s, size_t n, size_t i)
{

	for (i++; i < n && ((unsigned char)s[i] & 0xc0) == 0x80; i++)
		continue;
	return (i);
}

/* Match a PAT_GLOB pattern whose variables are resolved in ${v}. */
static int
glob(const struct policy_pattern *p, const struct vars *v, const char *s,
    size_t n)
{
	struct cursor pc = { 0, 0 }, star = { 0, 0 };
	size_t si = 0, star_si = 0;
	int have_star = 0;
	unsigned char ch = 0;
	enum unit u;

	for (;;) {
		u = unit_at(p, v, &pc, &ch);
		if (si == n)
			break;

		/* A star first matches nothing; remember where it was. */
		if (u == U_STAR) {
			advance(&pc, u);
			star = pc;
			star_si = si;
			have_star = 1;
			continue;
		}
		if (u == U_QMARK) {
			advance(&pc, u);
			si = next_cp(s, n, si);
			continue;
		}
		if (u == U_CHAR && (p->fold ? policy_lower(ch) ==
		    policy_lower((unsigned char)s[si]) : ch ==
		    (unsigned char)s[si])) {
			advance(&pc, u);
			si++;
			continue;
		}

		/* Mismatch: let the last star swallow one more character. */
		if (!have_star)
			return (0);
		star_si = next_cp(s, n, star_si);
		si = star_si;
		pc = star;
	}

	/* The subject is used up: only stars may remain. */
	while (u == U_STAR) {
		advance(&pc, u);
		u = unit_at(p, v, &pc, &ch);
	}
	return (u == U_END);
}

int
policy_pattern_match(const struct policy_pattern *p, const char *s, size_t n,
    const struct policy_req *rq)
{
	struct vars v;
	const char *const *vals;
	size_t i, nv;

	switch (p->kind) {
	case PAT_ANY:
		return (1);
	case PAT_EXACT:
		return (n == p->len && same(p->lit, s, n, p->fold));
	case PAT_PREFIX:
		return (n >= p->len && same(p->lit, s, p->len, p->fold));
	case PAT_GLOB:
		break;
	}

	/* Resolve the variables; one that is absent or multi-valued fails. */
	for (i = 0; i < p->ntoks; i++) {
		const struct policy_tok *t = &p->toks[i];

		if (t->type != TOK_VAR)
			continue;
		if (!policy_context_get(rq, t->s, t->len, &vals, &nv) ||
		    nv != 1 || vals[0] == NULL)
			return (0);
		v.s[t->var] = vals[0];
		v.len[t->var] = strlen(vals[0]);
	}
	return (glob(p, &v, s, n));
}

int
policy_pattern_is_open(const struct policy_pattern *p)
{
	size_t i;
	int star = 0;

	if (p->kind == PAT_ANY)
		return (1);
	if (p->kind != PAT_GLOB)
		return (0);
	for (i = 0; i < p->ntoks; i++) {
		if (p->toks[i].type == TOK_STAR)
			star = 1;
		else if (p->toks[i].type != TOK_QMARK)
			return (0);
	}
	return (star);
}

/* Does the context key ${k} (NUL-terminated) equal ${key}[0..len)? */
static int
key_is(const char *k, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (k[i] == '\0' ||
		    policy_lower((unsigned char)k[i]) != (unsigned char)key[i])
			return (0);
	}
	return (k[len] == '\0');
}

int
policy_context_get(const struct policy_req *rq, const char *key, size_t len,
    const char *const **out_values, size_t *out_n)
{
	const struct policy_context_key *ck;
	size_t i;

	/* The request's own context comes first. */
	for (i = 0; i < rq->r->ncontext; i++) {
		ck = &rq->r->context[i];
		if (ck->key == NULL || !key_is(ck->key, key, len))
			continue;
		if (ck->nvalues == 0 || ck->values == NULL)
			return (0);
		*out_values = ck->values;
		*out_n = ck->nvalues;
		return (1);
	}

	/* Keys that name the caller default to the principal. */
	if (rq->principal != NULL && (key_is("coffer:principal", key, len) ||
	    key_is("aws:username", key, len) ||
	    key_is("aws:principalarn", key, len))) {
		*out_values = &rq->principal;
		*out_n = 1;
		return (1);
	}
	return (0);
}
