/*
 * ops_put.c: a new version of a secret's value: written with its labels
 * (engine_put_version), a ClientRequestToken that names one already
 * (a retry, a conflict, a rotation's pending version), and PutSecretValue,
 * whose value is sealed before its transaction when it can be
 * (engine_seal_first, which UpdateSecret shares); and a secret's versions
 * sealed again under a new KMS key (engine_reseal_prepare), which
 * UpdateSecret does before its transaction too.
 */
#include <stdatomic.h>
#include <string.h>

#include "engine_internal.h"

/* ---- versions -------------------------------------------------------------- */

int
engine_has_stage(const char *const *stages, size_t n, const char *stage)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(stages[i], stage) == 0)
			return (1);
	return (0);
}

/* At most ENGINE_MAX_LABELS labels across a secret's versions (AWS). */
static int
labels_within_limit(int count, struct cf_error *err)
{

	if (count > ENGINE_MAX_LABELS) {
		cf_error_set(err, CF_ERR_LIMIT_EXCEEDED, "A secret can have at "
		    "most %d staging labels attached across its versions.",
		    ENGINE_MAX_LABELS);
		return (-1);
	}
	return (0);
}

int
engine_put_version(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const char *vid,
    const struct engine_value *val, const char *const *labels, size_t n,
    int fill, struct cf_error *err)
{
	struct store_version v;
	const char *prev;
	size_t i;
	int count;

	if (engine_seal(w, sec->uuid, vid, sec->kms_key_id, val, &v,
	    call->arena, err))
		return (-1);

	/*
	 * A new version: the whole change in one statement, the 20-label
	 * quota checked by the statement itself.  The caller knows whether
	 * the version becomes current (AWSCURRENT is in ${labels} when the
	 * secret has none), so nothing is asked back: the statement is held
	 * and sent with the event and the COMMIT (store_defer_writes).  It
	 * is still told to make the version current if the secret has none,
	 * which under the caller's row lock it never finds.
	 */
	if (!fill) {
		store_defer_writes(w->store);
		return (store_version_add(w->store, sec->uuid, &v, labels, n,
		    1, ENGINE_MAX_VERSIONS, ENGINE_PRUNE_AGE, ENGINE_MAX_LABELS,
		    err));
	}

	/* A rotation's pending version gets its value. */
	if (store_version_fill(w->store, sec->uuid, &v, err))
		return (-1);
	for (i = 0; i < n; i++) {
		if (store_stage_move(w->store, call->arena, sec->uuid,
		    labels[i], vid, &prev, err))
			return (-1);
		if (strcmp(labels[i], STAGE_CURRENT) == 0 && prev != NULL &&
		    strcmp(prev, vid) != 0 &&
		    !engine_has_stage(labels, n, STAGE_PREVIOUS) &&
		    store_stage_move(w->store, call->arena, sec->uuid,
		    STAGE_PREVIOUS, prev, &prev, err))
			return (-1);
	}

	/*
	 * Housekeeping as AWS does it (unlabeled versions past 100, 24 h),
	 * LastChangedDate, and at most 20 labels across the secret's
	 * versions: one round trip.
	 */
	if (store_versions_settle(w->store, sec->uuid, ENGINE_MAX_VERSIONS,
	    ENGINE_PRUNE_AGE, &count, err))
		return (-1);
	return (labels_within_limit(count, err));
}

static enum engine_token_version token_version_found(struct engine_worker *,
    const struct engine_call *, const struct store_secret *, const char *,
    const struct engine_value *, struct store_version *, struct cf_error *);

enum engine_token_version
engine_version_for_token(struct engine_worker *w,
    const struct engine_call *call, const struct store_secret *sec,
    const char *token, const struct engine_value *val,
    struct store_version *out, struct cf_error *err)
{

	switch (store_version_get(w->store, call->arena, sec->uuid, token,
	    NULL, out, err)) {
	case STORE_ERROR:
		return (ENGINE_TOKEN_ERROR);
	case STORE_NOT_FOUND:
		return (ENGINE_TOKEN_NEW);
	case STORE_FOUND:
		break;
	}
	return (token_version_found(w, call, sec, token, val, out, err));
}

