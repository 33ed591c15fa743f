/*
 * keks.c: KEK versions for the engine (issue 16; hsm/DESIGN.md "KEK
 * versions"; migration 0014).
 *
 * Which version of a KEK new envelopes are sealed under lives in
 * PostgreSQL (encryption_keys), so that every cofferd seals under the
 * newest at once: each process caches the table and reloads it when the
 * policy listener's epoch moves (a change NOTIFYs coffer_policy) or while
 * the listener is down (then on every use).  A reload that finds a
 * version destroyed since the last one makes the process forget every
 * KEK copy and cached data key it holds (hsm_forget_keys), so a version
 * destroyed by one server is used by none.
 *
 * Rotation makes version N+1 in the token and records it; the rewrap
 * (engine_rewrap_due, run by every server's scheduler thread) then moves
 * every envelope under an older version to the newest, inside the token,
 * in batches claimed with FOR UPDATE SKIP LOCKED, one audit event per
 * batch.  A version that wraps nothing and is not the current one may be
 * destroyed in the token.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cf_log.h"
#include "engine_internal.h"

/* A label a KEK family may have: what hsm/ accepts. */
static int
check_key_id(const char *key_id, const char **label, struct cf_error *err)
{

	if (key_id == NULL) {
		engine_missing(err, "keyId");
		return (-1);
	}
	*label = engine_kek_label(key_id);
	/* KMS's alias characters: nothing to quote in a message or event. */
	if (*label == NULL || strlen(*label) > HSM_LABEL_MAX ||
	    strspn(*label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_-") != strlen(*label)) {
		engine_invalid(err, "keyId", NULL, "have length between 1 "
		    "and %d (after an alias/ prefix) and match "
		    "[a-zA-Z0-9/_-]+", HSM_LABEL_MAX);
		return (-1);
	}
	return (0);
}

/*
 * May the caller do the call's action to the KEK ${key_id}?  Its label
 * into *${label}.  The resource is KMS's alias ARN of the label
 * (arn:aws:kms:REGION:ACCOUNT:alias/LABEL), so that a policy can let a
 * tenant's administrator manage that tenant's key and no other; "*"
 * matches every key.  The key id is checked first: its syntax is no
 * secret, and an ARN is made only of a valid label.  Whether the key
 * exists is told only once the caller is allowed.
 */
static int
key_authorize_as(struct engine_worker *w, const struct engine_call *call,
    const char *action, const char *label, struct cf_error *err)
{
	char *arn;
	size_t n;

	n = strlen(w->e->kms_arn_prefix) + strlen(label) + 1;
	if ((arn = cf_arena_alloc(call->arena, n)) == NULL)
		return (engine_oom(err));
	snprintf(arn, n, "%s%s", w->e->kms_arn_prefix, label);
	return (engine_authorize(w, call, action, NULL, arn, NULL, err));
}

static int
key_authorize(struct engine_worker *w, const struct engine_call *call,
    const char *key_id, const char **label, struct cf_error *err)
{

	if (check_key_id(key_id, label, err))
		return (-1);
	return (key_authorize_as(w, call, NULL, *label, err));
}

int
engine_kek_usable(struct engine_worker *w, const struct engine_call *call,
    const char *kms_key_id, struct cf_error *err)
{
	const char *label = engine_kek_label(kms_key_id);
	struct cf_error ignored;
	enum hsm_lookup rc;

	if (label == NULL || strcmp(label, w->e->default_kek) == 0)
		return (0);
	/*
	 * Not a label a KEK can have: no token holds it, which its syntax
	 * alone tells anyone, so nothing is given away by saying so before
	 * authorizing (and there is no key ARN to authorize on).
	 */
	if (check_key_id(kms_key_id, &label, &ignored))
		goto missing;
	if (key_authorize_as(w, call, "kms:GenerateDataKey", label, err))
		return (-1);
	if ((rc = hsm_kek_exists(w->hsm, label)) == HSM_FOUND)
		return (0);
	if (rc != HSM_NOT_FOUND) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the token did not answer "
		    "while looking up KMS key %.200s", kms_key_id);
		return (-1);
	}
missing:
	cf_error_set(err, CF_ERR_ENCRYPTION_FAILURE, "Secrets Manager can't "
	    "find the specified KMS key: %.200s", kms_key_id);
	return (-1);
}

