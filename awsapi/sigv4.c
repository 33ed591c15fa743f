/*
 * sigv4.c: AWS Signature Version 4, the server's side.  See sigv4.h.
 *
 * The canonical request follows AWS's specification ("Create a canonical
 * request for Signature Version 4") as botocore and the AWS SDK for
 * JavaScript build it: the path URI-encoded once more as sent (services
 * other than S3 encode twice), query parameters decoded and re-encoded
 * with AWS's unreserved set and sorted, each signed header's values
 * trimmed, inner runs of white space made one space, joined with ','.
 */
#include "sigv4.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
/* The most query parameters a canonical query string is built from. */
#define MAX_QUERY_PARAMS 64
/* The canonical request's bound: headers the client signed included. */
#define CANONICAL_MAX 16384

static const char *const names[] = {
	[SIGV4_OK] = "OK",
	[SIGV4_MISSING] = "MissingAuthenticationTokenException",
	[SIGV4_INCOMPLETE] = "IncompleteSignatureException",
	[SIGV4_BAD_SCOPE] = "InvalidSignatureException",
	[SIGV4_EXPIRED] = "InvalidSignatureException",
	[SIGV4_NOT_YET] = "InvalidSignatureException",
	[SIGV4_PAYLOAD_HASH] = "InvalidSignatureException",
	[SIGV4_MISMATCH] = "InvalidSignatureException",
	[SIGV4_UNKNOWN_KEY] = "UnrecognizedClientException",
};

const char *
sigv4_exception(enum sigv4_verdict v)
{

	return ((size_t)v < sizeof(names) / sizeof(names[0]) ?
	    names[v] : "InvalidSignatureException");
}

/* Set ${msg} to a formatted message and return ${v}. */
static enum sigv4_verdict say(enum sigv4_verdict, char *, size_t,
    const char *, ...) __attribute__((format(printf, 4, 5)));

static enum sigv4_verdict
say(enum sigv4_verdict v, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return (v);
}

/* A writer into a fixed buffer that remembers running out. */
struct out {
	char *p;
	size_t len, used;
	int full;
};

static void
put_bytes(struct out *o, const char *s, size_t n)
{

	if (o->full || n >= o->len - o->used) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->used, s, n);
	o->used += n;
	o->p[o->used] = '\0';
}

static void
put(struct out *o, const char *s)
{

	put_bytes(o, s, strlen(s));
}

static void
put_hex(struct out *o, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char two[2];
	size_t i;

	for (i = 0; i < n; i++) {
		two[0] = digits[b[i] >> 4];
		two[1] = digits[b[i] & 15];
		put_bytes(o, two, 2);
	}
}

/* AWS's unreserved characters: never percent-encoded. */
static int
unreserved(unsigned char c)
{

	return (isalnum(c) && c < 0x80) || c == '-' || c == '_' || c == '.' ||
	    c == '~';
}

/* ${n} bytes of ${s}, percent-encoded (upper-case hex) but for ${keep}. */
static void
put_encoded(struct out *o, const char *s, size_t n, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	char three[3];
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			put_bytes(o, (const char *)&s[i], 1);
			continue;
		}
		three[0] = '%';
		three[1] = digits[c >> 4];
		three[2] = digits[c & 15];
		put_bytes(o, three, 3);
	}
}

static int
hexval(char c)
{

	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Percent-decode ${n} bytes of ${s} into ${d} (room for ${n}); its length. */
static size_t
decode(const char *s, size_t n, char *d)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			d[k++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else
			d[k++] = s[i];
	}
	return (k);
}

/* The value of the one header named ${name} (any case), or NULL. */
static const char *
header(const struct sigv4_request *req, const char *name, int *count)
{
	const char *v = NULL;
	size_t i;

	*count = 0;
	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0) {
			if (v == NULL)
				v = req->headers[i].value;
			(*count)++;
		}
	return (v);
}

/* ${v} trimmed, inner runs of white space as one space (AWS's rule). */
static void
put_header_value(struct out *o, const char *v)
{
	int space = 0, started = 0;

	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
			space = started;
			continue;
		}
		if (space)
			put_bytes(o, " ", 1);
		put_bytes(o, v, 1);
		space = 0;
		started = 1;
	}
}

