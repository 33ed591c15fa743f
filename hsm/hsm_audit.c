/*
 * hsm_audit.c: the audit trail's roots in the token.
 *
 * The audit key is a 256-bit generic secret that only signs and verifies
 * (CKM_SHA256_HMAC); it never leaves the token, so nobody who owns only the
 * database can make an event's hmac.  Each chain's head (last committed
 * seq and hash) lives in a private token data object, so that deleting the
 * newest events of a chain is visible: the database would then end before
 * the token's head.  audit/DESIGN.md has the whole scheme.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsm_internal.h"

#define HEAD_APP "coffer-audit-head:"

/* CKA_APPLICATION of a deployment's head objects. */
static size_t
head_app(const char *deployment, char *out)
{

	return ((size_t)snprintf(out, sizeof(HEAD_APP) + HSM_DEPLOYMENT_MAX,
	    "%s%.*s", HEAD_APP, HSM_DEPLOYMENT_MAX, deployment));
}

enum hsm_made
hsm_create_audit_key(const struct hsm_config *cfg, struct cf_error *err)
{

	return (hsm_key_create(cfg, HSM_KEY_AUDIT, HSM_AUDIT_KEY_LABEL, err));
}

void
hsm_audit_keys_drop(struct hsm_session *s)
{
	size_t i;

	for (i = 0; i < s->n_audit_keys; i++)
		(void)s->h->p11->C_DestroyObject(s->s, s->audit_keys[i].obj);
	s->n_audit_keys = 0;
}

/*
 * The session copy of version ${version} of the audit key, made on first
 * use (a copy is read from memory, not from the token's disk).  A session
 * keeps copies of the few versions it uses: the writer's current one, and
 * whichever a verification walks through.  HSM_FOUND, HSM_NOT_FOUND (the
 * token has no such version), or HSM_LOOKUP_ERROR with ${err}.
 */
static enum hsm_lookup
audit_key(struct hsm_session *s, uint32_t version, CK_OBJECT_HANDLE *out,
    struct cf_error *err)
{
	struct hsm_audit_key *k;
	CK_OBJECT_HANDLE obj, copy;
	enum hsm_lookup rc;
	size_t i;

	if (version == 0)
		version = 1;
	for (i = 0; i < s->n_audit_keys; i++)
		if (s->audit_keys[i].version == version) {
			*out = s->audit_keys[i].obj;
			return (HSM_FOUND);
		}
	if ((rc = hsm_find_key_version(s->h->p11, s->s, HSM_AUDIT_KEY_LABEL, version,
	    &obj, err)) != HSM_FOUND)
		return (rc);
	if (hsm_key_session_copy(s, HSM_KEY_AUDIT, obj, &copy, err) != CF_OK)
		return (HSM_LOOKUP_ERROR);
	if (s->n_audit_keys == MAX_AUDIT_KEYS) {
		/* The oldest copy makes room. */
		(void)s->h->p11->C_DestroyObject(s->s, s->audit_keys[0].obj);
		memmove(&s->audit_keys[0], &s->audit_keys[1],
		    (MAX_AUDIT_KEYS - 1) * sizeof(s->audit_keys[0]));
		s->n_audit_keys--;
	}
	k = &s->audit_keys[s->n_audit_keys++];
	k->version = version;
	k->obj = copy;
	*out = copy;
	return (HSM_FOUND);
}