static int
no_such_key(const char *key_id, struct cf_error *err)
{

	cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "Secrets Manager can't "
	    "find the specified KMS key: %.200s", key_id);
	return (-1);
}

/* ---- the cache of current versions ------------------------------------------ */

struct engine_keks {
	pthread_mutex_t mu;
	atomic_uint_fast64_t epoch;	/* the config epoch loaded; 0: none */
	uint32_t destroyed;		/* versions destroyed, at the load */
	atomic_int n_disabled;		/* keys not Enabled: 0 spares every
					   open the lookup and its lock */
	size_t n;
	struct {
		char label[HSM_LABEL_MAX + 1];
		uint32_t current;
		int enabled;		/* not pending deletion nor destroyed */
		int destroyed;
	} *v;
};

int
engine_keks_init(struct engine *e, struct cf_error *err)
{

	if ((e->keks = calloc(1, sizeof(*e->keks))) == NULL)
		return (engine_oom(err));
	pthread_mutex_init(&e->keks->mu, NULL);
	atomic_init(&e->keks->epoch, 0);
	atomic_init(&e->keks->n_disabled, 0);
	return (0);
}

void
engine_keks_free(struct engine *e)
{

	if (e->keks == NULL)
		return;
	pthread_mutex_destroy(&e->keks->mu);
	free(e->keks->v);
	free(e->keks);
	e->keks = NULL;
}

/*
 * Reload the table unless the epoch it was loaded at still holds (and the
 * listener listens); forget every key copy if a version was destroyed
 * since.  0, or -1 with ${err}.
 */
static int
keks_fresh(struct engine_worker *w, struct cf_error *err)
{
	struct engine_keks *k = w->e->keks;
	struct store_kek *rows;
	struct cf_arena *a;
	uint32_t destroyed = 0;
	uint64_t epoch;
	size_t n, i;
	int listening, forget, disabled = 0;

	epoch = engine_config_epoch(w->e, &listening);
	if (listening && atomic_load(&k->epoch) == epoch)
		return (0);
	if ((a = cf_arena_new()) == NULL)
		return (engine_oom(err));
	if (store_kek_all(w->store, a, &rows, &n, err)) {
		cf_arena_free(a);
		return (-1);
	}
	for (i = 0; i < n; i++)
		destroyed += rows[i].n_destroyed;
	pthread_mutex_lock(&k->mu);
	free(k->v);
	k->n = 0;
	if (n > 0 && (k->v = calloc(n, sizeof(*k->v))) == NULL) {
		pthread_mutex_unlock(&k->mu);
		cf_arena_free(a);
		return (engine_oom(err));
	}
	if (n == 0)
		k->v = NULL;
	for (i = 0; i < n; i++) {
		snprintf(k->v[i].label, sizeof(k->v[i].label), "%s",
		    rows[i].label);
		k->v[i].current = rows[i].current;
		k->v[i].enabled = strcmp(rows[i].state, "Enabled") == 0;
		k->v[i].destroyed = strcmp(rows[i].state, "Destroyed") == 0;
		disabled += !k->v[i].enabled;
	}
	atomic_store(&k->n_disabled, disabled);
	k->n = n;
	forget = destroyed != k->destroyed;
	k->destroyed = destroyed;
	atomic_store(&k->epoch, listening ? epoch : 0);
	pthread_mutex_unlock(&k->mu);
	cf_arena_free(a);
	if (forget)
		hsm_forget_keys(w->e->hsm);
	return (0);
}

/*
 * End a call that changed the table: commit or roll back with its event
 * (engine_finish), and on a commit have this process reload the table at
 * its next use, so that the caller's next call here sees what it did (the
 * NOTIFY that tells every process may come a moment later).  0 once
 * committed, else -1.
 */
static int
kek_finish(struct engine_worker *w, const struct engine_call *call,
    enum engine_tx_end end, struct cf_error *err)
{

	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	engine_policies_changed(w->e);
	return (0);
}

/* What the cache knows of ${label}: its current version, its state. */
static void
kek_state(struct engine_keks *k, const char *label, uint32_t *current,
    int *enabled, int *destroyed)
{
	size_t i;

	*current = 1;
	*enabled = 1;
	*destroyed = 0;
	pthread_mutex_lock(&k->mu);
	for (i = 0; i < k->n; i++)
		if (strcmp(k->v[i].label, label) == 0) {
			*current = k->v[i].current;
			*enabled = k->v[i].enabled;
			*destroyed = k->v[i].destroyed;
			break;
		}
	pthread_mutex_unlock(&k->mu);
}

