/*
 * cf.h: the few utilities every Coffer module shares.
 *
 * - struct cf_error: error detail owned by the caller, filled where the error
 *   is first seen; its code maps one to one onto an AWS exception name.
 * - struct cf_secret: memory for plaintext values, PINs and key bytes; it is
 *   locked in RAM, excluded from core dumps and wiped before it is freed.
 * - struct cf_arena: per-call memory of the same kind, freed as a unit.
 * - cf_wipe_free(), cf_heap_wipe_free(): explicit_bzero + free for heap
 *   buffers that touched a secret but did not come from cf_secret_new(),
 *   and the allocator hooks jansson and protobuf-c get (cf_alloc.c).
 * - UUIDs and hex (cf_text.c): the one writer and reader of each form.
 */
#ifndef COFFER_CF_H
#define COFFER_CF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define CF_MUSTCHECK __attribute__((warn_unused_result))
#define CF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Error codes: one per AWS exception name, plus transport-level conditions. */
enum cf_code {
	CF_OK = 0,
	CF_ERR_RESOURCE_NOT_FOUND,	/* ResourceNotFoundException */
	CF_ERR_RESOURCE_EXISTS,		/* ResourceExistsException */
	CF_ERR_INVALID_PARAMETER,	/* InvalidParameterException */
	CF_ERR_VALIDATION,		/* ValidationException */
	CF_ERR_INVALID_NEXT_TOKEN,	/* InvalidNextTokenException */
	CF_ERR_MALFORMED_POLICY,	/* MalformedPolicyDocumentException */
	CF_ERR_PUBLIC_POLICY,		/* PublicPolicyException */
	CF_ERR_INVALID_REQUEST,		/* InvalidRequestException */
	CF_ERR_PRECONDITION_NOT_MET,	/* PreconditionNotMetException */
	CF_ERR_LIMIT_EXCEEDED,		/* LimitExceededException */
	CF_ERR_THROTTLING,		/* ThrottlingException */
	CF_ERR_ACCESS_DENIED,		/* AccessDeniedException */
	CF_ERR_UNAUTHENTICATED,		/* AccessDeniedException, no identity */
	CF_ERR_ENCRYPTION_FAILURE,	/* EncryptionFailure */
	CF_ERR_DECRYPTION_FAILURE,	/* DecryptionFailure */
	CF_ERR_INTERNAL,		/* InternalServiceError */
	CF_ERR_UNAVAILABLE,		/* ServiceUnavailable: database or token down */
	CF_ERR_UNIMPLEMENTED,		/* operation not built */
	CF_ERR_TIMEOUT,			/* RequestTimeoutException: over its bound */
	/*
	 * AWS's JSON protocol (awsapi/): a body that is not the operation's
	 * shape, a target that names no operation, and the four ways a
	 * Signature Version 4 request fails authentication.
	 */
	CF_ERR_SERIALIZATION,		/* SerializationException */
	CF_ERR_UNKNOWN_OPERATION,	/* UnknownOperationException */
	CF_ERR_MISSING_AUTH,		/* MissingAuthenticationTokenException */
	CF_ERR_INCOMPLETE_SIGNATURE,	/* IncompleteSignatureException */
	CF_ERR_INVALID_SIGNATURE,	/* InvalidSignatureException */
	CF_ERR_UNRECOGNIZED_CLIENT,	/* UnrecognizedClientException */
	CF_ERR__COUNT
};

struct cf_error {
	enum cf_code code;
	char msg[512];
};

/*
 * cf_error_set(err, code, fmt, ...):
 * Set ${err} to ${code} with a printf-formatted message (truncated to fit).
 * ${err} may be NULL.  Never pass secret material in the message.
 */
void cf_error_set(struct cf_error *, enum cf_code, const char *, ...)
    CF_PRINTF(3, 4);

/* cf_error_clear(err): reset ${err} to CF_OK with an empty message. */
void cf_error_clear(struct cf_error *);

/*
 * cf_code_name(code):
 * The AWS exception name for ${code} ("ResourceNotFoundException"), or "OK".
 */
const char *cf_code_name(enum cf_code);

