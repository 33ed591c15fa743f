/*
 * policy_internal.h: the compiled form of a policy, shared by the files of
 * policy/ and read by the unit tests.
 *
 * Everything a struct policy points to lives in its arena and is never
 * written after policy_parse() returns, which is what makes a policy safe
 * to share between threads.
 */
#ifndef COFFER_POLICY_INTERNAL_H
#define COFFER_POLICY_INTERNAL_H

#include <stddef.h>

#include "cf.h"
#include "policy.h"

/* Policy variables (${aws:username}) one pattern may use. */
#define POLICY_MAX_VARS 8

/* How a pattern is matched; the first three avoid the general matcher. */
enum policy_pat_kind {
	PAT_ANY,	/* "*": everything */
	PAT_EXACT,	/* no wildcard, no variable: compare */
	PAT_PREFIX,	/* a literal then one trailing '*': compare a prefix */
	PAT_GLOB	/* anything else: walk the tokens */
};

enum policy_tok_type {
	TOK_LIT,	/* literal text */
	TOK_STAR,	/* '*': any run of characters, possibly empty */
	TOK_QMARK,	/* '?': exactly one character (code point) */
	TOK_VAR		/* ${key}: the single value of a context key */
};

struct policy_tok {
	enum policy_tok_type type;
	unsigned int var;	/* TOK_VAR: index among the pattern's vars */
	const char *s;		/* TOK_LIT: text; TOK_VAR: key, lower case */
	size_t len;
};

/* Flags of policy_pattern_compile(). */
#define PAT_WILD 1	/* '*' and '?' are wildcards, not literals */
#define PAT_FOLD 2	/* ASCII case-insensitive (the literal is lowered) */
#define PAT_VARS 4	/* expand ${...} policy variables */

struct policy_pattern {
	enum policy_pat_kind kind;
	int fold;
	const char *src;		/* the text as written */
	const char *lit;		/* PAT_EXACT, PAT_PREFIX */
	size_t len;
	const struct policy_tok *toks;	/* PAT_GLOB */
	size_t ntoks;
	size_t nvars;
};

/* A list element such as Action, or NotAction when ${negated}. */
struct policy_list {
	int negated;
	const struct policy_pattern *v;
	size_t n;
};

enum policy_cond_op {
	COND_EQUALS,	/* StringEquals, StringEqualsIgnoreCase, Bool */
	COND_LIKE,	/* StringLike, Arn* */
	COND_NULL	/* Null */
};

enum policy_cond_set {
	SET_NONE,	/* single-valued semantics */
	SET_ANY,	/* ForAnyValue: */
	SET_ALL		/* ForAllValues: */
};

/* One key under one operator: "StringEquals": {"k": ["a", "b"]}. */
struct policy_cond {
	const char *opname;		/* as written */
	enum policy_cond_op op;
	enum policy_cond_set set;
	int negate;			/* String*Not*, ArnNot* */
	int if_exists;
	const char *name;		/* the key as written */
	const char *key;		/* the key in lower case */
	size_t keylen;
	const struct policy_pattern *values;
	size_t nvalues;
	int null_true;			/* Null lists "true" */
	int null_false;			/* Null lists "false" */
};

struct policy_stmt {
	char where[32];			/* "Statement[3]", or "Statement" */
	const char *sid;		/* NULL if absent */
	int deny;
	int has_principal;		/* Principal or NotPrincipal given */
	struct policy_list principals;
	struct policy_list actions;
	struct policy_list resources;
	const struct policy_cond *conds;
	size_t nconds;
};

struct policy {
	struct cf_arena *a;
	enum policy_kind kind;
	int version;			/* 2008 or 2012 */
	int has_version;
	const struct policy_stmt *stmts;
	size_t nstmts;
	int reads_tags;			/* policy_reads_tags(), at parse */
};

/* A request with the lengths of its strings measured once. */
struct policy_req {
	const struct policy_request *r;
	const char *principal;		/* NULL when anonymous */
	const char *action;
	const char *resource;
	size_t plen, alen, rlen;
};

struct policy_findings {
	struct policy_finding *v;
	size_t n;
	size_t cap;
};

/* ---- policy_pattern.c ---------------------------------------------------- */

/*
 * policy_pattern_compile(a, s, len, flags, out, why):
 * Compile the ${len} bytes at ${s} into *${out}, allocating from ${a}.
 * Returns 0; or -1 with *${why} set to a message when the text is not a
 * valid pattern, or with *${why} NULL when memory ran out.
 */