int
hsm_audit_mac(struct hsm_session *s, uint32_t version, const uint8_t *msg,
    size_t len, uint8_t *out, struct cf_error *err)
{
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_ULONG n = HSM_MAC_LEN;
	enum hsm_lookup rc;
	CK_RV rv;

	if ((rc = audit_key(s, version, &key, err)) != HSM_FOUND) {
		if (rc == HSM_NOT_FOUND)
			cf_error_set(err, CF_ERR_UNAVAILABLE, "version %u of the "
			    "audit key \"%s\" not found in token \"%s\"%s",
			    version ? version : 1, HSM_AUDIT_KEY_LABEL,
			    s->h->token, version > 1 ? "" :
			    ": run cofferd init-token");
		return (-1);
	}
	if ((rv = p11->C_SignInit(s->s, &mech, key)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not start the audit HMAC"));
	if ((rv = p11->C_Sign(s->s, (CK_BYTE_PTR)(uintptr_t)msg, len, out,
	    &n)) != CKR_OK || n != HSM_MAC_LEN)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not make the audit HMAC"));
	return (0);
}

enum hsm_mac_check
hsm_audit_mac_verify(struct hsm_session *s, uint32_t version,
    const uint8_t *msg, size_t len, const uint8_t *mac, struct cf_error *err)
{
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	enum hsm_lookup found;
	CK_RV rv;

	/* A version the token never had made no hmac of ours. */
	if ((found = audit_key(s, version, &key, err)) == HSM_NOT_FOUND)
		return (HSM_MAC_BAD);
	if (found != HSM_FOUND)
		return (HSM_MAC_ERROR);
	if ((rv = p11->C_VerifyInit(s->s, &mech, key)) != CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not start the audit HMAC check");
		return (HSM_MAC_ERROR);
	}
	rv = p11->C_Verify(s->s, (CK_BYTE_PTR)(uintptr_t)msg, len,
	    (CK_BYTE_PTR)(uintptr_t)mac, HSM_MAC_LEN);
	if (rv == CKR_OK)
		return (HSM_MAC_OK);
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE)
		return (HSM_MAC_BAD);
	(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
	    "could not check the audit HMAC");
	return (HSM_MAC_ERROR);
}

uint32_t
hsm_audit_key_version_of(struct hsm_session *s, CK_OBJECT_HANDLE o)
{
	char id[12], *end;
	CK_ATTRIBUTE a = { CKA_ID, id, sizeof(id) - 1 };
	unsigned long v;

	/* Version 1 has no CKA_ID; version N the ID "N". */
	if (s->h->p11->C_GetAttributeValue(s->s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return (0);
	if (a.ulValueLen == 0)
		return (1);
	id[a.ulValueLen] = '\0';
	v = strtoul(id, &end, 10);
	return (*end != '\0' || v > UINT32_MAX ? 0 : (uint32_t)v);
}

int
hsm_audit_key_newest(struct hsm_session *s, uint32_t *out,
    struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)HSM_AUDIT_KEY_LABEL,
		    sizeof(HSM_AUDIT_KEY_LABEL) - 1 },
	};
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n, i;
	CK_RV rv;
	uint32_t v;

	*out = 0;
	if ((rv = p11->C_FindObjectsInit(s->s, t, 2)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not look for the audit key"));
	do {
		if ((rv = p11->C_FindObjects(s->s, found, 16, &n)) != CKR_OK)
			break;
		for (i = 0; i < n; i++)
			if ((v = hsm_audit_key_version_of(s, found[i])) > *out)
				*out = v;
	} while (n == 16);
	(void)p11->C_FindObjectsFinal(s->s);
	if (rv != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not look for the audit key"));
	if (*out == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "audit key \"%s\" not "
		    "found in token \"%s\": run cofferd init-token",
		    HSM_AUDIT_KEY_LABEL, s->h->token);
		return (-1);
	}
	return (0);
}

enum hsm_made
hsm_audit_key_version_create(struct hsm_session *s, uint32_t version,
    struct hsm_escrow **out, size_t *out_n, struct cf_error *err)
{
	CK_OBJECT_HANDLE obj;
	enum hsm_key_export export;
	enum hsm_lookup rc;

	*out = NULL;
	*out_n = 0;
	if (version < 2) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "audit key "
		    "versions after the first are numbered from 2");
		return (HSM_MADE_ERROR);
	}
	if ((rc = hsm_find_key_version(s->h->p11, s->s, HSM_AUDIT_KEY_LABEL, version,
	    &obj, err)) == HSM_FOUND)
		return (HSM_EXISTED);
	if (rc == HSM_LOOKUP_ERROR)
		return (HSM_MADE_ERROR);

	/* Extractable only until each auditor has a wrapped copy. */
	export = hsm_recipients_count(s->h->recipients) > 0 ?
	    HSM_KEY_TO_ESCROW : HSM_KEY_SEALED;
	if (hsm_key_generate(s->h->p11, s->s, HSM_KEY_AUDIT, export,
	    HSM_AUDIT_KEY_LABEL, version, &obj, err) != CF_OK)
		return (HSM_MADE_ERROR);
	if (export == HSM_KEY_TO_ESCROW && hsm_escrow_and_seal(s, obj, out,
	    out_n, err))
		return (HSM_MADE_ERROR);
	return (HSM_CREATED);
}

