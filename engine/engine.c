/*
 * engine.c: the engine's lifecycle and the helpers every operation uses:
 * resolving a SecretId, minting ids and ARNs, sealing and opening values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "engine_internal.h"

/*
 * Propose 32 random bytes from the token as the NextToken MAC key; the
 * database keeps whichever server's proposal came first.
 */
static int
load_token_key(struct engine *e, struct cf_error *err)
{
	uint8_t candidate[ENGINE_TOKEN_KEY_LEN];
	struct hsm_session *hs = NULL;
	struct store *st = NULL;
	int rc = -1;

	if ((e->token_key = cf_secret_new(ENGINE_TOKEN_KEY_LEN)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if ((hs = hsm_session_new(e->hsm, err)) == NULL ||
	    hsm_random(hs, candidate, sizeof(candidate), err) ||
	    (st = store_connect(e->conninfo, err)) == NULL)
		goto done;
	rc = store_server_key(st, "list-token-mac", candidate,
	    sizeof(candidate), e->token_key->data, err);
	if (rc == 0)
		rc = audit_deployment(st, hs, e->deployment, err);
done:
	explicit_bzero(candidate, sizeof(candidate));
	store_free(st);
	hsm_session_free(hs);
	return (rc);
}

/*
 * An audit key version left extractable by a rotation that died halfway
 * is sealed at start, under the rotations' lock.
 */
static int
seal_audit_keys(struct engine *e, struct cf_error *err)
{
	struct hsm_session *hs = NULL;
	struct store *st = NULL;
	int rc = -1;

	if ((hs = hsm_session_new(e->hsm, err)) == NULL ||
	    (st = store_connect(e->conninfo, err)) == NULL)
		goto done;
	if (store_begin(st, err) ||
	    store_lock_name(st, "coffer.audit_key", err) ||
	    engine_audit_keys_seal(hs, st, err) ||
	    store_commit(st, err)) {
		store_rollback(st);
		goto done;
	}
	rc = 0;
done:
	store_free(st);
	hsm_session_free(hs);
	return (rc);
}

int
engine_migrate(const char *conninfo, int *out_applied,
    struct cf_error *err)
{

	return (store_migrate(conninfo, out_applied, err));
}

/* *${dst} = a copy of ${src} (NULL stays NULL); -1 if out of memory. */
static int
dup_opt(const char **dst, const char *src)
{

	*dst = NULL;
	if (src == NULL)
		return (0);
	return ((*dst = strdup(src)) == NULL ? -1 : 0);
}

struct engine *
engine_new(const struct engine_config *cfg, struct cf_error *err)
{
	struct engine *e;
	int n;

	if (cfg->hsm == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "engine_new needs the token");
		return (NULL);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->conninfo = strdup(cfg->pg_conninfo)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}
	e->hsm = cfg->hsm;
	pthread_mutex_init(&e->rot_mu, NULL);
	n = snprintf(e->arn_prefix, sizeof(e->arn_prefix),
	    "arn:%s:secretsmanager:%s:%s:secret:",
	    cfg->partition ? cfg->partition : "aws",
	    cfg->region ? cfg->region : "local-1",
	    cfg->account_id ? cfg->account_id : "000000000000");
	if (n < 0 || (size_t)n >= sizeof(e->arn_prefix)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "partition, region and account id are too long");
		goto err1;
	}
	/* What policies name a KEK by (keks.c): KMS's alias ARN. */
	n = snprintf(e->kms_arn_prefix, sizeof(e->kms_arn_prefix),
	    "arn:%s:kms:%s:%s:alias/",
	    cfg->partition ? cfg->partition : "aws",
	    cfg->region ? cfg->region : "local-1",
	    cfg->account_id ? cfg->account_id : "000000000000");
	if (n < 0 || (size_t)n >= sizeof(e->kms_arn_prefix)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "partition, region and account id are too long");
		goto err1;
	}

	snprintf(e->default_kek, sizeof(e->default_kek), "%s",
	    cfg->default_kek_label ? cfg->default_kek_label : "coffer-kek");

	/* Bring the schema up to date before any worker prepares statements. */
	if (store_migrate(e->conninfo, NULL, err))
		goto err1;

	/* The key all servers share for NextToken cursors. */
	if (load_token_key(e, err) || seal_audit_keys(e, err))
		goto err1;

	/* exec: rotators: copies of their configuration. */
	e->exec.timeout_s = cfg->exec.timeout_s > 0 ? cfg->exec.timeout_s : 60;
	e->exec.run_as_user = cfg->exec.run_as_user;
	e->exec.uid = cfg->exec.uid;
	e->exec.gid = cfg->exec.gid;
	e->exec.cancel = &e->exec_cancel;
	if (dup_opt(&e->exec.dir, cfg->exec.dir) ||
	    dup_opt(&e->exec.ca_bundle, cfg->exec.ca_bundle) ||
	    dup_opt(&e->exec.cert, cfg->exec.cert) ||
	    dup_opt(&e->exec.key, cfg->exec.key)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}

	/* PostgreSQL rotators: copies of their configuration, checked. */
	if (dup_opt(&e->pg.allow_hosts, cfg->pg.allow_hosts) ||
	    dup_opt(&e->pg.sslmode, cfg->pg.sslmode) ||
	    dup_opt(&e->pg.sslrootcert, cfg->pg.sslrootcert)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}
	if (rotator_pg_config_check(&e->pg, err))
		goto err1;
	/* Bounds on a request's work (workers' statement timeouts). */
	e->db_timeout_ms = cfg->db_timeout_ms;
	e->timeout_ms = cfg->statement_timeout_ms;
	e->list_timeout_ms = cfg->list_statement_timeout_ms;
	e->verify_max_events = cfg->audit_verify_max_events > 0 ?
	    cfg->audit_verify_max_events : 100000;
	e->verify_max_ms = cfg->audit_verify_max_ms > 0 ?
	    cfg->audit_verify_max_ms : 10000;

	/* Authorization: the bootstrap admin; the listener starts later. */
	e->authz_off = cfg->authz_off;
	if (engine_authz_init(e, cfg->admin_principal, err) ||
	    engine_keks_init(e, err))
		goto err1;
	e->rewrap_rate = cfg->rewrap_rate > 0 ? cfg->rewrap_rate : 1000;

	/* Success! */
	return (e);

