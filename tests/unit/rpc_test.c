/*
 * rpc_test.c: the pure logic of rpc/ — the cf_code -> gRPC status table,
 * the listen-address policy, request ids, the wire pre-scan of string
 * fields, and where a call's plaintext lives: the arena protobuf-c
 * unpacks requests into and rpc_pb_encode packs responses into must be
 * locked, never-dumped memory (/proc/self/smaps) that is wiped when freed
 * (read back through /proc/self/mem, which also works once it is unmapped).
 * The server loop itself is tested end to end against a real engine
 * (tests/e2e).
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "rpc_ops.h"

/* ---- where memory lives ------------------------------------------------- */

/*
 * Is the mapping that holds ${p} locked in RAM ("lo") and excluded from
 * core dumps ("dd"), as its VmFlags line in /proc/self/smaps says?
 * AddressSanitizer's mlock() does nothing, so under it only "dd" counts.
 */
#if defined(__SANITIZE_ADDRESS__)
#define WANT_LOCKED 0
#else
#define WANT_LOCKED 1
#endif

static int
locked_and_undumped(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	unsigned long lo, hi;
	char line[512];
	int in = 0, ok = 0;
	FILE *f;

	if ((f = fopen("/proc/self/smaps", "r")) == NULL)
		fail_msg("could not open /proc/self/smaps");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			ok = (!WANT_LOCKED || strstr(line, " lo") != NULL) &&
			    strstr(line, " dd") != NULL;
			break;
		}
	}
	fclose(f);
	return (ok);
}

/*
 * Are the ${n} bytes at ${p} all zero, or no longer mapped at all?  (The
 * buffer is static: a malloc'd one could land on pages just unmapped.)
 */
static int
wiped(const void *p, size_t n)
{
	static uint8_t buf[1 << 19];
	ssize_t got;
	size_t i;
	int fd, zero = 1;

	assert_true(n <= sizeof(buf));
	assert_true((fd = open("/proc/self/mem", O_RDONLY)) != -1);
	got = pread(fd, buf, n, (off_t)(uintptr_t)p);
	close(fd);
	if (got == (ssize_t)n)
		for (i = 0; i < n; i++)
			if (buf[i] != 0)
				zero = 0;
	return (zero);
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
		{ CF_ERR_SERIALIZATION, GRPC_STATUS_INVALID_ARGUMENT },
		{ CF_ERR_UNKNOWN_OPERATION, GRPC_STATUS_UNIMPLEMENTED },
		{ CF_ERR_MISSING_AUTH, GRPC_STATUS_UNAUTHENTICATED },
		{ CF_ERR_INCOMPLETE_SIGNATURE, GRPC_STATUS_UNAUTHENTICATED },
		{ CF_ERR_INVALID_SIGNATURE, GRPC_STATUS_UNAUTHENTICATED },
		{ CF_ERR_UNRECOGNIZED_CLIENT, GRPC_STATUS_UNAUTHENTICATED },
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
	char a[CF_UUID_LEN + 1], b[CF_UUID_LEN + 1];
	size_t i;

	assert_int_equal(cf_uuid_random(a), 0);
	assert_int_equal(cf_uuid_random(b), 0);
	assert_int_equal(strlen(a), CF_UUID_LEN);
	for (i = 0; i < CF_UUID_LEN; i++) {
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
	struct cf_arena *a;
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
	assert_non_null(a = cf_arena_new());
	rpc_arena_allocator_init(&alloc, a);
	u = coffer__v1__create_secret_request__unpack(&alloc, len, buf);
	assert_non_null(u);
	assert_string_equal(u->name, "prod/db");
	assert_string_equal(u->secret_string, "s3cr\xc3\xa9t");
	assert_int_equal(u->n_tags, 1);
	assert_string_equal(u->tags[0]->value, "prod");
	cf_arena_free(a);
}

/* ---- a call's plaintext in secret memory -------------------------------- */

/* Arena memory of every size class is locked, never dumped and wiped. */
static void
test_arena_locked(void **state)
{
	static const size_t sizes[] = { 0, 1, 100, 5000, 16000, 40000, 70000,
	    300000 };
	struct cf_arena *a;
	uint8_t *p[sizeof(sizes) / sizeof(sizes[0])], *small[600];
	size_t i, k;

	(void)state;
	assert_non_null(a = cf_arena_new());
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Zeroed, aligned, locked and undumped, and writable. */
		assert_non_null(p[i] = cf_arena_alloc(a, sizes[i]));
		assert_int_equal((uintptr_t)p[i] % alignof(max_align_t), 0);
		for (k = 0; k < sizes[i]; k++)
			if (p[i][k] != 0)
				fail_msg("byte %zu of %zu is not zero", k, sizes[i]);
		assert_true(locked_and_undumped(p[i]));
		if (sizes[i] > 0)
			assert_true(locked_and_undumped(p[i] + sizes[i] - 1));
		memset(p[i], 0xA5, sizes[i]);
	}

	/* Many small blocks across chunks: all secret, none overlapping. */
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		assert_non_null(small[i] = cf_arena_alloc(a, 100));
		assert_true(locked_and_undumped(small[i]));
		memset(small[i], (int)(i & 0x7F) + 1, 100);
	}
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		for (k = 0; k < 100; k++)
			assert_int_equal(small[i][k], (int)(i & 0x7F) + 1);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (k = 0; k < sizes[i]; k++)
			assert_int_equal(p[i][k], 0xA5);

	/* Freed: every byte handed out is zero, or unmapped. */
	cf_arena_free(a);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_true(wiped(p[i], sizes[i] > 0 ? sizes[i] : 1));
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		assert_true(wiped(small[i], 100));
	cf_arena_free(NULL);
}