int
engine_kek_current(struct engine_worker *w, const char *label,
    uint32_t *out, struct cf_error *err)
{
	int enabled, destroyed;

	if (keks_fresh(w, err))
		return (-1);
	kek_state(w->e->keks, label, out, &enabled, &destroyed);
	if (!enabled) {
		cf_error_set(err, CF_ERR_ENCRYPTION_FAILURE, "The KMS key "
		    "%.64s %s: no value can be encrypted under it.", label,
		    destroyed ? "was destroyed" : "is pending deletion "
		    "(cancel-key-deletion makes it usable again)");
		return (-1);
	}
	return (0);
}

enum engine_kek_state
engine_kek_state(struct engine_worker *w, const char *label,
    struct cf_error *err)
{
	uint32_t current;
	int enabled, destroyed;

	if (keks_fresh(w, err))
		return (ENGINE_KEK_ERROR);
	kek_state(w->e->keks, label, &current, &enabled, &destroyed);
	return (enabled ? ENGINE_KEK_ENABLED : destroyed ?
	    ENGINE_KEK_DESTROYED : ENGINE_KEK_PENDING_DELETION);
}

int
engine_keks_check(struct engine_worker *w, const char *label,
    struct cf_error *err)
{
	uint32_t current;
	int enabled, destroyed;

	if (keks_fresh(w, err))
		return (-1);
	/* The usual case, on every read: every key usable, no lookup. */
	if (atomic_load(&w->e->keks->n_disabled) == 0)
		return (0);
	kek_state(w->e->keks, label, &current, &enabled, &destroyed);
	if (enabled)
		return (0);
	/* As KMS: a key pending deletion decrypts nothing either. */
	cf_error_set(err, CF_ERR_DECRYPTION_FAILURE, "could not decrypt the "
	    "secret value: the KMS key %.64s %s", label, destroyed ? "was "
	    "destroyed, and this value can never be decrypted again" : "is "
	    "pending deletion (cancel-key-deletion makes it usable again)");
	return (-1);
}

/* ---- RotateEncryptionKey, DescribeEncryptionKey, DeleteEncryptionKeyVersion */

int
engine_rotate_encryption_key(struct engine_worker *w,
    const struct engine_call *call, const char *key_id, uint32_t *out,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	const char *label;
	enum hsm_lookup found;

	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	if ((found = hsm_kek_exists(w->hsm, label)) == HSM_NOT_FOUND)
		return (no_such_key(key_id, err));
	if (found != HSM_FOUND) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the token did not answer "
		    "while looking up KMS key %.200s", key_id);
		return (-1);
	}

	/*
	 * The new version in the token inside the transaction that records
	 * it (the KEK's row locked): should the commit fail, the next
	 * rotation finds the token object made and uses it.
	 */
	if (store_begin(w->store, err))
		return (-1);
	if (store_kek_register(w->store, label, err) ||
	    store_kek_rotate(w->store, label, out, err))
		goto finish;
	if (hsm_kek_version_create(w->hsm, label, *out, err) ==
	    HSM_MADE_ERROR)
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (kek_finish(w, call, end, err))
		return (-1);
	/* Every server seals under it once notified; this one rewraps now. */
	engine_rotation_kick(w->e);
	return (0);
}

