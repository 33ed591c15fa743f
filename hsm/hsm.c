/*
 * hsm.c: the PKCS#11 token through p11-kit.
 *
 * The module is loaded and initialised once (p11-kit passes
 * CKF_OS_LOCKING_OK, which SoftHSM needs for threads); one session stays
 * logged in for the life of the process, and each worker opens a session
 * of its own.  Each session copies the KEKs it uses into session objects
 * once (still sensitive and unextractable), which spares SoftHSM a re-read
 * of the token object on every use.  The envelope and its AAD are
 * specified in hsm/DESIGN.md.  CK_* names appear nowhere else in Coffer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include "hsm_internal.h"

/* ---- errors ---------------------------------------------------------------- */

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID" },
	{ CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

static const char *
ckr_name(CK_RV rv)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return (ckr_names[i].name);
	snprintf(buf, sizeof(buf), "CKR 0x%lx", (unsigned long)rv);
	return (buf);
}

/* Is ${rv} the token (or its connection) failing, rather than the data? */
static int
token_down(CK_RV rv)
{

	return (rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_MEMORY ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_SESSION_CLOSED || rv == CKR_SESSION_HANDLE_INVALID ||
	    rv == CKR_CRYPTOKI_NOT_INITIALIZED || rv == CKR_HOST_MEMORY ||
	    rv == CKR_USER_NOT_LOGGED_IN);
}

/* Token calls that failed because the token was down, for /metrics. */
static atomic_uint_fast64_t token_down_total;

/* Set ${err} for a failed call: UNAVAILABLE if the token is down. */
int
hsm_fail(struct cf_error *err, enum cf_code code, CK_RV rv, const char *what)
{

	if (token_down(rv)) {
		code = CF_ERR_UNAVAILABLE;
		atomic_fetch_add_explicit(&token_down_total, 1,
		    memory_order_relaxed);
	}
	cf_error_set(err, code, "%s: %s", what, ckr_name(rv));
	return (-1);
}

/* ---- module, token, login ------------------------------------------------------ */

/* Find the slot whose token has ${label} (slot ids change after init). */
static int
find_slot(CK_FUNCTION_LIST *p11, const char *label, const char *module,
    CK_SLOT_ID *out, struct cf_error *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO info;
	char padded[32];
	CK_RV rv;
	int rc = -1;

	/* Labels are 32 bytes, padded with spaces. */
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strnlen(label, sizeof(padded)));

	if ((rv = p11->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not list the token slots"));
	if (n > 0 && (slots = calloc(n, sizeof(*slots))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if (n > 0 && (rv = p11->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not list the token slots");
		goto done;
	}
	for (i = 0; i < n; i++) {
		memset(&info, 0, sizeof(info));
		if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		if (memcmp(info.label, padded, sizeof(padded)) == 0) {
			*out = slots[i];
			rc = 0;
			goto done;
		}
	}
	cf_error_set(err, CF_ERR_UNAVAILABLE, "token \"%s\" not found in module "
	    "\"%s\"", label, module);
done:
	free(slots);
	return (rc);
}

/* Find a secret key by label with session ${s}. */
enum hsm_lookup
hsm_find_object(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE s,
    CK_ATTRIBUTE *t, CK_ULONG nt, CK_OBJECT_HANDLE *out,
    struct cf_error *err)
{
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = p11->C_FindObjectsInit(s, t, nt)) != CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not search the token");
		return (HSM_LOOKUP_ERROR);
	}
	rv = p11->C_FindObjects(s, out, 1, &n);
	(void)p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not search the token");
		return (HSM_LOOKUP_ERROR);
	}
	return (n > 0 ? HSM_FOUND : HSM_NOT_FOUND);
}

enum hsm_lookup
hsm_find_key(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE s, const char *label,
    CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};

	return (hsm_find_object(p11, s, t, 2, out, err));
}

