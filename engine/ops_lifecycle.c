/*
 * ops_lifecycle.c: UpdateSecret, DeleteSecret, RestoreSecret, the purge of
 * secrets past their recovery window, UpdateSecretVersionStage,
 * ListSecretVersionIds, TagResource and UntagResource.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cf_log.h"
#include "engine_internal.h"

/* ---- UpdateSecret -------------------------------------------------------- */

static int
update_check(const struct engine_update_req *req, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err) ||
	    engine_check_description(req->description, err) ||
	    engine_check_kms_key_id(req->kms_key_id, err) ||
	    engine_check_value(&req->value, err))
		return (-1);
	if (!req->value.present)
		return (0);
	/* A new value needs a token, which becomes its VersionId. */
	if (req->client_request_token == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_NEED_TOKEN);
		return (-1);
	}
	return (engine_check_token(req->client_request_token, err));
}

/*
 * UpdateSecret's new value, new KMS key, or both, as engine_seal_first
 * writes them (store/DESIGN.md, "Sealed before the transaction"): the
 * value as AWSCURRENT, every version sealed again under the new key, the
 * description if one is given.  Its event names the version only once
 * the version is written (engine_seal_first), as under the lock; an
 * attempt sent back to the lock forgets it again, and leaves the
 * envelopes it made in *${resealed} for the lock to reuse.
 */
static enum engine_sealed
update_sealed_first(struct engine_worker *w, const struct engine_call *call,
    const struct engine_update_req *req, struct engine_update_resp *resp,
    struct engine_resealed *resealed, struct cf_error *err)
{
	static const char *const current[1] = { STAGE_CURRENT };
	const int value = req->value.present;
	const struct engine_sealed_put put = {
		.op = req->kms_key_id != NULL ? ENGINE_SEALED_REKEY :
		    ENGINE_SEALED_UPDATE,
		.secret_id = req->secret_id,
		.vid = value ? req->client_request_token : NULL,
		.value = value ? &req->value : NULL,
		.stages = current,
		.n_stages = value ? 1 : 0,
		.set_description = req->description != NULL,
		.description = req->description,
		.set_key = req->kms_key_id != NULL,
		.kms_key_id = req->kms_key_id,
		.resealed = resealed,
	};
	const char *labels[ENGINE_MAX_LABELS + 1];
	struct store_secret sec;
	enum engine_sealed rc;
	size_t n;

	rc = engine_seal_first(w, call, &put, &sec, labels, &n, err);
	if (rc == ENGINE_SEALED_DONE) {
		resp->version_id = put.vid;
		resp->arn = sec.arn;
		resp->name = sec.name;
	} else
		engine_audit_forget_version(call);
	return (rc);
}

