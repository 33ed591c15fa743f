/*
 * rotation_api.c: RotateSecret and CancelRotateSecret, and what configures
 * rotation: who runs it, what it may touch, where exec: rotators call back.
 *
 * RotateSecret, as AWS: it stores the rotator (RotationLambdaARN) and the
 * rules, puts AWSPENDING on an empty version named by its
 * ClientRequestToken *before* any step runs, records the rotation as
 * started (secrets.rotation_token, at createSecret, or testSecret alone
 * for RotateImmediately = false), wakes this server's scheduler and
 * returns: the steps run asynchronously, under a lease
 * (rotation_lease.c).  CancelRotateSecret stops the rotation in progress
 * and keeps the rules and the rotator; AWSPENDING stays for the caller.
 *
 * Whose rights a rotation uses (issue 11): RotateSecret with a rotator or
 * rules records its caller (secrets.rotation_principal, DescribeSecret's
 * RotationPrincipal); every step runs as that principal, its decisions
 * made by engine_authorize and its audit events naming it.  The database
 * rotators read a master secret only if that principal may GetSecretValue
 * it, and only the master, user and server pinned at configuration
 * (secrets.rotation_pins, rotator_pg_pins): a PutSecretValue cannot
 * redirect them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rotation_internal.h"

int
engine_rotation_touched(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, struct cf_error *err)
{
	int64_t now = cf_now_ms();

	/* A manual change of AWSCURRENT counts as a rotation (AWS). */
	if (sec->rotation_enabled != 1)
		return (0);
	return (store_rotation_touched(w->store, sec->uuid,
	    engine_rules_next_window(call->arena, sec->rotation_rules, now,
	    now), err));
}

/*
 * Record that ${call}'s principal configures the rotation of ${sec} with
 * ${rot}: its steps will run as that principal.  For the PostgreSQL
 * rotators, pin what the current value names (rotator_pg_pins); the
 * alternating one also needs that principal to be allowed to read the
 * master secret, as each setSecret will check again.
 */
static int
pin_rotation(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const struct rotator *rot,
    struct cf_error *err)
{
	struct rotator_value cur, pins_v;
	struct store_secret m;
	const char *pins = NULL, *master;
	int alt = rot->kind == ROTATOR_PG_ALTERNATING;

	if (rot->kind == ROTATOR_PG_SINGLE || alt) {
		if (engine_rotation_current(w, call, sec, &cur, err))
			return (-1);
		if (!cur.present) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret "
			    "has no AWSCURRENT credentials to rotate");
			return (-1);
		}
		if (rotator_pg_pins(call->arena, &cur, alt, &pins, err))
			return (-1);
		memset(&pins_v, 0, sizeof(pins_v));
		pins_v.present = 1;
		pins_v.data = (const uint8_t *)pins;
		pins_v.len = strlen(pins);
		if (alt && (rotator_pg_field(call->arena, &pins_v, "masterarn",
		    &master) || engine_rotation_master_secret(w, call, master,
		    &m, err)))
			return (-1);
	}
	return (store_rotation_pin(w->store, sec->uuid, call->principal, pins,
	    err));
}

/* A rotator's password parameters must make a password: try them once. */
static int
rotator_check(struct engine_worker *w, const struct rotator *rot,
    struct cf_error *err)
{
	char pw[ENGINE_ROTATION_PASSWORD_BUF];
	int rc;

	if (rot->kind == ROTATOR_EXEC)
		return (rotator_exec_check(w->e->exec.dir, rot->path, err));
	rc = engine_rotation_password(w, rot, pw, err);
	explicit_bzero(pw, sizeof(pw));
	return (rc);
}

/* The request's own checks, before any transaction: rotator and rules. */
static int
rotate_check(const struct engine_rotate_req *req, struct rotator *rot,
    struct schedule *sched, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err))
		return (-1);
	if (req->client_request_token == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, MSG_NEED_TOKEN);
		return (-1);
	}
	if (engine_check_token(req->client_request_token, err))
		return (-1);
	if (req->rotation_lambda_arn != NULL &&
	    rotator_parse(req->rotation_lambda_arn, rot, err))
		return (-1);
	if (req->has_rules && engine_rules_schedule(&req->rules, sched, err))
		return (-1);
	return (0);
}