/* Load the module, find the token, open a session and log in. */
struct hsm *
hsm_open_token(const struct hsm_config *cfg, struct cf_error *err)
{
	struct hsm *h;
	CK_RV rv;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	h->login = CK_INVALID_HANDLE;
	snprintf(h->token, sizeof(h->token), "%s", cfg->token_label);
	snprintf(h->kek_label, sizeof(h->kek_label), "%s",
	    cfg->kek_label ? cfg->kek_label : "coffer-kek");
	if (!cfg->no_dek_cache && (h->deks = hsm_dek_cache_new()) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		free(h);
		return (NULL);
	}

	/* The module. */
	if (access(cfg->module_path, R_OK) != 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not load PKCS#11 "
		    "module \"%s\": no such file or not readable",
		    cfg->module_path);
		goto fail0;
	}
	if ((h->p11 = p11_kit_module_load(cfg->module_path, 0)) == NULL) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not load PKCS#11 "
		    "module \"%s\": %s", cfg->module_path, p11_kit_message());
		goto fail0;
	}
	if ((rv = p11_kit_module_initialize(h->p11)) != CKR_OK) {
		hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not initialise the "
		    "PKCS#11 module");
		goto fail1;
	}

	/* The token, by label, and a logged-in session. */
	if (find_slot(h->p11, cfg->token_label, cfg->module_path, &h->slot,
	    err))
		goto fail2;
	if ((rv = h->p11->C_OpenSession(h->slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &h->login)) != CKR_OK) {
		hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not open a session");
		goto fail2;
	}
	rv = h->p11->C_Login(h->login, CKU_USER,
	    (CK_UTF8CHAR_PTR)(uintptr_t)cfg->pin, strlen(cfg->pin));
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
	    rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not log in to token "
		    "\"%s\": wrong PIN (%s)", cfg->token_label, ckr_name(rv));
		goto fail3;
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not log in to token "
		    "\"%s\": %s", cfg->token_label, ckr_name(rv));
		goto fail3;
	}

	/* Success! */
	return (h);

fail3:
	h->p11->C_CloseSession(h->login);
fail2:
	p11_kit_module_finalize(h->p11);
fail1:
	p11_kit_module_release(h->p11);
fail0:
	hsm_dek_cache_free(h->deks);
	free(h);
	/* Failure! */
	return (NULL);
}

struct hsm *
hsm_new(const struct hsm_config *cfg, struct cf_error *err)
{
	CK_OBJECT_HANDLE kek;
	enum hsm_lookup rc;
	struct hsm *h;

	if ((h = hsm_open_token(cfg, err)) == NULL)
		return (NULL);

	/* The default KEK must be there: cofferd init-token makes it. */
	rc = hsm_find_key(h->p11, h->login, h->kek_label, &kek, err);
	if (rc == HSM_NOT_FOUND)
		cf_error_set(err, CF_ERR_UNAVAILABLE, "KEK \"%s\" not found in "
		    "token \"%s\": run cofferd init-token", h->kek_label,
		    h->token);
	if (rc != HSM_FOUND) {
		hsm_free(h);
		return (NULL);
	}

	/* The auditors new audit key versions are escrowed for, if any. */
	if (cfg->audit_key_recipients != NULL &&
	    hsm_recipients_load(cfg->audit_key_recipients, &h->recipients,
	    err)) {
		hsm_free(h);
		return (NULL);
	}
	return (h);
}

size_t
hsm_escrow_recipients(const struct hsm *h)
{

	return (hsm_recipients_count(h->recipients));
}

void
hsm_free(struct hsm *h)
{

	if (h == NULL)
		return;
	/*
	 * No C_Logout: login state belongs to the whole process, and another
	 * struct hsm may still be using it.  The token logs the process out
	 * when its last session closes.
	 */
	(void)h->p11->C_CloseSession(h->login);
	(void)p11_kit_module_finalize(h->p11);
	p11_kit_module_release(h->p11);
	hsm_dek_cache_free(h->deks);
	hsm_recipients_free(h->recipients);
	free(h);
}

enum hsm_made
hsm_create_kek(const struct hsm_config *cfg, const char *label,
    struct cf_error *err)
{

	if (strlen(label) == 0 || strlen(label) > HSM_LABEL_MAX) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "a KEK label has 1 to %d characters", HSM_LABEL_MAX);
		return (HSM_MADE_ERROR);
	}
	return (hsm_key_create(cfg, HSM_KEY_KEK, label, err));
}

/* ---- sessions and KEKs ------------------------------------------------------- */

struct hsm_session *
hsm_session_new(struct hsm *h, struct cf_error *err)
{
	struct hsm_session *s;
	CK_RV rv;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	s->h = h;
	if ((rv = h->p11->C_OpenSession(h->slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &s->s)) != CKR_OK) {
		hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not open a token session");
		free(s);
		return (NULL);
	}
	pthread_mutex_init(&s->doomed_mu, NULL);
	return (s);
}