/* A secret owned by an arena is freed (wiped) with it. */
static void
test_arena_owns_secret(void **state)
{
	struct cf_secret *s;
	struct cf_arena *a;
	uint8_t *data;

	(void)state;
	assert_non_null(a = cf_arena_new());
	assert_non_null(s = cf_secret_new(70000));
	assert_true(locked_and_undumped(s->data));
	memset(s->data, 0x5A, s->len);
	data = s->data;
	assert_int_equal(cf_arena_own_secret(a, s), 0);
	cf_arena_free(a);
	assert_true(wiped(data, 70000));
}

/* protobuf-c decodes a request into the arena: locked, wiped with it. */
static void
test_unpack_locked(void **state)
{
	static const uint8_t wire[] = "\x32\x08" "p4ssw0rd" "\x0a\x02" "db";
	Coffer__V1__CreateSecretRequest *u;
	ProtobufCAllocator alloc;
	struct cf_arena *a;
	const char *pw;

	(void)state;
	assert_non_null(a = cf_arena_new());
	rpc_arena_allocator_init(&alloc, a);
	u = coffer__v1__create_secret_request__unpack(&alloc,
	    sizeof(wire) - 1, wire);
	assert_non_null(u);
	assert_string_equal(u->secret_string, "p4ssw0rd");
	assert_string_equal(u->name, "db");
	assert_true(locked_and_undumped(u));
	assert_true(locked_and_undumped(u->secret_string));
	pw = u->secret_string;
	/* A failed decode leaves nothing behind the arena either. */
	assert_null(coffer__v1__create_secret_request__unpack(&alloc, 3,
	    (const uint8_t *)"\x32\x08p"));
	cf_arena_free(a);
	assert_true(wiped(pw, 9));
}

/* A response with a value is packed into the arena, its copies too. */
static void
test_pack_locked(void **state)
{
	Coffer__V1__GetSecretValueResponse r =
	    COFFER__V1__GET_SECRET_VALUE_RESPONSE__INIT;
	struct engine_value v = { 0 };
	struct rpc_reply out = { NULL, 0 };
	struct cf_arena *a;
	struct cf_error err;
	static char value[40000];

	(void)state;
	memset(value, 'v', sizeof(value) - 1);
	v.present = 1;
	v.data = (const uint8_t *)value;
	v.len = sizeof(value) - 1;
	assert_non_null(a = cf_arena_new());
	assert_int_equal(rpc_pb_value_out(a, &v, &r.has_secret_binary,
	    &r.secret_binary, &r.secret_string, &err), 0);
	assert_true(locked_and_undumped(r.secret_string));
	assert_int_equal(rpc_pb_encode(a, &r.base, &out, &err), 0);
	assert_true(out.len > v.len);
	assert_true(locked_and_undumped(out.buf));
	assert_true(locked_and_undumped(out.buf + out.len - 1));
	assert_non_null(memmem(out.buf, out.len, value, v.len));
	cf_arena_free(a);
	assert_true(wiped(out.buf, out.len));
}

