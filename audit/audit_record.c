/*
 * audit_record.c: the canonical encoding and hash of an audit event, and
 * the checker that walks a chain (audit/DESIGN.md).  Pure: no database,
 * no token; the callers feed it rows and the token's verdicts.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"

/*
 * The format's magic, NUL included (16 bytes).  v1: the events before
 * request parameters existed, and every event without them; v2: with
 * them, encoded after the outcome.  Which one applies follows from the
 * row itself, and a v2 row stripped of its parameters no longer matches
 * its hash, since the magic differs.
 */
#define MAGIC_V1 "coffer-audit-v1"
#define MAGIC_V2 "coffer-audit-v2"
#define MAGIC_LEN sizeof(MAGIC_V1)

static const uint8_t zero_hash[AUDIT_HASH_LEN];

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
	int v2 = r->request_params != NULL;
	int rc = -1;

	/* Magic, chain id, seq and time, in fixed positions. */
	memset(fixed, 0, sizeof(fixed));
	memcpy(fixed, v2 ? MAGIC_V2 : MAGIC_V1, MAGIC_LEN);
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
	    (v2 && put_str(md, r->request_params)) ||
	    EVP_DigestUpdate(md, r->prev_hash, AUDIT_HASH_LEN) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1 || n != AUDIT_HASH_LEN)
		goto done;
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return (rc);
}

/* ---- the checker -------------------------------------------------------------- */

static void broken(struct audit_check *, int64_t, const char *, ...)
    CF_PRINTF(3, 4);

/* Record the first broken link; later ones are not reported. */
static void
broken(struct audit_check *c, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (!c->ok)
		return;
	c->ok = 0;
	c->broken_seq = seq;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

void
audit_check_init(struct audit_check *c, const char *chain_id,
    const struct hsm_audit_head *head, int head_known)
{

	memset(c, 0, sizeof(*c));
	snprintf(c->chain_id, sizeof(c->chain_id), "%s", chain_id);
	c->ok = 1;
	c->head_known = head_known;
	if (head != NULL) {
		c->head_found = 1;
		c->head_seq = head->seq;
		memcpy(c->head_hash, head->hash, AUDIT_HASH_LEN);
	}
}

void
audit_check_anchor(struct audit_check *c, int64_t seq, const uint8_t *hash)
{

	c->anchored = 1;
	c->anchor_seq = seq;
	memcpy(c->anchor_hash, hash, AUDIT_HASH_LEN);
}

/* The first event: it must start the chain or follow the anchor. */
static int
check_start(struct audit_check *c, const struct cf_audit_row *r)
{
	int64_t want = c->anchored ? c->anchor_seq + 1 : 1;

	c->first_seq = r->seq;
	if (r->seq > want) {
		if (c->anchored)
			broken(c, want, "events %" PRId64 "..%" PRId64 " after "
			    "the archive anchor are missing", want,
			    r->seq - 1);
		else
			broken(c, want, "events 1..%" PRId64 " are missing and "
			    "no archive anchor records them", r->seq - 1);
		return (-1);
	}
	if (r->seq < want) {
		broken(c, r->seq, "event %" PRId64 " lies before the chain's "
		    "start at %" PRId64, r->seq, want);
		return (-1);
	}
	memcpy(c->last_hash, c->anchored ? c->anchor_hash : zero_hash,
	    AUDIT_HASH_LEN);
	c->next_seq = want;
	return (0);
}

void
audit_check_row(struct audit_check *c, const struct cf_audit_row *r,
    int mac_ok)
{
	uint8_t h[AUDIT_HASH_LEN];

	if (!c->ok)
		return;
	c->events++;

	/* In sequence: no gap, no repeat. */
	if (c->next_seq == 0 && check_start(c, r))
		return;
	if (r->seq < c->next_seq) {
		broken(c, r->seq, "event %" PRId64 " appears twice or out of "
		    "order", r->seq);
		return;
	}
	if (r->seq > c->next_seq) {
		broken(c, c->next_seq, "event %" PRId64 " is missing (the next "
		    "event present is %" PRId64 ")", c->next_seq, r->seq);
		return;
	}

	/* Its contents hash to its hash, and it links to the one before. */
	if (audit_row_hash(r, h) || memcmp(h, r->hash, AUDIT_HASH_LEN) != 0) {
		broken(c, r->seq, "event %" PRId64 " was altered: its contents "
		    "do not match its hash", r->seq);
		return;
	}
	if (memcmp(r->prev_hash, c->last_hash, AUDIT_HASH_LEN) != 0) {
		broken(c, r->seq, "event %" PRId64 " does not follow event %"
		    PRId64 ": its prev_hash is not that event's hash (events "
		    "removed, reordered or inserted)", r->seq, r->seq - 1);
		return;
	}

	/* Made by cofferd: only the token can make the hmac. */
	if (mac_ok == 0) {
		broken(c, r->seq, "event %" PRId64 "'s HMAC does not verify "
		    "with the token's audit key: cofferd did not write it",
		    r->seq);
		return;
	}
	if (mac_ok == 1)
		c->macs_checked++;

	/* Where the token says the chain reached, the hashes agree. */
	if (c->head_found && r->seq == c->head_seq) {
		if (memcmp(r->hash, c->head_hash, AUDIT_HASH_LEN) != 0) {
			broken(c, r->seq, "event %" PRId64 " is not the event "
			    "the token recorded as the chain's head", r->seq);
			return;
		}
		c->head_matched = 1;
	}
	memcpy(c->last_hash, r->hash, AUDIT_HASH_LEN);
	c->last_seq = r->seq;
	c->next_seq = r->seq + 1;
}

void
audit_check_end(struct audit_check *c)
{
	int64_t start = c->anchored ? c->anchor_seq + 1 : 1;

	if (!c->ok)
		return;
	if (c->events == 0) {
		if (c->head_found)
			broken(c, start, "every event of the chain is missing: "
			    "the token recorded its head at %" PRId64,
			    c->head_seq);
		else if (!c->anchored)
			broken(c, start, "the chain was registered but has no "
			    "events");
		return;
	}
	if (c->head_known && !c->head_found) {
		broken(c, c->last_seq, "the token holds no head for this chain "
		    "(not written by a cofferd of this deployment, or the "
		    "deployment id was changed)");
		return;
	}
	if (c->head_found && c->last_seq < c->head_seq) {
		broken(c, c->last_seq + 1, "events %" PRId64 "..%" PRId64
		    " are missing: the token recorded the chain's head at %"
		    PRId64 " (the tail was cut off)", c->last_seq + 1,
		    c->head_seq, c->head_seq);
		return;
	}
	if (c->head_found && !c->head_matched && c->head_seq >= start)
		broken(c, c->head_seq, "the token's head of the chain (%" PRId64
		    ") was not found", c->head_seq);
}
