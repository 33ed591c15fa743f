/*
 * rotation_step.c: one step of a rotation, run by the server that holds
 * its lease (rotation_lease.c), and the step's audit event.
 *
 * A step is a forward sequence of two phases:
 *
 *  1. Outside: what the rotator does outside Coffer, with no transaction
 *     open and no row locked, since it may take seconds (an exec: program,
 *     any step; the PostgreSQL rotators' setSecret and testSecret).  What
 *     it needs is read first, under the row lock, which is then released.
 *     This work is idempotent: a step that dies half-way runs it again.
 *  2. Inside: one transaction that locks the secret's row, checks that the
 *     rotation is still this one at this step (else it stops: cancelled,
 *     or moved on under another lease), does the step's work in Coffer (a
 *     new pending value, AWSCURRENT moved), and records the next step with
 *     the lease renewed, or the rotation done; the step's audit event is
 *     written in that transaction (engine_commit), so a step counts once,
 *     with its event, or not at all.
 *
 * The work of each phase is one function per rotator kind.  A step that
 * fails is rolled back, logged and audited with its exception; AWSCURRENT
 * stays where it was and the lease code retries it later.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cf_log.h"
#include "rotation_internal.h"

static const char *const step_op[] = { NULL, "Rotation/createSecret",
    "Rotation/setSecret", "Rotation/testSecret", "Rotation/finishSecret" };

/* How a phase of a step ended. */
enum phase {
	PHASE_DONE,		/* go on */
	PHASE_GONE,		/* the rotation is no longer this one at this
				   step: nothing to do (rolled back) */
	PHASE_FAILED		/* failed: rolled back, and reported where it
				   was before (engine_rotation_step_failed) */
};

/* What a step works on: the secret's row, locked, and the pending version. */
struct step {
	struct store_secret sec;
	struct store_version pv;
};

/* ---- the step's audit event ---------------------------------------------- */

/* The event of step ${c} with ${outcome}. */
static void
step_event(const struct rotation_step_ctx *c, const char *outcome,
    struct audit_event *ev)
{

	memset(ev, 0, sizeof(*ev));
	ev->time_ms = cf_now_ms();
	ev->request_id = c->request_id;
	ev->principal = c->call.principal != NULL ? c->call.principal :
	    "cofferd";
	ev->peer = "local";
	ev->operation = c->op;
	ev->secret_arn = c->arn;
	ev->version_id = c->token;
	ev->outcome = outcome;
}

/* engine_commit's hook: the step's event, committed with the step. */
static int
step_change_event(struct engine_audit *ea, struct audit_event *ev,
    struct cf_error *err)
{
	struct rotation_step_ctx *c = ea->hook_arg;

	(void)err;
	step_event(c, "OK", ev);
	return (0);
}

void
engine_rotation_step_failed(struct rotation_step_ctx *c,
    const struct cf_error *why)
{
	struct audit_event ev;
	struct cf_error err;

	cf_log(CF_LOG_ERROR, "rotation of %s, %s failed: %s", c->arn,
	    c->op, why->msg);
	if (c->l->audit == NULL)
		return;
	step_event(c, cf_code_name(why->code != CF_OK ? why->code :
	    CF_ERR_INTERNAL), &ev);
	if (audit_record(c->l->audit, &ev, 1, &err))
		cf_log(CF_LOG_ERROR, "could not audit the failed %s of "
		    "%s: %s", c->op, c->arn, err.msg);
}

int
engine_rotation_step_begin(struct rotation_step_ctx *c,
    const struct rotation_lease *l, struct cf_arena *a, const char *op,
    const char *arn, const char *token, const char *principal,
    struct cf_error *err)
{

	memset(c, 0, sizeof(*c));
	c->l = l;
	c->op = op;
	c->arn = arn;
	c->token = token;
	if (engine_random_uuid(l->w, c->request_id, err))
		return (-1);
	c->call.principal = principal;
	c->call.peer = "local";
	c->call.request_id = c->request_id;
	c->call.arena = a;
	c->call.audit = &c->ea;
	c->ea.change_event = step_change_event;
	c->ea.hook_arg = c;
	return (0);
}

/* ---- opening a phase ----------------------------------------------------- */

/* Roll back and report the step failed: PHASE_FAILED. */
static enum phase
phase_failed(struct rotation_step_ctx *c, struct cf_error *err)
{

	store_rollback(c->l->w->store);
	engine_rotation_step_failed(c, err);
	return (PHASE_FAILED);
}

/*
 * Open a transaction, lock the secret's row and check that its rotation is
 * still ${c}'s at ${step}; read the pending version.  PHASE_DONE inside the
 * transaction; PHASE_GONE rolled back; PHASE_FAILED rolled back and
 * reported (but for a transaction that could not begin: not reported).
 */