/*
 * A head object's label: "<chain id> <seq> <hash in hex>".  The label,
 * not CKA_VALUE, carries the head because PKCS#11 modules (SoftHSM among
 * them) treat a data object's value as read-only after creation, while a
 * label may be changed in place.
 */
#define LABEL_MAX (HSM_CHAIN_ID_LEN + 1 + 20 + 1 + 64)

static size_t
head_label(const struct hsm_audit_head *hd, char *out)
{
	size_t n;

	n = (size_t)snprintf(out, LABEL_MAX + 1, "%.36s %lld ", hd->chain_id,
	    (long long)hd->seq);
	cf_hex_encode(hd->hash, 32, out + n);
	return (n + 2 * 32);
}

/* Parse a label into ${hd}: 0, or -1 if it is not one of ours. */
static int
head_parse(const char *label, struct hsm_audit_head *hd)
{
	const char *p = label + HSM_CHAIN_ID_LEN;
	char *end;

	if (strlen(label) < HSM_CHAIN_ID_LEN + 3 || *p != ' ')
		return (-1);
	memcpy(hd->chain_id, label, HSM_CHAIN_ID_LEN);
	hd->chain_id[HSM_CHAIN_ID_LEN] = '\0';
	hd->seq = strtoll(p + 1, &end, 10);
	if (end == p + 1 || *end != ' ' || cf_hex_decode(end + 1,
	    strlen(end + 1), CF_HEX_ANY_CASE, hd->hash, 32) != CF_HEX_OK)
		return (-1);
	return (0);
}

/* What reading one object found. */
enum head_found {
	HEAD_OTHER = 0,		/* an object that is not a head */
	HEAD_IS = 1,		/* a head, in ${hd} */
	HEAD_GONE = 2,		/* destroyed since it was found: another
				   session settled or tidied its chain */
	HEAD_SHAKY = 3		/* another error, ${err} set: a token in
				   trouble, or SoftHSM reading an object
				   whose file went under it (seen:
				   CKR_GENERAL_ERROR,
				   CKR_ATTRIBUTE_VALUE_INVALID) */
};

/* Read one object into ${hd}. */
static enum head_found
head_read(struct hsm_session *s, CK_OBJECT_HANDLE obj,
    struct hsm_audit_head *hd, struct cf_error *err)
{
	char label[LABEL_MAX + 1];
	CK_ATTRIBUTE t[] = { { CKA_LABEL, label, LABEL_MAX } };
	CK_RV rv;

	rv = s->h->p11->C_GetAttributeValue(s->s, obj, t, 1);
	if (rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_TYPE_INVALID)
		return (HEAD_OTHER);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return (HEAD_GONE);
	if (rv != CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not read an audit chain head");
		return (HEAD_SHAKY);
	}
	label[t[0].ulValueLen] = '\0';
	return (head_parse(label, hd) == 0 ? HEAD_IS : HEAD_OTHER);
}

/*
 * Every head object of ${deployment} in the token, as handles in *out
 * (malloc'd, or NULL when there are none) and *out_n.  The handles come
 * first, the labels after: not every module reads attributes mid-search.
 */
static int
head_objects(struct hsm_session *s, const char *deployment,
    CK_OBJECT_HANDLE **out, size_t *out_n, struct cf_error *err)
{
	char app[sizeof(HEAD_APP) + HSM_DEPLOYMENT_MAX];
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_APPLICATION, app, head_app(deployment, app) },
	};
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE objs[64], *all = NULL, *more;
	size_t n_all = 0;
	CK_ULONG got;
	CK_RV rv;

	if ((rv = p11->C_FindObjectsInit(s->s, t, 2)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not search the token"));
	for (;;) {
		if ((rv = p11->C_FindObjects(s->s, objs, 64, &got)) !=
		    CKR_OK) {
			hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
			    "could not search the token");
			goto fail;
		}
		if (got == 0)
			break;
		if ((more = realloc(all, (n_all + got) * sizeof(*all))) ==
		    NULL) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			goto fail;
		}
		all = more;
		memcpy(all + n_all, objs, got * sizeof(*objs));
		n_all += got;
	}
	(void)p11->C_FindObjectsFinal(s->s);
	*out = all;
	*out_n = n_all;

	/* Success! */
	return (0);

fail:
	(void)p11->C_FindObjectsFinal(s->s);
	free(all);
	/* Failure! */
	return (-1);
}

