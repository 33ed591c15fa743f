/*
 * cf.c: shared utilities (errors, secret memory, UTF-8, PIN files).
 */
#include "cf.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const code_names[CF_ERR__COUNT] = {
	[CF_OK] = "OK",
	[CF_ERR_RESOURCE_NOT_FOUND] = "ResourceNotFoundException",
	[CF_ERR_RESOURCE_EXISTS] = "ResourceExistsException",
	[CF_ERR_INVALID_PARAMETER] = "InvalidParameterException",
	[CF_ERR_VALIDATION] = "ValidationException",
	[CF_ERR_INVALID_NEXT_TOKEN] = "InvalidNextTokenException",
	[CF_ERR_MALFORMED_POLICY] = "MalformedPolicyDocumentException",
	[CF_ERR_PUBLIC_POLICY] = "PublicPolicyException",
	[CF_ERR_INVALID_REQUEST] = "InvalidRequestException",
	[CF_ERR_PRECONDITION_NOT_MET] = "PreconditionNotMetException",
	[CF_ERR_LIMIT_EXCEEDED] = "LimitExceededException",
	[CF_ERR_THROTTLING] = "ThrottlingException",
	[CF_ERR_ACCESS_DENIED] = "AccessDeniedException",
	[CF_ERR_UNAUTHENTICATED] = "AccessDeniedException",
	[CF_ERR_ENCRYPTION_FAILURE] = "EncryptionFailure",
	[CF_ERR_DECRYPTION_FAILURE] = "DecryptionFailure",
	[CF_ERR_INTERNAL] = "InternalServiceError",
	[CF_ERR_UNAVAILABLE] = "ServiceUnavailable",
	[CF_ERR_UNIMPLEMENTED] = "NotImplemented",
	[CF_ERR_TIMEOUT] = "RequestTimeoutException",
};

void
cf_error_set(struct cf_error *err, enum cf_code code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void
cf_error_clear(struct cf_error *err)
{

	if (err == NULL)
		return;
	err->code = CF_OK;
	err->msg[0] = '\0';
}

const char *
cf_code_name(enum cf_code code)
{

	if ((int)code < 0 || code >= CF_ERR__COUNT)
		return ("InternalServiceError");
	return (code_names[code]);
}

/*
 * Locked, non-dumpable pages cost an mmap, an mlock and a madvise to make
 * and an munmap to drop; with several threads, every munmap also flushes
 * the TLBs of the other CPUs.  A value is opened on every GetSecretValue,
 * so each thread keeps a few wiped blocks of the two sizes values come in
 * (one page, and the 65,536-byte maximum plus its tag) for reuse.
 */
#define POOL_DEPTH 8
#define POOL_LARGE (65536 + 64)

struct pool {
	void *blocks[POOL_DEPTH];
	int n;
};

static __thread struct pool pool_small, pool_large;

static size_t
page_size(void)
{
	static size_t pg;

	if (pg == 0)
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return (pg);
}

/* The pool for blocks of ${cap} bytes, or NULL for odd sizes. */
static struct pool *
pool_for(size_t cap)
{
	size_t pg = page_size();

	if (cap == pg)
		return (&pool_small);
	if (cap == ((POOL_LARGE + pg - 1) / pg) * pg)
		return (&pool_large);
	return (NULL);
}

struct cf_secret *
cf_secret_new(size_t len)
{
	struct cf_secret *s;
	struct pool *pl;
	size_t pg = page_size(), cap;
	void *p;

	/* Whole pages: one, the large size, or what ${len} needs. */
	cap = len < pg ? pg : len <= POOL_LARGE ?
	    ((POOL_LARGE + pg - 1) / pg) * pg : ((len + pg) / pg) * pg;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto err0;

	/* A wiped block from this thread's pool, or fresh pages. */
	if ((pl = pool_for(cap)) != NULL && pl->n > 0)
		p = pl->blocks[--pl->n];
	else {
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			goto err1;
		/* Best effort: RLIMIT_MEMLOCK may be small. */
		(void)mlock(p, cap);
		(void)madvise(p, cap, MADV_DONTDUMP);
	}

	s->data = p;
	s->len = len;
	s->cap = cap;

	/* Success! */
	return (s);

err1:
	free(s);
err0:
	/* Failure! */
	return (NULL);
}

void
cf_secret_free(struct cf_secret *s)
{
	struct pool *pl;

	if (s == NULL)
		return;
	explicit_bzero(s->data, s->cap);
	if ((pl = pool_for(s->cap)) != NULL && pl->n < POOL_DEPTH)
		pl->blocks[pl->n++] = s->data;
	else {
		(void)munlock(s->data, s->cap);
		munmap(s->data, s->cap);
	}
	free(s);
}

void
cf_wipe_free(void *p, size_t len)
{

	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

/* Decode one code point at s[i..len); return its length or 0 if invalid. */
static size_t
utf8_step(const uint8_t *s, size_t i, size_t len)
{
	uint8_t c = s[i];
	uint32_t cp;
	size_t n, k;

	if (c < 0x80)
		return (c == 0 ? 0 : 1);
	else if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else
		return (0);
	if (i + n > len)
		return (0);
	for (k = 1; k < n; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i + k] & 0x3F);
	}
	/* Reject overlong forms, surrogates and values above U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return (0);
	return (n);
}

int
cf_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_step(s, i, len)) == 0)
			return (0);
		i += n;
	}
	return (1);
}

size_t
cf_utf8_length(const uint8_t *s, size_t len)
{
	size_t i, count = 0;

	for (i = 0; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			count++;
	return (count);
}

int
cf_read_secret_file(const char *path, struct cf_secret **out,
    struct cf_error *err)
{
	struct cf_secret *s = NULL;
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	/* Open the file and refuse one others could read. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "could not open PIN file \"%s\": %s", path, strerror(errno));
		goto err0;
	}
	if (fstat(fd, &st) == -1) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "could not stat PIN file \"%s\": %s", path, strerror(errno));
		goto err1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "PIN file \"%s\" is accessible by group or others "
		    "(mode %03o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
		goto err1;
	}

	/* Read at most 255 bytes; PINs are short. */
	if ((s = cf_secret_new(256)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}
	while (got < 255 && (n = read(fd, s->data + got, 255 - got)) > 0)
		got += (size_t)n;
	while (got > 0 && (s->data[got - 1] == '\n' || s->data[got - 1] == '\r'))
		got--;
	if (got == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "PIN file \"%s\" is empty",
		    path);
		goto err2;
	}
	s->data[got] = '\0';
	s->len = got;
	close(fd);
	*out = s;

	/* Success! */
	return (0);

err2:
	cf_secret_free(s);
err1:
	close(fd);
err0:
	/* Failure! */
	return (-1);
}