/* ---- the audit event's request parameters (audit_params.c) -------------- */

/* A string literal where protobuf-c wants char *. */
#define S(lit) ((char *)(uintptr_t)(lit))

/* ${m}'s parameters are exactly ${want}. */
static void
params_are(const ProtobufCMessage *m, const char *want)
{
	struct cf_arena *a;
	const char *got;

	assert_non_null(a = cf_arena_new());
	assert_non_null(got = rpc_audit_params(a, m));
	assert_string_equal(got, want);
	cf_arena_free(a);
}

static void
test_audit_params(void **state)
{
	Coffer__V1__PutSecretValueRequest put =
	    COFFER__V1__PUT_SECRET_VALUE_REQUEST__INIT;
	Coffer__V1__ListSecretsRequest list =
	    COFFER__V1__LIST_SECRETS_REQUEST__INIT;
	Coffer__V1__TagResourceRequest tag =
	    COFFER__V1__TAG_RESOURCE_REQUEST__INIT;
	Coffer__V1__Filter f = COFFER__V1__FILTER__INIT;
	Coffer__V1__Tag t = COFFER__V1__TAG__INIT, *tp = &t;
	Coffer__V1__Filter *fp = &f;
	char *stages[] = { S("X"), S("Y") };
	char *values[] = { S("db/"), S("app") };
	uint8_t bin[] = { 'B', 'I', 'N' };

	(void)state;

	/* Values, the rotation token and bytes never; escaping is minimal. */
	put.secret_id = S("a\"b\\c\001\xc3\xa9");
	put.client_request_token = S("tok-1");
	put.secret_string = S("PLAINTEXT");
	put.has_secret_binary = 1;
	put.secret_binary.data = bin;
	put.secret_binary.len = sizeof(bin);
	put.rotation_token = S("ROTATION-CREDENTIAL");
	put.n_version_stages = 2;
	put.version_stages = stages;
	params_are(&put.base, "{\"SecretId\":\"a\\\"b\\\\c\\u0001\xc3\xa9\","
	    "\"ClientRequestToken\":\"tok-1\",\"VersionStages\":[\"X\",\"Y\"]}");

	/* Nested messages, integers, a false that was set; absent is absent. */
	list.has_include_planned_deletion = 1;
	list.include_planned_deletion = 0;
	list.has_max_results = 1;
	list.max_results = 7;
	list.next_token = S("opaque");
	f.key = S("name");
	f.n_values = 2;
	f.values = values;
	list.n_filters = 1;
	list.filters = &fp;
	params_are(&list.base, "{\"IncludePlannedDeletion\":false,"
	    "\"MaxResults\":7,\"Filters\":[{\"Key\":\"name\",\"Values\":"
	    "[\"db/\",\"app\"]}]}");
	tag.secret_id = S("s");
	t.key = S("k");
	t.value = S("v");
	tag.n_tags = 1;
	tag.tags = &tp;
	params_are(&tag.base,
	    "{\"SecretId\":\"s\",\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]}");
}