/*
 * Find ${hd}'s chain among the token's head objects, move one of them to
 * ${hd} and destroy the others (heads superseded, such as the forks an
 * older cofferd left after a failed update); create the object if there
 * is none.  The session then remembers it.  0, or -1 with ${err} set.
 */
static int
head_settle(struct hsm_session *s, const char *deployment,
    const struct hsm_audit_head *hd, struct cf_error *err)
{
	char app[sizeof(HEAD_APP) + HSM_DEPLOYMENT_MAX];
	size_t app_len = head_app(deployment, app);
	char label[LABEL_MAX + 1];
	size_t label_len = head_label(hd, label);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_ATTRIBUTE l[] = { { CKA_LABEL, label, label_len } };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_APPLICATION, app, app_len },
		{ CKA_LABEL, label, label_len },
	};
	CK_OBJECT_HANDLE *objs = NULL, keep = CK_INVALID_HANDLE;
	struct hsm_audit_head old;
	size_t n = 0, n_old = 0, i;
	enum head_found found;
	int first;
	CK_RV rv;

	/* The session forgets its object until the token has the head. */
	first = strcmp(s->head_chain, hd->chain_id) != 0;
	s->head = CK_INVALID_HANDLE;
	s->head_checked_at = cf_mono_ms();
	snprintf(s->head_chain, sizeof(s->head_chain), "%s", hd->chain_id);

	/* The chain's objects (a chain new in this session has none). */
	if (!first && head_objects(s, deployment, &objs, &n, err))
		return (-1);
	/* (One another session destroyed meanwhile is not ours to move.) */
	for (i = 0; i < n; i++) {
		if ((found = head_read(s, objs[i], &old, err)) == HEAD_SHAKY)
			goto fail;
		if (found == HEAD_IS && strcmp(old.chain_id, hd->chain_id) == 0)
			objs[n_old++] = objs[i];
	}

	/* Move the first to the new head, or make the chain's object. */
	if (n_old > 0) {
		keep = objs[0];
		if ((rv = p11->C_SetAttributeValue(s->s, keep, l, 1)) !=
		    CKR_OK) {
			hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
			    "could not update the audit chain head");
			goto fail;
		}
	} else if ((rv = p11->C_CreateObject(s->s, t,
	    sizeof(t) / sizeof(t[0]), &keep)) != CKR_OK) {
		hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not store the audit chain head");
		goto fail;
	}
	s->head = keep;

	/*
	 * The others go, now that the newest head is safe.  An object made
	 * after a failure may stand beside one the token hid for a moment
	 * (a file away, a module that lost it): look again for a while, and
	 * destroy the old one once it shows.  Likewise if one would not go.
	 */
	if (!first && n_old == 0)
		s->head_recheck_until = cf_mono_ms() + HEAD_RECHECK_MS;
	for (i = 1; i < n_old; i++)
		if ((rv = p11->C_DestroyObject(s->s, objs[i])) != CKR_OK)
			s->head_recheck_until = cf_mono_ms() + HEAD_RECHECK_MS;
	free(objs);

	/* Success! */
	return (0);

fail:
	free(objs);
	/* Failure! */
	return (-1);
}

int
hsm_audit_head_put(struct hsm_session *s, const char *deployment,
    const struct hsm_audit_head *hd, struct cf_error *err)
{
	char label[LABEL_MAX + 1];
	CK_ATTRIBUTE l[] = { { CKA_LABEL, label, 0 } };
	int64_t now = cf_mono_ms();
	int look;

	/*
	 * This session's object, the chain's only one: move it in place.
	 * A failure never makes a second object; it only sends us looking,
	 * as does a while of doubt (head_settle).
	 */
	look = now < s->head_recheck_until &&
	    now - s->head_checked_at >= HEAD_RECHECK_EVERY_MS;
	if (s->head != CK_INVALID_HANDLE && !look &&
	    strcmp(s->head_chain, hd->chain_id) == 0) {
		l[0].ulValueLen = head_label(hd, label);
		if (s->h->p11->C_SetAttributeValue(s->s, s->head, l, 1) ==
		    CKR_OK)
			return (0);
	}
	return (head_settle(s, deployment, hd, err));
}