static enum phase
open_step(struct rotation_step_ctx *c, struct cf_arena *a,
    enum rotator_step step, struct step *s, struct cf_error *err)
{
	struct engine_worker *w = c->l->w;
	enum store_lookup rc;

	if (store_begin(w->store, err))
		return (PHASE_FAILED);
	if (engine_rotation_lock(w, a, c->arn, &s->sec, err))
		return (phase_failed(c, err));

	/* The step runs as whoever configured the rotation, as recorded. */
	c->call.principal = s->sec.rotation_principal;
	if (s->sec.rotation_token == NULL || strcmp(s->sec.rotation_token,
	    c->token) || s->sec.rotation_step != (int)step) {
		store_rollback(w->store);
		return (PHASE_GONE);	/* cancelled or done meanwhile */
	}
	if ((rc = store_version_get(w->store, a, s->sec.uuid, c->token, NULL,
	    &s->pv, err)) == STORE_ERROR)
		return (phase_failed(c, err));
	if (rc == STORE_NOT_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the pending "
		    "version %s is gone", c->token);
		return (phase_failed(c, err));
	}
	return (PHASE_DONE);
}

/*
 * The database rotators' values must match what was pinned when rotation
 * was configured: the current one and, once there, the pending one.
 */
static int
check_pins(const struct store_secret *sec, const struct rotator *rot,
    const struct rotator_value *cur, const struct rotator_value *pending,
    struct cf_error *err)
{
	int alt = rot->kind == ROTATOR_PG_ALTERNATING;

	if (cur != NULL && cur->present && rotator_pg_check_pins(cur,
	    sec->rotation_pins, alt, "secret's current value", err))
		return (-1);
	if (pending != NULL && pending->present && rotator_pg_check_pins(
	    pending, sec->rotation_pins, alt, "pending version's value", err))
		return (-1);
	return (0);
}

/* ---- phase 1: outside Coffer, one function per rotator kind -------------- */

/* Does ${rot} work outside Coffer at ${step}? */
static int
works_outside(const struct rotator *rot, enum rotator_step step)
{

	switch (rot->kind) {
	case ROTATOR_EXEC:
		return (1);
	case ROTATOR_PG_SINGLE:
	case ROTATOR_PG_ALTERNATING:
		return (step == ROTATOR_SET || step == ROTATOR_TEST);
	case ROTATOR_PASSWORD:
		break;
	}
	return (0);
}

/*
 * exec: the operator's program does the step itself, through the API, so
 * nothing is held while it runs; it gets the endpoint as it is now.
 */
static enum phase
outside_exec(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, struct cf_error *err)
{
	struct engine *e = c->l->w->e;
	struct rotator_exec_config cfg;

	store_rollback(c->l->w->store);
	/* The endpoint may change meanwhile: a copy, taken under rot_mu. */
	pthread_mutex_lock(&e->rot_mu);
	cfg = e->exec;
	cfg.endpoint = e->exec.endpoint != NULL ? cf_arena_strdup(a,
	    e->exec.endpoint) : NULL;
	pthread_mutex_unlock(&e->rot_mu);
	if (rotator_exec_step(&cfg, rot->path, step, c->arn, c->token, err)) {
		engine_rotation_step_failed(c, err);
		return (PHASE_FAILED);
	}
	return (PHASE_DONE);
}

/*
 * The PostgreSQL rotators' setSecret and testSecret: the values they need
 * read and checked against the pins under the lock, then the target
 * database changed or tried with no lock held.
 */
static enum phase
outside_pg(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, const struct step *s,
    struct cf_error *err)
{
	struct engine_worker *w = c->l->w;
	struct rotator_value cur, pending, master;

	memset(&pending, 0, sizeof(pending));
	memset(&master, 0, sizeof(master));
	if (engine_rotation_current(w, &c->call, &s->sec, &cur, err) ||
	    (!s->pv.empty && engine_rotation_open(w, &c->call, s->sec.uuid,
	    &s->pv, &pending, err)))
		return (phase_failed(c, err));
	if (!pending.present && !(step == ROTATOR_TEST &&
	    s->sec.rotation_test_only)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
		    "version has no value");
		return (phase_failed(c, err));
	}
	if (check_pins(&s->sec, rot, &cur, &pending, err))
		return (phase_failed(c, err));
	if (step == ROTATOR_SET && rot->kind == ROTATOR_PG_ALTERNATING &&
	    engine_rotation_master_value(w, &c->call, &s->sec, &master, err))
		return (phase_failed(c, err));
	store_rollback(w->store);
	if (rotator_pg_step(&w->e->pg, a, rot, step, &cur, &pending, &master,
	    err)) {
		engine_rotation_step_failed(c, err);
		return (PHASE_FAILED);
	}
	return (PHASE_DONE);
}

