/*
 * sigv4_test.c: awsapi/sigv4.c against AWS's published Signature Version 4
 * test suite (get-vanilla and get-vanilla-query-order-key-case: AKIDEXAMPLE,
 * 20150830T123600Z, us-east-1, service "service"), and every refusal of
 * sigv4_parse() and sigv4_check() with AWS's exception name.  Requests
 * signed by real clients (botocore, the AWS SDK for JavaScript) are
 * checked end to end by the e2e tests of the AWS endpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
#define VANILLA_SIG \
	"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
#define QUERY_SIG \
	"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
/* 2015-08-30T12:36:00Z, the suite's request time. */
#define SUITE_NOW ((time_t)1440938160)

/* A request under construction: up to 8 headers. */
struct req {
	struct sigv4_header h[8];
	char auth[512];
	struct sigv4_request r;
};

static void
req_init(struct req *q, const char *method, const char *query,
    const char *signature)
{

	memset(q, 0, sizeof(*q));
	snprintf(q->auth, sizeof(q->auth), "AWS4-HMAC-SHA256 Credential="
	    SCOPE ", SignedHeaders=host;x-amz-date, Signature=%s", signature);
	q->h[0] = (struct sigv4_header){ "Host", "example.amazonaws.com" };
	q->h[1] = (struct sigv4_header){ "X-Amz-Date", "20150830T123600Z" };
	q->h[2] = (struct sigv4_header){ "Authorization", q->auth };
	q->r.method = method;
	q->r.path = "/";
	q->r.query = query;
	q->r.headers = q->h;
	q->r.nheaders = 3;
}

static enum sigv4_verdict
verify(struct req *q, time_t now, char *msg, size_t len)
{
	struct sigv4_auth a;
	enum sigv4_verdict v;

	if ((v = sigv4_parse(&q->r, "us-east-1", "service", now, &a, msg,
	    len)) != SIGV4_OK)
		return (v);
	assert_string_equal(a.access_key_id, "AKIDEXAMPLE");
	return (sigv4_check(&q->r, &a, (const uint8_t *)SECRET,
	    strlen(SECRET), msg, len));
}