int
engine_rotate_secret(struct engine_worker *w, const struct engine_call *call,
    const struct engine_rotate_req *req, struct engine_rotate_resp *resp,
    struct cf_error *err)
{
	struct store_version v = { 0 };
	struct store_secret sec;
	struct schedule sched;
	struct rotator rot;
	const char *lambda, *pending = NULL, *current = NULL, *prev, *rules;
	int64_t now = cf_now_ms(), next = 0;
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (rotate_check(req, &rot, &sched, err) ||
	    (req->rotation_lambda_arn != NULL && rotator_check(w, &rot, err)))
		return (-1);
	engine_audit_at(call, NULL, req->client_request_token);
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, req->secret_id, &sec, err))
		goto finish;
	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = req->client_request_token;

	/* The same request again: it is running or done. */
	if (sec.rotation_token != NULL &&
	    strcmp(sec.rotation_token, req->client_request_token) == 0) {
		store_rollback(w->store);
		return (0);
	}

	/* A rotator, given or stored. */
	lambda = req->rotation_lambda_arn != NULL ? req->rotation_lambda_arn :
	    sec.rotation_lambda_arn;
	if (lambda == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "No Lambda rotation "
		    "function ARN is associated with this secret.");
		goto finish;
	}
	if (req->rotation_lambda_arn == NULL &&
	    rotator_parse(lambda, &rot, err))
		goto finish;

	/* One rotation at a time: AWSPENDING on no version but AWSCURRENT's. */
	if (store_stage_holder(w->store, call->arena, sec.uuid, STAGE_PENDING,
	    &pending, err) == STORE_ERROR || store_stage_holder(w->store,
	    call->arena, sec.uuid, STAGE_CURRENT, &current, err) == STORE_ERROR)
		goto finish;
	if (sec.rotation_token != NULL || (pending != NULL &&
	    (current == NULL || strcmp(pending, current) != 0))) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Previous rotation "
		    "request is still in progress.");
		goto finish;
	}
	if ((rc = store_version_exists(w->store, sec.uuid,
	    req->client_request_token, err)) == STORE_ERROR)
		goto finish;
	if (rc == STORE_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "You can't use "
		    "ClientRequestToken %.64s because that value is already in "
		    "use for a version of secret %.512s.",
		    req->client_request_token, sec.arn);
		goto finish;
	}

	/* The pending version, empty until createSecret, then the state. */
	v.version_id = req->client_request_token;
	v.empty = 1;
	v.kek_label = "";
	if (store_version_insert(w->store, sec.uuid, &v, err) ||
	    store_stage_move(w->store, call->arena, sec.uuid, STAGE_PENDING,
	    req->client_request_token, &prev, err))
		goto finish;
	rules = NULL;
	if (req->has_rules && (rules = engine_rules_json(call->arena,
	    &req->rules)) == NULL) {
		(void)engine_oom(err);
		goto finish;
	}
	/* Configured now (or before 0007): who, and what it may touch. */
	if ((req->rotation_lambda_arn != NULL || req->has_rules ||
	    sec.rotation_principal == NULL) &&
	    pin_rotation(w, call, &sec, &rot, err))
		goto finish;
	if (rules != NULL)
		next = schedule_next_window(&sched, sec.last_rotated_ms != 0 ?
		    sec.last_rotated_ms : sec.created_ms, now);
	else if (sec.rotation_rules != NULL)
		next = engine_rules_next_window(call->arena, sec.rotation_rules,
		    sec.last_rotated_ms != 0 ? sec.last_rotated_ms :
		    sec.created_ms, now);
	if (store_rotation_configure(w->store, sec.uuid, 1,
	    req->rotation_lambda_arn, rules, next, err) ||
	    store_rotation_begin(w->store, sec.uuid, req->client_request_token,
	    req->has_rotate_immediately && !req->rotate_immediately ?
	    ROTATOR_TEST : ROTATOR_CREATE, req->has_rotate_immediately &&
	    !req->rotate_immediately, err))
		goto finish;
	engine_audit_at(call, sec.arn, req->client_request_token);
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	engine_rotation_kick(w->e);
	return (0);
}

int
engine_cancel_rotate_secret(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id,
    struct engine_rotate_resp *resp, struct cf_error *err)
{
	struct store_secret sec;
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;

	memset(resp, 0, sizeof(*resp));
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto finish;
	if (sec.rotation_lambda_arn == NULL && sec.rotation_enabled != 1) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Rotation is not "
		    "configured for this secret.");
		goto finish;
	}
	/* The rules and the rotator stay; AWSPENDING stays for the caller. */
	if (store_rotation_cancel(w->store, sec.uuid, err))
		goto finish;
	engine_audit_at(call, sec.arn, sec.rotation_token);
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = sec.rotation_token;
	return (0);
}

int
engine_set_rotator_endpoint(struct engine *e, const char *url)
{
	char *copy;

	if ((copy = strdup(url)) == NULL)
		return (-1);
	pthread_mutex_lock(&e->rot_mu);
	free((char *)(uintptr_t)e->exec.endpoint);
	e->exec.endpoint = copy;
	pthread_mutex_unlock(&e->rot_mu);
	return (0);
}


void
engine_cancel_rotators(struct engine *e)
{

	__atomic_store_n(&e->exec_cancel, 1, __ATOMIC_RELAXED);
}