/* Is ${name} one of the ';'-separated ${list}? */
static int
listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (*p != '\0') {
		const char *e = strchr(p, ';');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return (1);
		if (e == NULL)
			break;
		p = e + 1;
	}
	return (0);
}

/* One query parameter, both halves as sent (still percent-encoded). */
struct param {
	const char *name, *value;
	size_t name_len, value_len;
	char enc_name[512], enc_value[1536];
};

static int
param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->enc_name, y->enc_name);

	return (c != 0 ? c : strcmp(x->enc_value, y->enc_value));
}

/* Decode and AWS-encode ${n} bytes of ${s} into ${dst} (${len}). */
static int
reencode(const char *s, size_t n, char *dst, size_t len)
{
	char raw[1536];
	struct out o = { dst, len, 0, 0 };
	size_t k;

	if (n > sizeof(raw))
		return (-1);
	k = decode(s, n, raw);
	dst[0] = '\0';
	put_encoded(&o, raw, k, 0);
	return (o.full ? -1 : 0);
}

/* The canonical query string of ${query}; 0, or -1 if it is too large. */
static int
put_query(struct out *o, const char *query)
{
	struct param *params;
	size_t n = 0, i;
	const char *p = query;
	int rc = -1;

	if (*query == '\0')
		return (0);
	if ((params = calloc(MAX_QUERY_PARAMS, sizeof(*params))) == NULL)
		return (-1);
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (len > 0) {
			struct param *q;

			if (n == MAX_QUERY_PARAMS)
				goto done;
			q = &params[n++];
			q->name = p;
			q->name_len = eq != NULL ? (size_t)(eq - p) : len;
			q->value = eq != NULL ? eq + 1 : p + len;
			q->value_len = eq != NULL ? len - q->name_len - 1 : 0;
			if (reencode(q->name, q->name_len, q->enc_name,
			    sizeof(q->enc_name)) ||
			    reencode(q->value, q->value_len, q->enc_value,
			    sizeof(q->enc_value)))
				goto done;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	qsort(params, n, sizeof(params[0]), param_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0)
			put(o, "&");
		put(o, params[i].enc_name);
		put(o, "=");
		put(o, params[i].enc_value);
	}
	rc = 0;
done:
	free(params);
	return (rc);
}

size_t
sigv4_canonical_request(const struct sigv4_request *req,
    const struct sigv4_auth *auth, char *buf, size_t buflen)
{
	struct out o = { buf, buflen, 0, 0 };
	uint8_t hash[SHA256_DIGEST_LENGTH];
	const char *p = auth->signed_headers;
	size_t i;

	if (buflen == 0)
		return (0);
	buf[0] = '\0';

	/* Method, path (encoded once more, '/' kept), query. */
	put(&o, req->method);
	put(&o, "\n");
	put_encoded(&o, req->path, strlen(req->path), 1);
	put(&o, "\n");
	if (put_query(&o, req->query))
		return (0);
	put(&o, "\n");

	/* Each signed header: every value sent under its name, in order. */
	while (*p != '\0') {
		const char *e = strchr(p, ';');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
		int found = 0;

		put_bytes(&o, p, len);
		put(&o, ":");
		for (i = 0; i < req->nheaders; i++) {
			if (strlen(req->headers[i].name) != len ||
			    strncasecmp(req->headers[i].name, p, len) != 0)
				continue;
			if (found++)
				put(&o, ",");
			put_header_value(&o, req->headers[i].value);
		}
		if (!found)
			return (0);
		put(&o, "\n");
		if (e == NULL)
			break;
		p = e + 1;
	}
	put(&o, "\n");
	put(&o, auth->signed_headers);
	put(&o, "\n");

	/* The body's hash. */
	SHA256(req->body != NULL ? req->body : (const uint8_t *)"",
	    req->body_len, hash);
	put_hex(&o, hash, sizeof(hash));
	return (o.full ? 0 : o.used);
}

static void
hmac(const uint8_t *key, size_t keylen, const char *data, uint8_t out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const uint8_t *)data,
	    strlen(data), out, &len);
}