/* Long strings are cut, members that do not fit dropped: always bounded. */
static void
test_audit_params_bounded(void **state)
{
	Coffer__V1__BatchGetSecretValueRequest b =
	    COFFER__V1__BATCH_GET_SECRET_VALUE_REQUEST__INIT;
	Coffer__V1__GetSecretValueRequest g =
	    COFFER__V1__GET_SECRET_VALUE_REQUEST__INIT;
	static char id[5000], quotes[3000];
	char *ids[20];
	struct cf_arena *a;
	const char *p;
	size_t i;

	(void)state;
	assert_non_null(a = cf_arena_new());
	memset(id, 'n', sizeof(id) - 1);
	memset(quotes, '"', sizeof(quotes) - 1);

	/* One long SecretId: its first 2,048 bytes, marked. */
	g.secret_id = id;
	g.version_stage = S("AWSCURRENT");
	assert_non_null(p = rpc_audit_params(a, &g.base));
	assert_int_equal(strlen(p), strlen("{\"SecretId\":\"\",\"VersionStage\":"
	    "\"AWSCURRENT\",\"Truncated\":true}") + 2048);
	assert_non_null(strstr(p, ",\"Truncated\":true}"));

	/* Escapes count, and are never split. */
	g.secret_id = quotes;
	assert_non_null(p = rpc_audit_params(a, &g.base));
	assert_non_null(strstr(p, "\\\"\",\"VersionStage\""));
	assert_int_equal(strlen(p), strlen("{\"SecretId\":\"\",\"VersionStage\":"
	    "\"AWSCURRENT\",\"Truncated\":true}") + 2048);

	/* A list too long for the bound is left out whole. */
	for (i = 0; i < 20; i++)
		ids[i] = id;
	b.n_secret_id_list = 20;
	b.secret_id_list = ids;
	b.has_max_results = 1;
	b.max_results = 20;
	assert_non_null(p = rpc_audit_params(a, &b.base));
	assert_string_equal(p, "{\"MaxResults\":20,\"Truncated\":true}");
	assert_true(strlen(p) <= RPC_AUDIT_PARAMS_MAX);
	cf_arena_free(a);
}

/* What a call made joins its parameters last, before the mark. */
static void
test_audit_params_add(void **state)
{
	static char big[RPC_AUDIT_PARAMS_MAX - 20 + 1];
	struct cf_arena *a;
	const char *p;

	(void)state;
	assert_non_null(a = cf_arena_new());
	assert_non_null(p = rpc_audit_params_add(a, "{}", "AccessKeyId",
	    "CKIAABCDEFGHIJKLMNOP"));
	assert_string_equal(p, "{\"AccessKeyId\":\"CKIAABCDEFGHIJKLMNOP\"}");
	assert_non_null(p = rpc_audit_params_add(a, NULL, "K", "v"));
	assert_string_equal(p, "{\"K\":\"v\"}");
	assert_non_null(p = rpc_audit_params_add(a, "{\"Principal\":\"a\"}",
	    "AccessKeyId", "CKIA\"1"));
	assert_string_equal(p,
	    "{\"Principal\":\"a\",\"AccessKeyId\":\"CKIA\\\"1\"}");
	assert_non_null(p = rpc_audit_params_add(a,
	    "{\"Principal\":\"a\",\"Truncated\":true}", "K", "v"));
	assert_string_equal(p,
	    "{\"Principal\":\"a\",\"K\":\"v\",\"Truncated\":true}");
	assert_non_null(p = rpc_audit_params_add(a, "{\"Truncated\":true}",
	    "K", "v"));
	assert_string_equal(p, "{\"K\":\"v\",\"Truncated\":true}");

	/* Too long for the bound: left out, and the object marked. */
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "{\"Name\":\"", 9);
	memcpy(big + sizeof(big) - 3, "\"}", 2);
	big[sizeof(big) - 1] = '\0';
	assert_non_null(p = rpc_audit_params_add(a, big, "K", "v"));
	assert_int_equal(strncmp(p, big, strlen(big) - 1), 0);
	assert_string_equal(p + strlen(big) - 1, ",\"Truncated\":true}");
	assert_true(strlen(p) <= RPC_AUDIT_PARAMS_MAX);
	cf_arena_free(a);
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
		cmocka_unit_test(test_arena_locked),
		cmocka_unit_test(test_arena_owns_secret),
		cmocka_unit_test(test_unpack_locked),
		cmocka_unit_test(test_pack_locked),
		cmocka_unit_test(test_audit_params),
		cmocka_unit_test(test_audit_params_bounded),
		cmocka_unit_test(test_audit_params_add),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