/* Phase 1: open, then the rotator's own work with nothing held. */
static enum phase
outside(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, struct cf_error *err)
{
	struct step s;
	enum phase p;

	if ((p = open_step(c, a, step, &s, err)) != PHASE_DONE)
		return (p);
	if (rot->kind == ROTATOR_EXEC)
		return (outside_exec(c, a, rot, step, err));
	return (outside_pg(c, a, rot, step, &s, err));
}

/* ---- phase 2: inside Coffer, one function per rotator kind --------------- */

/*
 * createSecret of a built-in rotator: the pending version gets its value,
 * made by the rotator from the current one and a password from the token.
 */
static int
create_builtin(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, struct step *s, struct cf_error *err)
{
	struct engine_worker *w = c->l->w;
	struct rotator_value cur, nv;
	struct engine_value v;
	char *pw;

	/* Resumed after it had run: the value is there already. */
	if (!s->pv.empty)
		return (0);
	if (engine_rotation_current(w, &c->call, &s->sec, &cur, err))
		return (-1);
	if (rot->kind == ROTATOR_PASSWORD) {
		if ((pw = cf_arena_alloc(a, ENGINE_ROTATION_PASSWORD_BUF)) ==
		    NULL)
			return (engine_oom(err));
		if (engine_rotation_password(w, rot, pw, err) ||
		    rotator_password_value(a, &cur, pw, &nv, err))
			return (-1);
	} else {
		if (check_pins(&s->sec, rot, &cur, NULL, err))
			return (-1);
		if (!cur.present) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret "
			    "has no AWSCURRENT credentials to rotate");
			return (-1);
		}
		if ((pw = cf_arena_alloc(a, ENGINE_ROTATION_PASSWORD_BUF)) ==
		    NULL)
			return (engine_oom(err));
		if (engine_rotation_password(w, rot, pw, err) ||
		    rotator_pg_new_value(a, rot, &cur, pw, &nv, err))
			return (-1);
	}
	memset(&v, 0, sizeof(v));
	v.present = nv.present;
	v.binary = nv.binary;
	v.data = nv.data;
	v.len = nv.len;
	return (engine_seal(w, s->sec.uuid, c->token, s->sec.kms_key_id, &v,
	    &s->pv, a, err) || store_version_fill(w->store, s->sec.uuid,
	    &s->pv, err) || store_secret_touch_changed(w->store, s->sec.uuid,
	    err) ? -1 : 0);
}

/*
 * finishSecret of a built-in rotator: AWSCURRENT to the pending version,
 * AWSPREVIOUS to the one it left, AWSPENDING removed.
 */
static int
finish_builtin(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct step *s, struct cf_error *err)
{
	struct store *st = c->l->w->store;
	const char *prev;

	if (store_stage_move(st, a, s->sec.uuid, STAGE_CURRENT, c->token,
	    &prev, err))
		return (-1);
	if (prev != NULL && strcmp(prev, c->token) != 0 &&
	    store_stage_move(st, a, s->sec.uuid, STAGE_PREVIOUS, prev, &prev,
	    err))
		return (-1);
	return (store_stage_remove(st, s->sec.uuid, STAGE_PENDING, err) ||
	    store_secret_touch_changed(st, s->sec.uuid, err) ? -1 : 0);
}

/* builtin:password: everything happens inside Coffer. */
static int
inside_password(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, struct step *s,
    struct cf_error *err)
{

	switch (step) {
	case ROTATOR_CREATE:
		return (create_builtin(c, a, rot, s, err));
	case ROTATOR_SET:
		/* Nothing outside Coffer to set. */
		return (0);
	case ROTATOR_TEST:
		/* A test-only run validates the configuration: the rotator. */
		if (!s->sec.rotation_test_only && s->pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
			    "version has no value to test");
			return (-1);
		}
		return (0);
	case ROTATOR_FINISH:
		return (finish_builtin(c, a, s, err));
	}
	return (0);
}

/* The PostgreSQL rotators: setSecret and testSecret ran outside. */
static int
inside_pg(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, struct step *s,
    struct cf_error *err)
{

	switch (step) {
	case ROTATOR_CREATE:
		return (create_builtin(c, a, rot, s, err));
	case ROTATOR_SET:
	case ROTATOR_TEST:
		return (0);
	case ROTATOR_FINISH:
		return (finish_builtin(c, a, s, err));
	}
	return (0);
}

/*
 * exec: the program did the work through the API, as a Lambda does:
 * check that createSecret put a value and that finishSecret moved
 * AWSCURRENT, then take AWSPENDING away.
 */
