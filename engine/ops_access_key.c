/*
 * ops_access_key.c: access keys for AWS Signature Version 4 (Coffer's
 * AccessKeys service; IAM holds them in AWS).
 *
 * A key is an id ("CKIA" and 16 characters, public: it appears in every
 * signed request and in the audit trail) and a secret of 40 characters
 * (240 random bits from the token), shown once, in the CreateAccessKey
 * response, and otherwise kept sealed by the token as any secret value is,
 * bound to ("access-key", id).  The signature check needs the secret
 * itself (SigV4 is symmetric), so engine_access_key_open() unseals it for
 * the AWS endpoint; nothing else does.
 *
 * The actions (coffer:CreateAccessKey, ...) are checked on resource "*",
 * like the identity-policy actions: whoever may manage keys may manage
 * any principal's.  A principal has at most two keys, as in IAM, so that
 * it can rotate them.
 */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

#define KEY_ID_PREFIX "CKIA"
#define KEY_ID_RANDOM 16
#define KEY_SECRET_LEN 40
#define KEYS_PER_PRINCIPAL 2
/* What an envelope is bound to: no secret's uuid has this form. */
#define KEY_BINDING "access-key"

static const char *
status_name(int active)
{

	return (active ? "Active" : "Inactive");
}

/* The form of the ids this file makes (any length AWS allows: 16-128). */
static int
check_key_id(const char *id, struct cf_error *err)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (id == NULL) {
		engine_missing(err, "accessKeyId");
		return (-1);
	}
	if (n < 16 || n > 128 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789") != n) {
		engine_invalid(err, "accessKeyId", NULL, "have length between "
		    "16 and 128 and match [A-Z0-9]+");
		return (-1);
	}
	return (0);
}

static int
no_such_key(const char *id, struct cf_error *err)
{

	cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "The access key %.128s "
	    "does not exist.", id);
	return (-1);
}

/*
 * ${n} characters drawn from the ${size}-character ${alphabet} (32 or 64:
 * a divisor of 256, so each is uniform), then a NUL, into ${out}.
 */
static int
random_chars(struct engine_worker *w, const char *alphabet, size_t size,
    char *out, size_t n, struct cf_error *err)
{
	uint8_t b[KEY_SECRET_LEN];
	size_t i;

	if (n > sizeof(b) || hsm_random(w->hsm, b, n, err))
		return (-1);
	for (i = 0; i < n; i++)
		out[i] = alphabet[b[i] % size];
	out[n] = '\0';
	explicit_bzero(b, sizeof(b));
	return (0);
}

int
engine_create_access_key(struct engine_worker *w,
    const struct engine_call *call, const char *principal,
    struct engine_access_key *out, struct cf_error *err)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789+/";
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_access_key row, *mine;
	struct engine_value val = { 0 };
	char *id, *secret;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (principal == NULL)
		principal = call->principal;
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    engine_check_principal(principal, err))
		return (-1);

	/* The id and the secret, in the call's locked, wiped arena. */
	if ((id = cf_arena_alloc(call->arena, sizeof(KEY_ID_PREFIX) +
	    KEY_ID_RANDOM)) == NULL || (secret = cf_arena_alloc(call->arena,
	    KEY_SECRET_LEN + 1)) == NULL)
		return (engine_oom(err));
	memcpy(id, KEY_ID_PREFIX, sizeof(KEY_ID_PREFIX) - 1);
	if (random_chars(w, b32, 32, id + sizeof(KEY_ID_PREFIX) - 1,
	    KEY_ID_RANDOM, err) || random_chars(w, b64, 64, secret,
	    KEY_SECRET_LEN, err))
		return (-1);

	/* Sealed before the transaction: the binding needs only the id. */
	memset(&row, 0, sizeof(row));
	row.access_key_id = id;
	row.principal = principal;
	val.present = 1;
	val.data = (const uint8_t *)secret;
	val.len = KEY_SECRET_LEN;
	if (engine_seal(w, KEY_BINDING, id, NULL, &val, &row.sealed,
	    call->arena, err))
		return (-1);

	if (store_begin(w->store, err))
		return (-1);
	if (store_access_keys_of(w->store, call->arena, principal, 1, &mine,
	    &n, err))
		goto finish;
	if (n >= KEYS_PER_PRINCIPAL) {
		cf_error_set(err, CF_ERR_LIMIT_EXCEEDED, "Cannot exceed quota "
		    "for AccessKeysPerUser: %d", KEYS_PER_PRINCIPAL);
		goto finish;
	}
	if (store_access_key_insert(w->store, &row, &out->created_ms, err))
		goto finish;
	/* The change's event names the key it made. */
	if (call->audit != NULL)
		call->audit->made_key_id = id;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	out->access_key_id = id;
	out->principal = principal;
	out->status = status_name(1);
	out->secret = secret;
	return (0);
}