int
engine_describe_encryption_key(struct engine_worker *w,
    const struct engine_call *call, const char *key_id,
    struct engine_key_info *out, struct cf_error *err)
{
	struct store_kek_info info;
	const char *label;
	enum store_lookup rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	/*
	 * A KEK the database does not know yet (never rotated) is registered
	 * at version 1 on first look, if the token has it; one it knows is
	 * described even once destroyed in the token.
	 */
	if ((rc = store_kek_describe(w->store, call->arena, label, 0, &info,
	    err)) == STORE_NOT_FOUND) {
		if (hsm_kek_exists(w->hsm, label) == HSM_NOT_FOUND)
			return (no_such_key(key_id, err));
		if (store_kek_register(w->store, label, err))
			return (-1);
		rc = store_kek_describe(w->store, call->arena, label, 0, &info,
		    err);
	}
	if (rc != STORE_FOUND)
		return (rc == STORE_NOT_FOUND ? no_such_key(key_id, err) : -1);
	out->key_id = label;
	out->state = info.state;
	out->deletion_ms = info.deletion_ms;
	out->current = info.current;
	out->created_ms = info.created_ms;
	out->rewrap_pending = info.rewrap_pending;
	if ((out->versions = cf_arena_alloc(call->arena, (info.n_versions ?
	    info.n_versions : 1) * sizeof(*out->versions))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < info.n_versions; i++) {
		out->versions[i].version = info.versions[i].version;
		out->versions[i].created_ms = info.versions[i].created_ms;
		out->versions[i].destroyed_ms = info.versions[i].destroyed ?
		    info.versions[i].destroyed_ms : 0;
		out->versions[i].wrapped = info.versions[i].wrapped;
	}
	out->n_versions = info.n_versions;
	return (0);
}

int
engine_delete_encryption_key_version(struct engine_worker *w,
    const struct engine_call *call, const char *key_id,
    const int64_t *asked, struct cf_error *err)
{
	char shown[24];
	uint32_t version;
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_kek_info info;
	const struct store_kek_version *v = NULL;
	const char *label;
	enum store_lookup rc;
	size_t i;

	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	if (asked == NULL) {
		engine_missing(err, "version");
		return (-1);
	}
	if (*asked < 1 || *asked > INT32_MAX) {
		snprintf(shown, sizeof(shown), "%lld", (long long)*asked);
		engine_invalid(err, "version", shown, "have value between 1 "
		    "and %d", INT32_MAX);
		return (-1);
	}
	version = (uint32_t)*asked;
	if (store_begin(w->store, err))
		return (-1);
	/* The KEK's row locked: no rotation beside this. */
	if ((rc = store_kek_describe(w->store, call->arena, label, 1, &info,
	    err)) == STORE_ERROR)
		goto finish;
	for (i = 0; rc == STORE_FOUND && i < info.n_versions; i++)
		if (info.versions[i].version == version)
			v = &info.versions[i];
	if (v == NULL || v->destroyed) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "KMS key %.200s "
		    "has no version %u%s", key_id, version, v != NULL ?
		    " left: it was destroyed" : "");
		goto finish;
	}
	if (version == info.current) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Version %u is the "
		    "current version of KMS key %.200s: rotate it first.",
		    version, key_id);
		goto finish;
	}
	if (v->wrapped > 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Version %u of KMS key "
		    "%.200s still wraps %lld data key(s): wait until the rewrap "
		    "has moved them (DescribeEncryptionKey: RewrapPending).",
		    version, key_id, (long long)v->wrapped);
		goto finish;
	}
	/*
	 * Destroyed in the token inside the transaction that records it;
	 * should the commit fail, a retry finds it gone and records it.
	 */
	if (hsm_kek_version_destroy(w->hsm, label, version, err) ||
	    store_kek_destroyed(w->store, label, version, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	return (kek_finish(w, call, end, err));
}

/* ---- the rewrap ----------------------------------------------------------- */

/*
 * An event of cofferd's own work (principal "cofferd"), ${operation} with
 * the parameters ${params} (taken; NULL: out of memory), into ${ev}, its
 * text in ${a}.  JSON by jansson: a label read back from the database is
 * quoted, whatever it holds.
 */
static int
own_event(struct cf_arena *a, const char *operation, json_t *params,
    const char *request_id, const char *outcome, struct audit_event *ev,
    struct cf_error *err)
{
	char *text = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;

	json_decref(params);
	memset(ev, 0, sizeof(*ev));
	if (text == NULL || (ev->request_params = cf_arena_strdup(a, text)) ==
	    NULL) {
		free(text);
		return (engine_oom(err));
	}
	free(text);
	ev->time_ms = cf_now_ms();
	ev->request_id = request_id;
	ev->principal = "cofferd";
	ev->peer = "local";
	ev->operation = operation;
	ev->outcome = outcome;
	return (0);
}

/* The batch's event: what moved, never a key. */
static int
rewrap_event(struct cf_arena *a, const struct store_rewrap_item *it,
    size_t n, const char *request_id, const char *outcome,
    struct audit_event *ev, struct cf_error *err)
{
	json_t *keys = json_array();
	size_t i;

	for (i = 0; keys != NULL && i < n; i++)
		if (i == 0 || strcmp(it[i].kek_label, it[i - 1].kek_label) != 0)
			(void)json_array_append_new(keys,
			    json_string(it[i].kek_label));
	return (own_event(a, "RewrapDataKeys", keys == NULL ? NULL :
	    json_pack("{s:I, s:o}", "Count", (json_int_t)n, "KeyIds", keys),
	    request_id, outcome, ev, err));
}

int
engine_rewrap_due(struct engine_worker *w, struct audit *audit, int limit,
    int *out_n, struct cf_error *err)
{
	struct store_rewrap_item *it;
	struct hsm_envelope env;
	struct audit_event ev;
	struct cf_arena *a;
	struct cf_error cerr;
	char request_id[37];
	uint8_t *buf;
	size_t n, i;

	*out_n = 0;
	if ((a = cf_arena_new()) == NULL)
		return (engine_oom(err));
	if (store_begin(w->store, err))
		goto err0;
	if (store_rewrap_claim(w->store, a, limit, &it, &n, err))
		goto err1;
	if (n == 0) {
		store_rollback(w->store);
		cf_arena_free(a);
		return (0);
	}

	/* Each data key moved inside the token; the rows not touched yet. */
	for (i = 0; i < n; i++) {
		if (it[i].wrapped_len == 0 || it[i].wrapped_len > 64 ||
		    (buf = cf_arena_memdup(a, it[i].wrapped,
		    it[i].wrapped_len)) == NULL) {
			cf_error_set(err, CF_ERR_INTERNAL, "a claimed envelope "
			    "of KEK %s is malformed", it[i].kek_label);
			goto err1;
		}
		memset(&env, 0, sizeof(env));
		snprintf(env.kek_label, sizeof(env.kek_label), "%s",
		    it[i].kek_label);
		env.kek_version = it[i].kek_version;
		env.wrapped_dek = buf;
		env.wrapped_dek_len = it[i].wrapped_len;
		if (hsm_rewrap(w->hsm, &env, it[i].to_version, err))
			goto err1;
		it[i].wrapped = env.wrapped_dek;
	}

	/* The batch's event, durable before the rows change. */
	if (audit != NULL && (engine_random_uuid(w, request_id, err) ||
	    rewrap_event(a, it, n, request_id, "OK", &ev, err) ||
	    audit_record(audit, &ev, 1, err)))
		goto err1;
	for (i = 0; i < n; i++)
		if (store_rewrap_update(w->store, &it[i], err))
			goto err1;
	if (store_commit(w->store, err)) {
		if (audit != NULL && (rewrap_event(a, it, n, request_id,
		    cf_code_name(err->code != CF_OK ? err->code :
		    CF_ERR_INTERNAL), &ev, &cerr) ||
		    audit_record(audit, &ev, 1, &cerr)))
			cf_log(CF_LOG_ERROR, "could not audit a failed "
			    "rewrap: %s", cerr.msg);
		goto err0;
	}
	*out_n = (int)n;
	cf_arena_free(a);
	return (0);

err1:
	store_rollback(w->store);
err0:
	cf_arena_free(a);
	return (-1);
}

/* ---- keys made and destroyed on request (migration 0015) ------------------- */

int
engine_create_encryption_key(struct engine_worker *w,
    const struct engine_call *call, const char *key_id,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	const char *label;
	enum store_lookup rc;

	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	if (hsm_kek_exists(w->hsm, label) != HSM_NOT_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "The KMS key %.200s "
		    "already exists.", key_id);
		return (-1);
	}
	if (store_begin(w->store, err))
		return (-1);
	/* A label once used stays taken, destroyed or not. */
	if ((rc = store_kek_create(w->store, label, err)) == STORE_ERROR)
		goto finish;
	if (rc == STORE_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "The KMS key %.200s "
		    "already exists (or existed: a label is never reused).",
		    key_id);
		goto finish;
	}
	if (hsm_kek_version_create(w->hsm, label, 1, err) != HSM_CREATED) {
		if (err->code == CF_OK)
			cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "The KMS key "
			    "%.200s already exists.", key_id);
		goto finish;
	}
	end = ENGINE_TX_COMMIT;