static int
inside_exec(struct rotation_step_ctx *c, struct cf_arena *a,
    enum rotator_step step, struct step *s, struct cf_error *err)
{
	struct store *st = c->l->w->store;
	const char *prev;

	switch (step) {
	case ROTATOR_CREATE:
		if (s->pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "createSecret "
			    "put no value: it must call PutSecretValue with the "
			    "token and AWSPENDING");
			return (-1);
		}
		return (0);
	case ROTATOR_SET:
	case ROTATOR_TEST:
		return (0);
	case ROTATOR_FINISH:
		if (store_stage_holder(st, a, s->sec.uuid, STAGE_CURRENT, &prev,
		    err) == STORE_ERROR)
			return (-1);
		if (prev == NULL || strcmp(prev, c->token) != 0) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "finishSecret "
			    "did not move AWSCURRENT to version %s", c->token);
			return (-1);
		}
		return (store_stage_remove(st, s->sec.uuid, STAGE_PENDING,
		    err));
	}
	return (0);
}

/*
 * Phase 2: open, the step's work in Coffer, and where the rotation goes
 * next, committed with the step's event.
 */
static enum rotation_step_result
inside(struct rotation_step_ctx *c, struct cf_arena *a,
    const struct rotator *rot, enum rotator_step step, struct cf_error *err)
{
	const struct rotation_lease *l = c->l;
	struct store *st = l->w->store;
	struct step s;
	enum store_lease held;
	int64_t next;
	int rc = 0, more;

	switch (open_step(c, a, step, &s, err)) {
	case PHASE_DONE:
		break;
	case PHASE_GONE:
		return (ROTATION_STEP_OVER);
	case PHASE_FAILED:
		return (ROTATION_STEP_FAILED);
	}
	/* A test-only run (RotateImmediately = false) ends at testSecret. */
	more = !(s.sec.rotation_test_only && step == ROTATOR_TEST);

	/* The step's work. */
	switch (rot->kind) {
	case ROTATOR_PASSWORD:
		rc = inside_password(c, a, rot, step, &s, err);
		break;
	case ROTATOR_PG_SINGLE:
	case ROTATOR_PG_ALTERNATING:
		rc = inside_pg(c, a, rot, step, &s, err);
		break;
	case ROTATOR_EXEC:
		rc = inside_exec(c, a, step, &s, err);
		break;
	}
	if (rc)
		goto fail;

	/* Where the rotation goes next, in the step's transaction. */
	if (step == ROTATOR_FINISH || !more) {
		if (!more && (store_stage_remove(st, s.sec.uuid, STAGE_PENDING,
		    err) || store_version_drop_empty(st, s.sec.uuid, c->token,
		    err)))
			goto fail;
		next = more ? engine_rules_next_window(a, s.sec.rotation_rules,
		    cf_now_ms(), cf_now_ms()) : 0;
		held = store_rotation_done(st, s.sec.uuid, c->token, l->owner,
		    more, next, err);
	} else
		held = store_rotation_step(st, s.sec.uuid, c->token, l->owner,
		    step + 1, l->lease_s, err);
	if (held == STORE_LEASE_ERROR)
		goto fail;
	if (held == STORE_LEASE_NONE) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the rotation lease "
		    "was lost");
		goto fail;
	}

	/* The event, then the commit; a failed commit is rolled back. */
	if (engine_commit(l->w, &c->call, err)) {
		engine_rotation_step_failed(c, err);
		return (ROTATION_STEP_FAILED);
	}
	return (more && step != ROTATOR_FINISH ? ROTATION_STEP_NEXT :
	    ROTATION_STEP_OVER);

fail:
	(void)phase_failed(c, err);
	return (ROTATION_STEP_FAILED);
}

enum rotation_step_result
engine_rotation_run_step(const struct rotation_lease *l, struct cf_arena *a,
    const char *arn, const char *token, enum rotator_step step,
    const struct rotator *rot, const char *principal, struct cf_error *err)
{
	struct rotation_step_ctx c;

	if (engine_rotation_step_begin(&c, l, a, step_op[step], arn, token,
	    principal, err))
		return (ROTATION_STEP_FAILED);

	/* 1. What the rotator does outside Coffer, with nothing held. */
	if (works_outside(rot, step)) {
		switch (outside(&c, a, rot, step, err)) {
		case PHASE_DONE:
			break;
		case PHASE_GONE:
			return (ROTATION_STEP_OVER);
		case PHASE_FAILED:
			return (ROTATION_STEP_FAILED);
		}
	}

	/* 2. Then the step in Coffer, if the rotation is still ours. */
	return (inside(&c, a, rot, step, err));
}
