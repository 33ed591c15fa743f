/*
 * audit_hash.c: the canonical encoding of an audit event and its SHA-256
 * (audit/DESIGN.md, "Tamper evidence").  The one file of audit/ that uses
 * OpenSSL: the writer hashes what it chains, the checker what it reads
 * back, both through audit_row_hash().
 */
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"

/*
 * The format's magic, NUL included (16 bytes).  v1: the events before
 * request parameters existed, and every event without them; v2: with
 * them, encoded after the outcome; v3: a call that names its transport
 * (and, over AWS's JSON protocol, its access key id), encoded after the
 * parameters, which v3 always encodes (0x00 when NULL).  Which one
 * applies follows from the row itself, and a row stripped of its
 * parameters or transport, or given some, no longer matches its hash,
 * since the magic differs.
 */
#define MAGIC_V1 "coffer-audit-v1"
#define MAGIC_V2 "coffer-audit-v2"
#define MAGIC_V3 "coffer-audit-v3"
#define MAGIC_LEN sizeof(MAGIC_V1)

_Static_assert(sizeof(MAGIC_V2) == MAGIC_LEN && sizeof(MAGIC_V3) ==
    MAGIC_LEN, "every format's magic has the same length");

static void
be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A string: 0 for NULL, else 1, its length (32-bit big-endian), bytes. */
static int
put_str(EVP_MD_CTX *md, const char *s)
{
	uint8_t hdr[5] = { 0 };
	size_t len = s != NULL ? strlen(s) : 0;

	if (s == NULL)
		return (EVP_DigestUpdate(md, hdr, 1) == 1 ? 0 : -1);
	hdr[0] = 1;
	hdr[1] = (uint8_t)(len >> 24);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
	if (EVP_DigestUpdate(md, hdr, 5) != 1 ||
	    EVP_DigestUpdate(md, s, len) != 1)
		return (-1);
	return (0);
}

int
audit_row_hash(const struct cf_audit_row *r, uint8_t *out)
{
	EVP_MD_CTX *md;
	uint8_t fixed[MAGIC_LEN + 36 + 16];
	unsigned int n = 0;
	/*
	 * v3 also when only a key id is there (cofferd never writes that):
	 * a row so edited must not verify as the v1 or v2 it was.
	 */
	int v3 = r->transport != NULL || r->access_key_id != NULL;
	int v2 = !v3 && r->request_params != NULL;
	int rc = -1;

	/* Magic, chain id, seq and time, in fixed positions. */
	memset(fixed, 0, sizeof(fixed));
	memcpy(fixed, v3 ? MAGIC_V3 : v2 ? MAGIC_V2 : MAGIC_V1, MAGIC_LEN);
	memcpy(fixed + MAGIC_LEN, r->chain_id, strnlen(r->chain_id, 36));
	be64(fixed + MAGIC_LEN + 36, (uint64_t)r->seq);
	be64(fixed + MAGIC_LEN + 44, (uint64_t)r->time_ms);

	if ((md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, fixed, sizeof(fixed)) != 1)
		goto done;

	/* The strings, in column order, then the link to the event before. */
	if (put_str(md, r->request_id) || put_str(md, r->principal) ||
	    put_str(md, r->peer) || put_str(md, r->operation) ||
	    put_str(md, r->secret_arn) || put_str(md, r->version_id) ||
	    put_str(md, r->outcome) ||
	    ((v2 || v3) && put_str(md, r->request_params)) ||
	    (v3 && (put_str(md, r->transport) ||
	    put_str(md, r->access_key_id))) ||
	    EVP_DigestUpdate(md, r->prev_hash, AUDIT_HASH_LEN) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1 || n != AUDIT_HASH_LEN)
		goto done;
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return (rc);
}