/*
 * Secret memory.  cf_secret_new(len) returns a zeroed buffer of ${len} bytes
 * (len may be 0) that is mlock'd where the system allows and marked
 * MADV_DONTDUMP; NULL on allocation failure.  cf_secret_free() wipes it with
 * explicit_bzero and frees it; cf_secret_free(NULL) does nothing.
 * ${len} is the length of the payload; callers may shrink it, never grow it.
 * Locking is best effort: when RLIMIT_MEMLOCK refuses, the memory is used
 * unlocked (still never dumped, still wiped) and one warning goes to stderr.
 * Thread-safe; a buffer may be freed by another thread than made it.
 */
struct cf_secret {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct cf_secret *cf_secret_new(size_t) CF_MUSTCHECK;
void cf_secret_free(struct cf_secret *);

/*
 * Heap memory that touched a secret (cf_alloc.c).
 *
 * cf_wipe_free(p, len): explicit_bzero ${len} bytes at ${p}, then free(p).
 * cf_heap_wipe_free(p): the same for the whole heap block ${p} (its usable
 * size), for blocks whose length is not at hand; jansson's free.
 * cf_heap_alloc(n): malloc, with a distinct pointer for 0 bytes; jansson's
 * malloc.  Each of them does nothing with NULL.
 *
 * Hooks for allocator tables that pass a context first (protobuf-c's
 * ProtobufCAllocator): cf_heap_hook_alloc/cf_heap_hook_free are the two
 * above, the context ignored; cf_arena_hook_alloc/cf_arena_hook_free
 * allocate from the struct cf_arena that is the context and free nothing
 * (the arena is wiped and freed as a unit).
 */
void cf_wipe_free(void *, size_t);
void cf_heap_wipe_free(void *);
void *cf_heap_alloc(size_t);
void *cf_heap_hook_alloc(void *, size_t);
void cf_heap_hook_free(void *, void *);
void *cf_arena_hook_alloc(void *, size_t);
void cf_arena_hook_free(void *, void *);

/*
 * cf_utf8_valid(s, len):
 * Nonzero if the ${len} bytes at ${s} are well-formed UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF) with no NUL byte.
 */
int cf_utf8_valid(const uint8_t *, size_t);

/*
 * cf_utf8_length(s, len):
 * The number of Unicode code points in ${len} bytes of valid UTF-8.
 */
size_t cf_utf8_length(const uint8_t *, size_t);

/*
 * Files (cf_file.c).
 */

/* What cf_open_restricted and cf_read_file refuse. */
enum cf_file_access {
	CF_FILE_PRIVATE,	/* any access by group or others (keys, PINs) */
	CF_FILE_NOT_WRITABLE,	/* write access by group or others (config) */
	CF_FILE_ANY_MODE	/* nothing (the CLI's own TLS files, as before) */
};

/*
 * cf_open_restricted(path, what, access, err):
 * Open ${path} read-only, refusing a file whose mode grants group or
 * others what ${access} forbids.  ${what} names the file in the error
 * ("PIN file", "tls_key").  Returns the descriptor (the caller closes
 * it), or -1 with ${err} set (CF_ERR_UNAVAILABLE).
 */
int cf_open_restricted(const char *, const char *, enum cf_file_access,
    struct cf_error *) CF_MUSTCHECK;

/*
 * cf_read_secret_file(path, out, err):
 * Read a small secret (a PIN) from ${path}, refusing a file that is readable
 * by group or others.  A trailing newline is dropped.  On success *out holds
 * a NUL-terminated copy in secret memory.  Returns 0 or -1 with ${err} set.
 */
int cf_read_secret_file(const char *, struct cf_secret **, struct cf_error *)
    CF_MUSTCHECK;

/* The largest file cf_read_file reads: 1 MiB, ample for a PEM bundle. */
#define CF_FILE_MAX (1 << 20)

/*
 * cf_read_file(path, what, access, out, err):
 * All of ${path} (a PEM key, certificate or CA bundle; a pipe will do),
 * opened as cf_open_restricted(path, what, access, err) opens it, into
 * secret memory: *out holds its bytes ((*out)->len of them) and a NUL, and
 * the caller frees it with cf_secret_free().  An empty file, or one larger
 * than CF_FILE_MAX bytes, is refused.  Returns CF_OK, or the code also set
 * in ${err} (may be NULL): CF_ERR_UNAVAILABLE when the file cannot be
 * opened or read or its mode is refused, CF_ERR_INVALID_PARAMETER when it
 * is empty or too large, CF_ERR_INTERNAL when out of memory.
 */
enum cf_code cf_read_file(const char *, const char *, enum cf_file_access,
    struct cf_secret **, struct cf_error *) CF_MUSTCHECK;

/*
 * Per-call arena.  Everything a request allocates (the request and its
 * decoded message, strings of a response, lists, the packed response) comes
 * from one arena that is wiped and freed as a unit when the call ends, so
 * plaintext copies cannot outlive the call.  An arena is secret memory, as
 * above: chunks of locked, MADV_DONTDUMP pages (16 KiB, then larger).
 *
 * cf_arena_new() returns an empty arena or NULL.  cf_arena_alloc(a, n)
 * returns ${n} zeroed bytes aligned for any type (NULL on failure).
 * cf_arena_strdup and cf_arena_memdup copy (memdup adds a NUL after ${n}
 * bytes).  cf_arena_own_secret(a, s) makes the arena cf_secret_free(${s})
 * when it is freed (returns 0, or -1 after freeing ${s} itself).
 * cf_arena_free(a) wipes every byte handed out with explicit_bzero and
 * frees the arena; NULL does nothing.  An arena is used by one thread at a
 * time, and may be freed by any.
 */
struct cf_arena;

struct cf_arena *cf_arena_new(void) CF_MUSTCHECK;
void *cf_arena_alloc(struct cf_arena *, size_t) CF_MUSTCHECK;
char *cf_arena_strdup(struct cf_arena *, const char *) CF_MUSTCHECK;
void *cf_arena_memdup(struct cf_arena *, const void *, size_t) CF_MUSTCHECK;
int cf_arena_own_secret(struct cf_arena *, struct cf_secret *) CF_MUSTCHECK;
void cf_arena_free(struct cf_arena *);

/*
 * Text forms of bytes (cf_text.c).
 *
 * cf_uuid_format(rnd, out):
 * The 16 random bytes at ${rnd} as a version 4 UUID: the version and
 * variant bits forced (${rnd} itself is not changed), in lower-case
 * canonical form (8-4-4-4-12), with a NUL, in ${out}.
 *
 * cf_uuid_random(out):
 * The same from the kernel's generator (getrandom).  Returns CF_OK, or
 * CF_ERR_UNAVAILABLE if the kernel gives no random bytes.  Modules with a
 * token draw their bytes there instead and call cf_uuid_format.
 */
#define CF_UUID_LEN 36

void cf_uuid_format(const uint8_t[16], char[CF_UUID_LEN + 1]);
enum cf_code cf_uuid_random(char[CF_UUID_LEN + 1]) CF_MUSTCHECK;

/*
 * cf_hex_encode(p, n, out):
 * The ${n} bytes at ${p} as 2n lower-case hex digits and a NUL in ${out},
 * which holds 2n + 1 bytes.
 *
 * cf_hex_decode(s, len, accept, out, n):
 * Exactly ${n} bytes into ${out} from the ${len} characters at ${s}, which
 * must be 2n hex digits of the case ${accept} allows and nothing else (no
 * sign, space, "0x" or NUL).  Returns CF_HEX_OK, or why not (${out} may
 * then be partly written).
 */
enum cf_hex_case {
	CF_HEX_LOWER,		/* only what cf_hex_encode writes */
	CF_HEX_ANY_CASE		/* upper-case digits too */
};

enum cf_hex_result {
	CF_HEX_OK = 0,
	CF_HEX_BAD_LENGTH,	/* not two characters per byte */
	CF_HEX_BAD_DIGIT	/* a character that is no hex digit */
};

void cf_hex_encode(const uint8_t *, size_t, char *);
enum cf_hex_result cf_hex_decode(const char *, size_t, enum cf_hex_case,
    uint8_t *, size_t) CF_MUSTCHECK;

/* cf_now_ms(): wall-clock milliseconds since the Unix epoch. */
int64_t cf_now_ms(void);

/*
 * cf_listen_address(listen, what, ss, err) (cf_net.c): "HOST:PORT" or
 * "[V6]:PORT" (a numeric port) as a socket address to bind.  0, or -1
 * with ${err} naming the configuration key ${what}.
 */
struct sockaddr_storage;
int cf_listen_address(const char *, const char *, struct sockaddr_storage *,
    struct cf_error *) CF_MUSTCHECK;

/* cf_mono_ms(), cf_mono_us(): milli- and microseconds of a clock that never
 * jumps (for intervals). */
int64_t cf_mono_ms(void);
int64_t cf_mono_us(void);

#endif /* !COFFER_CF_H */
