/*
 * fuzz_token.c: libFuzzer target for the NextToken decoder, which parses
 * whatever a client sends back as a list cursor.  Whatever it accepts must
 * have been sealed (AES-256-SIV) under the server key, so a fuzzer (without
 * the key) must never get one accepted, with or without a context (the
 * principal and filters ListSecrets binds its cursors to): that is checked
 * too.  The first byte picks the kind and the context.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "next_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[ENGINE_TOKEN_KEY_LEN] = { 7 };
	static const char ctx[] = "\0\0\0\5alice\0\0\0\4live";
	struct cf_error err;
	char *tok, out[65];
	int64_t us;
	/* Every kind of next_token.h: ListSecrets both orders, versions,
	 * audit events, VerifyAuditLog, ListIdentityPolicies. */
	const char kinds[] = "adveVi";
	char kind;
	int rc;

	if (size < 1 || (tok = malloc(size)) == NULL)
		return (0);
	memcpy(tok, data + 1, size - 1);
	tok[size - 1] = '\0';
	kind = kinds[(data[0] & 0x7f) % (sizeof(kinds) - 1)];
	if (data[0] & 0x80)
		rc = engine_next_token_open(tok, key, kind, ctx,
		    sizeof(ctx) - 1, &us, out, &err);
	else
		rc = engine_next_token_decode(tok, key, kind, &us, out, &err);
	if (rc == 0)
		abort();	/* a forged token was accepted */
	free(tok);
	return (0);
}