void
sigv4_signature(const uint8_t *secret, size_t secret_len,
    const struct sigv4_auth *auth, const char *canonical, char hex[65])
{
	uint8_t kbuf[4 + 256], k[32], hash[SHA256_DIGEST_LENGTH];
	char sts[256];
	struct out o = { sts, sizeof(sts), 0, 0 };
	struct out h = { hex, 65, 0, 0 };
	size_t n = secret_len < 256 ? secret_len : 256;

	/* The string to sign: algorithm, date, scope, the request's hash. */
	SHA256((const uint8_t *)canonical, strlen(canonical), hash);
	put(&o, ALGORITHM "\n");
	put(&o, auth->amz_date);
	put(&o, "\n");
	put(&o, auth->scope_date);
	put(&o, "/");
	put(&o, auth->region);
	put(&o, "/");
	put(&o, auth->service);
	put(&o, "/" TERMINATOR "\n");
	put_hex(&o, hash, sizeof(hash));

	/* The signing key: "AWS4" + secret, then day, region, service. */
	memcpy(kbuf, "AWS4", 4);
	memcpy(kbuf + 4, secret, n);
	hmac(kbuf, 4 + n, auth->scope_date, k);
	hmac(k, sizeof(k), auth->region, k);
	hmac(k, sizeof(k), auth->service, k);
	hmac(k, sizeof(k), TERMINATOR, k);
	hmac(k, sizeof(k), sts, hash);
	hex[0] = '\0';
	put_hex(&h, hash, sizeof(hash));
	OPENSSL_cleanse(kbuf, sizeof(kbuf));
	OPENSSL_cleanse(k, sizeof(k));
}

/* Copy the ${n} bytes at ${s} into ${dst} of ${len}: 0, or -1 if too long. */
static int
copy(char *dst, size_t len, const char *s, size_t n)
{

	if (n >= len)
		return (-1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return (0);
}

/* Parse YYYYMMDDTHHMMSSZ exactly; -1 if it is not that. */
static int
parse_amz_date(const char *s, time_t *when)
{
	struct tm tm;
	int i;

	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return (-1);
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
	    (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
	tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
	tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
	tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
	tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
	if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return (-1);
	*when = timegm(&tm);
	return (0);
}

/* Parse an HTTP date (RFC 7231's IMF-fixdate); -1 if it is not one. */
static int
parse_http_date(const char *s, time_t *when)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL ||
	    *end != '\0')
		return (-1);
	*when = timegm(&tm);
	return (0);
}

static void
format_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Find "Key=" among the ", "-separated parts of ${s}; its value or NULL. */
static const char *
auth_part(const char *s, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = s;

	while (*p != '\0') {
		const char *e;

		while (*p == ' ' || *p == ',')
			p++;
		e = p;
		while (*e != '\0' && *e != ',')
			e++;
		if ((size_t)(e - p) > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			*len = (size_t)(e - p) - klen - 1;
			while (*len > 0 && p[klen + 1 + *len - 1] == ' ')
				(*len)--;
			return (p + klen + 1);
		}
		p = e;
	}
	return (NULL);
}

/* Is ${s} a signed-headers list AWS would accept (lower-case, sorted)? */
static int
valid_signed_headers(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == ';')
		return (0);
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.') && *p != ';')
			return (0);
	return (p[-1] != ';' && strstr(s, ";;") == NULL);
}