finish:
	return (kek_finish(w, call, end, err));
}

/* The state ${label} is in, for a refusal's message. */
static int
wrong_state(const char *key_id, const struct store_kek_info *info,
    const char *wanted, struct cf_error *err)
{

	cf_error_set(err, CF_ERR_INVALID_REQUEST, "The KMS key %.200s is %s, "
	    "not %s.", key_id, info->state, wanted);
	return (-1);
}

int
engine_schedule_key_deletion(struct engine_worker *w,
    const struct engine_call *call, const char *key_id, const int64_t *days,
    int64_t *out_ms, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_kek_info info;
	const char *label;
	enum store_lookup rc;
	char shown[24];
	int64_t d = days != NULL ? *days : 30;	/* KMS's default */

	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	if (d < 7 || d > 30) {
		snprintf(shown, sizeof(shown), "%lld", (long long)d);
		engine_invalid(err, "pendingWindowInDays", shown, "have value "
		    "between 7 and 30");
		return (-1);
	}
	if (strcmp(label, w->e->default_kek) == 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "The KMS key %.200s "
		    "is cofferd's default KEK (kek_label): it cannot be "
		    "deleted.", key_id);
		return (-1);
	}
	if (hsm_kek_exists(w->hsm, label) == HSM_NOT_FOUND &&
	    store_kek_describe(w->store, call->arena, label, 0, &info, err) !=
	    STORE_FOUND)
		return (no_such_key(key_id, err));
	if (store_begin(w->store, err))
		return (-1);
	if (store_kek_register(w->store, label, err) ||
	    (rc = store_kek_describe(w->store, call->arena, label, 1, &info,
	    err)) == STORE_ERROR)
		goto finish;
	if (strcmp(info.state, "Enabled") != 0) {
		(void)wrong_state(key_id, &info, "Enabled", err);
		goto finish;
	}
	if (store_kek_schedule(w->store, label, (int)d, out_ms, err) !=
	    STORE_FOUND) {
		if (err->code == CF_OK)
			(void)wrong_state(key_id, &info, "Enabled", err);
		goto finish;
	}
	end = ENGINE_TX_COMMIT;
