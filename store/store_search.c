/*
 * store_search.c: ListSecrets with filters.  The query text is assembled
 * from fixed fragments; every filter value travels as a parameter ($n), so
 * nothing a client sends is ever part of the SQL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define MAX_PARAMS 512
#define SQL_MAX 65536

struct query {
	char sql[SQL_MAX];
	size_t len;
	const char *params[MAX_PARAMS];
	int n;
	int overflow;
};

static void emit(struct query *, const char *, ...) CF_PRINTF(2, 3);

static void
emit(struct query *q, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (q->overflow)
		return;
	va_start(ap, fmt);
	k = vsnprintf(q->sql + q->len, sizeof(q->sql) - q->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(q->sql) - q->len)
		q->overflow = 1;
	else
		q->len += (size_t)k;
}

/* Add a parameter; returns its number. */
static int
param(struct query *q, const char *v)
{

	if (q->n >= MAX_PARAMS) {
		q->overflow = 1;
		return (1);
	}
	q->params[q->n++] = v;
	return (q->n);
}

/* 'abc' -> 'abc%' with LIKE's metacharacters escaped. */
static const char *
like_prefix(struct cf_arena *a, const char *v)
{
	char *out = cf_arena_alloc(a, 2 * strlen(v) + 2), *p = out;

	if (out == NULL)
		return (NULL);
	for (; *v != '\0'; v++) {
		if (*v == '%' || *v == '_' || *v == '\\')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '%';
	*p = '\0';
	return (out);
}

/*
 * The condition filter word $k puts on a secret: for `description`, a word
 * of the description starts with it; for `all`, a word of the name, the
 * description, a tag key or a tag value.  What a word is, and the match
 * (case-insensitive, the word taken literally), is coffer_word_match's
 * (migrations/0010_list_words.sql), so the rule lives in one place.
 */
static void
word_cond(struct query *q, enum store_filter_key key, int k)
{

	if (key == SF_DESCRIPTION) {
		emit(q, "coalesce(coffer_word_match(s.description, $%d), false)",
		    k);
		return;
	}
	emit(q, "(coffer_word_match(s.name, $%d) OR "
	    "coalesce(coffer_word_match(s.description, $%d), false) OR "
	    "EXISTS (SELECT 1 FROM tags t WHERE t.secret_uuid = s.uuid AND "
	    "(coffer_word_match(t.key, $%d) OR "
	    "coffer_word_match(t.value, $%d))))", k, k, k, k);
}

/*
 * `description` and `all`: the value is split at spaces and every word
 * must match on its own (`one two` matches "one and two", `o t` too).
 * With no word at all, `description` keeps secrets that have one.
 */
static int
words_cond(struct query *q, struct cf_arena *a, enum store_filter_key key,
    const char *v)
{
	const char *w;
	char *word;
	size_t wl;
	int words = 0;

	emit(q, "(true");
	for (w = v; *w != '\0'; w += wl) {
		w += strspn(w, " ");
		if ((wl = strcspn(w, " ")) == 0)
			break;
		if ((word = cf_arena_alloc(a, wl + 1)) == NULL)
			return (-1);
		memcpy(word, w, wl);
		word[wl] = '\0';
		emit(q, " AND ");
		word_cond(q, key, param(q, word));
		words++;
	}
	if (words == 0 && key == SF_DESCRIPTION)
		emit(q, " AND s.description IS NOT NULL");
	emit(q, ")");
	return (0);
}

/* The condition one (non-negated) value puts on a secret. */
static int
value_cond(struct query *q, struct cf_arena *a, enum store_filter_key key,
    const char *v)
{
	const char *pat;
	int k;

	switch (key) {
	case SF_NAME:
	case SF_OWNING_SERVICE:
	case SF_TAG_KEY:
	case SF_TAG_VALUE:
		if ((pat = like_prefix(a, v)) == NULL)
			return (-1);
		k = param(q, pat);
		if (key == SF_NAME)
			emit(q, "s.name LIKE $%d", k);
		else if (key == SF_OWNING_SERVICE)
			emit(q, "coalesce(s.owning_service LIKE $%d, false)", k);
		else
			emit(q, "EXISTS (SELECT 1 FROM tags t WHERE "
			    "t.secret_uuid = s.uuid AND t.%s LIKE $%d)",
			    key == SF_TAG_KEY ? "key" : "value", k);
		return (0);
	case SF_DESCRIPTION:
	case SF_ALL:
		return (words_cond(q, a, key, v));
	case SF_PRIMARY_REGION:
		emit(q, "false");
		return (0);
	}
	return (-1);
}

/* (pos1 OR pos2 ...) AND NOT neg1 AND NOT neg2 ... */
static int
filter_cond(struct query *q, struct cf_arena *a, const struct store_filter *f)
{
	size_t i;
	int pos = 0;

	emit(q, " AND ((false");
	for (i = 0; i < f->n_values; i++) {
		if (f->values[i][0] == '!')
			continue;
		emit(q, " OR ");
		if (value_cond(q, a, f->key, f->values[i]))
			return (-1);
		pos++;
	}
	emit(q, ")%s", pos ? "" : " OR true");
	for (i = 0; i < f->n_values; i++) {
		if (f->values[i][0] != '!')
			continue;
		emit(q, " AND NOT (");
		if (value_cond(q, a, f->key, f->values[i] + 1))
			return (-1);
		emit(q, ")");
	}
	emit(q, ")");
	return (0);
}

int
store_secret_search(struct store *s, struct cf_arena *a,
    const struct store_filter *filters, size_t n_filters, int include_deleted,
    int descending, int64_t after_us, const char *after_uuid, int limit,
    struct store_secret **out, size_t *n, struct cf_error *err)
{
	struct query *q;
	PGresult *r = NULL;
	char us[24], lim[16];
	size_t i;
	int rc = -1;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	/* "live", for secrets_live_created_key (store_stmt.c, the pages). */
	emit(q, "SELECT %s FROM secrets s WHERE %s", store_secret_cols,
	    include_deleted ? "true" : "s.live");
	for (i = 0; i < n_filters; i++)
		if (filter_cond(q, a, &filters[i]))
			goto oom;
	if (after_uuid != NULL) {
		snprintf(us, sizeof(us), "%lld", (long long)after_us);
		emit(q, " AND (s.created_date, s.uuid) %s ('epoch'::timestamptz"
		    " + $%d::int8 * interval '1 microsecond', $%d::uuid)",
		    descending ? "<" : ">", param(q, us), param(q, after_uuid));
	}
	snprintf(lim, sizeof(lim), "%d", limit);
	emit(q, " ORDER BY s.created_date %s, s.uuid %s LIMIT $%d",
	    descending ? "DESC" : "ASC", descending ? "DESC" : "ASC",
	    param(q, lim));
	if (q->overflow) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "the filters are too large");
		goto done;
	}

	r = store_exec_sql(s, q->sql, q->n, q->params, err);
	if (r == NULL)
		goto done;
	rc = store_decode_secrets(a, r, out, n, err);
	goto done;
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
done:
	PQclear(r);
	free(q);
	return (rc);
}
