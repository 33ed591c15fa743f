/*
 * sigv4.h: AWS Signature Version 4, the server's side (issue 15).
 *
 * AWS SDKs, the aws CLI and everything built on them authenticate a
 * request by signing it with an access key's secret: HMAC-SHA256 over a
 * canonical form of the request (method, path, query, the headers the
 * client chose to sign, the SHA-256 of the body), under a key derived
 * from the secret, the day, the region and the service.  The server
 * rebuilds the same canonical form from what it received and compares.
 *
 * Two steps, because the secret lives in the database, sealed by the
 * token: sigv4_parse() reads the Authorization header and checks
 * everything that needs no secret (form, scope, clock), naming the
 * access key; the caller finds that key's secret; sigv4_check() then
 * compares the signature.  Pure: no I/O and no global state; the one
 * OpenSSL use is SHA-256 and HMAC.
 *
 * Only the Authorization-header form is accepted.  Presigned query
 * strings (X-Amz-Signature in the query) are refused, as are requests
 * that leave the host, the date or X-Amz-Target unsigned: an unsigned
 * X-Amz-Target would let a captured request be replayed as another
 * operation.
 */
#ifndef COFFER_SIGV4_H
#define COFFER_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* How far a request's date may be from the server's clock (AWS's rule). */
#define SIGV4_SKEW_SECONDS (15 * 60)

/* One header as received: its name in any case, its raw value. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* A request as received. */
struct sigv4_request {
	const char *method;		/* "POST" */
	const char *path;		/* as sent, percent-encoding intact */
	const char *query;		/* after '?', "" if none */
	const struct sigv4_header *headers;
	size_t nheaders;
	const uint8_t *body;
	size_t body_len;
};

/* What sigv4_parse() read from the Authorization header and the date. */
struct sigv4_auth {
	char access_key_id[129];
	char scope_date[9];		/* YYYYMMDD */
	char region[64];
	char service[64];
	char signed_headers[1024];	/* "content-type;host;x-amz-date" */
	char signature[65];		/* 64 lower-case hex digits */
	char amz_date[17];		/* the request's time, YYYYMMDDTHHMMSSZ */
	time_t when;			/* the same, as a time */
};

/* A request's standing; each failure has its AWS exception name. */
enum sigv4_verdict {
	SIGV4_OK,
	SIGV4_MISSING,		/* MissingAuthenticationTokenException */
	SIGV4_INCOMPLETE,	/* IncompleteSignatureException: malformed
				   header, presigned URL, a required header
				   unsigned */
	SIGV4_BAD_SCOPE,	/* InvalidSignatureException: another region,
				   service or day */
	SIGV4_EXPIRED,		/* InvalidSignatureException: older than the
				   skew allows */
	SIGV4_NOT_YET,		/* InvalidSignatureException: newer than the
				   skew allows */
	SIGV4_PAYLOAD_HASH,	/* InvalidSignatureException: x-amz-content-
				   sha256 is not the body's hash */
	SIGV4_MISMATCH,		/* InvalidSignatureException: the signature
				   does not match */
	SIGV4_UNKNOWN_KEY	/* UnrecognizedClientException: decided by the
				   caller (no such key, or inactive) */
};

/*
 * sigv4_exception(v):
 * The AWS exception name of ${v} ("InvalidSignatureException"); "OK" for
 * SIGV4_OK.
 */
const char *sigv4_exception(enum sigv4_verdict);

/*
 * sigv4_parse(req, region, service, now, auth, msg, msglen):
 * Read ${req}'s Authorization header and date into ${auth} and check all
 * that needs no secret: the algorithm, the credential's form and scope
 * (${region}, ${service}, "aws4_request", the day of the request's date),
 * that host, the date header and X-Amz-Target (if sent) are signed, and
 * that the date is within SIGV4_SKEW_SECONDS of ${now}.  On a failure,
 * ${msg} holds AWS's message for it.
 */
enum sigv4_verdict sigv4_parse(const struct sigv4_request *, const char *,
    const char *, time_t, struct sigv4_auth *, char *, size_t);

/*
 * sigv4_check(req, auth, secret, secret_len, msg, msglen):
 * Compare ${auth}'s signature (from sigv4_parse() of the same ${req}) with
 * the one the access key's secret (${secret_len} bytes at ${secret}) gives
 * ${req}, in constant time (a secret of at most 256 bytes: Coffer's are
 * 40); and check x-amz-content-sha256, if sent,
 * against the body.  SIGV4_OK, SIGV4_PAYLOAD_HASH or SIGV4_MISMATCH.
 */
enum sigv4_verdict sigv4_check(const struct sigv4_request *,
    const struct sigv4_auth *, const uint8_t *, size_t, char *, size_t);

/*
 * sigv4_canonical_request(req, auth, buf, buflen):
 * The canonical request of ${req} under ${auth}'s signed headers, written
 * to ${buf} NUL-terminated; its length, or 0 if it does not fit (or a
 * signed header was not sent).  For tests and for explaining a mismatch
 * in a debug log; never logged by default (it has header values).
 */
size_t sigv4_canonical_request(const struct sigv4_request *,
    const struct sigv4_auth *, char *, size_t);

/*
 * sigv4_signature(secret, secret_len, auth, canonical, hex):
 * The signature of canonical request ${canonical} under ${auth}'s scope
 * and date and the secret: 64 hex digits and a NUL into ${hex}.  What a
 * client computes; the server's check uses it, and so do the tests.
 */
void sigv4_signature(const uint8_t *, size_t, const struct sigv4_auth *,
    const char *, char [65]);

#endif /* !COFFER_SIGV4_H */