err1:
	engine_free(e);
	/* Failure! */
	return (NULL);
}

void
engine_free(struct engine *e)
{

	if (e == NULL)
		return;
	engine_authz_free(e);
	engine_keks_free(e);
	free((char *)(uintptr_t)e->exec.dir);
	free((char *)(uintptr_t)e->exec.ca_bundle);
	free((char *)(uintptr_t)e->exec.cert);
	free((char *)(uintptr_t)e->exec.key);
	free((char *)(uintptr_t)e->exec.endpoint);
	free((char *)(uintptr_t)e->pg.allow_hosts);
	free((char *)(uintptr_t)e->pg.sslmode);
	free((char *)(uintptr_t)e->pg.sslrootcert);
	pthread_mutex_destroy(&e->rot_mu);
	cf_secret_free(e->token_key);
	free(e->conninfo);
	free(e);
}

struct engine_worker *
engine_worker_new(struct engine *e, struct cf_error *err)
{
	struct engine_worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err0;
	}
	w->e = e;
	if ((w->store = store_connect(e->conninfo, err)) == NULL)
		goto err1;
	if (e->timeout_ms > 0 || e->list_timeout_ms > 0)
		store_set_timeouts(w->store, e->timeout_ms, e->list_timeout_ms);
	if (e->db_timeout_ms > 0)
		store_set_deadline(w->store, e->db_timeout_ms);
	if ((w->hsm = hsm_session_new(e->hsm, err)) == NULL)
		goto err1;
	if ((w->authz = engine_authz_cache_new()) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}

	/* Success! */
	return (w);

err1:
	engine_worker_free(w);
err0:
	/* Failure! */
	return (NULL);
}

void
engine_worker_free(struct engine_worker *w)
{

	if (w == NULL)
		return;
	engine_authz_cache_free(w->authz);
	hsm_session_free(w->hsm);
	store_free(w->store);
	free(w);
}

void
engine_set_audit(struct engine *e, struct audit *audit)
{

	e->audit = audit;
}

