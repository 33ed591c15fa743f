/*
 * cf_audit_row.h: one audit event as the trail holds it (audit/DESIGN.md).
 *
 * A plain struct and nothing else, so that both sides of the audit trail
 * can share it without depending on each other: store/ (below audit/)
 * fills it from and writes it to the database, audit/ hashes, chains and
 * checks it, and the layers above read it back (ListAuditEvents, the
 * offline verify of an export file).  What the fields mean, and how they
 * are hashed, is audit's business.
 */
#ifndef COFFER_CF_AUDIT_ROW_H
#define COFFER_CF_AUDIT_ROW_H

#include <stdint.h>

/* The length of a chain id (a UUID in text) and of every hash and hmac. */
#define CF_AUDIT_CHAIN_ID_LEN 36
#define CF_AUDIT_HASH_LEN 32

/*
 * One audit event.  Strings are borrowed: from the caller when the row is
 * written, from the reader's arena (or whatever holds the text) when it
 * is read; secret_arn, version_id, request_params, transport and
 * access_key_id may be NULL.
 */
struct cf_audit_row {
	char chain_id[CF_AUDIT_CHAIN_ID_LEN + 1];
	int64_t seq;
	int64_t time_ms;
	const char *request_id;
	const char *principal;
	const char *peer;
	const char *operation;
	const char *secret_arn;
	const char *version_id;
	const char *outcome;
	const char *request_params;	/* JSON object; NULL: none (format v1) */
	const char *transport;		/* "grpc", "aws-json"; NULL: none (v1,
					   v2), else format v3 */
	const char *access_key_id;	/* SigV4's, with "aws-json"; NULL */
	uint8_t prev_hash[CF_AUDIT_HASH_LEN];
	uint8_t hash[CF_AUDIT_HASH_LEN];
	uint8_t hmac[CF_AUDIT_HASH_LEN];
	int hmac_absent;		/* no hmac (NULL): a later event's
					   covers this one (migration 0018) */
	uint32_t mac_version;		/* the audit key version that made
					   hmac (migration 0016); 0 is 1 */
};

#endif /* !COFFER_CF_AUDIT_ROW_H */
