/*
 * audit_check.c: the checker that takes a chain's events one by one and
 * names its first broken link (audit/DESIGN.md, "Verification").  Pure:
 * no database, no token; the callers feed it rows and the token's
 * verdicts, through audit_verify_chain() or one by one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

static const uint8_t zero_hash[AUDIT_HASH_LEN];

static void vbroken(struct audit_check *, int64_t, const char *, va_list)
    CF_PRINTF(3, 0);

/* Record the first broken link; later ones are not reported. */
static void
vbroken(struct audit_check *c, int64_t seq, const char *fmt, va_list ap)
{

	if (!c->ok)
		return;
	c->ok = 0;
	c->broken_seq = seq;
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
}

static void broken(struct audit_check *, int64_t, const char *, ...)
    CF_PRINTF(3, 4);

static void
broken(struct audit_check *c, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbroken(c, seq, fmt, ap);
	va_end(ap);
}

void
audit_check_broken(struct audit_check *c, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbroken(c, seq, fmt, ap);
	va_end(ap);
}

void
audit_check_init(struct audit_check *c, const char *chain_id,
    enum audit_head head, int64_t head_seq, const uint8_t *head_hash)
{

	memset(c, 0, sizeof(*c));
	snprintf(c->chain_id, sizeof(c->chain_id), "%s", chain_id);
	c->ok = 1;
	c->head_known = head != AUDIT_HEAD_NOT_ASKED;
	if (head == AUDIT_HEAD_FOUND) {
		c->head_found = 1;
		c->head_seq = head_seq;
		memcpy(c->head_hash, head_hash, AUDIT_HASH_LEN);
	}
}

