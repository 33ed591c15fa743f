/*
 * rotation_lease.c: a rotation claimed under this server's lease, run to
 * its end exactly once (engine/DESIGN.md, "The rotation lease").
 *
 * store_rotation_claim takes a lease (rotation_lease_owner, until
 * rotation_lease_until) on one secret whose rotation is due or was left
 * unfinished, with FOR UPDATE SKIP LOCKED: two servers never hold the same.
 * A due scheduled rotation is then started (its pending version made and
 * the rotation recorded, in one transaction), and its steps run in order
 * from the one recorded (rotation_step.c).  Each step commits only if the
 * lease is still this server's and the rotation still the same, records the
 * next step and renews the lease; so a step is recorded once, and a server
 * that dies loses its lease and another resumes at the step recorded.  A
 * failed step releases the lease and is retried with exponential backoff
 * (2 s doubling, at most an hour) until it succeeds or the rotation is
 * cancelled.  A window missed entirely (every server down) moves to the
 * next one.
 */
#include <stdio.h>
#include <string.h>

#include "rotation_internal.h"
#include "cf_log.h"

#define ROT_BACKOFF_MIN_S 2
#define ROT_BACKOFF_MAX_S 3600
#define ROT_CLAIMS_MAX 1000		/* per round: others get a turn */

/* How starting a due scheduled rotation went. */
enum start {
	START_STARTED,		/* begun at createSecret: run its steps */
	START_NOT_STARTED,	/* nothing to run now (the lease released, or
				   left to run out when the secret changed) */
	START_FAILED		/* an error, logged or audited where seen */
};

/* Start the due scheduled rotation of ${sec}, named ${token}. */
static enum start
start_due(const struct rotation_lease *l, struct cf_arena *a,
    struct store_secret *sec, char token[37], struct cf_error *err)
{
	struct engine_worker *w = l->w;
	struct engine_rotation_rules rules;
	struct store_version v = { 0 };
	struct schedule s;
	struct rotation_step_ctx c;
	const char *pending = NULL, *current = NULL, *prev;
	int64_t now = cf_now_ms(), end, next;

	/* Rules that do not parse open no window: released, not rotated. */
	if (sec->rotation_rules == NULL ||
	    engine_rules_decode(a, sec->rotation_rules, &rules) ||
	    engine_rules_schedule(&rules, &s, err))
		return (store_rotation_release(w->store, sec->uuid, l->owner,
		    0, err) ? START_FAILED : START_NOT_STARTED);

	/* A window missed entirely moves to the next one. */
	end = sec->next_rotation_ms + schedule_window_ms(&s,
	    sec->next_rotation_ms);
	if (now >= end) {
		next = schedule_next_window(&s, sec->last_rotated_ms != 0 ?
		    sec->last_rotated_ms : sec->created_ms, now);
		cf_log(CF_LOG_WARN, "the rotation window of %s passed "
		    "unused; the next one opens at %lld ms", sec->arn,
		    (long long)next);
		return (store_rotation_release(w->store, sec->uuid, l->owner,
		    next > 0 ? next : 0, err) ? START_FAILED :
		    START_NOT_STARTED);
	}