enum sigv4_verdict
sigv4_parse(const struct sigv4_request *req, const char *region,
    const char *service, time_t now, struct sigv4_auth *auth, char *msg,
    size_t msglen)
{
	const char *a, *cred, *sh, *sig, *date, *p, *parts[5];
	size_t cred_len = 0, sh_len = 0, sig_len = 0, plen[5], i;
	char missing[320], then[17], bound[17];
	int count, n;
	const char *date_name;

	memset(auth, 0, sizeof(*auth));
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';

	/* The header form only; a presigned URL is refused by name. */
	if ((a = header(req, "authorization", &count)) == NULL) {
		if (strstr(req->query, "X-Amz-Signature=") != NULL ||
		    strstr(req->query, "X-Amz-Credential=") != NULL)
			return (say(SIGV4_INCOMPLETE, msg, msglen,
			    "Coffer accepts Signature Version 4 in the "
			    "Authorization header only, not presigned query "
			    "strings"));
		return (say(SIGV4_MISSING, msg, msglen,
		    "Missing Authentication Token"));
	}
	if (count > 1)
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Only one Authorization header is allowed"));
	if (strncmp(a, ALGORITHM, strlen(ALGORITHM)) != 0 ||
	    (a[strlen(ALGORITHM)] != ' ' && a[strlen(ALGORITHM)] != '\0')) {
		size_t k = strcspn(a, " ");

		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Unsupported AWS 'algorithm': '%.*s'",
		    (int)(k > 64 ? 64 : k), a));
	}
	a += strlen(ALGORITHM);

	/* Every part named, each missing one said, as AWS says them. */
	cred = auth_part(a, "Credential", &cred_len);
	sh = auth_part(a, "SignedHeaders", &sh_len);
	sig = auth_part(a, "Signature", &sig_len);
	date_name = "x-amz-date";
	if ((date = header(req, "x-amz-date", &count)) == NULL) {
		date_name = "date";
		date = header(req, "date", &count);
	}
	missing[0] = '\0';
	n = 0;
	if (cred == NULL)
		n += snprintf(missing + n, sizeof(missing) - n,
		    "Authorization header requires 'Credential' parameter. ");
	if (sig == NULL)
		n += snprintf(missing + n, sizeof(missing) - n,
		    "Authorization header requires 'Signature' parameter. ");
	if (sh == NULL)
		n += snprintf(missing + n, sizeof(missing) - n,
		    "Authorization header requires 'SignedHeaders' "
		    "parameter. ");
	if (date == NULL)
		n += snprintf(missing + n, sizeof(missing) - n,
		    "Authorization header requires existence of either a "
		    "'X-Amz-Date' or a 'Date' header. ");
	if (n > 0) {
		missing[strlen(missing) - 1] = '\0';
		return (say(SIGV4_INCOMPLETE, msg, msglen, "%s", missing));
	}
	if (count > 1)
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Only one '%s' header is allowed", date_name));

	/* Credential: key/day/region/service/aws4_request. */
	for (i = 0, p = cred; i < 5; i++) {
		const char *e = memchr(p, '/', cred_len - (size_t)(p - cred));

		parts[i] = p;
		plen[i] = e != NULL && i < 4 ? (size_t)(e - p) :
		    cred_len - (size_t)(p - cred);
		if (i < 4 && e == NULL)
			break;
		p = parts[i] + plen[i] + 1;
	}
	if (i < 5 || memchr(parts[4], '/', plen[4]) != NULL || plen[0] == 0 ||
	    copy(auth->access_key_id, sizeof(auth->access_key_id), parts[0],
	    plen[0]) || plen[1] != 8 ||
	    copy(auth->scope_date, sizeof(auth->scope_date), parts[1], 8) ||
	    copy(auth->region, sizeof(auth->region), parts[2], plen[2]) ||
	    copy(auth->service, sizeof(auth->service), parts[3], plen[3]))
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Credential must have exactly 5 slash-delimited elements, "
		    "e.g. keyid/date/region/service/term, got '%.*s'",
		    (int)(cred_len > 200 ? 200 : cred_len), cred));
	if (plen[4] != strlen(TERMINATOR) ||
	    strncmp(parts[4], TERMINATOR, plen[4]) != 0)
		return (say(SIGV4_BAD_SCOPE, msg, msglen,
		    "Credential should be scoped with a valid terminator: "
		    "'aws4_request', not '%.*s'.",
		    (int)(plen[4] > 64 ? 64 : plen[4]), parts[4]));
	if (strcmp(auth->region, region) != 0)
		return (say(SIGV4_BAD_SCOPE, msg, msglen,
		    "Credential should be scoped to a valid region, not '%s'.",
		    auth->region));
	if (strcmp(auth->service, service) != 0)
		return (say(SIGV4_BAD_SCOPE, msg, msglen,
		    "Credential should be scoped to correct service: '%s'.",
		    service));

	/* Signed headers: well formed, and covering what must be signed. */
	if (copy(auth->signed_headers, sizeof(auth->signed_headers), sh,
	    sh_len) || !valid_signed_headers(auth->signed_headers))
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "SignedHeaders must be lower-case header names separated "
		    "by ';'"));
	if (!listed(auth->signed_headers, "host"))
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "'Host' must be a 'SignedHeader' in the AWS "
		    "Authorization."));
	if (!listed(auth->signed_headers, date_name))
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "'%s' must be a 'SignedHeader' in the AWS Authorization.",
		    strcmp(date_name, "date") == 0 ? "Date" : "X-Amz-Date"));
	if (header(req, "x-amz-target", &count) != NULL &&
	    !listed(auth->signed_headers, "x-amz-target"))
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "'X-Amz-Target' must be a 'SignedHeader' in the AWS "
		    "Authorization."));

	/* The signature: 64 hex digits. */
	if (sig_len != 64 || copy(auth->signature, sizeof(auth->signature),
	    sig, sig_len) != 0 ||
	    strspn(auth->signature, "0123456789abcdef") != 64)
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Signature must be 64 lower-case hexadecimal digits"));

	/* The date: its form, its day against the scope's, the clock. */
	if ((strcmp(date_name, "x-amz-date") == 0 ?
	    parse_amz_date(date, &auth->when) :
	    parse_http_date(date, &auth->when)) != 0)
		return (say(SIGV4_INCOMPLETE, msg, msglen,
		    "Date must be in ISO-8601 'basic format'. Got '%.40s'. "
		    "See http://en.wikipedia.org/wiki/ISO_8601", date));
	format_amz_date(auth->when, auth->amz_date);
	if (strncmp(auth->amz_date, auth->scope_date, 8) != 0)
		return (say(SIGV4_BAD_SCOPE, msg, msglen,
		    "Date in Credential scope does not match YYYYMMDD from "
		    "ISO-8601 version of date from HTTP: '%s' != '%.8s', from "
		    "'%s'.", auth->scope_date, auth->amz_date, auth->amz_date));
	format_amz_date(now, then);
	if (auth->when < now - SIGV4_SKEW_SECONDS) {
		format_amz_date(now - SIGV4_SKEW_SECONDS, bound);
		return (say(SIGV4_EXPIRED, msg, msglen,
		    "Signature expired: %s is now earlier than %s (%s - 15 "
		    "min.)", auth->amz_date, bound, then));
	}
	if (auth->when > now + SIGV4_SKEW_SECONDS) {
		format_amz_date(now + SIGV4_SKEW_SECONDS, bound);
		return (say(SIGV4_NOT_YET, msg, msglen,
		    "Signature not yet current: %s is still later than %s (%s "
		    "+ 15 min.)", auth->amz_date, bound, then));
	}
	return (SIGV4_OK);
}

