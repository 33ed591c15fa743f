/*
 * ops_audit.c: coffer.v1.Audit — ListAuditEvents, VerifyAuditLog,
 * RotateAuditKey and ExportAuditKeyBundle.
 */
#include <string.h>

#include "rpc_ops.h"

/* One stored event as an AuditEvent (pointing into ${row}). */
static void
event_out(struct cf_audit_row *row, Coffer__V1__AuditEvent *e)
{

	coffer__v1__audit_event__init(e);
	e->chain_id = row->chain_id;
	e->has_sequence = 1;
	e->sequence = row->seq;
	e->has_event_date = 1;
	e->event_date = row->time_ms;
	e->request_id = rpc_pb_str(row->request_id);
	e->principal = rpc_pb_str(row->principal);
	e->peer = rpc_pb_str(row->peer);
	e->operation = rpc_pb_str(row->operation);
	e->secret_arn = rpc_pb_str(row->secret_arn);
	e->version_id = rpc_pb_str(row->version_id);
	e->outcome = rpc_pb_str(row->outcome);
	e->request_parameters = rpc_pb_str(row->request_params);
	e->transport = rpc_pb_str(row->transport);
	e->access_key_id = rpc_pb_str(row->access_key_id);
	e->has_mac_key_version = 1;
	e->mac_key_version = row->mac_version ? row->mac_version : 1;
	e->has_prev_hash = e->has_hash = 1;
	e->prev_hash.data = row->prev_hash;
	e->prev_hash.len = sizeof(row->prev_hash);
	e->hash.data = row->hash;
	e->hash.len = sizeof(row->hash);
	/* An unsigned event (a later one's hmac covers it): no Hmac. */
	e->has_hmac = !row->hmac_absent;
	if (e->has_hmac) {
		e->hmac.data = row->hmac;
		e->hmac.len = sizeof(row->hmac);
	}
}

int
rpc_op_list_audit_events(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ListAuditEventsRequest *m =
	    (const Coffer__V1__ListAuditEventsRequest *)pm;
	Coffer__V1__ListAuditEventsResponse *r;
	Coffer__V1__AuditEvent *e = NULL;
	struct engine_audit_list_req q;
	struct engine_audit_list_resp p;
	size_t i;

	/* The page of events. */
	memset(&q, 0, sizeof(q));
	q.secret_id = m->secret_id;
	q.principal = m->principal;
	q.operation = m->operation;
	q.outcome = m->outcome;
	q.start_time = m->has_start_date ? m->start_date : 0;
	q.end_time = m->has_end_date ? m->end_date : 0;
	q.has_max_results = m->has_max_results != 0;
	q.max_results = m->max_results;
	q.next_token = m->next_token;
	if (engine_list_audit_events(w, c, &q, &p, err))
		return (-1);

	/* Encode it. */
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__list_audit_events_response__init(r);
	if (p.n_events > 0 &&
	    ((r->events = rpc_pb_alloc(c->arena,
	    p.n_events * sizeof(*r->events), err)) == NULL ||
	    (e = rpc_pb_alloc(c->arena, p.n_events * sizeof(*e), err)) ==
	    NULL))
		return (-1);
	for (i = 0; i < p.n_events; i++) {
		event_out(&p.events[i], &e[i]);
		r->events[i] = &e[i];
	}
	r->n_events = p.n_events;
	r->next_token = rpc_pb_str(p.next_token);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_verify_audit_log(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	Coffer__V1__VerifyAuditLogResponse *r;
	Coffer__V1__AuditChainStatus *s = NULL;
	struct engine_audit_verify_resp p;
	const Coffer__V1__VerifyAuditLogRequest *m =
	    (const Coffer__V1__VerifyAuditLogRequest *)pm;
	struct engine_audit_chain *ch;
	size_t i;

	if (engine_verify_audit(w, c, m->next_token, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__verify_audit_log_response__init(r);
	if (p.n_chains > 0 &&
	    ((r->chains = rpc_pb_alloc(c->arena,
	    p.n_chains * sizeof(*r->chains), err)) == NULL ||
	    (s = rpc_pb_alloc(c->arena, p.n_chains * sizeof(*s), err)) ==
	    NULL))
		return (-1);
	for (i = 0; i < p.n_chains; i++) {
		ch = &p.chains[i];
		coffer__v1__audit_chain_status__init(&s[i]);
		s[i].chain_id = ch->chain_id;
		s[i].has_ok = s[i].has_events = 1;
		s[i].ok = ch->ok;
		s[i].events = ch->events;
		s[i].has_first_sequence = s[i].has_last_sequence = 1;
		s[i].first_sequence = ch->first_seq;
		s[i].last_sequence = ch->last_seq;
		if (!ch->ok) {
			s[i].has_broken_sequence = 1;
			s[i].broken_sequence = ch->broken_seq;
			s[i].reason = rpc_pb_str(ch->reason);
		}
		s[i].has_head_in_token = s[i].has_anchored = 1;
		s[i].head_in_token = ch->head_in_token;
		s[i].has_token_head_sequence = ch->head_in_token;
		s[i].token_head_sequence = ch->head_seq;
		s[i].anchored = ch->anchored;
		r->chains[i] = &s[i];
	}
	r->n_chains = p.n_chains;
	r->has_ok = r->has_events = 1;
	r->ok = p.ok;
	r->events = p.events;
	r->next_token = rpc_pb_str(p.next_token);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_rotate_audit_key(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	Coffer__V1__RotateAuditKeyResponse *r;
	uint32_t version;

	(void)pm;
	if (engine_rotate_audit_key(w, c, &version, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__rotate_audit_key_response__init(r);
	r->has_version = 1;
	r->version = version;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_export_audit_key_bundle(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	Coffer__V1__ExportAuditKeyBundleResponse *r;
	Coffer__V1__EscrowedAuditKey *k = NULL;
	struct engine_escrowed_key *e;
	size_t n, i;

	(void)pm;
	if (engine_export_audit_key_bundle(w, c, &e, &n, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__export_audit_key_bundle_response__init(r);
	if (n > 0 && ((r->versions = rpc_pb_alloc(c->arena,
	    n * sizeof(*r->versions), err)) == NULL ||
	    (k = rpc_pb_alloc(c->arena, n * sizeof(*k), err)) == NULL))
		return (-1);
	for (i = 0; i < n; i++) {
		coffer__v1__escrowed_audit_key__init(&k[i]);
		k[i].has_mac_key_version = 1;
		k[i].mac_key_version = e[i].version;
		k[i].recipient = (char *)(uintptr_t)e[i].recipient;
		k[i].mechanism = (char *)(uintptr_t)e[i].mechanism;
		k[i].has_wrapped_key = 1;
		k[i].wrapped_key.data = (uint8_t *)(uintptr_t)e[i].wrapped;
		k[i].wrapped_key.len = e[i].wrapped_len;
		k[i].has_created_date = 1;
		k[i].created_date = e[i].created_ms;
		k[i].has_key_check = 1;
		k[i].key_check.data = e[i].key_check;
		k[i].key_check.len = sizeof(e[i].key_check);
		r->versions[i] = &k[i];
	}
	r->n_versions = n;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