	/* Under the row lock: still due, and no other rotation's AWSPENDING. */
	if (engine_random_uuid(w, token, err) ||
	    engine_rotation_step_begin(&c, l, a, "Rotation/start", sec->arn,
	    token, sec->rotation_principal, err))
		return (START_FAILED);
	if (store_begin(w->store, err))
		return (START_FAILED);
	if (engine_rotation_lock(w, a, sec->arn, sec, err))
		goto fail;
	if (sec->rotation_token != NULL || sec->rotation_enabled != 1) {
		store_rollback(w->store);
		return (START_NOT_STARTED);
	}
	if (store_stage_holder(w->store, a, sec->uuid, STAGE_PENDING, &pending,
	    err) == STORE_ERROR || store_stage_holder(w->store, a, sec->uuid,
	    STAGE_CURRENT, &current, err) == STORE_ERROR)
		goto fail;
	if (pending != NULL && (current == NULL || strcmp(pending, current))) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "AWSPENDING is on "
		    "version %s: remove it to let rotations run", pending);
		store_rollback(w->store);
		engine_rotation_step_failed(&c, err);
		next = schedule_next_window(&s, now, now);
		return (store_rotation_release(w->store, sec->uuid, l->owner,
		    next > 0 ? next : 0, err) ? START_FAILED :
		    START_NOT_STARTED);
	}

	/* The pending version, empty, and the rotation at createSecret. */
	v.version_id = token;
	v.empty = 1;
	v.kek_label = "";
	if (store_version_insert(w->store, sec->uuid, &v, err) ||
	    store_stage_move(w->store, a, sec->uuid, STAGE_PENDING, token,
	    &prev, err) || store_rotation_begin(w->store, sec->uuid, token,
	    ROTATOR_CREATE, 0, err) || engine_commit(w, &c.call, err))
		goto fail;
	return (START_STARTED);

fail:
	store_rollback(w->store);
	engine_rotation_step_failed(&c, err);
	return (START_FAILED);
}

/* Run the claimed rotation of ${uuid} as far as it goes. */
static void
run_claimed(const struct rotation_lease *l, const char *uuid)
{
	struct engine_worker *w = l->w;
	struct store_secret sec;
	struct rotator rot;
	struct cf_arena *a;
	struct cf_error err = { CF_OK, "" };
	char token[37];
	const char *tok;
	int backoff, step, kind = -1;	/* -1: a rotator not understood */

	if ((a = cf_arena_new()) == NULL)
		return;
	if (store_secret_by_uuid(w->store, a, uuid, &sec, &err) != STORE_FOUND)
		goto done;

	/* A due scheduled rotation starts; an interrupted one resumes. */
	if (sec.rotation_token == NULL) {
		if (start_due(l, a, &sec, token, &err) != START_STARTED)
			goto done;
		tok = token;
		sec.rotation_step = ROTATOR_CREATE;
	} else
		tok = cf_arena_strdup(a, sec.rotation_token);
	if (tok == NULL || rotator_parse(sec.rotation_lambda_arn, &rot, &err))
		goto failed;

	/* Its steps in order, from the one recorded. */
	kind = (int)rot.kind;
	for (step = sec.rotation_step; step <= ROTATOR_FINISH; step++) {
		switch (engine_rotation_run_step(l, a, sec.arn, tok,
		    (enum rotator_step)step, &rot, sec.rotation_principal,
		    &err)) {
		case ROTATION_STEP_NEXT:
			break;
		case ROTATION_STEP_OVER:
			goto over;
		case ROTATION_STEP_FAILED:
			goto failed;
		}
	}
over:
	engine_metrics_rotation(w->e, kind, 1);
	goto done;

failed:
	engine_metrics_rotation(w->e, kind, 0);
	/* Retried later, the lease released: 2 s, 4 s, ... up to an hour. */
	backoff = ROT_BACKOFF_MIN_S << (sec.rotation_attempts < 11 ?
	    sec.rotation_attempts : 11);
	if (backoff > ROT_BACKOFF_MAX_S)
		backoff = ROT_BACKOFF_MAX_S;
	if (tok != NULL && store_rotation_failed(w->store, uuid, tok,
	    l->owner, backoff, err.msg, &err))
		cf_log(CF_LOG_ERROR, "rotation of %s: %s", sec.arn,
		    err.msg);
done:
	cf_arena_free(a);
}

void
engine_rotation_run_due(const struct rotation_lease *l)
{
	struct cf_error err;
	char uuid[37];
	enum store_lease rc;
	int n;

	/* Everything due, one secret at a time. */
	for (n = 0; n < ROT_CLAIMS_MAX; n++) {
		if ((rc = store_rotation_claim(l->w->store, l->owner,
		    l->lease_s, uuid, &err)) == STORE_LEASE_ERROR)
			cf_log(CF_LOG_ERROR, "rotation: %s", err.msg);
		if (rc != STORE_LEASE_HELD)
			break;
		run_claimed(l, uuid);
	}
}
