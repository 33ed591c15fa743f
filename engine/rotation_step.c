/*
 * rotation_step.c: one step of a rotation, run by the server that holds
 * its lease (rotation_lease.c), and the step's audit event.
 *
 * What the rotator does outside Coffer runs with no transaction open and
 * no row locked, since it may take seconds (an exec: program, any step;
 * the PostgreSQL rotators' setSecret and testSecret); then one transaction
 * checks that the rotation is still this one at this step, does the
 * step's work in Coffer and records the next step with the step's audit
 * event.  A step that fails is rolled back, logged and audited with its
 * exception; AWSCURRENT stays where it was and the lease code retries it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "rotation_internal.h"

static const char *const step_op[] = { NULL, "Rotation/createSecret",
    "Rotation/setSecret", "Rotation/testSecret", "Rotation/finishSecret" };

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

/* engine_commit's hook: the step's event, durable before its commit. */
static int
step_record(struct engine_audit *ea, struct cf_error *err)
{
	struct rotation_step_ctx *c = ea->hook_arg;
	struct audit_event ev;

	if (c->l->audit == NULL)
		return (0);
	step_event(c, "OK", &ev);
	return (audit_record(c->l->audit, &ev, 1, err));
}

void
engine_rotation_step_failed(struct rotation_step_ctx *c,
    const struct cf_error *why)
{
	struct audit_event ev;
	struct cf_error err;

	fprintf(stderr, "cofferd: rotation of %s, %s failed: %s\n", c->arn,
	    c->op, why->msg);
	if (c->l->audit == NULL)
		return;
	step_event(c, cf_code_name(why->code != CF_OK ? why->code :
	    CF_ERR_INTERNAL), &ev);
	if (audit_record(c->l->audit, &ev, 1, &err))
		fprintf(stderr, "cofferd: could not audit the failed %s of "
		    "%s: %s\n", c->op, c->arn, err.msg);
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
	c->ea.before_commit = step_record;
	c->ea.hook_arg = c;
	return (0);
}

/*
 * The new value for builtin:password: a password, or the current JSON value
 * with its "password" member replaced.
 */
static int
new_password_value(struct engine_worker *w, struct cf_arena *a,
    const struct rotator *rot, const struct rotator_value *cur,
    struct rotator_value *out, struct cf_error *err)
{
	char *p;

	if ((p = cf_arena_alloc(a, ENGINE_ROTATION_PASSWORD_BUF)) == NULL)
		return (engine_oom(err));
	if (engine_rotation_password(w, rot, p, err))
		return (-1);
	return (rotator_password_value(a, cur, p, out, err));
}

/* createSecret's new value, per rotator, from the current one ${cur}. */
static int
create_value(struct engine_worker *w, struct cf_arena *a,
    const struct rotator *rot, const struct rotator_value *cur,
    struct rotator_value *out, struct cf_error *err)
{
	char *p;

	if (rot->kind == ROTATOR_PASSWORD)
		return (new_password_value(w, a, rot, cur->present ? cur : NULL,
		    out, err));
	if (!cur->present) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret has no "
		    "AWSCURRENT credentials to rotate");
		return (-1);
	}
	if ((p = cf_arena_alloc(a, ENGINE_ROTATION_PASSWORD_BUF)) == NULL)
		return (engine_oom(err));
	if (engine_rotation_password(w, rot, p, err))
		return (-1);
	return (rotator_pg_new_value(a, rot, cur, p, out, err));
}

/*
 * The database rotators' values must match what was pinned when rotation
 * was configured: the current one and, once there, the pending one.
 */