int
engine_health(struct engine_worker *w)
{
	uint8_t b[1];
	struct cf_error err;
	int64_t now = cf_now_ms();

	/* Not serving while the audit fails closed (its head lags). */
	if (w->e->audit != NULL && audit_head_check(w->e->audit, &err))
		return (-1);

	/*
	 * A load balancer may ask many times a second: an answer checked
	 * less than ENGINE_HEALTH_TTL_MS ago stands.  A failure is never
	 * remembered.
	 */
	if (w->health_ok_ms != 0 && now - w->health_ok_ms < ENGINE_HEALTH_TTL_MS)
		return (0);
	if (store_ping(w->store))
		return (-1);
	if (hsm_random(w->hsm, b, sizeof(b), &err))
		return (-1);
	w->health_ok_ms = now;
	return (0);
}

enum engine_id_kind
engine_classify(struct engine_worker *w, const char *id, const char **key)
{
	const char *prefix = w->e->arn_prefix;
	size_t plen = strlen(prefix);

	*key = id;
	/* A name. */
	if (strncmp(id, "arn:", 4) != 0)
		return (ENGINE_ID_NAME);
	/* An ARN of another partition, region or account is not ours. */
	if (strncmp(id, prefix, plen) != 0)
		return (ENGINE_ID_FOREIGN);
	/* A complete ARN: match it exactly. */
	if (engine_arn_suffix_like(id + plen))
		return (ENGINE_ID_ARN);
	/* A partial ARN (no suffix): its resource part is the name. */
	*key = id + plen;
	return (ENGINE_ID_NAME);
}

/*
 * After the lookup of ${id}: not found (the caller may not even learn
 * that unless a policy would let it act on the name), or found and
 * authorized.  0, or -1 with ${err}.
 */
static int
resolved(struct engine_worker *w, const struct engine_call *call,
    const char *id, enum store_lookup rc, struct store_secret *out,
    struct cf_error *err)
{

	if (rc == STORE_NOT_FOUND) {
		if (engine_authorize_id(w, call, id, err))
			return (-1);
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, MSG_NOT_FOUND);
	}
	if (rc == STORE_FOUND) {
		engine_audit_at(call, out->arn, NULL);
		if (engine_authorize(w, call, NULL, out, NULL, id, err))
			return (-1);
	}
	return (rc == STORE_FOUND ? 0 : -1);
}

/*
 * What to look ${id} up by: 0 with *${key}, an exact ARN if *${by_arn},
 * else a name, or NULL for another account's ARN, which no lookup finds;
 * -1 with ${err} for a SecretId that is not valid.
 */
static int
lookup_key(struct engine_worker *w, const char *id, const char **key,
    int *by_arn, struct cf_error *err)
{
	enum engine_id_kind kind;

	if (engine_check_secret_id(id, err))
		return (-1);
	kind = engine_classify(w, id, key);
	*by_arn = kind == ENGINE_ID_ARN;
	if (kind == ENGINE_ID_FOREIGN)
		*key = NULL;
	return (0);
}

/* InvalidRequestException for a secret scheduled for deletion. */
static int
not_deleted(const struct store_secret *sec, struct cf_error *err)
{

	if (sec->deleted_ms != 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_DELETED);
		return (-1);
	}
	return (0);
}

/* resolved, and then not_deleted: the secret a change may act on. */
static int
resolved_live(struct engine_worker *w, const struct engine_call *call,
    const char *id, enum store_lookup rc, struct store_secret *out,
    struct cf_error *err)
{

	if (resolved(w, call, id, rc, out, err))
		return (-1);
	return (not_deleted(out, err));
}

int
engine_resolve(struct engine_worker *w, const struct engine_call *call,
    const char *id, int for_update, struct store_secret *out,
    struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL)
		rc = by_arn ? store_secret_by_arn(w->store, call->arena, key,
		    for_update, out, err) : store_secret_by_name(w->store,
		    call->arena, key, for_update, out, err);
	return (resolved(w, call, id, rc, out, err));
}

int
engine_resolve_with_stages(struct engine_worker *w,
    const struct engine_call *call, const char *id, struct store_secret *out,
    struct store_stage **stages, size_t *n, struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	*stages = NULL;
	*n = 0;
	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL && (rc = engine_ahead_described(w, call, id, out,
	    stages, n)) == STORE_ERROR)
		rc = store_secret_with_stages(w->store, call->arena, key,
		    by_arn, out, stages, n, err);
	return (resolved(w, call, id, rc, out, err));
}