int
engine_list_access_keys(struct engine_worker *w,
    const struct engine_call *call, const char *principal,
    struct engine_access_key **out, size_t *n, struct cf_error *err)
{
	struct store_access_key *rows;
	size_t i;

	*out = NULL;
	*n = 0;
	if (principal == NULL)
		principal = call->principal;
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    engine_check_principal(principal, err) ||
	    store_access_keys_of(w->store, call->arena, principal, 0, &rows,
	    n, err))
		return (-1);
	if (*n > 0 && (*out = cf_arena_alloc(call->arena,
	    *n * sizeof(**out))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < *n; i++) {
		memset(&(*out)[i], 0, sizeof((*out)[i]));
		(*out)[i].access_key_id = rows[i].access_key_id;
		(*out)[i].principal = rows[i].principal;
		(*out)[i].status = status_name(rows[i].active);
		(*out)[i].created_ms = rows[i].created_ms;
	}
	return (0);
}

/* What change_key does to a key. */
enum key_change {
	KEY_ACTIVATE,
	KEY_DEACTIVATE,
	KEY_DELETE
};

/* UpdateAccessKey and DeleteAccessKey: one change of an existing key. */
static int
change_key(struct engine_worker *w, const struct engine_call *call,
    const char *id, enum key_change what, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	enum store_lookup rc;

	if (store_begin(w->store, err))
		return (-1);
	rc = what == KEY_DELETE ? store_access_key_delete(w->store, id, err) :
	    store_access_key_set_status(w->store, id, what == KEY_ACTIVATE,
	    err);
	if (rc == STORE_NOT_FOUND)
		(void)no_such_key(id, err);
	else if (rc == STORE_FOUND)
		end = ENGINE_TX_COMMIT;
	return (engine_finish(w, call, end, err) == ENGINE_TX_COMMITTED ? 0 :
	    -1);
}

int
engine_update_access_key(struct engine_worker *w,
    const struct engine_call *call, const char *id, const char *status,
    struct cf_error *err)
{

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    check_key_id(id, err))
		return (-1);
	if (status == NULL) {
		engine_missing(err, "status");
		return (-1);
	}
	if (strcmp(status, "Active") != 0 && strcmp(status, "Inactive") != 0) {
		engine_invalid(err, "status", status, "satisfy enum value set: "
		    "[Active, Inactive]");
		return (-1);
	}
	return (change_key(w, call, id, strcmp(status, "Active") == 0 ?
	    KEY_ACTIVATE : KEY_DEACTIVATE, err));
}

int
engine_delete_access_key(struct engine_worker *w,
    const struct engine_call *call, const char *id, struct cf_error *err)
{

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    check_key_id(id, err))
		return (-1);
	return (change_key(w, call, id, KEY_DELETE, err));
}

enum engine_key_lookup
engine_access_key_open(struct engine_worker *w,
    const struct engine_call *call, const char *id,
    struct engine_access_key *out, struct cf_error *err)
{
	struct store_access_key row;
	struct engine_value val = { 0 };
	enum store_lookup rc;
	char *secret;

	memset(out, 0, sizeof(*out));
	if (check_key_id(id, err))
		return (ENGINE_KEY_UNKNOWN);
	if ((rc = store_access_key_get(w->store, call->arena, id, &row,
	    err)) == STORE_ERROR)
		return (ENGINE_KEY_ERROR);
	if (rc == STORE_NOT_FOUND)
		return (ENGINE_KEY_UNKNOWN);
	out->access_key_id = row.access_key_id;
	out->principal = row.principal;
	out->status = status_name(row.active);
	out->created_ms = row.created_ms;
	if (!row.active)
		return (ENGINE_KEY_INACTIVE);
	if (engine_open(w, call, KEY_BINDING, &row.sealed, &val, err))
		return (ENGINE_KEY_ERROR);
	if ((secret = cf_arena_alloc(call->arena, val.len + 1)) == NULL) {
		(void)engine_oom(err);
		return (ENGINE_KEY_ERROR);
	}
	memcpy(secret, val.data, val.len);
	secret[val.len] = '\0';
	out->secret = secret;
	return (ENGINE_KEY_ACTIVE);
}
