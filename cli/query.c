/*
 * query.c: --query, a JMESPath evaluator over jansson values: the lexer
 * and the parser (the interpreter is query_eval.c).
 *
 * A port of the reference implementation's design (jmespath.py, which the
 * AWS CLI uses): a lexer, a Pratt parser with the same binding powers and
 * the same tree, and a tree interpreter with the same rules.  Nesting is
 * bounded so that a hostile expression cannot blow the stack.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"
#include "query_internal.h"

/* ---- tokens ------------------------------------------------------------------ */

static const char *const tok_names[T__COUNT] = {
	"eof", "unquoted_identifier", "quoted_identifier", "literal",
	"number", "dot", "star", "flatten", "filter", "lbracket", "rbracket",
	"lbrace", "rbrace", "lparen", "rparen", "comma", "colon", "pipe", "or",
	"and", "not", "expref", "eq", "ne", "lt", "lte", "gt", "gte", "current"
};

/* jmespath.py's binding powers; the rest are 0. */
static const int bp[T__COUNT] = {
	[T_PIPE] = 1, [T_OR] = 2, [T_AND] = 3, [T_EQ] = 5, [T_NE] = 5,
	[T_LT] = 5, [T_LTE] = 5, [T_GT] = 5, [T_GTE] = 5, [T_FLATTEN] = 9,
	[T_STAR] = 20, [T_FILTER] = 21, [T_DOT] = 40, [T_NOT] = 45,
	[T_LBRACE] = 50, [T_LBRACKET] = 55, [T_LPAREN] = 60,
};
#define PROJECTION_STOP 10

struct token {
	enum tok type;
	char *str;			/* identifiers */
	json_t *lit;			/* literals */
	long num;
	size_t pos;
};

struct lexer {
	const char *s;
	size_t i;
	struct token *t;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static int
lex_error(struct lexer *l, const char *what)
{

	snprintf(l->err, l->errlen, "%s at column %zu", what, l->i);
	return (-1);
}

static struct token *
lex_push(struct lexer *l, enum tok type, size_t pos)
{
	struct token *grown;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		if ((grown = realloc(l->t, l->cap * sizeof(*grown))) == NULL)
			return (NULL);
		l->t = grown;
	}
	memset(&l->t[l->n], 0, sizeof(l->t[l->n]));
	l->t[l->n].type = type;
	l->t[l->n].pos = pos;
	return (&l->t[l->n++]);
}

static const char *
skip_blank(const char *s)
{

	while (isspace((unsigned char)*s))
		s++;
	return (s);
}

/* The text up to the unescaped ${q}; returns the index past it or 0. */
static size_t
lex_delimited(const char *s, size_t i, char q)
{

	for (i++; s[i] != '\0'; i++) {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == q)
			return (i + 1);
	}
	return (0);
}

