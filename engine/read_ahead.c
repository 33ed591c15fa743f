/*
 * read_ahead.c: reads made ahead (engine/DESIGN.md, "Reads read ahead,
 * each call its own"): the reads of several GetSecretValue and
 * DescribeSecret calls a worker holds, made in one round trip before it
 * runs them, and each call's taking of its own.
 */
#include <stdatomic.h>
#include <string.h>

#include "engine_internal.h"

/* A read made ahead: the rows of store_secrets_staged. */
struct engine_ahead_got {
	struct store_staged_read r;
};

#define AHEAD_MAX 64	/* reads per call of engine_read_ahead: the rest are not */

void
engine_read_ahead(struct engine_worker *w, struct engine_read_ahead *reads,
    size_t n)
{
	struct store_staged_read r[AHEAD_MAX];
	size_t at[AHEAD_MAX], i, m = 0;
	struct cf_error scratch;
	enum engine_id_kind kind;
	const char *key;

	for (i = 0; i < n && m < AHEAD_MAX; i++) {
		reads[i].got = NULL;
		/* What the call would refuse before reading, it reads not. */
		if (reads[i].secret_id == NULL ||
		    engine_check_secret_id(reads[i].secret_id, &scratch) ||
		    (reads[i].version_id != NULL && engine_check_version_id(
		    reads[i].version_id, "versionId", &scratch)) ||
		    (reads[i].version_stage != NULL && engine_check_stage(
		    reads[i].version_stage, "versionStage", &scratch)) ||
		    (kind = engine_classify(w, reads[i].secret_id, &key)) ==
		    ENGINE_ID_FOREIGN)
			continue;
		memset(&r[m], 0, sizeof(r[m]));
		r[m].arena = reads[i].arena;
		r[m].key = key;
		r[m].by_arn = kind == ENGINE_ID_ARN;
		r[m].stage = reads[i].version_stage != NULL ?
		    reads[i].version_stage : STAGE_CURRENT;
		r[m].vid = reads[i].version_id;
		r[m].with_stages = reads[i].describe;
		at[m++] = i;
	}
	for (; i < n; i++)
		reads[i].got = NULL;
	/* One read gains nothing from a pipeline: the call makes it. */
	if (m < 2)
		return;
	store_secrets_staged(w->store, r, m);
	atomic_fetch_add_explicit(&w->e->ahead_reads, m,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&w->e->ahead_trips, 1,
	    memory_order_relaxed);
	for (i = 0; i < m; i++) {
		if (r[i].rc == STORE_ERROR)
			continue;
		if ((reads[at[i]].got = cf_arena_alloc(r[i].arena,
		    sizeof(*reads[at[i]].got))) != NULL)
			reads[at[i]].got->r = r[i];
	}
}

/* Do two optional strings (NULL: not given) say the same? */
static int
same_given(const char *a, const char *b)
{

	return (a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0);
}

/*
 * The read ${call} made ahead for SecretId ${id}, label ${stage} and
 * VersionId ${vid}, into ${sec}, ${v} and ${has}; STORE_ERROR when there
 * is none (the call reads itself).
 */
enum store_lookup
engine_ahead_get(struct engine_worker *w, const struct engine_call *call,
    const char *id,
    const char *stage, const char *vid, struct store_secret *sec,
    struct store_version *v, int *has)
{
	const struct engine_read_ahead *a = call->ahead;
	const struct store_staged_read *r;

	if (a == NULL || a->got == NULL || a->describe ||
	    strcmp(a->secret_id, id) != 0 ||
	    !same_given(a->version_id, vid) || (vid == NULL &&
	    strcmp(a->version_stage != NULL ? a->version_stage :
	    STAGE_CURRENT, stage) != 0))
		return (STORE_ERROR);
	r = &a->got->r;
	atomic_fetch_add_explicit(&w->e->ahead_used, 1, memory_order_relaxed);
	*sec = r->sec;
	*v = r->ver;
	*has = r->has_version;
	return (r->rc);
}

/*
 * The read ${call} made ahead for DescribeSecret of ${id}, into ${sec},
 * ${stages} and ${n}; STORE_ERROR when there is none (the call reads
 * itself).
 */
enum store_lookup
engine_ahead_described(struct engine_worker *w, const struct engine_call *call,
    const char *id,
    struct store_secret *sec, struct store_stage **stages, size_t *n)
{
	const struct engine_read_ahead *a = call->ahead;
	const struct store_staged_read *r;

	if (a == NULL || a->got == NULL || !a->describe ||
	    strcmp(a->secret_id, id) != 0)
		return (STORE_ERROR);
	r = &a->got->r;
	atomic_fetch_add_explicit(&w->e->ahead_used, 1, memory_order_relaxed);
	*sec = r->sec;
	*stages = r->stages;
	*n = r->n_stages;
	return (r->rc);
}
