/*
 * cf.c: shared utilities (errors, secret memory and per-call arenas of
 * it, UTF-8, clocks).
 */
#include "cf.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	[CF_ERR_SERIALIZATION] = "SerializationException",
	[CF_ERR_UNKNOWN_OPERATION] = "UnknownOperationException",
	[CF_ERR_MISSING_AUTH] = "MissingAuthenticationTokenException",
	[CF_ERR_INCOMPLETE_SIGNATURE] = "IncompleteSignatureException",
	[CF_ERR_INVALID_SIGNATURE] = "InvalidSignatureException",
	[CF_ERR_UNRECOGNIZED_CLIENT] = "UnrecognizedClientException",
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
 * the TLBs of the other CPUs.  Every call takes an arena of such pages and
 * a GetSecretValue a value block too, and the thread that frees them is
 * often not the one that took them (gRPC releases a response from its own
 * threads), so one process-wide pool per block size keeps wiped blocks for
 * reuse: one page (small secrets), an arena chunk, and the 65,536-byte
 * maximum value plus its tag.  What the pools hold stays locked: at most
 * POOL_SMALL_DEPTH pages + POOL_CHUNK_DEPTH chunks + POOL_LARGE_DEPTH large
 * blocks, about 4.2 MiB with 4 KiB pages.  A GetSecretValue of a small
 * value holds three pages until its reply is sent (the value, its copy in
 * the response, the packed response), and a worker takes up to 16 reads
 * together (rpc/server.c), so the page pool is deep enough for 64 such
 * reads: at 32 pages, one read in six made and dropped a page
 * (docs/performance.md).  A large value takes three large blocks; an
 * arena of a typical call fits in one chunk.
 */
#define POOL_LARGE (65536 + 64)
#define ARENA_CHUNK 16384
#define POOL_SMALL_DEPTH 256
#define POOL_CHUNK_DEPTH 64
#define POOL_LARGE_DEPTH 32
#define POOL_MAX_DEPTH 256	/* the deepest of the three */

struct pool {
	int depth;
	int n;
	void *blocks[POOL_MAX_DEPTH];
};

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct pool pool_small = { POOL_SMALL_DEPTH, 0, { NULL } };
static struct pool pool_chunk = { POOL_CHUNK_DEPTH, 0, { NULL } };
static struct pool pool_large = { POOL_LARGE_DEPTH, 0, { NULL } };
static atomic_flag lock_warned = ATOMIC_FLAG_INIT;

/*
 * AddressSanitizer cannot see inside an arena chunk: the unused part of a
 * chunk and the gap after each allocation are poisoned so that an overrun
 * is still reported.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CF_ASAN 1
#endif
#endif
#ifdef CF_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define REDZONE 16
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define REDZONE 0
#endif

static size_t
page_size(void)
{
	static size_t pg;

	if (pg == 0)
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return (pg);
}

/* ${n} rounded up to whole pages; 0 on overflow. */
static size_t
round_pages(size_t n)
{
	size_t pg = page_size();

	if (n > SIZE_MAX - pg)
		return (0);
	return (((n + pg - 1) / pg) * pg);
}

/* The pool for blocks of ${cap} bytes, or NULL for odd sizes. */
static struct pool *
pool_for(size_t cap)
{

	if (cap == page_size())
		return (&pool_small);
	if (cap == round_pages(ARENA_CHUNK))
		return (&pool_chunk);
	if (cap == round_pages(POOL_LARGE))
		return (&pool_large);
	return (NULL);
}

/*
 * ${cap} bytes (whole pages) of zeroed, locked, non-dumpable memory: a
 * wiped block from the pool, or fresh pages.  Locking is best effort, as
 * RLIMIT_MEMLOCK may be small: the first failure is reported on stderr
 * once, and the memory is used unlocked (still wiped and never dumped).
 */
static void *
pages_get(size_t cap)
{
	struct pool *pl;
	void *p = NULL;
	int e;

	/* A block from the pool. */
	if ((pl = pool_for(cap)) != NULL) {
		pthread_mutex_lock(&pool_mutex);
		if (pl->n > 0)
			p = pl->blocks[--pl->n];
		pthread_mutex_unlock(&pool_mutex);
		if (p != NULL)
			return (p);
	}

	/* Fresh pages. */
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return (NULL);
	if (mlock(p, cap) != 0 && !atomic_flag_test_and_set(&lock_warned)) {
		e = errno;
		fprintf(stderr, "warning: could not lock secret memory in RAM: "
		    "%s; plaintext may reach swap (raise RLIMIT_MEMLOCK, "
		    "systemd LimitMEMLOCK=)\n", strerror(e));
	}
	(void)madvise(p, cap, MADV_DONTDUMP);
	return (p);
}

/* Wipe the first ${used} bytes of the ${cap}-byte block ${p}; keep or drop it. */
static void
pages_put(void *p, size_t cap, size_t used)
{
	struct pool *pl;
	int kept = 0;

	UNPOISON(p, cap);
	explicit_bzero(p, used);
	if ((pl = pool_for(cap)) != NULL) {
		pthread_mutex_lock(&pool_mutex);
		if (pl->n < pl->depth) {
			pl->blocks[pl->n++] = p;
			kept = 1;
		}
		pthread_mutex_unlock(&pool_mutex);
	}
	if (!kept) {
		(void)munlock(p, cap);
		munmap(p, cap);
	}
}

