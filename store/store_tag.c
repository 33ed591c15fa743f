/*
 * store_tag.c: the statements on tags, kept in the order they were first
 * set (a position per secret).  Their SQL is in store_stmt.c.
 */
#include "store_internal.h"

int
store_tags_put(struct store *s, const char *uuid, const struct store_tag *t,
    size_t n, struct cf_error *err)
{
	const char *v[3];
	size_t i;

	for (i = 0; i < n; i++) {
		v[0] = uuid;
		v[1] = t[i].key;
		v[2] = t[i].value;
		if (store_command(s, ST_TAG_PUT, 3, v, NULL, NULL, err))
			return (-1);
	}
	return (0);
}

int
store_pairs_tags(struct cf_arena *a, const struct store_pairs *p,
    struct store_tag **out, size_t **owner, size_t *n, struct cf_error *err)
{
	size_t i;

	*n = p->n;
	*owner = p->owner;
	*out = NULL;
	if (p->n == 0)
		return (0);
	if ((*out = cf_arena_alloc(a, p->n * sizeof(**out))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < p->n; i++) {
		(*out)[i].key = p->first[i];
		(*out)[i].value = p->second[i];
	}
	return (0);
}

int
store_tags(struct store *s, struct cf_arena *a, const char *const *uuids,
    size_t n_uuids, struct store_tag **out, size_t **owner, size_t *n,
    struct cf_error *err)
{
	struct store_pairs p;

	*n = 0;
	if (store_pairs(s, a, ST_TAGS, uuids, n_uuids, &p, err))
		return (-1);
	return (store_pairs_tags(a, &p, out, owner, n, err));
}

int
store_tags_remove(struct store *s, const char *uuid, const char *const *keys,
    size_t n, struct cf_error *err)
{
	const char *v[2];
	size_t i;

	for (i = 0; i < n; i++) {
		v[0] = uuid;
		v[1] = keys[i];
		if (store_command(s, ST_TAG_REMOVE, 2, v, NULL, NULL, err))
			return (-1);
	}
	return (0);
}

int
store_tags_within(struct store *s, const char *uuid, int max_tags,
    struct cf_error *err)
{
	char lim[16];
	const char *v[2] = { uuid, lim };

	snprintf(lim, sizeof(lim), "%d", max_tags);
	return (store_hold_or_run(s, ST_TAGS_WITHIN, 2, v, NULL, NULL,
	    PGRES_TUPLES_OK, err));
}