enum sigv4_verdict
sigv4_check(const struct sigv4_request *req, const struct sigv4_auth *auth,
    const uint8_t *secret, size_t secret_len, char *msg, size_t msglen)
{
	static const char mismatch[] = "The request signature we calculated "
	    "does not match the signature you provided. Check your AWS "
	    "Secret Access Key and signing method. Consult the service "
	    "documentation for details.";
	char *canonical;
	enum sigv4_verdict v;
	uint8_t hash[SHA256_DIGEST_LENGTH];
	char want[65], body_hex[65];
	struct out o = { body_hex, sizeof(body_hex), 0, 0 };
	const char *claimed;
	int count;

	/* A body hash the client sent must be the body's. */
	if ((claimed = header(req, "x-amz-content-sha256", &count)) != NULL) {
		SHA256(req->body != NULL ? req->body : (const uint8_t *)"",
		    req->body_len, hash);
		put_hex(&o, hash, sizeof(hash));
		if (count > 1 || strcmp(claimed, body_hex) != 0)
			return (say(SIGV4_PAYLOAD_HASH, msg, msglen,
			    "The provided 'x-amz-content-sha256' header does "
			    "not match what was computed."));
	}

	/* A signed header that was not sent cannot match. */
	if ((canonical = malloc(CANONICAL_MAX)) == NULL)
		return (say(SIGV4_MISMATCH, msg, msglen, "out of memory"));
	v = SIGV4_MISMATCH;
	if (sigv4_canonical_request(req, auth, canonical, CANONICAL_MAX) > 0) {
		sigv4_signature(secret, secret_len, auth, canonical, want);
		if (CRYPTO_memcmp(want, auth->signature, 64) == 0)
			v = SIGV4_OK;
	}
	free(canonical);
	if (v != SIGV4_OK)
		return (say(v, msg, msglen, "%s", mismatch));
	return (SIGV4_OK);
}
