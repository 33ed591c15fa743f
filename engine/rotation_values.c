/*
 * rotation_values.c: what a rotation reads and draws, for the API and the
 * steps alike: the secret's row under its lock, a version's value, the
 * AWSCURRENT value, the master secret of alternating rotation (as the
 * principal who configured the rotation may read it) and a new password.
 *
 * Values are decrypted into the call's arena (locked, wiped with it) and
 * handed to the rotators as struct rotator_value: rotator/ never sees the
 * store or the token.
 */
#include <string.h>

#include "rotation_internal.h"

int
engine_rotation_lock(struct engine_worker *w, struct cf_arena *a,
    const char *arn, struct store_secret *sec, struct cf_error *err)
{
	enum store_lookup rc;

	if ((rc = store_secret_by_arn(w->store, a, arn, 1, sec,
	    err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, MSG_NOT_FOUND);
		return (-1);
	}
	return (0);
}

int
engine_rotation_open(struct engine_worker *w, const struct engine_call *call,
    const char *uuid, const struct store_version *v, struct rotator_value *out,
    struct cf_error *err)
{
	struct engine_value ev = { 0 };

	if (engine_open(w, call, uuid, v, &ev, err))
		return (-1);
	out->present = ev.present;
	out->binary = ev.binary;
	out->data = ev.data;
	out->len = ev.len;
	return (0);
}

int
engine_rotation_current(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, struct rotator_value *out,
    struct cf_error *err)
{
	struct store_version cv;
	enum store_lookup rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_version_get(w->store, call->arena, sec->uuid, NULL,
	    STAGE_CURRENT, &cv, err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND || cv.empty)
		return (0);
	return (engine_rotation_open(w, call, sec->uuid, &cv, out, err));
}

int
engine_rotation_master_secret(struct engine_worker *w,
    const struct engine_call *call, const char *arn, struct store_secret *m,
    struct cf_error *err)
{
	struct engine_call c = *call;
	enum store_lookup rc;

	c.action = "secretsmanager:GetSecretValue";
	c.auth_name = NULL;
	c.auth_version_id = NULL;
	c.auth_version_stage = STAGE_CURRENT;
	if ((rc = store_secret_by_arn(w->store, call->arena, arn, 0, m,
	    err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND || m->deleted_ms != 0) {
		if (engine_authorize(w, &c, NULL, NULL, arn, NULL, err))
			return (-1);
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the master secret "
		    "%.256s does not exist", arn);
		return (-1);
	}
	return (engine_authorize(w, &c, NULL, m, NULL, NULL, err));
}

int
engine_rotation_master_value(struct engine_worker *w,
    const struct engine_call *call, const struct store_secret *sec,
    struct rotator_value *out, struct cf_error *err)
{
	struct rotator_value pins_v;
	struct store_secret m;
	const char *arn;

	memset(&pins_v, 0, sizeof(pins_v));
	pins_v.present = 1;
	pins_v.data = (const uint8_t *)(sec->rotation_pins != NULL ?
	    sec->rotation_pins : "");
	pins_v.len = strlen((const char *)pins_v.data);
	if (rotator_pg_field(call->arena, &pins_v, "masterarn", &arn)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "alternating-users "
		    "rotation has no pinned master secret: call RotateSecret "
		    "with RotationLambdaARN to configure it again");
		return (-1);
	}
	if (engine_rotation_master_secret(w, call, arn, &m, err) ||
	    engine_rotation_current(w, call, &m, out, err))
		return (-1);
	if (!out->present) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the master secret "
		    "%.256s has no AWSCURRENT value", arn);
		return (-1);
	}
	return (rotator_pg_check_master(out, sec->rotation_pins, err));
}

/* A random source for engine_password_generate: the token. */
static int
token_random(void *ctx, uint8_t *buf, size_t n, struct cf_error *err)
{

	return (hsm_random(ctx, buf, n, err));
}

int
engine_rotation_password(struct engine_worker *w, const struct rotator *rot,
    char *out, struct cf_error *err)
{
	/* The rotator's rules are GetRandomPassword's. */
	return (engine_password_generate(&rot->pw, token_random, w->hsm, out,
	    err));
}
