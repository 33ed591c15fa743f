/*
 * rpc_test.c: the pure logic of rpc/ — the cf_code -> gRPC status table,
 * the listen-address policy, request ids, the wire pre-scan of string
 * fields and the wiping protobuf-c allocator.  The server loop itself is
 * tested end to end against a real engine (tests/e2e).
 *
 * The binary is linked with -Wl,--wrap=free so that the test can look at a
 * block the wiping allocator releases at the moment it is released.
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "rpc_internal.h"

/* ---- free() spy --------------------------------------------------------- */

void __real_free(void *);
void __wrap_free(void *);

/* The payload being watched, and what the spy saw when it was freed. */
static const uint8_t *watch;
static size_t watch_len;
static int watch_freed;
static int watch_zero;

void
__wrap_free(void *p)
{
	const uint8_t *b = p;
	size_t i, off;

	/* The block whose payload follows its size header. */
	if (watch != NULL && p != NULL && b + sizeof(max_align_t) == watch) {
		off = sizeof(max_align_t);
		watch_freed = 1;
		watch_zero = 1;
		for (i = 0; i < off + watch_len; i++)
			if (b[i] != 0)
				watch_zero = 0;
		watch = NULL;
	}
	__real_free(p);
}

/* ---- status mapping ----------------------------------------------------- */

static void
test_status_map(void **state)
{
	static const struct {
		enum cf_code code;
		grpc_status_code want;
	} cases[] = {
		{ CF_OK, GRPC_STATUS_OK },
		{ CF_ERR_RESOURCE_NOT_FOUND, GRPC_STATUS_NOT_FOUND },
		{ CF_ERR_RESOURCE_EXISTS, GRPC_STATUS_ALREADY_EXISTS },
		{ CF_ERR_INVALID_PARAMETER, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_VALIDATION, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_INVALID_NEXT_TOKEN, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_MALFORMED_POLICY, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_PUBLIC_POLICY, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_INVALID_REQUEST, GRPC_STATUS_FAILED_PRECONDITION },
		{ CF_ERR_PRECONDITION_NOT_MET, GRPC_STATUS_FAILED_PRECONDITION },
		{ CF_ERR_LIMIT_EXCEEDED, GRPC_STATUS_RESOURCE_EXHAUSTED },
		{ CF_ERR_THROTTLING, GRPC_STATUS_RESOURCE_EXHAUSTED },
		{ CF_ERR_ACCESS_DENIED, GRPC_STATUS_PERMISSION_DENIED },
		{ CF_ERR_UNAUTHENTICATED, GRPC_STATUS_UNAUTHENTICATED },
		{ CF_ERR_ENCRYPTION_FAILURE, GRPC_STATUS_INTERNAL },
		{ CF_ERR_DECRYPTION_FAILURE, GRPC_STATUS_INTERNAL },
		{ CF_ERR_INTERNAL, GRPC_STATUS_INTERNAL },
		{ CF_ERR_UNAVAILABLE, GRPC_STATUS_UNAVAILABLE },
		{ CF_ERR_UNIMPLEMENTED, GRPC_STATUS_UNIMPLEMENTED },
		{ CF_ERR_TIMEOUT, GRPC_STATUS_DEADLINE_EXCEEDED },
	};
	size_t i;

	/* Every code is in the table, once. */
	assert_int_equal(sizeof(cases) / sizeof(cases[0]), CF_ERR__COUNT);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cases[i].code, i);
		assert_int_equal(rpc_status_of(cases[i].code), cases[i].want);
	}

	/* Out of range is an internal error, never OK. */
	assert_int_equal(rpc_status_of(CF_ERR__COUNT), GRPC_STATUS_INTERNAL);
	assert_int_equal(rpc_status_of((enum cf_code)-1), GRPC_STATUS_INTERNAL);
}

/* ---- listen addresses --------------------------------------------------- */

static void
test_listen_check(void **state)
{
	static const struct {
		const char *addr;
		int ok;
	} cases[] = {
		{ "127.0.0.1:50051", 1 },
		{ "127.0.0.1:0", 1 },
		{ "127.1.2.3:65535", 1 },
		{ "localhost:50051", 1 },
		{ "LOCALHOST:1", 1 },
		{ "[::1]:50051", 1 },
		{ "[::ffff:127.0.0.1]:50051", 1 },
		{ "0.0.0.0:50051", 0 },
		{ "10.0.0.1:50051", 0 },
		{ "128.0.0.1:50051", 0 },
		{ "[::]:50051", 0 },
		{ "[::2]:50051", 0 },
		{ "[::ffff:10.0.0.1]:50051", 0 },
		{ "example.com:50051", 0 },
		{ "localhost.example.com:50051", 0 },
		{ ":50051", 0 },
		{ "127.0.0.1", 0 },
		{ "127.0.0.1:", 0 },
		{ "127.0.0.1:65536", 0 },
		{ "127.0.0.1:123456", 0 },
		{ "127.0.0.1:50x", 0 },
		{ "::1:50051", 0 },
		{ "[::1]50051", 0 },
		{ "[127.0.0.1]:50051", 0 },
		{ "unix:/tmp/coffer.sock", 0 },
		{ "ipv4:127.0.0.1:50051", 0 },
		{ "", 0 },
	};
	struct cf_error err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_error_clear(&err);
		if (rpc_listen_check(cases[i].addr, &err) != (cases[i].ok ? 0 : -1))
			fail_msg("listen address \"%s\": want %s", cases[i].addr,
			    cases[i].ok ? "accepted" : "refused");
		if (!cases[i].ok) {
			assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
			assert_non_null(strstr(err.msg, cases[i].addr));
		}
	}

	/* A refused remote address says why. */
	assert_int_equal(rpc_listen_check("0.0.0.0:1", &err), -1);
	assert_non_null(strstr(err.msg, "loopback"));
}