/* AWS's get-vanilla: the canonical request and the signature. */
static void
test_get_vanilla(void **state)
{
	struct req q;
	struct sigv4_auth a;
	char canon[1024], sig[65], msg[512];

	(void)state;
	req_init(&q, "GET", "", VANILLA_SIG);
	assert_int_equal(sigv4_parse(&q.r, "us-east-1", "service", SUITE_NOW,
	    &a, msg, sizeof(msg)), SIGV4_OK);
	assert_true(sigv4_canonical_request(&q.r, &a, canon, sizeof(canon)) >
	    0);
	assert_string_equal(canon, "GET\n/\n\n"
	    "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	    "host;x-amz-date\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sigv4_signature((const uint8_t *)SECRET, strlen(SECRET), &a, canon,
	    sig);
	assert_string_equal(sig, VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);
}

/* get-vanilla-query-order-key-case: parameters sorted before signing. */
static void
test_query_order(void **state)
{
	struct req q;
	char msg[512];

	(void)state;
	req_init(&q, "GET", "Param2=value2&Param1=value1", QUERY_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);
	/* Another value is another request. */
	req_init(&q, "GET", "Param2=value2&Param1=value9", QUERY_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);
}

/* Anything changed after signing: the signature no longer matches. */
static void
test_tampering(void **state)
{
	struct req q;
	char msg[512], other[65];
	static const uint8_t body[] = "{\"SecretId\":\"x\"}";

	(void)state;
	/* Another method. */
	req_init(&q, "POST", "", VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);
	assert_string_equal(sigv4_exception(SIGV4_MISMATCH),
	    "InvalidSignatureException");
	assert_non_null(strstr(msg, "does not match the signature"));

	/* A body where there was none. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.r.body = body;
	q.r.body_len = sizeof(body) - 1;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);

	/* A signed header's value. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[0].value = "example.amazonaws.com.evil";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);

	/* A signed header sent twice (values joined with ','). */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[3] = (struct sigv4_header){ "host", "example.amazonaws.com" };
	q.r.nheaders = 4;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);

	/* Another path. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.r.path = "/x";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);

	/* One digit of the signature. */
	memcpy(other, VANILLA_SIG, 65);
	other[63] = other[63] == '1' ? '2' : '1';
	req_init(&q, "GET", "", other);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);

	/* Another secret. */
	{
		struct sigv4_auth a;

		req_init(&q, "GET", "", VANILLA_SIG);
		assert_int_equal(sigv4_parse(&q.r, "us-east-1", "service",
		    SUITE_NOW, &a, msg, sizeof(msg)), SIGV4_OK);
		assert_int_equal(sigv4_check(&q.r, &a,
		    (const uint8_t *)SECRET "x", strlen(SECRET) + 1, msg,
		    sizeof(msg)), SIGV4_MISMATCH);
	}

	/* An unsigned header may be added or changed: it is not covered. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[3] = (struct sigv4_header){ "User-Agent", "anything" };
	q.r.nheaders = 4;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);

	/* Header values are trimmed and their inner spaces folded. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[0].value = "  example.amazonaws.com\t ";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);
}

/* The 15-minute window, both ways, with AWS's messages. */
static void
test_clock(void **state)
{
	struct req q;
	char msg[512];

	(void)state;
	req_init(&q, "GET", "", VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW + 15 * 60, msg, sizeof(msg)),
	    SIGV4_OK);
	assert_int_equal(verify(&q, SUITE_NOW + 15 * 60 + 1, msg,
	    sizeof(msg)), SIGV4_EXPIRED);
	assert_string_equal(msg, "Signature expired: 20150830T123600Z is now "
	    "earlier than 20150830T123601Z (20150830T125101Z - 15 min.)");
	assert_int_equal(verify(&q, SUITE_NOW - 15 * 60, msg, sizeof(msg)),
	    SIGV4_OK);
	/* A date 16 minutes ahead of the server. */
	assert_int_equal(verify(&q, SUITE_NOW - 16 * 60, msg, sizeof(msg)),
	    SIGV4_NOT_YET);
	assert_string_equal(msg, "Signature not yet current: 20150830T123600Z "
	    "is still later than 20150830T123500Z (20150830T122000Z + 15 "
	    "min.)");
	assert_string_equal(sigv4_exception(SIGV4_NOT_YET),
	    "InvalidSignatureException");

	/* Not a date at all. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[1].value = "2015-08-30T12:36:00Z";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	q.h[1].value = "20151330T123600Z";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
}

/* The credential's scope: region, service, terminator, day. */
static void
test_scope(void **state)
{
	struct req q;
	struct sigv4_auth a;
	char msg[512];

	(void)state;
	req_init(&q, "GET", "", VANILLA_SIG);
	assert_int_equal(sigv4_parse(&q.r, "eu-west-1", "service", SUITE_NOW,
	    &a, msg, sizeof(msg)), SIGV4_BAD_SCOPE);
	assert_string_equal(msg, "Credential should be scoped to a valid "
	    "region, not 'us-east-1'.");
	assert_int_equal(sigv4_parse(&q.r, "us-east-1", "secretsmanager",
	    SUITE_NOW, &a, msg, sizeof(msg)), SIGV4_BAD_SCOPE);
	assert_string_equal(msg, "Credential should be scoped to correct "
	    "service: 'secretsmanager'.");

	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, "
	    "SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_BAD_SCOPE);

	/* The scope's day must be the request's day. */
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, "
	    "SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_BAD_SCOPE);
	assert_non_null(strstr(msg, "Date in Credential scope does not match"));

	/* Four elements, or six. */
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/20150830/us-east-1/aws4_request, "
	    "SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/20150830/us-east-1/service/x/aws4_request, "
	    "SignedHeaders=host;x-amz-date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
}