int
engine_update_secret(struct engine_worker *w, const struct engine_call *call,
    const struct engine_update_req *req, struct engine_update_resp *resp,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	static const char *const current[1] = { STAGE_CURRENT };
	const char *label = engine_kek_label(req->kms_key_id);
	struct engine_resealed prior = { NULL, 0 };
	struct store_secret sec;
	struct store_version v;
	enum engine_token_version rc;
	int has = 0, has_current;

	memset(resp, 0, sizeof(*resp));
	if (update_check(req, err))
		return (-1);
	/*
	 * A new value is sealed before the transaction, as a Put's is, and
	 * so is every version moving to a new KMS key; a description alone
	 * has no token work, and is decided under the lock.
	 */
	if (req->value.present || req->kms_key_id != NULL)
		switch (update_sealed_first(w, call, req, resp, &prior, err)) {
		case ENGINE_SEALED_DONE:
			return (0);
		case ENGINE_SEALED_FAILED:
			return (-1);
		case ENGINE_SEALED_LOCKED:
			break;
		}
	if (store_begin(w->store, err))
		return (-1);
	/* With a value, the version its token names comes in the same trip. */
	if (req->value.present ? engine_resolve_live_version(w, call,
	    req->secret_id, req->client_request_token, &sec, &v, &has,
	    &has_current, err) : engine_resolve_live(w, call, req->secret_id,
	    &sec, err))
		goto finish;

	/* The KmsKeyId only once the caller is authorized: no oracle. */
	if (engine_kek_usable(w, call, req->kms_key_id, err))
		goto finish;
	/* Allowed: what reports nothing back waits for the next answer. */
	store_defer_writes(w->store);

	/* Metadata first, so a new version is sealed under the new key. */
	if ((req->description != NULL || req->kms_key_id != NULL) &&
	    store_secret_update_meta(w->store, sec.uuid,
	    req->description != NULL, req->description,
	    req->kms_key_id != NULL, label ? req->kms_key_id : NULL, err))
		goto finish;
	if (req->kms_key_id != NULL) {
		struct engine_resealed moved;

		sec.kms_key_id = label ? req->kms_key_id : NULL;
		if (engine_reseal_prepare(w, call, &sec, &prior, &moved,
		    err) || engine_reseal_store(w, &sec, &moved, err))
			goto finish;
	}

	/* A value makes a new AWSCURRENT version (or is a retry). */
	if (req->value.present) {
		rc = engine_token_version_read(w, call, &sec,
		    req->client_request_token, &req->value, has, &v, err);
		if (rc == ENGINE_TOKEN_ERROR)
			goto finish;
		if (rc != ENGINE_TOKEN_RETRY && (engine_put_version(w, call,
		    &sec, req->client_request_token, &req->value, current, 1,
		    rc == ENGINE_TOKEN_EMPTY, err) ||
		    engine_rotation_touched(w, call, &sec, err)))
			goto finish;
		resp->version_id = req->client_request_token;
		engine_audit_at(call, NULL, req->client_request_token);
	}
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	resp->arn = sec.arn;
	resp->name = sec.name;
	return (0);
}

/* ---- DeleteSecret, RestoreSecret, purge ------------------------------------- */

static int
delete_check(const struct engine_delete_req *req, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err))
		return (-1);
	if (req->force_delete_without_recovery &&
	    req->has_recovery_window_in_days) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "You can't use "
		    "ForceDeleteWithoutRecovery in conjunction with "
		    "RecoveryWindowInDays.");
		return (-1);
	}
	if (req->has_recovery_window_in_days &&
	    (req->recovery_window_in_days < 7 ||
	    req->recovery_window_in_days > 30)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "The "
		    "RecoveryWindowInDays value must be between 7 and 30 days "
		    "(inclusive).");
		return (-1);
	}
	return (0);
}