static int
pg_check_values(const struct store_secret *sec, const struct rotator *rot,
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

/* rotator_exec_step with the endpoint as it is now. */
static int
exec_step(struct engine *e, struct cf_arena *a, const char *path,
    enum rotator_step step, const char *arn, const char *token,
    struct cf_error *err)
{
	struct rotator_exec_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = e->exec.dir;
	cfg.timeout_s = e->exec.timeout_s;
	cfg.run_as_user = e->exec.run_as_user;
	cfg.uid = e->exec.uid;
	cfg.gid = e->exec.gid;
	cfg.cancel = e->exec.cancel;
	cfg.ca_bundle = e->exec.ca_bundle;
	cfg.cert = e->exec.cert;
	cfg.key = e->exec.key;
	pthread_mutex_lock(&e->rot_mu);
	cfg.endpoint = e->exec.endpoint != NULL ? cf_arena_strdup(a,
	    e->exec.endpoint) : NULL;
	pthread_mutex_unlock(&e->rot_mu);
	return (rotator_exec_step(&cfg, path, step, arn, token, err));
}

/* Run step ${step} of the rotation ${token} of ${arn}; 0, or -1. */
int
engine_rotation_run_step(const struct rotation_lease *r, struct cf_arena *a,
    const char *arn, const char *token, enum rotator_step step,
    const struct rotator *rot, const char *principal, struct cf_error *err)
{
	struct engine_worker *w = r->w;
	struct rotator_pg_config pg = { w->e->pg.allow_hosts, w->e->pg.sslmode,
	    w->e->pg.sslrootcert };
	struct store_secret sec;
	struct store_version pv;
	struct rotator_value cur, nv, pending, master;
	struct engine_value v;
	struct rotation_step_ctx c;
	const char *prev;
	int rc, more, outside, outside_done = 0;

	if (engine_rotation_step_begin(&c, r, a, step_op[step], arn, token,
	    principal, err))
		return (-1);
again:
	if (store_begin(w->store, err))
		return (-1);
	if (engine_rotation_lock(w, a, arn, &sec, err))
		goto fail;
	/* The step runs as whoever configured the rotation, as recorded. */
	c.call.principal = sec.rotation_principal;
	if (sec.rotation_token == NULL || strcmp(sec.rotation_token, token) ||
	    sec.rotation_step != (int)step) {
		store_rollback(w->store);
		return (1);		/* cancelled or done meanwhile */
	}
	if ((rc = store_version_get(w->store, a, sec.uuid, token, NULL, &pv,
	    err)) == -1)
		goto fail;
	if (rc == 0) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the pending "
		    "version %s is gone", token);
		goto fail;
	}
	more = !(sec.rotation_test_only && step == ROTATOR_TEST);
	outside = rot->kind != ROTATOR_PASSWORD &&
	    (step == ROTATOR_SET || step == ROTATOR_TEST);

	/* An operator's program does each step through the API: no lock. */
	if (rot->kind == ROTATOR_EXEC && !outside_done) {
		store_rollback(w->store);
		if (exec_step(w->e, a, rot->path, step, arn, token, err)) {
			engine_rotation_step_failed(&c, err);
			return (-1);
		}
		outside_done = 1;
		goto again;
	}

	/* What the database rotators need, read; then no lock held. */
	if (outside && !outside_done) {
		memset(&pending, 0, sizeof(pending));
		memset(&master, 0, sizeof(master));
		if (engine_rotation_current(w, &c.call, &sec, &cur, err) ||
		    (!pv.empty && engine_rotation_open(w, &c.call, sec.uuid,
		    &pv, &pending, err)))
			goto fail;
		if (!pending.present && !(step == ROTATOR_TEST &&
		    sec.rotation_test_only)) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
			    "version has no value");
			goto fail;
		}
		if (pg_check_values(&sec, rot, &cur, &pending, err))
			goto fail;
		if (step == ROTATOR_SET && rot->kind == ROTATOR_PG_ALTERNATING &&
		    engine_rotation_master_value(w, &c.call, &sec, &master,
		    err))
			goto fail;
		store_rollback(w->store);
		if (rotator_pg_step(&pg, a, rot, step, &cur, &pending, &master,
		    err)) {
			engine_rotation_step_failed(&c, err);
			return (-1);
		}
		/* Then record the step, if the rotation is still ours. */
		outside_done = 1;
		goto again;
	}

	switch (rot->kind == ROTATOR_EXEC ? -(int)step : (int)step) {
	case -ROTATOR_CREATE:
		if (pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "createSecret "
			    "put no value: it must call PutSecretValue with the "
			    "token and AWSPENDING");
			goto fail;
		}
		break;
	case -ROTATOR_SET:
	case -ROTATOR_TEST:
		break;
	case -ROTATOR_FINISH:
		if (store_stage_holder(w->store, a, sec.uuid, STAGE_CURRENT,
		    &prev, err) == -1)
			goto fail;
		if (prev == NULL || strcmp(prev, token) != 0) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "finishSecret "
			    "did not move AWSCURRENT to version %s", token);
			goto fail;
		}
		if (store_stage_remove(w->store, sec.uuid, STAGE_PENDING, err))
			goto fail;
		break;
	case ROTATOR_CREATE:
		/* Resumed after it had run: the value is there already. */
		if (!pv.empty)
			break;
		if (engine_rotation_current(w, &c.call, &sec, &cur, err) ||
		    (rot->kind != ROTATOR_PASSWORD && pg_check_values(&sec, rot,
		    &cur, NULL, err)) ||
		    create_value(w, a, rot, &cur, &nv, err))
			goto fail;
		memset(&v, 0, sizeof(v));
		v.present = nv.present;
		v.binary = nv.binary;
		v.data = nv.data;
		v.len = nv.len;
		if (engine_seal(w, sec.uuid, token, sec.kms_key_id, &v, &pv,
		    a, err) || store_version_fill(w->store, sec.uuid, &pv,
		    err) || store_secret_touch_changed(w->store, sec.uuid, err))
			goto fail;
		break;
	case ROTATOR_SET:
		/* builtin:password has nothing outside Coffer to set. */
		break;
	case ROTATOR_TEST:
		/* A test-only run validates the configuration: the rotator. */
		if (rot->kind == ROTATOR_PASSWORD && !sec.rotation_test_only &&
		    pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
			    "version has no value to test");
			goto fail;
		}
		break;
	case ROTATOR_FINISH:
		if (store_stage_move(w->store, a, sec.uuid, STAGE_CURRENT,
		    token, &prev, err))
			goto fail;
		if (prev != NULL && strcmp(prev, token) != 0 &&
		    store_stage_move(w->store, a, sec.uuid, STAGE_PREVIOUS,
		    prev, &prev, err))
			goto fail;
		if (store_stage_remove(w->store, sec.uuid, STAGE_PENDING,
		    err) || store_secret_touch_changed(w->store, sec.uuid, err))
			goto fail;
		break;
	}

	/* Where the rotation goes next, in the step's transaction. */
	if (step == ROTATOR_FINISH || !more) {
		if (!more && (store_stage_remove(w->store, sec.uuid,
		    STAGE_PENDING, err) || store_version_drop_empty(w->store,
		    sec.uuid, token, err)))
			goto fail;
		rc = store_rotation_done(w->store, sec.uuid, token, r->owner,
		    more, more ? engine_rules_next_window(a, sec.rotation_rules,
		    cf_now_ms(), cf_now_ms()) : 0, err);
	} else
		rc = store_rotation_step(w->store, sec.uuid, token, r->owner,
		    step + 1, r->lease_s, err);
	if (rc == -1)
		goto fail;
	if (rc == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the rotation lease "
		    "was lost");
		goto fail;
	}
	if (engine_commit(w, &c.call, err)) {
		engine_rotation_step_failed(&c, err);
		return (-1);
	}
	return (more && step != ROTATOR_FINISH ? 0 : 1);

fail:
	store_rollback(w->store);
	engine_rotation_step_failed(&c, err);
	return (-1);
}