enum engine_token_version
engine_token_version_read(struct engine_worker *w,
    const struct engine_call *call, const struct store_secret *sec,
    const char *token, const struct engine_value *val, int has,
    struct store_version *v, struct cf_error *err)
{

	return (has ? token_version_found(w, call, sec, token, val, v, err) :
	    ENGINE_TOKEN_NEW);
}

/*
 * What an existing version ${out} named by ${token} means for a call that
 * would write ${val} under that token.
 */
static enum engine_token_version
token_version_found(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const char *token,
    const struct engine_value *val, struct store_version *out,
    struct cf_error *err)
{

	/* The empty version of a rotation, waiting for its value. */
	if (out->empty)
		return (ENGINE_TOKEN_EMPTY);
	switch (engine_same_value(w, call, sec->uuid, out, val, err)) {
	case ENGINE_SAME_ERROR:
		return (ENGINE_TOKEN_ERROR);
	case ENGINE_SAME:
		return (ENGINE_TOKEN_RETRY);
	case ENGINE_DIFFERENT:
		break;
	}
	cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "You can't use "
	    "ClientRequestToken %.64s because that value is already in use "
	    "for a version of secret %.512s.", token, sec->arn);
	return (ENGINE_TOKEN_ERROR);
}



/* ---- PutSecretValue ------------------------------------------------------- */

static int
put_check(const struct engine_put_req *req, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err))
		return (-1);
	if (req->client_request_token == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_NEED_TOKEN);
		return (-1);
	}
	if (engine_check_token(req->client_request_token, err))
		return (-1);
	if (!req->value.present) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST,
		    "You must provide either SecretString or SecretBinary.");
		return (-1);
	}
	return (engine_check_value(&req->value, err));
}

/* Sort a short list of labels in place (AWS reports them sorted). */
static void
sort_labels(const char **l, size_t n)
{
	const char *t;
	size_t i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(l[j - 1], l[j]) > 0; j--) {
			t = l[j];
			l[j] = l[j - 1];
			l[j - 1] = t;
		}
}

/* The answer of a Put that wrote version ${vid} with ${n} ${labels}. */
static int
put_answer(const struct engine_call *call, const struct store_secret *sec,
    const char *vid, const char *const *labels, size_t n,
    struct engine_put_resp *resp, struct cf_error *err)
{
	const char **out;

	if ((out = cf_arena_alloc(call->arena, n * sizeof(*out))) == NULL)
		return (engine_oom(err));
	memcpy(out, labels, n * sizeof(*out));
	sort_labels(out, n);
	resp->stages = out;
	resp->n_stages = n;
	resp->arn = sec->arn;
	resp->name = sec->name;
	resp->version_id = vid;
	return (0);
}

/* ${vid}'s envelope in ${done}, or NULL. */
static const struct store_version *
resealed_find(const struct engine_resealed *done, const char *vid)
{
	size_t i;

	for (i = 0; done != NULL && i < done->n; i++)
		if (strcmp(done->v[i].version_id, vid) == 0)
			return (&done->v[i]);
	return (NULL);
}

/*
 * A tenant's key can be destroyed without taking the secret's history
 * along, and a secret whose key was changed before this existed is
 * repaired by giving the same KmsKeyId again.  Each value's plaintext is
 * wiped as soon as it is sealed again (engine_reseal).  A version's value
 * never changes, so the envelope a sealed-first attempt made before it
 * was sent back to the lock is still good (${prior}), and the lock is
 * held only for the versions that attempt did not see.
 */
int
engine_reseal_prepare(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const struct engine_resealed *prior,
    struct engine_resealed *out, struct cf_error *err)
{
	const char *label = engine_kek_label(sec->kms_key_id);
	const struct store_version *done;
	struct store_version *v, *moved;
	enum engine_kek_state state;
	size_t nv, i;

