/*
 * common_test.c: common/'s helpers that replaced per-module copies: the
 * UUID form (known answers, the version and variant bits, randomness), hex
 * round trips and the garbage each decoder must refuse, the file reader
 * (its one limit, a missing file, modes, a pipe), and the wiping frees and
 * allocator hooks that jansson and protobuf-c are given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf.h"

/*
 * free() is wrapped so that a test can see a block's bytes as it is freed:
 * set watched to the block and watched_len to its size, and the wrapper
 * records whether all of it was zero.
 */
void __real_free(void *);
void __wrap_free(void *);

static void *watched;
static size_t watched_len;
static int watched_zero = -1;		/* -1: not freed yet */

void
__wrap_free(void *p)
{
	const uint8_t *b = p;
	size_t i;

	if (p != NULL && p == watched) {
		watched_zero = 1;
		for (i = 0; i < watched_len; i++)
			if (b[i] != 0)
				watched_zero = 0;
		watched = NULL;
	}
	__real_free(p);
}

/* ---- UUIDs ---------------------------------------------------------------- */

struct uuid_case {
	uint8_t in[16];
	const char *out;
};

static void
test_uuid_format(void **state)
{
	static const struct uuid_case cases[] = {
		{ { 0 }, "00000000-0000-4000-8000-000000000000" },
		{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		  "ffffffff-ffff-4fff-bfff-ffffffffffff" },
		{ { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef },
		  "01234567-89ab-4def-8123-456789abcdef" },
		{ { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33,
		    0xc4, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb },
		  "deadbeef-0011-4233-8455-66778899aabb" },
	};
	uint8_t copy[16];
	char out[CF_UUID_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(copy, cases[i].in, sizeof(copy));
		memset(out, 'x', sizeof(out));
		cf_uuid_format(copy, out);
		assert_string_equal(out, cases[i].out);
		/* The caller's bytes are left as they were. */
		assert_memory_equal(copy, cases[i].in, sizeof(copy));
	}
}