/* Copy s[a, b) dropping the backslash of "\q". */
static char *
unescape(const char *s, size_t a, size_t b, char q)
{
	char *out, *o;
	size_t i;

	if ((out = malloc(b - a + 1)) == NULL)
		return (NULL);
	for (o = out, i = a; i < b; i++) {
		if (s[i] == '\\' && i + 1 < b && s[i + 1] == q)
			i++;
		*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

static int
lex_one(struct lexer *l)
{
	const char *s = l->s;
	size_t i = l->i, end;
	struct token *t;
	json_error_t je;
	char *text, c = s[i];
	enum tok type;

	/* Identifiers and numbers. */
	if (isalpha((unsigned char)c) || c == '_') {
		for (end = i; isalnum((unsigned char)s[end]) || s[end] == '_';
		    end++)
			;
		if ((t = lex_push(l, T_UNQUOTED, i)) == NULL ||
		    (t->str = strndup(s + i, end - i)) == NULL)
			return (lex_error(l, "out of memory"));
		l->i = end;
		return (0);
	}
	if (isdigit((unsigned char)c) || (c == '-' &&
	    isdigit((unsigned char)s[i + 1]))) {
		if ((t = lex_push(l, T_NUMBER, i)) == NULL)
			return (lex_error(l, "out of memory"));
		t->num = strtol(s + i, &text, 10);
		l->i = (size_t)(text - s);
		return (0);
	}

	/* "quoted identifier", 'raw string', `json literal`. */
	if (c == '"' || c == '\'' || c == '`') {
		if ((end = lex_delimited(s, i, c)) == 0)
			return (lex_error(l, "unterminated string"));
		if ((t = lex_push(l, c == '"' ? T_QUOTED : T_LITERAL, i)) ==
		    NULL)
			return (lex_error(l, "out of memory"));
		if (c == '"') {
			t->lit = json_loadb(s + i, end - i, JSON_DECODE_ANY,
			    &je);
			if (!json_is_string(t->lit) || (t->str = strdup(
			    json_string_value(t->lit))) == NULL)
				return (lex_error(l, "bad quoted identifier"));
			json_decref(t->lit);
			t->lit = NULL;
		} else {
			if ((text = unescape(s, i + 1, end - 1, c)) == NULL)
				return (lex_error(l, "out of memory"));
			t->lit = c == '\'' ? json_string(text) :
			    json_loads(text, JSON_DECODE_ANY, &je);
			/* jmespath.py still reads `foo` as the string "foo". */
			if (t->lit == NULL && c == '`')
				t->lit = json_string(skip_blank(text));
			free(text);
			if (t->lit == NULL)
				return (lex_error(l, c == '\'' ? "bad raw "
				    "string" : "bad JSON literal"));
		}
		l->i = end;
		return (0);
	}

	/* Punctuation, one or two characters. */
	end = i + 1;
	switch (c) {
	case '.': type = T_DOT; break;
	case '*': type = T_STAR; break;
	case '@': type = T_CURRENT; break;
	case ']': type = T_RBRACKET; break;
	case '{': type = T_LBRACE; break;
	case '}': type = T_RBRACE; break;
	case '(': type = T_LPAREN; break;
	case ')': type = T_RPAREN; break;
	case ',': type = T_COMMA; break;
	case ':': type = T_COLON; break;
	case '[':
		type = s[i + 1] == ']' ? T_FLATTEN : s[i + 1] == '?' ?
		    T_FILTER : T_LBRACKET;
		end += type != T_LBRACKET;
		break;
	case '|':
		type = s[i + 1] == '|' ? T_OR : T_PIPE;
		end += type == T_OR;
		break;
	case '&':
		type = s[i + 1] == '&' ? T_AND : T_EXPREF;
		end += type == T_AND;
		break;
	case '!':
		type = s[i + 1] == '=' ? T_NE : T_NOT;
		end += type == T_NE;
		break;
	case '<':
		type = s[i + 1] == '=' ? T_LTE : T_LT;
		end += type == T_LTE;
		break;
	case '>':
		type = s[i + 1] == '=' ? T_GTE : T_GT;
		end += type == T_GTE;
		break;
	case '=':
		if (s[i + 1] != '=')
			return (lex_error(l, "unknown token '=' (use ==)"));
		type = T_EQ;
		end++;
		break;
	default:
		return (lex_error(l, "unknown character"));
	}
	if (lex_push(l, type, i) == NULL)
		return (lex_error(l, "out of memory"));
	l->i = end;
	return (0);
}

static void
tokens_free(struct token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].str);
		json_decref(t[i].lit);
	}
	free(t);
}

/* ---- the tree ------------------------------------------------------------------- */

static void
node_free(struct qnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++) {
		node_free(n->kids[i]);
		if (n->keys != NULL)
			free(n->keys[i]);
	}
	free(n->kids);
	free(n->keys);
	free(n->name);
	json_decref(n->lit);
	free(n);
}

static struct qnode *
node_new(enum kind k)
{
	struct qnode *n;

	if ((n = calloc(1, sizeof(*n))) != NULL)
		n->kind = k;
	return (n);
}

/* Append ${kid} (taken even on failure); -1 on failure. */
static int
node_add(struct qnode *n, struct qnode *kid, const char *key)
{
	struct qnode **kids;
	char **keys;

	if (n == NULL || kid == NULL)
		goto fail;
	if ((kids = realloc(n->kids, (n->n + 1) * sizeof(*kids))) == NULL)
		goto fail;
	n->kids = kids;
	if (key != NULL || n->keys != NULL) {
		if ((keys = realloc(n->keys, (n->n + 1) * sizeof(*keys))) ==
		    NULL)
			goto fail;
		n->keys = keys;
		if ((n->keys[n->n] = strdup(key ? key : "")) == NULL)
			goto fail;
	}
	n->kids[n->n++] = kid;
	return (0);

fail:
	node_free(kid);
	return (-1);
}

static struct qnode *
node1(enum kind k, struct qnode *a)
{
	struct qnode *n = node_new(k);

	if (node_add(n, a, NULL)) {
		node_free(n);
		return (NULL);
	}
	return (n);
}