int
engine_resolve_read(struct engine_worker *w, const struct engine_call *call,
    const char *id, const char *stage, const char *vid,
    struct store_secret *out, struct store_version *ver, int *has_version,
    struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	*has_version = 0;
	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL && (rc = engine_ahead_get(w, call, id, stage, vid, out,
	    ver, has_version)) == STORE_ERROR)
		rc = store_secret_staged(w->store, call->arena, key, by_arn,
		    stage, vid, out, ver, has_version, err);
	return (resolved(w, call, id, rc, out, err));
}

int
engine_resolve_live_version(struct engine_worker *w,
    const struct engine_call *call, const char *id, const char *vid,
    struct store_secret *out, struct store_version *ver, int *has_version,
    int *has_current, struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	*has_version = 0;
	*has_current = 0;
	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL)
		rc = store_secret_lock_with_version(w->store, call->arena, key,
		    by_arn, vid, out, ver, has_version, has_current, err);
	return (resolved_live(w, call, id, rc, out, err));
}

int
engine_resolve_put_basis(struct engine_worker *w,
    const struct engine_call *call, const char *id, enum store_basis kind,
    const char *vid, struct store_secret *out, int *has_version,
    int *has_current, const char **basis, struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	*has_version = 0;
	*has_current = 0;
	*basis = NULL;
	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL)
		rc = store_secret_put_basis(w->store, call->arena, key, by_arn,
		    kind, vid, out, has_version, has_current, basis, err);
	return (resolved_live(w, call, id, rc, out, err));
}

int
engine_resolve_live_stage(struct engine_worker *w,
    const struct engine_call *call, const char *id, const char *stage,
    const char *vid, struct store_secret *out, struct store_stage_state *state,
    struct cf_error *err)
{
	const char *key;
	enum store_lookup rc = STORE_NOT_FOUND;
	int by_arn;

	memset(state, 0, sizeof(*state));
	if (lookup_key(w, id, &key, &by_arn, err))
		return (-1);
	if (key != NULL)
		rc = store_secret_lock_stage(w->store, call->arena, key, by_arn,
		    stage, vid, out, state, err);
	return (resolved_live(w, call, id, rc, out, err));
}

int
engine_resolve_live(struct engine_worker *w, const struct engine_call *call,
    const char *id, struct store_secret *out, struct cf_error *err)
{

	if (engine_resolve(w, call, id, 1, out, err))
		return (-1);
	return (not_deleted(out, err));
}