finish:
	return (kek_finish(w, call, end, err));
}

int
engine_cancel_key_deletion(struct engine_worker *w,
    const struct engine_call *call, const char *key_id,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_kek_info info;
	const char *label;
	enum store_lookup rc;

	if (key_authorize(w, call, key_id, &label, err))
		return (-1);
	if (store_begin(w->store, err))
		return (-1);
	if ((rc = store_kek_describe(w->store, call->arena, label, 1, &info,
	    err)) == STORE_ERROR)
		goto finish;
	if (rc == STORE_NOT_FOUND) {
		(void)no_such_key(key_id, err);
		goto finish;
	}
	if (strcmp(info.state, "PendingDeletion") != 0) {
		(void)wrong_state(key_id, &info, "PendingDeletion", err);
		goto finish;
	}
	if (store_kek_cancel(w->store, label, err) != STORE_FOUND) {
		if (err->code == CF_OK)
			(void)wrong_state(key_id, &info, "PendingDeletion", err);
		goto finish;
	}
	end = ENGINE_TX_COMMIT;
finish:
	return (kek_finish(w, call, end, err));
}

int
engine_destroy_due_keys(struct engine_worker *w, struct audit *audit,
    int *out_n, struct cf_error *err)
{
	struct store_kek *due;
	struct audit_event ev;
	struct cf_arena *a;
	char request_id[37];
	uint32_t v;
	size_t n, i;

	*out_n = 0;
	if ((a = cf_arena_new()) == NULL)
		return (engine_oom(err));
	if (store_begin(w->store, err))
		goto err0;
	if (store_kek_due(w->store, a, 10, &due, &n, err))
		goto err1;
	for (i = 0; i < n; i++) {
		/* Its event first, durable before anything is destroyed. */
		if (audit != NULL && (engine_random_uuid(w, request_id, err) ||
		    own_event(a, "DestroyEncryptionKey", json_pack("{s:s}",
		    "KeyId", due[i].label), request_id, "OK", &ev, err) ||
		    audit_record(audit, &ev, 1, err)))
			goto err1;
		for (v = 1; v <= due[i].current; v++)
			if (hsm_kek_version_destroy(w->hsm, due[i].label, v,
			    err))
				goto err1;
		if (store_kek_mark_destroyed(w->store, due[i].label, err))
			goto err1;
	}
	if (n == 0) {
		store_rollback(w->store);
		cf_arena_free(a);
		return (0);
	}
	if (store_commit(w->store, err))
		goto err0;
	*out_n = (int)n;
	cf_arena_free(a);
	return (0);

err1:
	store_rollback(w->store);
err0:
	cf_arena_free(a);
	return (-1);
}