void
hsm_session_free(struct hsm_session *s)
{

	if (s == NULL)
		return;
	/* Its cached data keys close with it: out of the cache first. */
	hsm_dek_forget(s);
	hsm_keks_drop(s);
	hsm_audit_keys_drop(s);
	(void)s->h->p11->C_CloseSession(s->s);
	pthread_mutex_destroy(&s->doomed_mu);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

int
hsm_session_reopen(struct hsm_session *s, struct cf_error *err)
{
	CK_RV rv;

	/* The session's objects go with it; forget their handles. */
	hsm_dek_forget(s);
	(void)s->h->p11->C_CloseSession(s->s);
	s->s = CK_INVALID_HANDLE;
	s->n_keks = 0;
	s->n_audit_keys = 0;
	s->head = CK_INVALID_HANDLE;
	s->head_recheck_until = 0;
	/* A new one; the login session keeps the user logged in. */
	if ((rv = s->h->p11->C_OpenSession(s->h->slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &s->s)) != CKR_OK) {
		s->s = CK_INVALID_HANDLE;
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not reopen a token session"));
	}
	return (0);
}

enum hsm_lookup
hsm_kek_exists(struct hsm_session *s, const char *label)
{
	CK_OBJECT_HANDLE obj;
	struct cf_error err;

	if (strlen(label) == 0 || strlen(label) > HSM_LABEL_MAX)
		return (HSM_NOT_FOUND);
	return (hsm_find_key(s->h->p11, s->s, label, &obj, &err));
}

/* ---- the envelope ------------------------------------------------------------ */

static uint8_t *
put16(uint8_t *p, const char *s, size_t n)
{

	*p++ = (uint8_t)(n >> 8);
	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return (p + n);
}

/*
 * The AAD (hsm/DESIGN.md): "coffer-envelope" || u32be(format) ||
 * u16be-prefixed secret uuid, version id and KEK label.  Returns its
 * length, or 0 if a field is too long.
 */
static size_t
build_aad(uint32_t format, const struct hsm_binding *b, const char *label,
    uint8_t *out, size_t cap)
{
	size_t lu = strlen(b->secret_uuid), lv = strlen(b->version_id);
	size_t ll = strlen(label), need;
	uint8_t *p = out;

	need = sizeof(AAD_MAGIC) - 1 + 4 + 6 + lu + lv + ll;
	if (lu > 0xffff || lv > 0xffff || ll > 0xffff || need > cap)
		return (0);
	memcpy(p, AAD_MAGIC, sizeof(AAD_MAGIC) - 1);
	p += sizeof(AAD_MAGIC) - 1;
	*p++ = (uint8_t)(format >> 24);
	*p++ = (uint8_t)(format >> 16);
	*p++ = (uint8_t)(format >> 8);
	*p++ = (uint8_t)format;
	p = put16(p, b->secret_uuid, lu);
	p = put16(p, b->version_id, lv);
	p = put16(p, label, ll);
	return ((size_t)(p - out));
}

static void
destroy(struct hsm_session *s, CK_OBJECT_HANDLE obj)
{

	if (obj != CK_INVALID_HANDLE)
		(void)s->h->p11->C_DestroyObject(s->s, obj);
}

/* A fresh AES-256 data key: a sensitive session object. */
static int
new_dek(struct hsm_session *s, CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },	/* to be wrapped */
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
	};
	CK_RV rv;

	if ((rv = s->h->p11->C_GenerateKey(s->s, &mech, t,
	    sizeof(t) / sizeof(t[0]), out)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_ENCRYPTION_FAILURE, rv,
		    "could not generate a data key"));
	return (0);
}

int
hsm_seal(struct hsm_session *s, const char *kek_label,
    const struct hsm_binding *bind, const uint8_t *pt, size_t len,
    struct hsm_envelope *out, struct cf_error *err)
{

	return (hsm_seal_v(s, kek_label, 1, bind, pt, len, out, err));
}