/* ---- request ids -------------------------------------------------------- */

static void
test_uuid_format(void **state)
{
	char a[RPC_UUID_LEN + 1], b[RPC_UUID_LEN + 1];
	size_t i;

	assert_int_equal(rpc_uuid_v4(a), 0);
	assert_int_equal(rpc_uuid_v4(b), 0);
	assert_int_equal(strlen(a), RPC_UUID_LEN);
	for (i = 0; i < RPC_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", a[i]));
	}
	assert_int_equal(a[14], '4');			/* version 4 */
	assert_non_null(strchr("89ab", a[19]));		/* RFC 4122 variant */
	assert_string_not_equal(a, b);
}

/* ---- wire pre-scan ------------------------------------------------------ */

struct wire_case {
	const char *what;
	const ProtobufCMessageDescriptor *desc;
	const char *bytes;
	size_t len;
	enum cf_code want;
	const char *msg;		/* expected message, or NULL */
};

#define W(s) s, sizeof(s) - 1
#define CREATE &coffer__v1__create_secret_request__descriptor
#define PUT &coffer__v1__put_secret_value_request__descriptor
#define LIST &coffer__v1__list_secrets_request__descriptor

static const struct wire_case wire_cases[] = {
	{ "empty message", CREATE, W(""), CF_OK, NULL },
	{ "name and string", CREATE, W("\x0a\x03" "abc" "\x32\x02" "hi"),
	    CF_OK, NULL },
	{ "UTF-8 string", CREATE, W("\x32\x03" "\xe2\x82\xac"), CF_OK, NULL },
	{ "NUL in SecretString", CREATE, W("\x32\x03" "a\0b"),
	    CF_ERR_INVALID_PARAMETER,
	    "SecretString must not contain NUL characters" },
	{ "NUL in Put SecretString", PUT, W("\x0a\x01x" "\x22\x02" "\0z"),
	    CF_ERR_INVALID_PARAMETER,
	    "SecretString must not contain NUL characters" },
	{ "NUL in Name", CREATE, W("\x0a\x02" "a\0"),
	    CF_ERR_INVALID_PARAMETER, "Name must not contain NUL characters" },
	{ "NUL in SecretBinary is fine", CREATE, W("\x2a\x03" "\0\0\xff"),
	    CF_OK, NULL },
	{ "overlong UTF-8 in Name", CREATE, W("\x0a\x02" "\xc0\x80"),
	    CF_ERR_VALIDATION, "Invalid UTF-8 in Name" },
	{ "surrogate in ClientRequestToken", CREATE,
	    W("\x12\x03" "\xed\xa0\x80"), CF_ERR_VALIDATION,
	    "Invalid UTF-8 in ClientRequestToken" },
	{ "truncated UTF-8 in SecretString", CREATE, W("\x32\x01" "\xe2"),
	    CF_ERR_VALIDATION, "Invalid UTF-8 in SecretString" },
	{ "NUL in a nested Tag value", CREATE,
	    W("\x3a\x06" "\x0a\x01k" "\x12\x01\0"),
	    CF_ERR_INVALID_PARAMETER, "Value must not contain NUL characters" },
	{ "bad UTF-8 in a repeated VersionStages", PUT,
	    W("\x2a\x02" "ok" "\x2a\x01\xff"), CF_ERR_VALIDATION,
	    "Invalid UTF-8 in VersionStages" },
	{ "bad UTF-8 in a Filter value", LIST,
	    W("\x22\x05" "\x12\x03" "a\xffz"), CF_ERR_VALIDATION,
	    "Invalid UTF-8 in Values" },
	{ "varints and fixed fields are skipped", CREATE,
	    W("\x48\x01" "\x78\x96\x01" "\x7d\x01\x02\x03\x04"
	    "\x79\x01\x02\x03\x04\x05\x06\x07\x08"), CF_OK, NULL },
	{ "unknown string field is skipped", CREATE, W("\x7a\x01\0"), CF_OK,
	    NULL },
	{ "length past the end", CREATE, W("\x32\x05" "abc"),
	    CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "truncated key", CREATE, W("\x80"), CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "field number 0", CREATE, W("\x02\x00"), CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "group wire type", CREATE, W("\x0b\x0c"), CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "varint longer than 10 bytes", CREATE,
	    W("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
	    CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "truncated fixed64", CREATE, W("\x79\x01\x02"),
	    CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
	{ "malformed nested Tag", CREATE, W("\x3a\x02" "\x0a\x05"),
	    CF_ERR_INVALID_PARAMETER,
	    "could not decode the CreateSecretRequest message" },
};

static void
test_wire_check(void **state)
{
	const struct wire_case *c;
	struct cf_error err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(wire_cases) / sizeof(wire_cases[0]); i++) {
		c = &wire_cases[i];
		cf_error_clear(&err);
		rc = rpc_wire_check(c->desc, (const uint8_t *)c->bytes, c->len,
		    &err);
		if (rc != (c->want == CF_OK ? 0 : -1) || err.code != c->want)
			fail_msg("%s: rc %d, code %s (%s)", c->what, rc,
			    cf_code_name(err.code), err.msg);
		if (c->msg != NULL)
			assert_string_equal(err.msg, c->msg);
	}
}

/* A message protobuf-c packs passes the scan, and decodes as it was. */
static void
test_wire_roundtrip(void **state)
{
	Coffer__V1__CreateSecretRequest m = COFFER__V1__CREATE_SECRET_REQUEST__INIT;
	Coffer__V1__CreateSecretRequest *u;
	Coffer__V1__Tag t = COFFER__V1__TAG__INIT, *tp = &t;
	ProtobufCAllocator alloc;
	struct cf_error err;
	uint8_t buf[256];
	size_t len;

	m.name = (char *)(uintptr_t)"prod/db";
	m.secret_string = (char *)(uintptr_t)"s3cr\xc3\xa9t";
	t.key = (char *)(uintptr_t)"env";
	t.value = (char *)(uintptr_t)"prod";
	m.n_tags = 1;
	m.tags = &tp;
	assert_true(coffer__v1__create_secret_request__get_packed_size(&m) <=
	    sizeof(buf));
	len = coffer__v1__create_secret_request__pack(&m, buf);

	assert_int_equal(rpc_wire_check(CREATE, buf, len, &err), 0);
	rpc_wipe_allocator_init(&alloc);
	u = coffer__v1__create_secret_request__unpack(&alloc, len, buf);
	assert_non_null(u);
	assert_string_equal(u->name, "prod/db");
	assert_string_equal(u->secret_string, "s3cr\xc3\xa9t");
	assert_int_equal(u->n_tags, 1);
	assert_string_equal(u->tags[0]->value, "prod");
	coffer__v1__create_secret_request__free_unpacked(u, &alloc);
}

/* ---- the wiping allocator ----------------------------------------------- */

static void
test_wipe_allocator(void **state)
{
	ProtobufCAllocator a;
	uint8_t *p;
	size_t sizes[] = { 1, 7, 16, 100, 4096, 70000 };
	size_t i;

	rpc_wipe_allocator_init(&a);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Aligned like malloc, and writable end to end. */
		p = a.alloc(a.allocator_data, sizes[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
		memset(p, 0xA5, sizes[i]);

		/* Freed as zeros, header included. */
		watch = p;
		watch_len = sizes[i];
		watch_freed = 0;
		a.free(a.allocator_data, p);
		assert_true(watch_freed);
		assert_true(watch_zero);
	}

	/* free(NULL) does nothing; a huge size fails cleanly. */
	a.free(a.allocator_data, NULL);
	assert_null(a.alloc(a.allocator_data, SIZE_MAX));
}

/* An unpacked request's plaintext is wiped by free_unpacked. */
static void
test_wipe_unpacked(void **state)
{
	static const uint8_t wire[] = "\x32\x08" "p4ssw0rd";
	Coffer__V1__CreateSecretRequest *u;
	ProtobufCAllocator alloc;

	rpc_wipe_allocator_init(&alloc);
	u = coffer__v1__create_secret_request__unpack(&alloc,
	    sizeof(wire) - 1, wire);
	assert_non_null(u);
	assert_string_equal(u->secret_string, "p4ssw0rd");
	watch = (const uint8_t *)u->secret_string;
	watch_len = 9;
	watch_freed = 0;
	coffer__v1__create_secret_request__free_unpacked(u, &alloc);
	assert_true(watch_freed);
	assert_true(watch_zero);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_map),
		cmocka_unit_test(test_listen_check),
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_wire_check),
		cmocka_unit_test(test_wire_roundtrip),
		cmocka_unit_test(test_wipe_allocator),
		cmocka_unit_test(test_wipe_unpacked),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