struct cf_secret *
cf_secret_new(size_t len)
{
	struct cf_secret *s;
	size_t pg = page_size(), cap;

	/* Whole pages: one, the large size, or what ${len} needs. */
	cap = len < pg ? pg : len <= POOL_LARGE ? round_pages(POOL_LARGE) :
	    round_pages(len + 1);
	if (cap == 0 || (s = calloc(1, sizeof(*s))) == NULL)
		goto err0;
	if ((s->data = pages_get(cap)) == NULL)
		goto err1;
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

	if (s == NULL)
		return;
	pages_put(s->data, s->cap, s->cap);
	free(s);
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

int64_t
cf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * An arena is a list of chunks of secret pages (pages_get), each starting
 * with its header; allocations are carved from the newest chunk, and the
 * arena's own struct from its first.  Chunks come from the pool zeroed, and
 * carved memory is never reused within an arena, so allocations are zero
 * without a memset; on free, only the carved part of each chunk is wiped.
 */
#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & \
	~(alignof(max_align_t) - 1))

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;			/* bytes in the chunk, header included */
	size_t used;			/* bytes carved, header included */
};

struct arena_owned {
	struct arena_owned *next;
	struct cf_secret *secret;
};

struct cf_arena {
	struct arena_chunk *head;	/* newest chunk first */
	struct arena_owned *owned;
};

#define CHUNK_HEADER ALIGN_UP(sizeof(struct arena_chunk))

/* A new chunk with room for ${n} bytes (n already aligned), or NULL. */
static struct arena_chunk *
arena_chunk_new(size_t n)
{
	struct arena_chunk *k;
	size_t need, cap;

	/* The standard chunk, a large block, or pages of its own. */
	if (n > SIZE_MAX - CHUNK_HEADER - REDZONE)
		return (NULL);
	need = CHUNK_HEADER + n + REDZONE;
	cap = need <= round_pages(ARENA_CHUNK) ? round_pages(ARENA_CHUNK) :
	    need <= round_pages(POOL_LARGE) ? round_pages(POOL_LARGE) :
	    round_pages(need);
	if (cap == 0 || (k = pages_get(cap)) == NULL)
		return (NULL);
	k->cap = cap;
	k->used = CHUNK_HEADER;
	POISON((uint8_t *)k + CHUNK_HEADER, cap - CHUNK_HEADER);
	return (k);
}

/* Carve ${n} zeroed bytes (n already aligned) from chunk ${k}. */
static void *
arena_carve(struct arena_chunk *k, size_t n)
{
	uint8_t *p = (uint8_t *)k + k->used;

	k->used += ALIGN_UP(n + REDZONE);
	UNPOISON(p, n);
	return (p);
}

struct cf_arena *
cf_arena_new(void)
{
	struct arena_chunk *k;
	struct cf_arena *a;

	if ((k = arena_chunk_new(sizeof(*a))) == NULL)
		return (NULL);
	a = arena_carve(k, sizeof(*a));
	a->head = k;
	return (a);
}

void *
cf_arena_alloc(struct cf_arena *a, size_t n)
{
	struct arena_chunk *k = a->head;

	/* Zero bytes still get a distinct pointer, as calloc gives. */
	if (n > SIZE_MAX - alignof(max_align_t) - REDZONE)
		return (NULL);
	n = ALIGN_UP(n > 0 ? n : 1);

	/* From the newest chunk if it has room. */
	if (k->cap - k->used >= n + REDZONE)
		return (arena_carve(k, n));

	/*
	 * A new chunk.  One made for a big allocation that leaves less room
	 * than the current chunk goes behind it, so small allocations still
	 * fill the current one.
	 */
	if ((k = arena_chunk_new(n)) == NULL)
		return (NULL);
	if (k->cap - k->used - ALIGN_UP(n + REDZONE) <
	    a->head->cap - a->head->used) {
		k->next = a->head->next;
		a->head->next = k;
	} else {
		k->next = a->head;
		a->head = k;
	}
	return (arena_carve(k, n));
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
	struct arena_owned *o;

	if ((o = cf_arena_alloc(a, sizeof(*o))) == NULL) {
		cf_secret_free(s);
		return (-1);
	}
	o->secret = s;
	o->next = a->owned;
	a->owned = o;
	return (0);
}

void
cf_arena_free(struct cf_arena *a)
{
	struct arena_chunk *k, *next;
	struct arena_owned *o;

	if (a == NULL)
		return;

	/* The secrets it owns, then every chunk (the arena is in the last). */
	for (o = a->owned; o != NULL; o = o->next)
		cf_secret_free(o->secret);
	for (k = a->head; k != NULL; k = next) {
		next = k->next;
		pages_put(k, k->cap, k->used);
	}
}


int64_t
cf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
cf_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}