int64_t
cf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* An arena is a list of blocks; each block remembers its size for wiping. */
struct cf_arena_block {
	struct cf_arena_block *next;
	size_t size;
	struct cf_secret *secret;	/* owned secret, or NULL */
	max_align_t data[];
};

struct cf_arena {
	struct cf_arena_block *head;
};

struct cf_arena *
cf_arena_new(void)
{

	return (calloc(1, sizeof(struct cf_arena)));
}

static struct cf_arena_block *
arena_block(struct cf_arena *a, size_t n)
{
	struct cf_arena_block *b;

	if (n > SIZE_MAX - sizeof(*b))
		return (NULL);
	if ((b = calloc(1, sizeof(*b) + n)) == NULL)
		return (NULL);
	b->size = n;
	b->next = a->head;
	a->head = b;
	return (b);
}

void *
cf_arena_alloc(struct cf_arena *a, size_t n)
{
	struct cf_arena_block *b;

	if ((b = arena_block(a, n)) == NULL)
		return (NULL);
	return (b->data);
}

void *
cf_arena_memdup(struct cf_arena *a, const void *p, size_t n)
{
	uint8_t *q;

	if (n == SIZE_MAX || (q = cf_arena_alloc(a, n + 1)) == NULL)
		return (NULL);
	if (n > 0)
		memcpy(q, p, n);
	q[n] = '\0';
	return (q);
}

char *
cf_arena_strdup(struct cf_arena *a, const char *s)
{

	if (s == NULL)
		return (NULL);
	return (cf_arena_memdup(a, s, strlen(s)));
}

int
cf_arena_own_secret(struct cf_arena *a, struct cf_secret *s)
{
	struct cf_arena_block *b;

	if ((b = arena_block(a, 0)) == NULL) {
		cf_secret_free(s);
		return (-1);
	}
	b->secret = s;
	return (0);
}

void
cf_arena_free(struct cf_arena *a)
{
	struct cf_arena_block *b, *next;

	if (a == NULL)
		return;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		cf_secret_free(b->secret);
		explicit_bzero(b->data, b->size);
		free(b);
	}
	free(a);
}

int64_t
cf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
