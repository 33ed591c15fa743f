/*
 * audit_verify.c: the walk of one chain through the checker
 * (audit/DESIGN.md, "Verification"), shared by cofferd's VerifyAuditLog
 * (events from the database, hmacs checked in the token) and `coffer
 * audit verify --file` (events from an export file, hmacs checked when a
 * token is given).  Pure: the caller's source reads the events and asks
 * the token.
 *
 * The walk reads a page at a time, so that a long chain never piles up
 * in memory, and stops within a bound (events and time, looked at between
 * pages) that a call may spread over several chains.  Online, a chain's
 * end is then judged against what the server knows of the writers' heads:
 * a head lost to a crash, or a tail after the token's head, is in flight
 * when it spans no longer than a writer may lag before it fails closed,
 * and a finding beyond.
 */
#include <inttypes.h>
#include <string.h>

#include "audit.h"

/*
 * The verdict on ${r}'s hmac: AUDIT_MAC_ABSENT for an unsigned event (no
 * token is asked), else the source's, or AUDIT_MAC_UNCHECKED without a
 * token.
 */
static int
verdict(const struct audit_source *src, const struct cf_audit_row *r,
    enum audit_mac *mac, struct cf_error *err)
{

	*mac = AUDIT_MAC_UNCHECKED;
	if (r->hmac_absent)
		*mac = AUDIT_MAC_ABSENT;
	else if (src->mac != NULL && src->mac(src->arg, r, mac, err))
		return (-1);
	return (0);
}

/*
 * Feed ${src}'s events to ${c} within ${b}; when the bound is spent with
 * more of the chain to read, b->stop_seq is the last event checked.  That
 * event is always a signed one: a bound spent at an unsigned event walks
 * on to the next signed event (at most AUDIT_MAX_UNSIGNED more, else the
 * checker has a finding), because the next call resumes from it and
 * checks its hmac, and because the events before it are proven only by
 * that hmac.  *${after_head_ms} becomes the time of the first event after
 * the token's head (with no head, of the first event read), unless
 * already set by the event that follows the token's head, *${last_ms}
 * that of the last event read.
 */
static int
walk(struct audit_check *c, const struct audit_source *src,
    struct audit_bound *b, int64_t *after_head_ms, int64_t *last_ms,
    struct cf_error *err)
{
	const struct cf_audit_row *rows;
	enum audit_mac mac;
	int64_t stop = 0;
	size_t n, i, want;
	int more, over = 0, at_signed = 0;

	do {
		/* A page within the bound; the source says if more follow. */
		if (over)
			want = AUDIT_VERIFY_PAGE;
		else
			want = b->events_left < AUDIT_VERIFY_PAGE ?
			    (size_t)(b->events_left > 0 ? b->events_left : 1) :
			    AUDIT_VERIFY_PAGE;
		if (src->fetch(src->arg, want, &rows, &n, &more, err))
			return (-1);
		for (i = 0; i < n && c->ok; i++) {
			if (verdict(src, &rows[i], &mac, err))
				return (-1);
			audit_check_row(c, &rows[i], mac);
			if (c->head_found ? rows[i].seq == c->head_seq + 1 :
			    *after_head_ms == 0)
				*after_head_ms = rows[i].time_ms;
			*last_ms = rows[i].time_ms;
			stop = rows[i].seq;
			at_signed = !rows[i].hmac_absent;

			/* Past the bound: the first signed event ends it. */
			if (over && at_signed && c->ok) {
				more = more || i + 1 < n;
				i++;
				break;
			}
		}
		b->events_left -= (int64_t)i;

		/* Out of events or time with more to read: stop here. */
		if (more && c->ok && (over || b->events_left <= 0 ||
		    cf_mono_ms() >= b->deadline_ms)) {
			over = 1;
			if (at_signed) {
				b->stop_seq = stop;
				break;
			}
		}
	} while (more && c->ok);
	return (0);
}

/* ${chain} if it is one this server writes (online), else NULL. */
static const struct audit_own_head *
own_head(const struct audit_head_view *hv, const char *chain)
{
	size_t i;

	for (i = 0; hv->own != NULL && i < hv->n_own; i++)
		if (strcmp(hv->own[i].chain_id, chain) == 0)
			return (&hv->own[i]);
	return (NULL);
}

/*
 * Nonzero if ${c}, a whole chain walked in this call that the token holds
 * no head for, is another server's chain whose head was lost to a crash:
 * SoftHSM rewrites an object's file in place, so a kill -9 during the head
 * keeper's write (one every 20 ms under load) can leave it unreadable.
 * Its events all verified; like an unanchored tail (lags) it is in
 * flight when it spans no longer than the bound.  A token with no head at
 * all for this deployment (its id changed) stays a finding, as does a
 * longer chain.
 */
static int
head_lost_in_flight(const struct audit_head_view *hv,
    const struct audit_check *c, int resumed, int64_t first_ms,
    int64_t last_ms)
{

	return (c->ok && c->head_known && !c->head_found && c->events > 0 &&
	    !resumed && hv->any_heads && own_head(hv, c->chain_id) == NULL &&
	    first_ms != 0 &&
	    last_ms - first_ms <= hv->in_flight_ms);
}

/*
 * A tail after the token's head that in-flight writes do not explain
 * (audit/DESIGN.md, "Verification"): events the token never anchored, so
 * that cutting them would not show.
 */
static void
lags(const struct audit_head_view *hv, struct audit_check *c,
    int64_t after_head_ms, int64_t last_ms)
{
	const struct audit_own_head *own;
	int lagging;

	if (!c->ok || !c->head_found || c->last_seq <= c->head_seq)
		return;
	if ((own = own_head(hv, c->chain_id)) != NULL)
		lagging = own->synced < 0 || c->head_seq < own->synced;
	else
		/*
		 * Another server's chain, live or dead: its writer fails
		 * closed once its head lags by audit_head_max_lag, so a tail
		 * spanning longer was never anchored in time.  A shorter one
		 * is writes in flight, or a server killed between two head
		 * writes (every kill -9 leaves one): not a finding.
		 */
		lagging = after_head_ms != 0 &&
		    last_ms - after_head_ms > hv->in_flight_ms;
	if (!lagging)
		return;
	audit_check_broken(c, c->head_seq + 1, "events %" PRId64 "..%" PRId64
	    " are not anchored in the token: its head of the chain lags at %"
	    PRId64 " (the head keeper could not write it), so a tail cut "
	    "there would not show", c->head_seq + 1, c->last_seq,
	    c->head_seq);
}

int
audit_verify_chain(struct audit_check *c, const struct audit_source *src,
    const struct audit_head_view *hv, int resumed, int64_t after_head_ms,
    struct audit_bound *b, struct cf_error *err)
{
	int64_t last_ms = 0;

	/* The events, unless the chain's start is already a finding. */
	if (c->ok && walk(c, src, b, &after_head_ms, &last_ms, err))
		return (-1);

	/* Cut short by the bound: the next call goes on and ends it. */
	if (b->stop_seq != 0)
		return (0);

	/* The end, against the token's head. */
	if (hv != NULL && head_lost_in_flight(hv, c, resumed, after_head_ms,
	    last_ms))
		c->head_known = 0;	/* in flight, not a finding */
	audit_check_end(c);
	if (hv != NULL)
		lags(hv, c, after_head_ms, last_ms);

	/* Success! */
	return (0);
}