int
engine_delete_secret(struct engine_worker *w, const struct engine_call *call,
    const struct engine_delete_req *req, struct engine_delete_resp *resp,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;
	int days;

	memset(resp, 0, sizeof(*resp));
	if (delete_check(req, err))
		return (-1);
	days = req->has_recovery_window_in_days ?
	    (int)req->recovery_window_in_days : 30;
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve(w, call, req->secret_id, 1, &sec, err)) {
		/* Force-deleting a secret that is not there succeeds. */
		if (err->code != CF_ERR_RESOURCE_NOT_FOUND ||
		    !req->force_delete_without_recovery)
			goto finish;
		store_rollback(w->store);
		resp->name = req->secret_id;
		resp->arn = req->secret_id;
		if (strncmp(req->secret_id, "arn:", 4) != 0) {
			char *arn = cf_arena_alloc(call->arena,
			    strlen(w->e->arn_prefix) + strlen(req->secret_id) + 1);

			if (arn == NULL)
				return (engine_oom(err));
			sprintf(arn, "%s%s", w->e->arn_prefix, req->secret_id);
			resp->arn = arn;
		}
		resp->deletion_date = cf_now_ms();
		return (0);
	}

	/*
	 * Forced: the rows go now.  This is not crypto-shredding: the data
	 * keys are wrapped under the KEK, which stays, so a database backup
	 * taken before the delete still opens.  Either way the change is
	 * held and sent with the event and the COMMIT; the deletion date
	 * the answer gives comes back with them.
	 */
	store_defer_writes(w->store);
	if (req->force_delete_without_recovery) {
		if (store_secret_delete(w->store, sec.uuid, err))
			goto finish;
		resp->deletion_date = cf_now_ms();
	} else if (sec.deleted_ms != 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "You tried to perform "
		    "the operation on a secret that's currently marked "
		    "deleted.");
		goto finish;
	} else if (store_secret_schedule_delete(w->store, sec.uuid, days,
	    &resp->deletion_date, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	resp->arn = sec.arn;
	resp->name = sec.name;
	return (0);
}

int
engine_restore_secret(struct engine_worker *w, const struct engine_call *call,
    const char *secret_id, const char **out_arn, const char **out_name,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;

	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve(w, call, secret_id, 1, &sec, err))
		goto finish;
	/*
	 * Restoring a secret that is not deleted changes nothing; the change
	 * is held and sent with the event and the COMMIT.
	 */
	store_defer_writes(w->store);
	if (sec.deleted_ms != 0 && store_secret_restore(w->store, sec.uuid,
	    err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	*out_arn = sec.arn;
	*out_name = sec.name;
	return (0);
}

/* The PurgeSecret events of ${n} claimed secrets, all with ${outcome}. */
static int
purge_events(struct cf_arena *a, const struct store_purge_item *items,
    size_t n, const char *request_id, const char *outcome,
    struct audit_event **out, struct cf_error *err)
{
	struct audit_event *ev;
	int64_t now = cf_now_ms();
	size_t i;

	if ((ev = cf_arena_alloc(a, n * sizeof(*ev))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < n; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		ev[i].time_ms = now;
		ev[i].request_id = request_id;
		ev[i].principal = "cofferd";
		ev[i].peer = "local";
		ev[i].operation = "PurgeSecret";
		ev[i].secret_arn = items[i].arn;
		ev[i].outcome = outcome;
	}
	*out = ev;
	return (0);
}

int
engine_purge_due(struct engine_worker *w, struct audit *audit, int limit,
    int *out_purged, struct cf_error *err)
{
	struct store_purge_item *items;
	struct audit_event *ev = NULL;
	struct cf_arena *a;
	struct cf_error cerr;
	char request_id[37];
	size_t n;

	*out_purged = 0;
	if ((a = cf_arena_new()) == NULL)
		return (engine_oom(err));

	/* Lock the secrets that are due (other servers skip them). */
	if (store_begin(w->store, err))
		goto err0;
	if (store_purge_claim(w->store, a, limit, &items, &n, err))
		goto err1;
	if (n == 0) {
		store_rollback(w->store);
		cf_arena_free(a);
		return (0);
	}

	/*
	 * Their events first, durable before anything is deleted: a purge
	 * is never unaudited.  One request id for the round.
	 */
	if (audit != NULL && (engine_random_uuid(w, request_id, err) ||
	    purge_events(a, items, n, request_id, "OK", &ev, err) ||
	    audit_record(audit, ev, n, err)))
		goto err1;

	/* Then the delete. */
	if (store_purge_delete(w->store, items, n, err))
		goto err1;
	if (store_commit(w->store, err)) {
		/* The events said OK: say how it really ended. */
		if (audit != NULL && (purge_events(a, items, n, request_id,
		    cf_code_name(err->code != CF_OK ? err->code :
		    CF_ERR_INTERNAL), &ev, &cerr) ||
		    audit_record(audit, ev, n, &cerr)))
			cf_log(CF_LOG_ERROR, "could not audit a failed "
			    "purge: %s", cerr.msg);
		goto err0;
	}
	*out_purged = (int)n;
	atomic_fetch_add_explicit(&w->e->purged, n, memory_order_relaxed);
	cf_arena_free(a);

	/* Success! */
	return (0);

err1:
	store_rollback(w->store);
err0:
	/* Failure! */
	cf_arena_free(a);
	return (-1);
}

/* ---- UpdateSecretVersionStage ----------------------------------------------- */

static int
stage_check(const struct engine_stage_req *req, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err))
		return (-1);
	if (req->version_stage == NULL) {
		engine_missing(err, "versionStage");
		return (-1);
	}
	if (engine_check_stage(req->version_stage, "versionStage", err) ||
	    (req->remove_from_version_id && engine_check_version_id(
	    req->remove_from_version_id, "removeFromVersionId", err)) ||
	    (req->move_to_version_id && engine_check_version_id(
	    req->move_to_version_id, "moveToVersionId", err)))
		return (-1);
	if (req->remove_from_version_id == NULL &&
	    req->move_to_version_id == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "You must specify "
		    "MoveToVersionId, RemoveFromVersionId, or both.");
		return (-1);
	}
	return (0);
}