int policy_pattern_compile(struct cf_arena *, const char *, size_t, int,
    struct policy_pattern *, const char **) CF_MUSTCHECK;

/* policy_pattern_match(p, s, n, rq): nonzero if ${p} matches ${s}[0..n). */
int policy_pattern_match(const struct policy_pattern *, const char *, size_t,
    const struct policy_req *);

/*
 * policy_pattern_is_open(p):
 * Nonzero if ${p} is made of wildcards only and matches every nonempty
 * string ("*", "?*").
 */
int policy_pattern_is_open(const struct policy_pattern *);

/*
 * policy_context_get(rq, key, keylen, out_values, out_n):
 * Look the lower-case key ${key} up in the request context (and the keys
 * that default to the principal).  Returns 1 with the values, or 0 when the
 * key is absent or has no values.
 */
int policy_context_get(const struct policy_req *, const char *, size_t,
    const char *const **, size_t *);

/* policy_lower(c): ${c} in ASCII lower case. */
static inline unsigned char
policy_lower(unsigned char c)
{

	return ((c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c);
}

/* ---- policy_parse.c, policy_parse_cond.c ------------------------------- */

struct json_t;

/* The state of one parse. */
struct policy_pctx {
	struct cf_arena *a;
	enum policy_kind kind;
	int vars;			/* Version 2012-10-17: expand ${...} */
	struct cf_error *err;
	struct policy_findings *f;	/* validate mode, or NULL */
	size_t nerr;
	int oom;
};

/*
 * policy_perr(c, check, where, fmt, ...):
 * Record a problem with the element at ${where} ("Statement[1].Effect"):
 * the first one goes into the caller's error, and in validate mode every
 * one becomes an ERROR finding with issue code ${check}.
 */
void policy_perr(struct policy_pctx *, const char *, const char *,
    const char *, ...) CF_PRINTF(4, 5);

/* policy_nomem(c): record that memory ran out (the parse stops); -1. */
int policy_nomem(struct policy_pctx *);

/* policy_join(buf, size, base, name): "${base}.${name}", name clipped. */
const char *policy_join(char *, size_t, const char *, const char *);

/* policy_index(buf, size, base, i): "${base}[${i}]". */
const char *policy_index(char *, size_t, const char *, size_t);

/* policy_ncase_eq(s, lit, n): the ${n} bytes agree, ignoring ASCII case. */
int policy_ncase_eq(const char *, const char *, size_t);

/*
 * policy_parse_conditions(c, v, where, st):
 * Compile the Condition element ${v} of ${st}.  Returns 0, or -1 after
 * recording the problems.
 */
int policy_parse_conditions(struct policy_pctx *, struct json_t *,
    const char *, struct policy_stmt *);


/*
 * policy_parse_doc(doc, len, kind, err, f):
 * policy_parse(), which also appends an ERROR finding to ${f} (if not NULL)
 * for every problem rather than stopping at the first.
 */
struct policy *policy_parse_doc(const char *, size_t, enum policy_kind,
    struct cf_error *, struct policy_findings *) CF_MUSTCHECK;

/*
 * policy_clip(buf, size, s, len):
 * Copy at most about ${size} - 4 bytes of ${s} into ${buf}, cut on a UTF-8
 * boundary and marked with "..." when cut.  Returns ${buf}.
 */
const char *policy_clip(char *, size_t, const char *, size_t);

/* ---- policy_eval.c ------------------------------------------------------- */

/* policy_stmt_is_public(st): statement ${st} makes its policy public. */
int policy_stmt_is_public(const struct policy_stmt *);

/* ---- policy_validate.c --------------------------------------------------- */

/*
 * policy_findings_add(f, type, check, location, fmt, ...):
 * Append a finding (texts are truncated on a UTF-8 boundary).  Returns 0,
 * or -1 when memory runs out.
 */
int policy_findings_add(struct policy_findings *, enum policy_finding_type,
    const char *, const char *, const char *, ...) CF_PRINTF(5, 6)
    CF_MUSTCHECK;

/*
 * policy_utf8_fix(s):
 * Make the NUL-terminated ${s} valid UTF-8 in place: drop a sequence cut at
 * the end, then replace any other non-ASCII byte of an invalid string
 * with '?'.
 */
void policy_utf8_fix(char *);

#endif /* !COFFER_POLICY_INTERNAL_H */
