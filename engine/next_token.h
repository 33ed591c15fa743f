/*
 * next_token.h: the opaque list cursors (NextToken) of every listing
 * (next_token.c, library coffer_next_token).  It needs OpenSSL and common/
 * only, nothing else of the engine, so that the token fuzzer links it
 * alone.
 */
#ifndef COFFER_NEXT_TOKEN_H
#define COFFER_NEXT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf.h"

/*
 * engine_next_token_seal(arena, server_key, kind, ctx, ctx_len, us, key) /
 * open(tok, server_key, kind, ctx, ctx_len, us, key, err): the opaque list
 * cursor, AES-256-SIV under a key HKDF derives from the 32-byte
 * ${server_key} all servers share, bound to ${kind} and the ${ctx_len}
 * bytes of ${ctx} (who asks, and for what: a token is refused in any other
 * context).  ${kind} is 'a'/'d' (ListSecrets ascending/descending, key a
 * uuid), 'v' (ListSecretVersionIds, key a version id), 'e' (audit
 * events), 'V' (VerifyAuditLog, key a chain id) or 'i'
 * (ListIdentityPolicies, key a digest of the last row's).  The same cursor
 * in the same context is the same token.  seal
 * returns the token in ${arena} (NULL on failure); ${key} receives at most
 * 64 characters and a NUL.  open returns 0, or -1 with
 * InvalidNextTokenException for anything edited, forged, of another kind
 * or context.  encode/decode are the same with no context.
 */
#define ENGINE_TOKEN_KEY_LEN 32
char *engine_next_token_seal(struct cf_arena *, const uint8_t *, char,
    const void *, size_t, int64_t, const char *);
int engine_next_token_open(const char *, const uint8_t *, char, const void *,
    size_t, int64_t *, char *, struct cf_error *);
char *engine_next_token_encode(struct cf_arena *, const uint8_t *, char,
    int64_t, const char *);
int engine_next_token_decode(const char *, const uint8_t *, char, int64_t *,
    char *, struct cf_error *);

/*
 * engine_next_token_digest(key, len, hex) / digest_equal(a, b): a cursor
 * key too long to seal whole (ListIdentityPolicies' principal and name) is
 * sealed as its SHA-256, ${hex} (64 lower-case digits and a NUL); a
 * decoded key is checked against it in constant time.  digest returns
 * ENGINE_DIGEST_OK or ENGINE_DIGEST_FAILED (OpenSSL could not hash);
 * digest_equal tells whether the 64 digits at ${a} and ${b} are equal.
 */
#define ENGINE_TOKEN_DIGEST_HEX 64
enum engine_digest_result { ENGINE_DIGEST_OK, ENGINE_DIGEST_FAILED };
enum engine_digest_result engine_next_token_digest(const void *, size_t,
    char[ENGINE_TOKEN_DIGEST_HEX + 1]);
bool engine_next_token_digest_equal(const char *, const char *);

#endif /* !COFFER_NEXT_TOKEN_H */