int
engine_oom(struct cf_error *err)
{

	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

int
engine_random_uuid(struct engine_worker *w, char out[37], struct cf_error *err)
{
	uint8_t b[16];

	if (hsm_random(w->hsm, b, sizeof(b), err))
		return (-1);
	cf_uuid_format(b, out);
	return (0);
}

char *
engine_arn_new(struct engine_worker *w, struct cf_arena *a, const char *name,
    struct cf_error *err)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char suffix[7];
	uint8_t b[32];
	size_t i, k = 0;
	char *arn;

	/* Six characters of 62 by rejection sampling: never modulo bias. */
	while (k < 6) {
		if (hsm_random(w->hsm, b, sizeof(b), err))
			return (NULL);
		for (i = 0; i < sizeof(b) && k < 6; i++)
			if (b[i] < 248)		/* 248 = 4 * 62 */
				suffix[k++] = alphabet[b[i] % 62];
	}
	suffix[6] = '\0';
	if ((arn = cf_arena_alloc(a, strlen(w->e->arn_prefix) + strlen(name) +
	    8)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	sprintf(arn, "%s%s-%s", w->e->arn_prefix, name, suffix);
	return (arn);
}

const char *
engine_kek_label(const char *kms_key_id)
{

	if (kms_key_id == NULL || *kms_key_id == '\0')
		return (NULL);
	if (strncmp(kms_key_id, "alias/", 6) == 0)
		return (kms_key_id + 6);
	return (kms_key_id);
}

int
engine_seal(struct engine_worker *w, const char *uuid, const char *vid,
    const char *kms_key_id, const struct engine_value *val,
    struct store_version *out, struct cf_arena *a, struct cf_error *err)
{
	struct hsm_binding bind = { uuid, vid };
	struct hsm_envelope env = { 0 };
	const char *label = engine_kek_label(kms_key_id);
	uint32_t version;
	int rc = -1;

	/* Under the KEK's newest version (a rotation reaches every server). */
	if (label == NULL)
		label = w->e->default_kek;
	if (engine_kek_current(w, label, &version, err) ||
	    hsm_seal_v(w->hsm, label, version, &bind, val->data, val->len,
	    &env, err))
		return (-1);

	/* Copy the envelope into the arena as a version row. */
	memset(out, 0, sizeof(*out));
	out->version_id = vid;
	out->binary = val->binary;
	out->format = env.format;
	out->kek_label = cf_arena_strdup(a, env.kek_label);
	out->kek_version = env.kek_version;
	out->iv = cf_arena_memdup(a, env.iv, sizeof(env.iv));
	out->iv_len = sizeof(env.iv);
	out->wrapped_dek = cf_arena_memdup(a, env.wrapped_dek,
	    env.wrapped_dek_len);
	out->wrapped_dek_len = env.wrapped_dek_len;
	out->ciphertext = cf_arena_memdup(a, env.ciphertext,
	    env.ciphertext_len);
	out->ciphertext_len = env.ciphertext_len;
	if (out->kek_label && out->iv && out->wrapped_dek && out->ciphertext)
		rc = 0;
	else
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	hsm_envelope_cleanup(&env);
	return (rc);
}

/*
 * ${v}'s envelope for the token, pointing into ${v}, or -1 with ${err}
 * (DecryptionFailure: a malformed envelope, or a KEK not usable now).
 */
static int
envelope_of(struct engine_worker *w, const struct store_version *v,
    struct hsm_envelope *env, struct cf_error *err)
{

	/* A stored envelope whose shape is wrong cannot verify. */
	if (v->iv_len != HSM_IV_LEN || strlen(v->kek_label) > HSM_LABEL_MAX) {
		cf_error_set(err, CF_ERR_DECRYPTION_FAILURE,
		    "could not decrypt the secret value: malformed envelope");
		return (-1);
	}
	/* A version destroyed elsewhere is forgotten here first. */
	if (engine_keks_check(w, v->kek_label, err))
		return (-1);
	memset(env, 0, sizeof(*env));
	env->format = v->format;
	snprintf(env->kek_label, sizeof(env->kek_label), "%s", v->kek_label);
	env->kek_version = v->kek_version;
	memcpy(env->iv, v->iv, HSM_IV_LEN);
	env->wrapped_dek = (uint8_t *)(uintptr_t)v->wrapped_dek;
	env->wrapped_dek_len = v->wrapped_dek_len;
	env->ciphertext = (uint8_t *)(uintptr_t)v->ciphertext;
	env->ciphertext_len = v->ciphertext_len;
	return (0);
}

int
engine_open(struct engine_worker *w, const struct engine_call *call,
    const char *uuid, const struct store_version *v, struct engine_value *out,
    struct cf_error *err)
{
	struct hsm_binding bind = { uuid, v->version_id };
	struct hsm_envelope env;
	struct cf_secret *pt = NULL;

	if (envelope_of(w, v, &env, err) ||
	    hsm_open(w->hsm, &env, &bind, &pt, err))
		return (-1);
	if (cf_arena_own_secret(call->arena, pt)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	out->present = 1;
	out->binary = v->binary;
	out->data = pt->data;
	out->len = pt->len;
	return (0);
}

int
engine_reseal(struct engine_worker *w, const char *uuid,
    const struct store_version *v, const char *kms_key_id,
    struct store_version *out, struct cf_arena *a, struct cf_error *err)
{
	struct hsm_binding bind = { uuid, v->version_id };
	struct hsm_envelope env;
	struct cf_secret *pt = NULL;
	struct engine_value val = { 0 };
	int rc;

	/*
	 * The AAD binds the KEK's label, so a new key means a new envelope:
	 * the value is opened and sealed again, and its plaintext, in locked
	 * memory, wiped at once rather than kept till the call ends (a
	 * secret may have a hundred versions).
	 */
	if (envelope_of(w, v, &env, err) ||
	    hsm_open(w->hsm, &env, &bind, &pt, err))
		return (-1);
	val.present = 1;
	val.binary = v->binary;
	val.data = pt->data;
	val.len = pt->len;
	rc = engine_seal(w, uuid, v->version_id, kms_key_id, &val, out, a, err);
	cf_secret_free(pt);
	return (rc);
}

enum engine_same
engine_same_value(struct engine_worker *w, const struct engine_call *call,
    const char *uuid, const struct store_version *v,
    const struct engine_value *val, struct cf_error *err)
{
	struct engine_value old = { 0 };
	uint8_t diff = 0;
	size_t i;

	if (engine_open(w, call, uuid, v, &old, err))
		return (ENGINE_SAME_ERROR);
	if (old.binary != val->binary || old.len != val->len)
		return (ENGINE_DIFFERENT);
	for (i = 0; i < val->len; i++)
		diff |= (uint8_t)(old.data[i] ^ val->data[i]);
	return (diff == 0 ? ENGINE_SAME : ENGINE_DIFFERENT);
}

/* ---- audit ------------------------------------------------------------------- */

void
engine_audit_at(const struct engine_call *call, const char *arn,
    const char *vid)
{

	const char *c;

	/* Copies: the event is written after the request is freed. */
	if (call->audit == NULL)
		return;
	if (arn != NULL && (c = cf_arena_strdup(call->arena, arn)) != NULL)
		call->audit->secret_arn = c;
	if (vid != NULL && (c = cf_arena_strdup(call->arena, vid)) != NULL)
		call->audit->version_id = c;
}

void
engine_audit_forget_version(const struct engine_call *call)
{

	if (call->audit != NULL)
		call->audit->version_id = NULL;
}

int
engine_audit_item(const struct engine_call *call, const char *secret,
    const char *vid, const char *outcome, struct cf_error *err)
{
	struct engine_audit *a = call->audit;
	struct engine_audit_item *grown;
	size_t cap;

	if (a == NULL)
		return (0);
	if (a->n_items == a->cap_items) {
		/* Arena memory: the old array is simply left behind. */
		cap = a->cap_items ? a->cap_items * 2 : 8;
		if ((grown = cf_arena_alloc(call->arena, cap *
		    sizeof(*grown))) == NULL)
			return (engine_oom(err));
		if (a->n_items > 0)
			memcpy(grown, a->items, a->n_items * sizeof(*grown));
		a->items = grown;
		a->cap_items = cap;
	}
	/* Copies: the event is written after the request is freed. */
	if ((secret = cf_arena_strdup(call->arena, secret)) == NULL ||
	    (vid != NULL && (vid = cf_arena_strdup(call->arena, vid)) == NULL))
		return (engine_oom(err));
	a->items[a->n_items].secret = secret;
	a->items[a->n_items].version_id = vid;
	a->items[a->n_items].outcome = outcome;
	/* The read this item records left its LastAccessedDate here. */
	a->items[a->n_items].accessed_secret = a->accessed_secret;
	a->items[a->n_items++].accessed_version = a->accessed_version;
	a->accessed_secret = NULL;
	a->accessed_version = NULL;
	return (0);
}

int
engine_commit(struct engine_worker *w, const struct engine_call *call,
    struct cf_error *err)
{
	struct engine_audit *a = call->audit;
	struct audit_event ev;

	if (a == NULL || a->change_event == NULL || a->recorded ||
	    w->e->audit == NULL)
		return (store_commit(w->store, err));

	/*
	 * The event in the change's transaction, sent with its COMMIT: one
	 * round trip and one commit for both, so that neither is ever
	 * durable without the other (audit/DESIGN.md, "Changes").  A lost
	 * answer leaves the outcome unknown: the lane finds out.
	 */
	if (a->change_event(a, &ev, err)) {
		store_rollback(w->store);
		return (-1);
	}
	if (audit_append(w->e->audit, w->store, &ev, 1, err))
		return (-1);
	a->recorded = 1;
	return (0);
}

enum engine_tx_result
engine_finish(struct engine_worker *w, const struct engine_call *call,
    enum engine_tx_end end, struct cf_error *err)
{

	/* A failed step: nothing it did is kept. */
	if (end == ENGINE_TX_ROLLBACK) {
		store_rollback(w->store);
		return (ENGINE_TX_ROLLED_BACK);
	}

	/* The event, then the commit (both roll back when they fail). */
	if (engine_commit(w, call, err))
		return (ENGINE_TX_ROLLED_BACK);
	return (ENGINE_TX_COMMITTED);
}