/* Check that the label's current holder is the one the caller named. */
static int
stage_holder_ok(const struct engine_stage_req *req, const char *holder,
    struct cf_error *err)
{
	const char *rm = req->remove_from_version_id;
	const char *mv = req->move_to_version_id;

	if (holder != NULL && (mv == NULL || strcmp(holder, mv) != 0) &&
	    rm == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "The parameter "
		    "RemoveFromVersionId can't be empty. Staging label %.256s "
		    "is currently attached to version %.64s, so you must "
		    "explicitly reference that version in RemoveFromVersionId.",
		    req->version_stage, holder);
		return (-1);
	}
	if (rm != NULL && (holder == NULL || strcmp(holder, rm) != 0)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Version stage "
		    "%.256s not found in version %.64s", req->version_stage, rm);
		return (-1);
	}
	if (mv == NULL && strcmp(req->version_stage, STAGE_CURRENT) == 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "You can't remove "
		    "the staging label AWSCURRENT without moving it to "
		    "another version (MoveToVersionId).");
		return (-1);
	}
	return (0);
}

/*
 * Two round trips and one commit: the lookup, locked, with the label's
 * holder and the target version's state after the lock; then the change
 * (store_stage_set), held and sent with the audit event and the COMMIT.
 */
int
engine_update_secret_version_stage(struct engine_worker *w,
    const struct engine_call *call, const struct engine_stage_req *req,
    const char **out_arn, const char **out_name, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct engine_call c = *call;
	struct store_stage_state st;
	struct store_secret sec;
	const char *mv = req->move_to_version_id;
	int current;

	if (stage_check(req, err))
		return (-1);
	c.auth_version_stage = req->version_stage;
	call = &c;
	current = strcmp(req->version_stage, STAGE_CURRENT) == 0;
	engine_audit_at(call, NULL, mv != NULL ? mv :
	    req->remove_from_version_id);
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live_stage(w, call, req->secret_id,
	    req->version_stage, mv, &sec, &st, err))
		goto finish;

	/* The target version must exist; the label's holder must match. */
	if (mv != NULL && !st.version_exists) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Not a valid "
		    "version: %.64s", mv);
		goto finish;
	}
	if (mv != NULL && current && st.version_empty) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Version %.64s has no "
		    "value yet (its rotation has not run createSecret): it "
		    "cannot be AWSCURRENT.", mv);
		goto finish;
	}
	if (stage_holder_ok(req, st.holder, err))
		goto finish;

	/*
	 * Decided: what is left reports nothing back.  Move (AWSCURRENT
	 * brings AWSPREVIOUS along) or remove; a label already where it is
	 * asked to go only marks the secret changed, as before.
	 */
	store_defer_writes(w->store);
	if (mv == NULL || st.holder == NULL || strcmp(st.holder, mv) != 0) {
		if (store_stage_set(w->store, sec.uuid, req->version_stage, mv,
		    ENGINE_MAX_LABELS, err))
			goto finish;
	} else if (store_secret_touch_changed(w->store, sec.uuid, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	*out_arn = sec.arn;
	*out_name = sec.name;
	return (0);
}

/* ---- ListSecretVersionIds ----------------------------------------------------- */

int
engine_list_secret_version_ids(struct engine_worker *w,
    const struct engine_call *call, const struct engine_list_versions_req *req,
    struct engine_list_versions_resp *resp, struct cf_error *err)
{
	struct store_version_info *v = NULL;
	struct store_secret sec;
	char after[65];
	int64_t after_us = 0;
	int limit;
	size_t n, i;

	memset(resp, 0, sizeof(*resp));
	if (engine_check_max_results(req->has_max_results,
	    req->max_results, 100, err))
		return (-1);
	limit = req->has_max_results ? req->max_results : ENGINE_DEFAULT_PAGE;
	if (req->next_token != NULL && engine_next_token_decode(
	    req->next_token, w->e->token_key->data, 'v', &after_us, after,
	    err))
		return (-1);
	if (engine_resolve(w, call, req->secret_id, 0, &sec, err))
		return (-1);

	if (store_version_page(w->store, call->arena, sec.uuid,
	    req->include_deprecated, after_us, req->next_token ? after : NULL,
	    limit + 1, &v, &n, err))
		return (-1);
	if (n > (size_t)limit) {
		n = (size_t)limit;
		if ((resp->next_token = engine_next_token_encode(call->arena,
		    w->e->token_key->data, 'v', v[n - 1].created_us,
		    v[n - 1].version_id)) == NULL)
			return (engine_oom(err));
	}
	if (n > 0 && (resp->versions = cf_arena_alloc(call->arena,
	    n * sizeof(*resp->versions))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < n; i++) {
		struct engine_version_entry *e = &resp->versions[i];
		char *alias;

		e->version_id = v[i].version_id;
		e->stages = v[i].stages;
		e->n_stages = v[i].n_stages;
		e->created_date = v[i].created_ms;
		e->last_accessed_date = v[i].last_accessed_ms;
		/* AWS names the default key "DefaultEncryptionKey". */
		if (strcmp(v[i].kek_label, w->e->default_kek) == 0)
			e->kms_key_id = "DefaultEncryptionKey";
		else {
			if ((alias = cf_arena_alloc(call->arena,
			    strlen(v[i].kek_label) + 7)) == NULL)
				return (engine_oom(err));
			sprintf(alias, "alias/%s", v[i].kek_label);
			e->kms_key_id = alias;
		}
	}
	resp->n_versions = n;
	resp->arn = sec.arn;
	resp->name = sec.name;
	return (0);
}

/* ---- TagResource / UntagResource --------------------------------------------- */

int
engine_tag_resource(struct engine_worker *w, const struct engine_call *call,
    const char *secret_id, const struct engine_tag *tags, size_t n,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;
	struct store_tag *st;
	size_t i;

	if (engine_check_secret_id(secret_id, err) ||
	    engine_check_tags(tags, n, err))
		return (-1);
	if (n == 0) {
		/* protobuf cannot tell an empty list from none. */
		engine_missing(err, "tags");
		return (-1);
	}
	if ((st = cf_arena_alloc(call->arena, n * sizeof(*st))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < n; i++) {
		st[i].key = tags[i].key;
		st[i].value = tags[i].value ? tags[i].value : "";
	}
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto finish;
	/*
	 * Allowed: the tags and the statement that checks the 50-tag quota
	 * go with the event and the COMMIT, in one round trip.
	 */
	store_defer_writes(w->store);
	if (store_tags_put(w->store, sec.uuid, st, n, err) ||
	    store_tags_within(w->store, sec.uuid, ENGINE_MAX_TAGS, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	return (engine_finish(w, call, end, err));
}

int
engine_untag_resource(struct engine_worker *w, const struct engine_call *call,
    const char *secret_id, const char *const *keys, size_t n,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;
	size_t i;

	if (engine_check_secret_id(secret_id, err))
		return (-1);
	if (n == 0) {
		engine_missing(err, "tagKeys");
		return (-1);
	}
	for (i = 0; i < n; i++)
		if (engine_check_tag_key(keys[i], "tagKeys", err))
			return (-1);
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto finish;
	/* Allowed: the removals go with the event and the COMMIT. */
	store_defer_writes(w->store);
	if (store_tags_remove(w->store, sec.uuid, keys, n, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	return (engine_finish(w, call, end, err));
}