static struct qnode *
node2(enum kind k, struct qnode *a, struct qnode *b)
{
	struct qnode *n = node_new(k);

	if (node_add(n, a, NULL) | node_add(n, b, NULL)) {
		node_free(n);
		return (NULL);
	}
	return (n);
}

/* ---- the parser ------------------------------------------------------------------ */

struct parser {
	struct token *t;
	size_t i, n;
	int depth, failed;
	char *err;
	size_t errlen;
};

static struct qnode *
parse_error(struct parser *p, const char *what)
{

	if (!p->failed)
		snprintf(p->err, p->errlen, "%s (at column %zu, token \"%s\")",
		    what, p->t[p->i].pos, tok_names[p->t[p->i].type]);
	p->failed = 1;
	return (NULL);
}

static enum tok
cur(const struct parser *p)
{

	return (p->t[p->i].type);
}

static enum tok
look(const struct parser *p, size_t k)
{

	return (p->i + k < p->n ? p->t[p->i + k].type : T_EOF);
}

static void
advance(struct parser *p)
{

	if (p->i + 1 < p->n)
		p->i++;
}

static int
match(struct parser *p, enum tok t)
{
	char what[64];

	if (cur(p) == t) {
		advance(p);
		return (0);
	}
	snprintf(what, sizeof(what), "Expecting: %s", tok_names[t]);
	parse_error(p, what);
	return (-1);
}

static struct qnode *expression(struct parser *, int);

static struct qnode *
multi_select_list(struct parser *p)
{
	struct qnode *n = node_new(N_LIST);

	for (;;) {
		if (node_add(n, expression(p, 0), NULL))
			goto fail;
		if (cur(p) == T_RBRACKET)
			break;
		if (match(p, T_COMMA))
			goto fail;
	}
	if (match(p, T_RBRACKET))
		goto fail;
	return (n);
fail:
	node_free(n);
	return (parse_error(p, "bad multi-select list"));
}

static struct qnode *
multi_select_hash(struct parser *p)
{
	struct qnode *n = node_new(N_HASH);
	const char *key;

	for (;;) {
		if (cur(p) != T_UNQUOTED && cur(p) != T_QUOTED)
			goto fail;
		key = p->t[p->i].str;
		advance(p);
		if (match(p, T_COLON) || node_add(n, expression(p, 0), key))
			goto fail;
		if (cur(p) == T_COMMA)
			advance(p);
		else if (cur(p) == T_RBRACE) {
			advance(p);
			break;
		} else
			goto fail;
	}
	return (n);
fail:
	node_free(n);
	return (parse_error(p, "bad multi-select hash"));
}

static struct qnode *
dot_rhs(struct parser *p, int rbp)
{

	switch (cur(p)) {
	case T_UNQUOTED:
	case T_QUOTED:
	case T_STAR:
		return (expression(p, rbp));
	case T_LBRACKET:
		advance(p);
		return (multi_select_list(p));
	case T_LBRACE:
		advance(p);
		return (multi_select_hash(p));
	default:
		return (parse_error(p, "Expecting: identifier, [, { or * "
		    "after a dot"));
	}
}

static struct qnode *
projection_rhs(struct parser *p, int rbp)
{

	if (bp[cur(p)] < PROJECTION_STOP)
		return (node_new(N_IDENTITY));
	if (cur(p) == T_LBRACKET || cur(p) == T_FILTER)
		return (expression(p, rbp));
	if (cur(p) == T_DOT) {
		advance(p);
		return (dot_rhs(p, rbp));
	}
	return (parse_error(p, "syntax error"));
}

/* [N] or [a:b:c] after "[" (already consumed). */
static struct qnode *
index_expression(struct parser *p)
{
	struct qnode *n;
	int part = 0;

	if (cur(p) != T_COLON && look(p, 1) != T_COLON) {
		if ((n = node_new(N_INDEX)) == NULL)
			return (parse_error(p, "out of memory"));
		n->index = p->t[p->i].num;
		advance(p);
		if (match(p, T_RBRACKET)) {
			node_free(n);
			return (NULL);
		}
		return (n);
	}
	if ((n = node_new(N_SLICE)) == NULL)
		return (parse_error(p, "out of memory"));
	while (cur(p) != T_RBRACKET) {
		if (cur(p) == T_COLON) {
			if (++part > 2)
				goto fail;
		} else if (cur(p) == T_NUMBER) {
			n->slice[part] = p->t[p->i].num;
			n->has[part] = 1;
		} else
			goto fail;
		advance(p);
	}
	advance(p);
	if (n->has[2] && n->slice[2] == 0) {
		node_free(n);
		return (parse_error(p, "Invalid slice: step cannot be 0"));
	}
	return (n);
fail:
	node_free(n);
	return (parse_error(p, "bad slice expression"));
}