static void
test_uuid_random(void **state)
{
	char a[CF_UUID_LEN + 1], b[CF_UUID_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(cf_uuid_random(a), CF_OK);
	assert_int_equal(cf_uuid_random(b), CF_OK);
	assert_int_equal(strlen(a), CF_UUID_LEN);
	for (i = 0; i < CF_UUID_LEN; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_int_equal(a[14], '4');			/* version 4 */
	assert_non_null(strchr("89ab", a[19]));		/* RFC 4122 variant */
	assert_string_not_equal(a, b);
}

/* ---- hex -------------------------------------------------------------------- */

static void
test_hex_roundtrip(void **state)
{
	uint8_t all[256], back[256];
	char text[2 * sizeof(all) + 1], upper[2 * sizeof(all) + 1];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;

	/* Every byte value, at every length up to all of them. */
	for (n = 0; n <= sizeof(all); n += n < 4 ? 1 : 63) {
		cf_hex_encode(all + sizeof(all) - n, n, text);
		assert_int_equal(strlen(text), 2 * n);
		memset(back, 0xAA, sizeof(back));
		assert_int_equal(cf_hex_decode(text, 2 * n, CF_HEX_LOWER, back,
		    n), CF_HEX_OK);
		assert_memory_equal(back, all + sizeof(all) - n, n);
	}
	cf_hex_encode(all, sizeof(all), text);
	assert_memory_equal(text, "000102", 6);
	assert_string_equal(text + 2 * 250, "fafbfcfdfeff");

	/* Upper case only where the caller accepts it. */
	for (i = 0; text[i] != '\0'; i++)
		upper[i] = text[i] >= 'a' ? (char)(text[i] - 'a' + 'A') :
		    text[i];
	upper[i] = '\0';
	assert_int_equal(cf_hex_decode(upper, strlen(upper), CF_HEX_LOWER,
	    back, sizeof(back)), CF_HEX_BAD_DIGIT);
	assert_int_equal(cf_hex_decode(upper, strlen(upper), CF_HEX_ANY_CASE,
	    back, sizeof(back)), CF_HEX_OK);
	assert_memory_equal(back, all, sizeof(all));
}

struct hex_bad {
	const char *in;
	size_t n;			/* bytes asked for */
	enum cf_hex_result want;
};

static void
test_hex_bad(void **state)
{
	/* What sscanf("%2x") let through before, and the rest. */
	static const struct hex_bad cases[] = {
		{ "", 1, CF_HEX_BAD_LENGTH },
		{ "a", 1, CF_HEX_BAD_LENGTH },
		{ "abc", 1, CF_HEX_BAD_LENGTH },
		{ "abcd", 1, CF_HEX_BAD_LENGTH },
		{ "ab", 2, CF_HEX_BAD_LENGTH },
		{ " a", 1, CF_HEX_BAD_DIGIT },
		{ "a ", 1, CF_HEX_BAD_DIGIT },
		{ "+a", 1, CF_HEX_BAD_DIGIT },
		{ "-1", 1, CF_HEX_BAD_DIGIT },
		{ "0x", 1, CF_HEX_BAD_DIGIT },
		{ "0x00", 2, CF_HEX_BAD_DIGIT },
		{ "g0", 1, CF_HEX_BAD_DIGIT },
		{ "0g", 1, CF_HEX_BAD_DIGIT },
		{ "\xc3\xa9", 1, CF_HEX_BAD_DIGIT },
		{ "00:1", 2, CF_HEX_BAD_DIGIT },
	};
	uint8_t out[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(cf_hex_decode(cases[i].in, strlen(cases[i].in),
		    CF_HEX_ANY_CASE, out, cases[i].n), cases[i].want);

	/* A NUL inside the counted characters is no digit either. */
	assert_int_equal(cf_hex_decode("a\0", 2, CF_HEX_ANY_CASE, out, 1),
	    CF_HEX_BAD_DIGIT);

	/* Zero bytes from zero characters. */
	assert_int_equal(cf_hex_decode("", 0, CF_HEX_LOWER, out, 0),
	    CF_HEX_OK);
}

/* ---- the file reader --------------------------------------------------------- */

static char dir[] = "/tmp/common_test.XXXXXX";

/* Write ${n} bytes of ${c} to ${name} in the test directory, mode ${mode}. */
static const char *
make_file(const char *name, int c, size_t n, mode_t mode)
{
	static char path[256];
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < n; i++)
		assert_int_not_equal(fputc(c, f), EOF);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return (path);
}

static void
test_read_file(void **state)
{
	static const char *const made[] = { "small.pem", "max.pem",
	    "over.pem", "empty.pem", "loose.key", "shared.conf" };
	struct cf_error err = { CF_OK, "" };
	struct cf_secret *s = NULL;
	const char *path;
	char name[64];
	size_t i;
	int fds[2];

	(void)state;
	assert_non_null(mkdtemp(dir));

	/* A small file: its bytes and a NUL, in secret memory. */
	path = make_file("small.pem", 'k', 3, 0600);
	assert_int_equal(cf_read_file(path, "tls_key", CF_FILE_PRIVATE, &s,
	    &err), CF_OK);
	assert_int_equal(s->len, 3);
	assert_string_equal((const char *)s->data, "kkk");
	cf_secret_free(s);

	/* The limit: CF_FILE_MAX bytes are read, one more is refused. */
	path = make_file("max.pem", 'a', CF_FILE_MAX, 0644);
	assert_int_equal(cf_read_file(path, "CA bundle", CF_FILE_ANY_MODE, &s,
	    &err), CF_OK);
	assert_int_equal(s->len, CF_FILE_MAX);
	assert_int_equal(s->data[CF_FILE_MAX - 1], 'a');
	assert_int_equal(s->data[CF_FILE_MAX], '\0');
	cf_secret_free(s);
	s = NULL;
	path = make_file("over.pem", 'a', CF_FILE_MAX + 1, 0644);
	assert_int_equal(cf_read_file(path, "CA bundle", CF_FILE_ANY_MODE, &s,
	    &err), CF_ERR_INVALID_PARAMETER);
	assert_null(s);
	assert_non_null(strstr(err.msg, "is empty or larger than 1 MiB"));

	/* Empty. */
	path = make_file("empty.pem", 'a', 0, 0600);
	assert_int_equal(cf_read_file(path, "tls_cert", CF_FILE_ANY_MODE, &s,
	    &err), CF_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, "is empty or larger than 1 MiB"));

	/* Missing. */
	assert_int_equal(cf_read_file("/nonexistent/ca.pem", "tls_client_ca",
	    CF_FILE_ANY_MODE, &s, &err), CF_ERR_UNAVAILABLE);
	assert_string_equal(err.msg, "could not open tls_client_ca "
	    "\"/nonexistent/ca.pem\": No such file or directory");

	/* Modes: a key others may read, a config others may write. */
	path = make_file("loose.key", 'k', 10, 0640);
	assert_int_equal(cf_read_file(path, "tls_key", CF_FILE_PRIVATE, &s,
	    &err), CF_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "is accessible by group or others "
	    "(mode 640): chmod 600 it"));
	assert_int_equal(cf_read_file(path, "tls_key", CF_FILE_NOT_WRITABLE,
	    &s, &err), CF_OK);
	cf_secret_free(s);
	path = make_file("shared.conf", 'c', 10, 0664);
	assert_int_equal(cf_read_file(path, "config file",
	    CF_FILE_NOT_WRITABLE, &s, &err), CF_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "is writable by group or others"));
	assert_int_equal(cf_read_file(path, "client key", CF_FILE_ANY_MODE,
	    &s, &err), CF_OK);
	cf_secret_free(s);

	/* A pipe, whose size is not known: read until it is closed. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "-----BEGIN-----\n", 16), 16);
	assert_int_equal(close(fds[1]), 0);
	snprintf(name, sizeof(name), "/dev/fd/%d", fds[0]);
	assert_int_equal(cf_read_file(name, "CA bundle", CF_FILE_ANY_MODE, &s,
	    NULL), CF_OK);
	assert_int_equal(s->len, 16);
	assert_string_equal((const char *)s->data, "-----BEGIN-----\n");
	cf_secret_free(s);
	assert_int_equal(close(fds[0]), 0);

	/* A directory cannot be read. */
	assert_int_equal(cf_read_file(dir, "tls_cert", CF_FILE_ANY_MODE, &s,
	    &err), CF_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "could not read tls_cert"));

	/* Clean up. */
	for (i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		snprintf(name, sizeof(name), "%s/%s", dir, made[i]);
		assert_int_equal(unlink(name), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* ---- wiping frees ------------------------------------------------------------ */

/* Fill ${n} bytes at ${p} and watch the block. */
static void
watch(void *p, size_t n)
{

	memset(p, 0x5A, n);
	watched = p;
	watched_len = n;
	watched_zero = -1;
}

static void
test_wipe_free(void **state)
{
	struct cf_arena *a;
	void *p;

	(void)state;

	/* The whole block, its length not given. */
	assert_non_null(p = cf_heap_alloc(100));
	watch(p, 100);
	cf_heap_wipe_free(p);
	assert_int_equal(watched_zero, 1);

	/* The length given. */
	assert_non_null(p = malloc(64));
	watch(p, 64);
	cf_wipe_free(p, 64);
	assert_int_equal(watched_zero, 1);

	/* Through the protobuf-c shaped hooks; 0 bytes is still a block. */
	assert_non_null(p = cf_heap_hook_alloc(NULL, 0));
	cf_heap_hook_free(NULL, p);
	assert_non_null(p = cf_heap_hook_alloc(NULL, 33));
	watch(p, 33);
	cf_heap_hook_free(NULL, p);
	assert_int_equal(watched_zero, 1);

	/* NULL does nothing. */
	cf_heap_wipe_free(NULL);
	cf_wipe_free(NULL, 10);
	cf_heap_hook_free(NULL, NULL);

	/* The arena hooks allocate from the arena and free nothing. */
	assert_non_null(a = cf_arena_new());
	assert_non_null(p = cf_arena_hook_alloc(a, 40));
	memset(p, 0x5A, 40);
	cf_arena_hook_free(a, p);
	assert_int_equal(((uint8_t *)p)[39], 0x5A);
	cf_arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_uuid_random),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_hex_bad),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_wipe_free),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