void
audit_check_anchor(struct audit_check *c, int64_t seq, const uint8_t *hash,
    uint32_t mac_version, enum audit_mac mac)
{
	uint32_t version = mac_version ? mac_version : 1;

	/*
	 * The chain resumes from the anchor's hash, which only its hmac
	 * vouches for: an anchor at an unsigned event (its own hmac is
	 * NULL) could be any hash at all.
	 */
	switch (mac) {
	case AUDIT_MAC_OK:
	case AUDIT_MAC_UNCHECKED:
		break;
	case AUDIT_MAC_ABSENT:
		broken(c, seq + 1, "the archive anchor at event %" PRId64
		    " carries no HMAC: an anchor must be an event cofferd "
		    "signed", seq);
		return;
	case AUDIT_MAC_NO_KEY:
		broken(c, seq + 1, "the archive anchor at event %" PRId64
		    " names version %u of the audit key, which the bundle does "
		    "not hold", seq, version);
		return;
	case AUDIT_MAC_BAD:
		broken(c, seq + 1, "the archive anchor at event %" PRId64
		    " was not made from a real event (its HMAC does not "
		    "verify)", seq);
		return;
	}
	c->anchored = 1;
	c->anchor_seq = seq;
	memcpy(c->anchor_hash, hash, AUDIT_HASH_LEN);
	c->last_mac_version = mac_version ? mac_version : 1;
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

/*
 * An event without an hmac: pending until a signed one covers it.  The
 * chain's first event (its ServerStart, whose head the token holds before
 * the server serves) is always signed, and no run is longer than
 * AUDIT_MAX_UNSIGNED.  0, or -1 with a finding.
 */
static int
unsigned_one(struct audit_check *c, const struct cf_audit_row *r)
{

	if (r->seq == 1) {
		broken(c, 1, "event 1 carries no HMAC: cofferd signs the "
		    "first event of every chain");
		return (-1);
	}
	if (c->pending_from == 0)
		c->pending_from = r->seq;
	if (r->seq - c->pending_from >= AUDIT_MAX_UNSIGNED) {
		broken(c, c->pending_from, "events %" PRId64 "..%" PRId64
		    " carry no HMAC: cofferd signs at least every %d events",
		    c->pending_from, r->seq, AUDIT_MAX_UNSIGNED + 1);
		return (-1);
	}
	return (0);
}

/*
 * A signed event, with the token's verdict ${mac} on its hmac under
 * ${version}: it vouches for itself and for the pending events before
 * it.  0, or -1 with a finding.
 */
static int
signed_one(struct audit_check *c, const struct cf_audit_row *r,
    enum audit_mac mac, uint32_t version)
{
	char also[96] = "";

	if (c->pending_from != 0 && mac != AUDIT_MAC_OK &&
	    mac != AUDIT_MAC_UNCHECKED)
		snprintf(also, sizeof(also), " (nor events %" PRId64 "..%"
		    PRId64 ", which its HMAC covers)", c->pending_from,
		    r->seq - 1);
	if (mac == AUDIT_MAC_NO_KEY) {
		broken(c, r->seq, "event %" PRId64 " names version %u of the "
		    "audit key, which the bundle does not hold%s", r->seq,
		    version, also);
		return (-1);
	}
	if (mac == AUDIT_MAC_BAD) {
		broken(c, r->seq, "event %" PRId64 "'s HMAC does not verify "
		    "with version %u of the token's audit key: cofferd did not "
		    "write it%s", r->seq, version, also);
		return (-1);
	}
	if (mac == AUDIT_MAC_OK) {
		c->macs_checked++;
		c->covered += c->pending_from != 0 ?
		    r->seq - c->pending_from + 1 : 1;
	}
	c->pending_from = 0;
	return (0);
}

void
audit_check_row(struct audit_check *c, const struct cf_audit_row *r,
    enum audit_mac mac)
{
	uint8_t h[AUDIT_HASH_LEN];
	uint32_t version = r->mac_version ? r->mac_version : 1;

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
	if (memcmp(r->prev_hash, c->last_hash, AUDIT_HASH_LEN) != 0 &&
	    c->pending_from != 0) {
		/*
		 * The unsigned events before the break are proven by nothing:
		 * whoever owns the database rewrote them (hashes recomputed,
		 * hmacs set NULL) while cofferd went on linking to the old
		 * hash.
		 */
		broken(c, c->pending_from, "events %" PRId64 "..%" PRId64
		    " are covered by no HMAC: event %" PRId64 " does not follow "
		    "event %" PRId64 " (its prev_hash is not that event's hash)",
		    c->pending_from, r->seq - 1, r->seq, r->seq - 1);
		return;
	}
	if (memcmp(r->prev_hash, c->last_hash, AUDIT_HASH_LEN) != 0) {
		broken(c, r->seq, "event %" PRId64 " does not follow event %"
		    PRId64 ": its prev_hash is not that event's hash (events "
		    "removed, reordered or inserted)", r->seq, r->seq - 1);
		return;
	}

	/*
	 * Made by cofferd: only the token can make the hmac.  An unsigned
	 * event waits for the next signed one, whose hmac covers it through
	 * prev_hash (audit/DESIGN.md, "Tamper evidence").
	 */
	if (r->hmac_absent)
		mac = AUDIT_MAC_ABSENT;
	if (mac == AUDIT_MAC_ABSENT) {
		if (unsigned_one(c, r))
			return;
	} else if (signed_one(c, r, mac, version))
		return;

	/*
	 * A chain's writer only ever moves to a newer audit key, so an event
	 * under an older version than the one before it was made with a
	 * retired key: by whoever could still use one (a token backup, an
	 * auditor's bundle), not by cofferd.
	 */
	if (version < c->last_mac_version) {
		broken(c, r->seq, "event %" PRId64 " names version %u of the "
		    "audit key, older than version %u of the event before it: "
		    "a chain never goes back to a retired key", r->seq, version,
		    c->last_mac_version);
		return;
	}
	c->last_mac_version = version;

	/*
	 * Where the token says the chain reached, the hashes agree; and the
	 * head keeper only ever records a signed event (a batch's last).
	 */
	if (c->head_found && r->seq == c->head_seq) {
		if (c->pending_from != 0) {
			broken(c, c->pending_from, "events %" PRId64 "..%"
			    PRId64 " are covered by no HMAC: the token recorded "
			    "the chain's head at %" PRId64 ", and cofferd signs "
			    "every event it records as a head",
			    c->pending_from, r->seq, r->seq);
			return;
		}
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
	if (c->head_found && !c->head_matched && c->head_seq >= start) {
		broken(c, c->head_seq, "the token's head of the chain (%" PRId64
		    ") was not found", c->head_seq);
		return;
	}

	/*
	 * Every batch cofferd commits ends with a signed event, so a chain
	 * never ends unsigned: events after the last hmac could have been
	 * rewritten (hashes recomputed, hmacs set NULL) by whoever owns the
	 * database.
	 */
	if (c->pending_from != 0)
		broken(c, c->pending_from, "events %" PRId64 "..%" PRId64
		    " are covered by no HMAC: no signed event follows them "
		    "(cofferd signs the last event of every batch and of every "
		    "UTC month)", c->pending_from, c->last_seq);
}