static struct qnode *
project_if_slice(struct parser *p, struct qnode *left, struct qnode *right)
{
	struct qnode *ie;
	int slice = right != NULL && right->kind == N_SLICE;

	if ((ie = node2(N_INDEX_EXPR, left, right)) == NULL || !slice)
		return (ie);
	return (node2(N_PROJECTION, ie, projection_rhs(p, bp[T_STAR])));
}

static struct qnode *
led_filter(struct parser *p, struct qnode *left)
{
	struct qnode *cond, *right, *n;

	cond = expression(p, 0);
	if (match(p, T_RBRACKET)) {
		node_free(left);
		node_free(cond);
		return (NULL);
	}
	right = cur(p) == T_FLATTEN ? node_new(N_IDENTITY) :
	    projection_rhs(p, bp[T_FILTER]);
	if ((n = node2(N_FILTER, left, right)) == NULL ||
	    node_add(n, cond, NULL)) {
		node_free(n);
		return (NULL);
	}
	return (n);
}

static struct qnode *
led_function(struct parser *p, struct qnode *left)
{
	struct qnode *n;
	char err[128];

	if (left == NULL || left->kind != N_FIELD) {
		node_free(left);
		return (parse_error(p, "a function name must be an "
		    "unquoted identifier"));
	}
	n = node_new(N_FUNCTION);
	if (n == NULL) {
		node_free(left);
		return (parse_error(p, "out of memory"));
	}
	n->name = left->name;
	left->name = NULL;
	node_free(left);
	while (cur(p) != T_RPAREN) {
		if (node_add(n, expression(p, 0), NULL))
			goto fail;
		if (cur(p) == T_COMMA)
			advance(p);
		else if (cur(p) != T_RPAREN)
			goto fail;
	}
	advance(p);
	if (!query_function_arity(n->name, n->n, err, sizeof(err))) {
		node_free(n);
		return (parse_error(p, err));
	}
	return (n);
fail:
	node_free(n);
	return (parse_error(p, "bad function arguments"));
}

static struct qnode *
nud(struct parser *p, const struct token *t)
{
	struct qnode *n, *left;

	switch (t->type) {
	case T_LITERAL:
		if ((n = node_new(N_LITERAL)) != NULL)
			n->lit = json_incref(t->lit);
		return (n);
	case T_UNQUOTED:
	case T_QUOTED:
		if (t->type == T_QUOTED && cur(p) == T_LPAREN)
			return (parse_error(p, "Quoted identifier not allowed "
			    "for function names"));
		if ((n = node_new(N_FIELD)) != NULL &&
		    (n->name = strdup(t->str)) == NULL) {
			node_free(n);
			n = NULL;
		}
		return (n);
	case T_STAR:
		left = node_new(N_IDENTITY);
		return (node2(N_VALUE_PROJECTION, left, cur(p) == T_RBRACKET ?
		    node_new(N_IDENTITY) : projection_rhs(p, bp[T_STAR])));
	case T_FILTER:
		return (led_filter(p, node_new(N_IDENTITY)));
	case T_LBRACE:
		return (multi_select_hash(p));
	case T_LPAREN:
		n = expression(p, 0);
		if (match(p, T_RPAREN)) {
			node_free(n);
			return (NULL);
		}
		return (n);
	case T_FLATTEN:
		left = node1(N_FLATTEN, node_new(N_IDENTITY));
		return (node2(N_PROJECTION, left, projection_rhs(p,
		    bp[T_FLATTEN])));
	case T_NOT:
		return (node1(N_NOT, expression(p, bp[T_NOT])));
	case T_LBRACKET:
		if (cur(p) == T_NUMBER || cur(p) == T_COLON)
			return (project_if_slice(p, node_new(N_IDENTITY),
			    index_expression(p)));
		if (cur(p) == T_STAR && look(p, 1) == T_RBRACKET) {
			advance(p);
			advance(p);
			return (node2(N_PROJECTION, node_new(N_IDENTITY),
			    projection_rhs(p, bp[T_STAR])));
		}
		return (multi_select_list(p));
	case T_CURRENT:
		return (node_new(N_CURRENT));
	case T_EXPREF:
		return (node1(N_EXPREF, expression(p, 0)));
	default:
		return (parse_error(p, "Unexpected token"));
	}
}

