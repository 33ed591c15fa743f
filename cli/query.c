/*
 * query.c: the part of JMESPath that `--query` needs, as the AWS CLI users
 * write it: field paths (a.b), indexes ([0], [-1]), projections ([] which
 * flattens, and [*]), multiselect lists ([a, b]) and hashes ({k: a}),
 * pipes (|), @ and length().  A recursive-descent parser builds a small
 * tree; evaluation follows JMESPath's rules (a projection applies the rest
 * of the expression to each element and drops nulls).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum kind { N_CURRENT, N_FIELD, N_INDEX, N_SUB, N_PROJECT, N_FLATTEN,
	N_LIST, N_HASH, N_PIPE, N_LENGTH };

struct node {
	enum kind kind;
	char *name;			/* field name / hash key */
	long index;
	struct node *left, *right;
	struct node **items;		/* list and hash members */
	char **keys;
	size_t n;
};

struct parser {
	const char *s;
	char *err;
	size_t errlen;
	int failed;
};

static struct node *parse_expr(struct parser *);

static struct node *
node(enum kind k)
{
	struct node *n = calloc(1, sizeof(*n));

	n->kind = k;
	return (n);
}

static void
node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	node_free(n->left);
	node_free(n->right);
	for (i = 0; i < n->n; i++) {
		node_free(n->items[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->name);
	free(n);
}

static void
skip(struct parser *p)
{

	while (isspace((unsigned char)*p->s))
		p->s++;
}

static int
eat(struct parser *p, const char *tok)
{

	skip(p);
	if (strncmp(p->s, tok, strlen(tok)) != 0)
		return (0);
	p->s += strlen(tok);
	return (1);
}

static struct node *
bad(struct parser *p, const char *what)
{

	if (!p->failed)
		snprintf(p->err, p->errlen, "Bad value for --query: %s at "
		    "\"%.20s\"", what, p->s);
	p->failed = 1;
	return (NULL);
}

static char *
identifier(struct parser *p)
{
	const char *start;

	skip(p);
	if (*p->s == '"') {		/* "quoted identifier" */
		start = ++p->s;
		while (*p->s != '\0' && *p->s != '"')
			p->s++;
		if (*p->s != '"')
			return (NULL);
		return (strndup(start, (size_t)(p->s++ - start)));
	}
	start = p->s;
	while (isalnum((unsigned char)*p->s) || *p->s == '_')
		p->s++;
	if (p->s == start)
		return (NULL);
	return (strndup(start, (size_t)(p->s - start)));
}

/* [a, b] after "[" was eaten, or {k: a, ...} after "{". */
static struct node *
multiselect(struct parser *p, int hash)
{
	struct node *n = node(hash ? N_HASH : N_LIST);

	do {
		n->items = realloc(n->items, (n->n + 1) * sizeof(*n->items));
		if (hash) {
			n->keys = realloc(n->keys, (n->n + 1) * sizeof(char *));
			if ((n->keys[n->n] = identifier(p)) == NULL ||
			    !eat(p, ":")) {
				n->items[n->n] = NULL;
				n->n++;
				node_free(n);
				return (bad(p, "expected key: expression"));
			}
		}
		n->items[n->n] = parse_expr(p);
		n->n++;
		if (p->failed) {
			node_free(n);
			return (NULL);
		}
	} while (eat(p, ","));
	if (!eat(p, hash ? "}" : "]")) {
		node_free(n);
		return (bad(p, hash ? "expected }" : "expected ]"));
	}
	return (n);
}

/* A bracket after an expression: [N], or a projection [] / [*]. */
static struct node *
bracket(struct parser *p, struct node *left, int *projection)
{
	struct node *n;
	char *end;
	long idx;

	*projection = 1;
	if (eat(p, "[]"))
		n = node(N_FLATTEN);
	else if (eat(p, "[*]"))
		n = node(N_PROJECT);
	else {
		*projection = 0;
		if (!eat(p, "["))
			goto fail;
		skip(p);
		idx = strtol(p->s, &end, 10);
		if (end == p->s)
			goto fail;
		p->s = end;
		if (!eat(p, "]"))
			goto fail;
		n = node(N_SUB);
		n->right = node(N_INDEX);
		n->right->index = idx;
	}
	n->left = left;
	return (n);

fail:
	node_free(left);
	return (bad(p, "expected [index], [] or [*]"));
}

/*
 * Postfixes (.x, [N], [], [*]) applied to ${n}.  Inside a projection's
 * right-hand side (${rhs}), a flatten "[]" ends it: JMESPath flattens the
 * whole projected result, so a[].b[].c is one flat list.
 */
static struct node *
postfix(struct parser *p, struct node *n, int rhs)
{
	struct node *sub;
	int projection;

	for (;;) {
		skip(p);
		if (*p->s == '.') {
			p->s++;
			skip(p);
			sub = node(N_SUB);
			sub->left = n;
			if (eat(p, "["))
				sub->right = multiselect(p, 0);
			else if (eat(p, "{"))
				sub->right = multiselect(p, 1);
			else {
				sub->right = node(N_FIELD);
				if ((sub->right->name = identifier(p)) == NULL)
					bad(p, "expected a field name");
			}
			n = sub;
		} else if (*p->s == '[' && !(isspace((unsigned char)p->s[1]) ||
		    isalpha((unsigned char)p->s[1]) || p->s[1] == '"')) {
			if (rhs && p->s[1] == ']')
				return (n);
			if ((n = bracket(p, n, &projection)) == NULL)
				return (NULL);
			if (!projection)
				continue;
			/* The rest of the chain applies to each element. */
			n->right = postfix(p, node(N_CURRENT), 1);
		} else
			return (n);
		if (p->failed)
			return (n);
	}
}

static struct node *
primary(struct parser *p)
{
	struct node *n;

	skip(p);
	if (eat(p, "@"))
		return (node(N_CURRENT));
	if (eat(p, "length(")) {
		n = node(N_LENGTH);
		n->left = parse_expr(p);
		if (!eat(p, ")"))
			bad(p, "expected )");
		return (n);
	}
	if (*p->s == '[' && !(p->s[1] == ']' || p->s[1] == '*' ||
	    isdigit((unsigned char)p->s[1]) || p->s[1] == '-')) {
		p->s++;
		return (multiselect(p, 0));
	}
	if (eat(p, "{"))
		return (multiselect(p, 1));
	if (*p->s == '[')		/* [*], [] or [N] on the input */
		return (node(N_CURRENT));
	n = node(N_FIELD);
	if ((n->name = identifier(p)) == NULL)
		bad(p, "expected an expression");
	return (n);
}

static struct node *
parse_expr(struct parser *p)
{
	struct node *n = postfix(p, primary(p), 0), *pipe;

	while (!p->failed && eat(p, "|")) {
		pipe = node(N_PIPE);
		pipe->left = n;
		pipe->right = postfix(p, primary(p), 0);
		n = pipe;
	}
	return (n);
}

/* ---- evaluation --------------------------------------------------------------- */

static json_t *
eval(const struct node *n, json_t *v)
{
	json_t *l, *r, *out, *e, *f;
	size_t i, j;
	long idx;

	switch (n->kind) {
	case N_CURRENT:
		return (json_incref(v));
	case N_FIELD:
		return (json_is_object(v) ?
		    json_incref(json_object_get(v, n->name)) : NULL);
	case N_INDEX:
		if (!json_is_array(v))
			return (NULL);
		idx = n->index < 0 ? (long)json_array_size(v) + n->index :
		    n->index;
		return (idx < 0 ? NULL : json_incref(json_array_get(v,
		    (size_t)idx)));
	case N_SUB:
	case N_PIPE:
		if ((l = eval(n->left, v)) == NULL)
			return (NULL);
		r = eval(n->right, l);
		json_decref(l);
		return (r);
	case N_PROJECT:
	case N_FLATTEN:
		if ((l = eval(n->left, v)) == NULL || !json_is_array(l)) {
			json_decref(l);
			return (NULL);
		}
		out = json_array();
		json_array_foreach(l, i, e) {
			/* [] flattens one level before projecting. */
			if (n->kind == N_FLATTEN && json_is_array(e)) {
				json_array_foreach(e, j, f)
					if ((r = eval(n->right, f)) != NULL &&
					    !json_is_null(r))
						json_array_append_new(out, r);
					else
						json_decref(r);
				continue;
			}
			if ((r = eval(n->right, e)) != NULL && !json_is_null(r))
				json_array_append_new(out, r);
			else
				json_decref(r);
		}
		json_decref(l);
		return (out);
	case N_LIST:
		if (v == NULL || json_is_null(v))
			return (NULL);
		out = json_array();
		for (i = 0; i < n->n; i++) {
			r = eval(n->items[i], v);
			json_array_append_new(out, r ? r : json_null());
		}
		return (out);
	case N_HASH:
		if (v == NULL || json_is_null(v))
			return (NULL);
		out = json_object();
		for (i = 0; i < n->n; i++) {
			r = eval(n->items[i], v);
			json_object_set_new(out, n->keys[i], r ? r : json_null());
		}
		return (out);
	case N_LENGTH:
		if ((l = eval(n->left, v)) == NULL)
			return (NULL);
		r = json_is_string(l) ? json_integer((json_int_t)strlen(
		    json_string_value(l))) : json_is_array(l) ?
		    json_integer((json_int_t)json_array_size(l)) :
		    json_is_object(l) ? json_integer((json_int_t)json_object_size(
		    l)) : NULL;
		json_decref(l);
		return (r);
	}
	return (NULL);
}

json_t *
cli_query(json_t *v, const char *expr, char *err, size_t errlen)
{
	struct parser p = { expr, err, errlen, 0 };
	struct node *n;
	json_t *r;

	n = parse_expr(&p);
	skip(&p);
	if (!p.failed && *p.s != '\0')
		bad(&p, "unexpected text");
	if (p.failed) {
		node_free(n);
		return (NULL);
	}
	r = eval(n, v);
	node_free(n);
	return (r ? r : json_null());
}
