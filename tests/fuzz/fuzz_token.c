/*
 * fuzz_token.c: libFuzzer target for the NextToken decoder, which parses
 * whatever a client sends back as a list cursor.  Whatever it accepts must
 * have carried a valid MAC, so a fuzzer (without the key) must never get
 * one accepted: that is checked too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[ENGINE_TOKEN_KEY_LEN] = { 7 };
	struct cf_error err;
	char *tok, out[65];
	int64_t us;
	const char kinds[] = "adv";

	if (size < 1 || (tok = malloc(size)) == NULL)
		return (0);
	memcpy(tok, data + 1, size - 1);
	tok[size - 1] = '\0';
	if (engine_next_token_decode(tok, key, kinds[data[0] % 3], &us, out,
	    &err) == 0)
		abort();	/* a forged token was accepted */
	free(tok);
	return (0);
}