/* Malformed or missing authentication: each part named. */
static void
test_incomplete(void **state)
{
	struct req q;
	char msg[512];

	(void)state;
	/* No Authorization header. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.r.nheaders = 2;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISSING);
	assert_string_equal(sigv4_exception(SIGV4_MISSING),
	    "MissingAuthenticationTokenException");

	/* A presigned URL instead. */
	req_init(&q, "GET", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	    "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&"
	    "X-Amz-Signature=" VANILLA_SIG, VANILLA_SIG);
	q.r.nheaders = 2;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	assert_non_null(strstr(msg, "presigned"));

	/* Another algorithm. */
	req_init(&q, "GET", "", VANILLA_SIG);
	memcpy(q.auth, "AWS4-HMAC-SHA512", 16);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	assert_string_equal(msg, "Unsupported AWS 'algorithm': "
	    "'AWS4-HMAC-SHA512'");

	/* No parts and no date: every missing one said. */
	req_init(&q, "GET", "", VANILLA_SIG);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Foo=bar");
	q.h[1].name = "X-Amz-Whatever";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	assert_string_equal(msg, "Authorization header requires 'Credential' "
	    "parameter. Authorization header requires 'Signature' parameter. "
	    "Authorization header requires 'SignedHeaders' parameter. "
	    "Authorization header requires existence of either a "
	    "'X-Amz-Date' or a 'Date' header.");
	assert_string_equal(sigv4_exception(SIGV4_INCOMPLETE),
	    "IncompleteSignatureException");

	/* Host, the date and X-Amz-Target must be signed. */
	req_init(&q, "GET", "", VANILLA_SIG);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential=" SCOPE
	    ", SignedHeaders=x-amz-date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential=" SCOPE
	    ", SignedHeaders=host, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[3] = (struct sigv4_header){ "X-Amz-Target",
	    "secretsmanager.GetSecretValue" };
	q.r.nheaders = 4;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
	assert_non_null(strstr(msg, "X-Amz-Target"));

	/* Upper-case or unsorted-looking lists are not AWS's form. */
	req_init(&q, "GET", "", VANILLA_SIG);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential=" SCOPE
	    ", SignedHeaders=Host;X-Amz-Date, Signature=" VANILLA_SIG);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);

	/* A signature that is not 64 hex digits. */
	req_init(&q, "GET", "", "abc");
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);

	/* Two Authorization headers. */
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[3] = (struct sigv4_header){ "authorization", q.auth };
	q.r.nheaders = 4;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_INCOMPLETE);
}

/* x-amz-content-sha256, when sent, must be the body's hash. */
static void
test_payload_hash(void **state)
{
	struct req q;
	char msg[512];

	(void)state;
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[3] = (struct sigv4_header){ "x-amz-content-sha256",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" };
	q.r.nheaders = 4;
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);
	q.h[3].value = "UNSIGNED-PAYLOAD";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_PAYLOAD_HASH);
	assert_string_equal(msg, "The provided 'x-amz-content-sha256' header "
	    "does not match what was computed.");
}

/* A Date header (RFC 7231) when X-Amz-Date is absent. */
static void
test_http_date(void **state)
{
	struct req q;
	struct sigv4_auth a;
	char canon[1024], sig[65], msg[512];

	(void)state;
	req_init(&q, "GET", "", VANILLA_SIG);
	q.h[1] = (struct sigv4_header){ "Date", "Sun, 30 Aug 2015 12:36:00 GMT" };
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential=" SCOPE
	    ", SignedHeaders=date;host, Signature=%s", VANILLA_SIG);
	assert_int_equal(sigv4_parse(&q.r, "us-east-1", "service", SUITE_NOW,
	    &a, msg, sizeof(msg)), SIGV4_OK);
	assert_string_equal(a.amz_date, "20150830T123600Z");
	assert_true(sigv4_canonical_request(&q.r, &a, canon, sizeof(canon)) >
	    0);
	sigv4_signature((const uint8_t *)SECRET, strlen(SECRET), &a, canon,
	    sig);
	snprintf(q.auth, sizeof(q.auth), "AWS4-HMAC-SHA256 Credential=" SCOPE
	    ", SignedHeaders=date;host, Signature=%s", sig);
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)), SIGV4_OK);
	q.h[1].value = "Sun, 30 Aug 2015 12:36:01 GMT";
	assert_int_equal(verify(&q, SUITE_NOW, msg, sizeof(msg)),
	    SIGV4_MISMATCH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla),
		cmocka_unit_test(test_query_order),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_payload_hash),
		cmocka_unit_test(test_http_date),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