int
hsm_seal_v(struct hsm_session *s, const char *kek_label, uint32_t version,
    const struct hsm_binding *bind, const uint8_t *pt, size_t len,
    struct hsm_envelope *out, struct cf_error *err)
{
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, dek = CK_INVALID_HANDLE;
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_GCM_PARAMS gcm;
	CK_MECHANISM mech = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	uint8_t aad[512];
	CK_ULONG n;
	size_t aad_len;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	if (kek_label == NULL)
		kek_label = s->h->kek_label;
	if (version == 0)
		version = 1;
	if (hsm_kek(s, kek_label, version, &k, err))
		return (-1);
	out->format = HSM_FORMAT_V1;
	snprintf(out->kek_label, sizeof(out->kek_label), "%s", kek_label);
	out->kek_version = version;
	if ((aad_len = build_aad(out->format, bind, kek_label, aad,
	    sizeof(aad))) == 0) {
		cf_error_set(err, CF_ERR_ENCRYPTION_FAILURE,
		    "could not encrypt the secret value: binding too long");
		return (-1);
	}
	if ((out->ciphertext = malloc(len + HSM_TAG_LEN)) == NULL ||
	    (out->wrapped_dek = malloc(WRAPPED_MAX)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto fail;
	}

	/* A fresh data key and IV, both from the token. */
	if (new_dek(s, &dek, err))
		goto fail;
	if ((rv = p11->C_GenerateRandom(s->s, out->iv, HSM_IV_LEN)) != CKR_OK) {
		hsm_fail(err, CF_ERR_ENCRYPTION_FAILURE, rv,
		    "could not draw an IV");
		goto fail;
	}

	/* AES-256-GCM in the token; the tag is appended. */
	memset(&gcm, 0, sizeof(gcm));
	gcm.pIv = out->iv;
	gcm.ulIvLen = HSM_IV_LEN;
	gcm.ulIvBits = HSM_IV_LEN * 8;
	gcm.pAAD = aad;
	gcm.ulAADLen = aad_len;
	gcm.ulTagBits = HSM_TAG_LEN * 8;
	n = len + HSM_TAG_LEN;
	if ((rv = p11->C_EncryptInit(s->s, &mech, dek)) != CKR_OK ||
	    (rv = p11->C_Encrypt(s->s, (CK_BYTE_PTR)(uintptr_t)pt, len,
	    out->ciphertext, &n)) != CKR_OK) {
		hsm_fail(err, CF_ERR_ENCRYPTION_FAILURE, rv,
		    "could not encrypt the secret value");
		goto fail;
	}
	out->ciphertext_len = n;

	/* Wrap the data key under the KEK (RFC 5649), then destroy it. */
	n = WRAPPED_MAX;
	if ((rv = p11->C_WrapKey(s->s, &wrap, k, dek, out->wrapped_dek,
	    &n)) != CKR_OK) {
		hsm_fail(err, CF_ERR_ENCRYPTION_FAILURE, rv,
		    "could not wrap the data key");
		goto fail;
	}
	out->wrapped_dek_len = n;
	destroy(s, dek);

	/* Success! */
	return (0);

fail:
	destroy(s, dek);
	hsm_envelope_cleanup(out);
	/* Failure! */
	return (-1);
}

/* Unwrap ${env}'s data key into a decrypt-only session object. */
static int
unwrap_dek(struct hsm_session *s, CK_OBJECT_HANDLE k,
    const struct hsm_envelope *env, CK_OBJECT_HANDLE *out,
    struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[] = {		/* no CKA_VALUE_LEN: SoftHSM refuses it */
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
	};
	CK_RV rv;

	if ((rv = s->h->p11->C_UnwrapKey(s->s, &wrap, k, env->wrapped_dek,
	    env->wrapped_dek_len, t, sizeof(t) / sizeof(t[0]), out)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_DECRYPTION_FAILURE, rv,
		    "could not decrypt the secret value: the data key did not "
		    "unwrap"));
	return (0);
}

void
hsm_dek_cache_stats(const struct hsm_session *s, uint64_t *hits,
    uint64_t *misses)
{

	*hits = s->dek_hits;
	*misses = s->dek_misses;
}

void
hsm_metrics(const struct hsm *h, struct hsm_metrics *out)
{

	out->dek_hits = atomic_load_explicit(&h->dek_hits,
	    memory_order_relaxed);
	out->dek_misses = atomic_load_explicit(&h->dek_misses,
	    memory_order_relaxed);
	out->token_down = atomic_load_explicit(&token_down_total,
	    memory_order_relaxed);
}

/*
 * Decrypt ${env}'s ciphertext with the data key ${dek} into a new secret
 * *${out}; the token's answer (CKR_HOST_MEMORY: no memory here).
 */
static CK_RV
decrypt(struct hsm_session *s, const struct hsm_envelope *env,
    const uint8_t *aad, size_t aad_len, CK_OBJECT_HANDLE dek,
    struct cf_secret **out)
{
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_GCM_PARAMS gcm;
	CK_MECHANISM mech = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	struct cf_secret *pt;
	CK_ULONG n;
	CK_RV rv;