int
hsm_audit_heads_tidy(struct hsm_session *s, const char *deployment,
    int *out_destroyed, struct cf_error *err)
{
	CK_OBJECT_HANDLE *all = NULL;
	struct hsm_audit_head *heads = NULL;
	size_t n_all = 0, i, j;
	enum head_found found;
	int out = 0;

	if (head_objects(s, deployment, &all, &n_all, err))
		return (-1);
	if (n_all > 0 && (heads = calloc(n_all, sizeof(*heads))) == NULL) {
		free(all);
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}

	/* Of two objects of one chain, the older goes (newest wins). */
	for (i = 0; i < n_all; i++) {
		found = head_read(s, all[i], &heads[i], err);
		/*
		 * Not a head, gone already, or unreadable now (another
		 * server settling its chain): nothing to compare, and a
		 * fork left is tidied by the next start.
		 */
		if (found != HEAD_IS) {
			all[i] = CK_INVALID_HANDLE;
			continue;
		}
		for (j = 0; j < i; j++) {
			if (all[j] == CK_INVALID_HANDLE ||
			    strcmp(heads[j].chain_id, heads[i].chain_id) != 0)
				continue;
			if (heads[i].seq >= heads[j].seq) {
				(void)s->h->p11->C_DestroyObject(s->s, all[j]);
				all[j] = CK_INVALID_HANDLE;
			} else {
				(void)s->h->p11->C_DestroyObject(s->s, all[i]);
				all[i] = CK_INVALID_HANDLE;
			}
			out++;
			break;
		}
	}
	free(heads);
	free(all);
	*out_destroyed = out;

	/* Success! */
	return (0);
}

/*
 * hsm_audit_heads, one search: -1 with ${err}, 0, or 1 when it found no
 * object, or an object found was destroyed before it was read, read as
 * no head (a head object has nothing else: read while it went) or could
 * not be read, and not ${last} (*${out} is then not set).  The last
 * search takes no object as none, skips the gone and the headless, and
 * fails on an object it cannot read.
 */
static int
heads_once(struct hsm_session *s, const char *deployment, int last,
    struct hsm_audit_head **out, size_t *out_n, struct cf_error *err)
{
	struct hsm_audit_head *heads = NULL;
	CK_OBJECT_HANDLE *all = NULL;
	size_t n = 0, n_all = 0, i, j;
	enum head_found found;
	int rc = -1;

	if (head_objects(s, deployment, &all, &n_all, err))
		return (-1);
	/*
	 * None at all may be a moment when the only object went and its
	 * replacement was not seen yet (SoftHSM reads other sessions' new
	 * objects from its files lazily): look again.
	 */
	if (n_all == 0 && !last)
		return (1);
	if (n_all > 0 && (heads = malloc(n_all * sizeof(*heads))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto done;
	}
	for (i = 0; i < n_all; i++) {
		found = head_read(s, all[i], &heads[n], err);
		if (found == HEAD_SHAKY && last)
			goto done;
		if (found != HEAD_IS && !last) {
			rc = 1;
			goto done;
		}
		if (found != HEAD_IS)
			continue;

		/* One per chain: of two (a fork), the newer is the head. */
		for (j = 0; j < n; j++)
			if (strcmp(heads[j].chain_id, heads[n].chain_id) == 0)
				break;
		if (j == n)
			n++;
		else if (heads[n].seq > heads[j].seq)
			heads[j] = heads[n];
	}
	*out = heads;
	*out_n = n;
	heads = NULL;
	rc = 0;
done:
	free(all);
	free(heads);
	return (rc);
}

/*
 * A head destroyed between the search and its reading was replaced first
 * (head_settle moves or makes the newest before it destroys the others;
 * the tidy keeps the newest): search again, and the replacement shows.
 */
#define HEADS_TRIES 16

int
hsm_audit_heads(struct hsm_session *s, const char *deployment,
    struct hsm_audit_head **out, size_t *out_n, struct cf_error *err)
{
	int i, rc;

	*out = NULL;
	*out_n = 0;
	for (i = 0; i < HEADS_TRIES; i++) {
		if ((rc = heads_once(s, deployment, i == HEADS_TRIES - 1, out,
		    out_n, err)) <= 0)
			return (rc);
		/* A moment longer each time: 120 ms in all at most. */
		(void)nanosleep(&(struct timespec){ 0, (long)(i + 1) *
		    1000000 }, NULL);
	}
	return (-1);	/* (not reached: the last search skips) */
}
