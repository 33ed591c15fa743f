/*
 * rotation_internal.h: what the engine's rotation files share, and nothing
 * else includes (engine/DESIGN.md, "Rotation", says why they are cut so):
 *
 *   rotation_api.c        RotateSecret, CancelRotateSecret, configuration
 *   rotation_rules.c      RotationRules as stored (JSON) and their windows
 *   rotation_values.c     what a rotation reads and draws: the secret's row
 *                         and values, the master secret, a new password
 *   rotation_step.c       one step of a rotation, committed with its event
 *   rotation_lease.c      a claimed rotation run to its end, exactly once
 *   rotation_scheduler.c  the thread: claims, wake-ups, the purge
 *
 * What a rotator does (make a value, set it, test it) is rotator/'s.
 */
#ifndef COFFER_ENGINE_ROTATION_INTERNAL_H
#define COFFER_ENGINE_ROTATION_INTERNAL_H

#include "engine_internal.h"
#include "rotator.h"
#include "schedule.h"

#define STAGE_PENDING "AWSPENDING"

struct audit;

/* ---- rotation_rules.c ---------------------------------------------------- */

/* engine_rules_json(a, r): the rules as stored (jsonb text, AWS's member
 * names) in ${a}; NULL when out of memory. */
char *engine_rules_json(struct cf_arena *,
    const struct engine_rotation_rules *);

/* engine_rules_schedule(r, out, err): the rules parsed into a schedule;
 * -1 with AWS's exception when they are wrong. */
int engine_rules_schedule(const struct engine_rotation_rules *,
    struct schedule *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_rules_next_window(a, json, last_ms, now_ms): the start of the next
 * window after a rotation (or a manual change) at ${last_ms}, for the
 * stored rules ${json}; 0 when there are none or they do not parse.
 */
int64_t engine_rules_next_window(struct cf_arena *, const char *, int64_t,
    int64_t);

/* ---- rotation_values.c --------------------------------------------------- */

/*
 * engine_rotation_lock(w, a, arn, sec, err): lock the secret ${arn}'s row
 * and read it; -1 with ResourceNotFoundException if it is gone.
 */
int engine_rotation_lock(struct engine_worker *, struct cf_arena *,
    const char *, struct store_secret *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_rotation_open(w, call, uuid, v, out, err): engine_open of version
 * ${v} for a rotator (the plaintext in call's arena).
 */
int engine_rotation_open(struct engine_worker *, const struct engine_call *,
    const char *, const struct store_version *, struct rotator_value *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_rotation_current(w, call, sec, out, err): the AWSCURRENT value of
 * ${sec}; out->present is 0 when there is none.
 */
int engine_rotation_current(struct engine_worker *, const struct engine_call *,
    const struct store_secret *, struct rotator_value *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * engine_rotation_master_secret(w, call, arn, out, err): the master secret
 * ${arn}, which ${call}'s principal must be allowed to GetSecretValue (the
 * same decision as for that call): -1 with AccessDeniedException, decided
 * before whether it exists is told, or ResourceNotFoundException.
 */
int engine_rotation_master_secret(struct engine_worker *,
    const struct engine_call *, const char *, struct store_secret *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_rotation_master_value(w, call, sec, out, err): the master
 * credentials of alternating rotation: the AWSCURRENT value of the master
 * secret pinned in ${sec}, read as ${call}'s principal (who configured the
 * rotation) may read it, on the rotated user's server.
 */
int engine_rotation_master_value(struct engine_worker *,
    const struct engine_call *, const struct store_secret *,
    struct rotator_value *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_rotation_password(w, rot, out, err): a new password drawn from the
 * token by ${rot}'s rules (GetRandomPassword's generator) into ${out},
 * which holds ENGINE_ROTATION_PASSWORD_BUF bytes.
 */
#define ENGINE_ROTATION_PASSWORD_BUF 4097
int engine_rotation_password(struct engine_worker *, const struct rotator *,
    char *, struct cf_error *) CF_MUSTCHECK;

/* ---- rotation_step.c ----------------------------------------------------- */

/*
 * Who runs rotations in this process: the scheduler's own worker, where
 * its steps' events go, and the lease it holds rotations under
 * (secrets.rotation_lease_owner, for ${lease_s} seconds at a time).
 */
struct rotation_lease {
	struct engine_worker *w;
	struct audit *audit;		/* NULL: steps are not audited */
	char owner[128];		/* this server: host:pid:random */
	int lease_s;			/* outlasts any one step */
};

/*
 * What one step needs: a call of its own, as the principal who configured
 * the rotation (its decisions and its audit events); "cofferd" in the
 * events of rotations configured before that was recorded.
 */
struct rotation_step_ctx {
	const struct rotation_lease *l;
	struct engine_call call;
	struct engine_audit ea;
	char request_id[37];
	const char *op;
	const char *arn;
	const char *token;
};

/*
 * engine_rotation_step_begin(c, l, a, op, arn, token, principal, err): set
 * ${c} up for operation ${op} ("Rotation/<step>") of rotation ${token} of
 * ${arn}, as ${principal}: engine_commit then writes its event in the
 * step's transaction.  engine_rotation_step_failed(c, why): log and audit
 * a step that failed (after its rollback).
 */
int engine_rotation_step_begin(struct rotation_step_ctx *,
    const struct rotation_lease *, struct cf_arena *, const char *,
    const char *, const char *, const char *, struct cf_error *)
    CF_MUSTCHECK;
void engine_rotation_step_failed(struct rotation_step_ctx *,
    const struct cf_error *);

/* How a step ended. */
enum rotation_step_result {
	ROTATION_STEP_NEXT,	/* done and committed: the next step may run */
	ROTATION_STEP_OVER,	/* nothing more to run here: the rotation is
				   finished, or was cancelled, or moved on
				   under another lease */
	ROTATION_STEP_FAILED	/* failed, rolled back: to be retried */
};

/*
 * engine_rotation_run_step(l, a, arn, token, step, rot, principal, err):
 * Run ${step} of the rotation ${token} of ${arn} with ${rot}, under ${l}:
 * first what the rotator does outside Coffer, with no lock held; then, in
 * one transaction, check that the rotation is still this one at this step,
 * do the step's work in Coffer and record the next step (renewing the
 * lease) with the step's audit event.  FAILED with ${err} set.
 */
enum rotation_step_result engine_rotation_run_step(
    const struct rotation_lease *, struct cf_arena *, const char *,
    const char *, enum rotator_step, const struct rotator *, const char *,
    struct cf_error *);

/* ---- rotation_lease.c ---------------------------------------------------- */

/*
 * engine_rotation_run_due(l): claim every due or interrupted rotation not
 * leased elsewhere, one at a time, and run each as far as it goes; errors
 * are logged and the rotation retried later.
 */
void engine_rotation_run_due(const struct rotation_lease *);

#endif /* !COFFER_ENGINE_ROTATION_INTERNAL_H */