	if ((pt = cf_secret_new(env->ciphertext_len)) == NULL)
		return (CKR_HOST_MEMORY);
	memset(&gcm, 0, sizeof(gcm));
	gcm.pIv = (CK_BYTE_PTR)(uintptr_t)env->iv;
	gcm.ulIvLen = HSM_IV_LEN;
	gcm.ulIvBits = HSM_IV_LEN * 8;
	gcm.pAAD = (CK_BYTE_PTR)(uintptr_t)aad;
	gcm.ulAADLen = aad_len;
	gcm.ulTagBits = HSM_TAG_LEN * 8;
	n = env->ciphertext_len;
	if ((rv = p11->C_DecryptInit(s->s, &mech, dek)) != CKR_OK ||
	    (rv = p11->C_Decrypt(s->s, env->ciphertext, env->ciphertext_len,
	    pt->data, &n)) != CKR_OK) {
		cf_secret_free(pt);
		return (rv);
	}
	pt->len = n;
	*out = pt;
	return (CKR_OK);
}

/* Is ${rv} a token refusing a handle this session may not use? */
static int
handle_refused(CK_RV rv)
{

	return (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID);
}

int
hsm_open(struct hsm_session *s, const struct hsm_envelope *env,
    const struct hsm_binding *bind, struct cf_secret **out,
    struct cf_error *err)
{
	CK_OBJECT_HANDLE k, dek = CK_INVALID_HANDLE;
	struct hsm_dek_pin pin;
	int theirs_refused = 0;
	uint8_t aad[512];
	size_t aad_len;
	CK_RV rv;

	/* Cached keys of ours that other sessions evicted. */
	hsm_dek_reap(s);

	/* The envelope's shape and its KEK. */
	if (env->format != HSM_FORMAT_V1 ||
	    env->ciphertext_len < HSM_TAG_LEN || env->wrapped_dek_len == 0) {
		cf_error_set(err, CF_ERR_DECRYPTION_FAILURE, "could not decrypt "
		    "the secret value: malformed envelope");
		return (-1);
	}
	if (hsm_kek(s, env->kek_label, env->kek_version, &k, err)) {
		if (err->code == CF_ERR_RESOURCE_NOT_FOUND)
			cf_error_set(err, CF_ERR_DECRYPTION_FAILURE, "could not "
			    "decrypt the secret value: KEK \"%.64s\" version %u "
			    "not found in the token", env->kek_label,
			    env->kek_version > 0 ? env->kek_version : 1);
		return (-1);
	}
	if ((aad_len = build_aad(env->format, bind, env->kek_label, aad,
	    sizeof(aad))) == 0) {
		cf_error_set(err, CF_ERR_DECRYPTION_FAILURE, "could not decrypt "
		    "the secret value: binding too long");
		return (-1);
	}

	/*
	 * The data key already unwrapped (by any session).  A cached key that
	 * fails is dropped, never trusted again, and the version is opened
	 * with a fresh unwrap: the failure may be the key's (its owner's
	 * session closed, or the token keeps each session's objects to
	 * itself), not the data's.
	 */
	if (hsm_dek_find(s, env, &pin) == HSM_DEK_HIT) {
		rv = decrypt(s, env, aad, aad_len, pin.obj, out);
		if (rv == CKR_OK) {
			(void)hsm_dek_release(s, &pin, HSM_DEK_WORKED);
			/* Success! */
			return (0);
		}
		/*
		 * Another session's key refused, while its entry is still
		 * there: the token may keep sessions' objects apart.  (Its
		 * owner closing under us refuses it too, and empties the
		 * entry: that says nothing about the token.)
		 */
		theirs_refused = pin.owner != s && handle_refused(rv);
		if (hsm_dek_release(s, &pin, HSM_DEK_FAILED) ==
		    HSM_DEK_WAS_GONE)
			theirs_refused = 0;
	}

	/* Unwrapped now, and kept for the next open unless no slot is free. */
	if (unwrap_dek(s, k, env, &dek, err))
		return (-1);
	if (hsm_dek_keep(s, env, dek, &pin) == HSM_DEK_KEPT) {
		rv = decrypt(s, env, aad, aad_len, dek, out);
		(void)hsm_dek_release(s, &pin, rv == CKR_OK ? HSM_DEK_WORKED :
		    HSM_DEK_FAILED);
	} else {
		rv = decrypt(s, env, aad, aad_len, dek, out);
		destroy(s, dek);
	}
	if (rv != CKR_OK) {
		hsm_fail(err, CF_ERR_DECRYPTION_FAILURE, rv,
		    "could not decrypt the secret value");
		/* Failure! */
		return (-1);
	}
	/* Another session's key was refused, ours works: keep to our own. */
	if (theirs_refused)
		hsm_dek_private_only(s);

	/* Success! */
	return (0);
}

void
hsm_envelope_cleanup(struct hsm_envelope *env)
{

	if (env == NULL)
		return;
	free(env->wrapped_dek);
	free(env->ciphertext);
	memset(env, 0, sizeof(*env));
}

int
hsm_random(struct hsm_session *s, uint8_t *buf, size_t len,
    struct cf_error *err)
{
	CK_RV rv;

	if ((rv = s->h->p11->C_GenerateRandom(s->s, buf, len)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not draw random bytes from the token"));
	return (0);
}
