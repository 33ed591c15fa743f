/*
 * query_internal.h: the tree --query expressions compile to, shared by
 * the parser (query.c) and the interpreter (query_eval.c).
 */
#ifndef COFFER_CLI_QUERY_INTERNAL_H
#define COFFER_CLI_QUERY_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

/* Bound on the nesting of expressions, parsed and evaluated. */
#define QUERY_MAX_DEPTH 128

/* Tokens of the lexer (query.c); comparisons keep theirs in the tree. */
enum tok {
	T_EOF, T_UNQUOTED, T_QUOTED, T_LITERAL, T_NUMBER, T_DOT, T_STAR,
	T_FLATTEN, T_FILTER, T_LBRACKET, T_RBRACKET, T_LBRACE, T_RBRACE,
	T_LPAREN, T_RPAREN, T_COMMA, T_COLON, T_PIPE, T_OR, T_AND, T_NOT,
	T_EXPREF, T_EQ, T_NE, T_LT, T_LTE, T_GT, T_GTE, T_CURRENT, T__COUNT
};

/* Node kinds: jmespath.py's AST node types. */
enum kind {
	N_IDENTITY, N_CURRENT, N_FIELD, N_SUBEXPR, N_INDEX_EXPR, N_INDEX,
	N_SLICE, N_PROJECTION, N_VALUE_PROJECTION, N_FLATTEN, N_FILTER,
	N_LIST, N_HASH, N_CMP, N_OR, N_AND, N_NOT, N_PIPE, N_LITERAL,
	N_FUNCTION, N_EXPREF
};

struct qnode {
	enum kind kind;
	char *name;			/* field, function */
	json_t *lit;
	long index;
	long slice[3];
	int has[3];
	enum tok cmp;
	struct qnode **kids;		/* children, arguments, members */
	char **keys;			/* hash keys */
	size_t n;
};

struct cli_query {
	struct qnode *root;
};

/*
 * query_function_arity(name, nargs, err, errlen) (query_eval.c): nonzero
 * if ${name} is a known function taking ${nargs} arguments, else 0 with
 * the reason in ${err}.  The parser checks calls with it.
 */
int query_function_arity(const char *, size_t, char *, size_t);

#endif /* !COFFER_CLI_QUERY_INTERNAL_H */