static struct qnode *
led(struct parser *p, enum tok t, struct qnode *left)
{
	struct qnode *right, *n;

	switch (t) {
	case T_DOT:
		if (cur(p) != T_STAR) {
			right = dot_rhs(p, bp[T_DOT]);
			if (left == NULL || left->kind != N_SUBEXPR)
				return (node2(N_SUBEXPR, left, right));
			if (node_add(left, right, NULL)) {
				node_free(left);
				return (NULL);
			}
			return (left);
		}
		advance(p);
		return (node2(N_VALUE_PROJECTION, left, projection_rhs(p,
		    bp[T_DOT])));
	case T_PIPE:
		return (node2(N_PIPE, left, expression(p, bp[T_PIPE])));
	case T_OR:
		return (node2(N_OR, left, expression(p, bp[T_OR])));
	case T_AND:
		return (node2(N_AND, left, expression(p, bp[T_AND])));
	case T_LPAREN:
		return (led_function(p, left));
	case T_FILTER:
		return (led_filter(p, left));
	case T_EQ:
	case T_NE:
	case T_LT:
	case T_LTE:
	case T_GT:
	case T_GTE:
		if ((n = node2(N_CMP, left, expression(p, bp[t]))) != NULL)
			n->cmp = t;
		return (n);
	case T_FLATTEN:
		left = node1(N_FLATTEN, left);
		return (node2(N_PROJECTION, left, projection_rhs(p,
		    bp[T_FLATTEN])));
	case T_LBRACKET:
		if (cur(p) == T_NUMBER || cur(p) == T_COLON)
			return (project_if_slice(p, left, index_expression(p)));
		if (match(p, T_STAR) || match(p, T_RBRACKET)) {
			node_free(left);
			return (NULL);
		}
		return (node2(N_PROJECTION, left, projection_rhs(p,
		    bp[T_STAR])));
	default:
		node_free(left);
		return (parse_error(p, "Unexpected token"));
	}
}

static struct qnode *
expression(struct parser *p, int rbp)
{
	struct qnode *left;
	const struct token *t;
	enum tok op;

	if (p->failed)
		return (NULL);
	if (++p->depth > QUERY_MAX_DEPTH)
		return (parse_error(p, "expression nested too deeply"));
	t = &p->t[p->i];
	advance(p);
	left = nud(p, t);
	while (!p->failed && left != NULL && rbp < bp[cur(p)]) {
		op = cur(p);
		advance(p);
		left = led(p, op, left);
	}
	p->depth--;
	if (left == NULL) {
		if (!p->failed)
			parse_error(p, "out of memory");
		return (NULL);
	}
	if (p->failed) {
		node_free(left);
		return (NULL);
	}
	return (left);
}

struct cli_query *
cli_query_compile(const char *expr, char *err, size_t errlen)
{
	struct lexer l = { expr, 0, NULL, 0, 0, err, errlen };
	struct parser p = { 0 };
	struct cli_query *q = NULL;
	struct qnode *root = NULL;
	char detail[256];

	/* Tokens, then the tree. */
	l.err = detail;
	l.errlen = sizeof(detail);
	while (expr[l.i] != '\0') {
		if (isspace((unsigned char)expr[l.i])) {
			l.i++;
			continue;
		}
		if (lex_one(&l))
			goto fail;
	}
	if (lex_push(&l, T_EOF, l.i) == NULL) {
		snprintf(detail, sizeof(detail), "out of memory");
		goto fail;
	}
	p.t = l.t;
	p.n = l.n;
	p.err = detail;
	p.errlen = sizeof(detail);
	root = expression(&p, 0);
	if (root != NULL && cur(&p) != T_EOF)
		parse_error(&p, "Unexpected token");
	if (p.failed || root == NULL)
		goto fail;
	if ((q = malloc(sizeof(*q))) == NULL) {
		snprintf(detail, sizeof(detail), "out of memory");
		goto fail;
	}
	q->root = root;
	tokens_free(l.t, l.n);
	return (q);

fail:
	snprintf(err, errlen, "Bad value for --query %s: %s", expr, detail);
	node_free(root);
	tokens_free(l.t, l.n);
	return (NULL);
}

void
cli_query_free(struct cli_query *q)
{

	if (q == NULL)
		return;
	node_free(q->root);
	free(q);
}