	out->v = NULL;
	out->n = 0;
	if (label == NULL)
		label = w->e->default_kek;
	if (store_versions_sealed(w->store, call->arena, sec->uuid, &v, &nv,
	    err))
		return (-1);
	if (nv == 0)
		return (0);
	if ((moved = cf_arena_alloc(call->arena, nv * sizeof(*moved))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < nv; i++) {
		if (strcmp(v[i].kek_label, label) == 0)
			continue;
		/* Under a destroyed key a value is gone: nothing to move. */
		if ((state = engine_kek_state(w, v[i].kek_label, err)) ==
		    ENGINE_KEK_ERROR)
			return (-1);
		if (state == ENGINE_KEK_DESTROYED)
			continue;
		if ((done = resealed_find(prior, v[i].version_id)) != NULL)
			moved[out->n] = *done;
		else if (engine_reseal(w, sec->uuid, &v[i], sec->kms_key_id,
		    &moved[out->n], call->arena, err))
			return (-1);
		out->n++;
	}
	out->v = moved;
	return (0);
}

int
engine_reseal_store(struct engine_worker *w, const struct store_secret *sec,
    const struct engine_resealed *moved, struct cf_error *err)
{
	size_t i;

	for (i = 0; i < moved->n; i++)
		if (store_version_reseal(w->store, sec->uuid, &moved->v[i],
		    err))
			return (-1);
	return (0);
}

/*
 * A new version sealed before its transaction (store/DESIGN.md, "Sealed
 * before the transaction"): the secret read without a lock, with the
 * basis of the write (migration 0022), the caller authorized and the
 * value sealed against that; then one pipeline that locks the row, checks
 * that the basis still holds, makes UpdateSecret's description change,
 * writes the version, appends the event and commits.  The row is locked
 * for that one round trip only, and the token works while no transaction
 * is open.  UpdateSecret's new KMS key the same way: the basis also
 * covers every version with a value and its envelope
 * (STORE_BASIS_REKEY), the key is authorized once the caller is, every
 * version is sealed again under it (and the value, if any) before the
 * pipeline, which writes the key and the envelopes after the check.  A
 * token that names an existing version (a retry, a conflict, a
 * rotation's pending version: rare) and a basis that changed are decided
 * under the lock (ENGINE_SEALED_LOCKED): nothing was written and no event
 * recorded for this attempt; the envelopes made are left in
 * *${put->resealed} for the lock to reuse.
 */
enum engine_sealed
engine_seal_first(struct engine_worker *w, const struct engine_call *call,
    const struct engine_sealed_put *put, struct store_secret *sec,
    const char **labels, size_t *n, struct cf_error *err)
{
	const enum store_basis kind = put->set_key ? STORE_BASIS_REKEY :
	    STORE_BASIS_PUT;
	const char *basis;
	int has, has_current;

	*n = 0;
	if (engine_resolve_put_basis(w, call, put->secret_id, kind, put->vid,
	    sec, &has, &has_current, &basis, err))
		return (ENGINE_SEALED_FAILED);
	if (has)
		return (ENGINE_SEALED_LOCKED);
	/* The KmsKeyId only once the caller is authorized: no oracle. */
	if (put->set_key) {
		if (engine_kek_usable(w, call, put->kms_key_id, err))
			return (ENGINE_SEALED_FAILED);
		sec->kms_key_id = engine_kek_label(put->kms_key_id) != NULL ?
		    put->kms_key_id : NULL;
		if (engine_reseal_prepare(w, call, sec, NULL, put->resealed,
		    err))
			return (ENGINE_SEALED_FAILED);
	}
	if (put->value != NULL && engine_put_labels(put->stages,
	    put->n_stages, !has_current, labels, n, err))
		return (ENGINE_SEALED_FAILED);

	/*
	 * store_begin sends nothing: BEGIN leads the pipeline the commit
	 * sends, after the seal (engine_put_version), with the basis check
	 * held ahead of everything the call changes.  The key first, so that
	 * a new version is sealed under it (sec->kms_key_id, above).
	 */
	if (store_begin(w->store, err))
		return (ENGINE_SEALED_FAILED);
	store_defer_writes(w->store);
	if (store_put_unchanged(w->store, sec->uuid, put->vid, basis, kind,
	    err) || ((put->set_description || put->set_key) &&
	    store_secret_update_meta(w->store, sec->uuid, put->set_description,
	    put->description, put->set_key, sec->kms_key_id, err)) ||
	    (put->set_key && engine_reseal_store(w, sec, put->resealed,
	    err)))
		goto undo;
	if (put->value != NULL && (engine_put_version(w, call, sec, put->vid,
	    put->value, labels, *n, 0, err) || (engine_has_stage(labels, *n,
	    STAGE_CURRENT) && engine_rotation_touched(w, call, sec, err))))
		goto undo;
	if (put->vid != NULL)
		engine_audit_at(call, NULL, put->vid);
	if (engine_finish(w, call, ENGINE_TX_COMMIT, err) ==
	    ENGINE_TX_COMMITTED) {
		atomic_fetch_add_explicit(&w->e->sealed_first[put->op][1], 1,
		    memory_order_relaxed);
		return (ENGINE_SEALED_DONE);
	}
undo:
	store_rollback(w->store);
	if (!store_basis_changed(w->store))
		return (ENGINE_SEALED_FAILED);
	atomic_fetch_add_explicit(&w->e->sealed_first[put->op][0], 1,
	    memory_order_relaxed);
	cf_error_clear(err);
	return (ENGINE_SEALED_LOCKED);
}

/*
 * The Put decided under the secret's row lock: the lookup locks it, and
 * the value is sealed while it is held.
 */
static int
put_locked(struct engine_worker *w, const struct engine_call *call,
    const struct engine_put_req *req, struct engine_put_resp *resp,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	const char *labels[ENGINE_MAX_LABELS + 1];
	struct store_secret sec;
	struct store_version v;
	enum engine_token_version rc;
	size_t n = 0;
	int fill, has, has_current;

	if (store_begin(w->store, err))
		return (-1);
	/*
	 * The secret, locked, its version named by the token and whether it
	 * has AWSCURRENT: one trip.
	 */
	if (engine_resolve_live_version(w, call, req->secret_id,
	    req->client_request_token, &sec, &v, &has, &has_current, err))
		goto finish;

	/* The token names an existing version: a retry, or a conflict. */
	rc = engine_token_version_read(w, call, &sec,
	    req->client_request_token, &req->value, has, &v, err);
	if (rc == ENGINE_TOKEN_ERROR)
		goto finish;
	if (rc == ENGINE_TOKEN_RETRY) {
		store_rollback(w->store);
		resp->stages = v.stages;
		resp->n_stages = v.n_stages;
		resp->arn = sec.arn;
		resp->name = sec.name;
		resp->version_id = req->client_request_token;
		return (0);
	}

	/*
	 * A new version, or the value of a rotation's pending one; a secret
	 * without AWSCURRENT makes it current, whatever the labels asked.
	 */
	fill = rc == ENGINE_TOKEN_EMPTY;
	if (engine_put_labels(req->version_stages, req->n_version_stages,
	    !has_current, labels, &n, err) ||
	    engine_put_version(w, call, &sec, req->client_request_token,
	    &req->value, labels, n, fill, err))
		goto finish;
	if (engine_has_stage(labels, n, STAGE_CURRENT) &&
	    engine_rotation_touched(w, call, &sec, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	return (put_answer(call, &sec, req->client_request_token, labels, n,
	    resp, err));
}

int
engine_put_secret_value(struct engine_worker *w, const struct engine_call *call,
    const struct engine_put_req *req, struct engine_put_resp *resp,
    struct cf_error *err)
{
	const struct engine_sealed_put put = {
		.op = ENGINE_SEALED_PUT,
		.secret_id = req->secret_id,
		.vid = req->client_request_token,
		.value = &req->value,
		.stages = req->version_stages,
		.n_stages = req->n_version_stages,
	};
	const char *labels[ENGINE_MAX_LABELS + 1];
	struct store_secret sec;
	size_t n;

	memset(resp, 0, sizeof(*resp));
	if (put_check(req, err))
		return (-1);
	engine_audit_at(call, NULL, req->client_request_token);
	switch (engine_seal_first(w, call, &put, &sec, labels, &n, err)) {
	case ENGINE_SEALED_DONE:
		return (put_answer(call, &sec, put.vid, labels, n, resp, err));
	case ENGINE_SEALED_FAILED:
		return (-1);
	case ENGINE_SEALED_LOCKED:
		break;
	}
	return (put_locked(w, call, req, resp, err));
}
