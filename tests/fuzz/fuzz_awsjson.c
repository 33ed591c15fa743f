/*
 * fuzz_awsjson.c: libFuzzer target for the body of a request in AWS's JSON
 * protocol, as rpc/json.c meets it: rpc_json_request_pack (jansson, then
 * shape/ into the operation's protobuf message) for every
 * coffer.v1.SecretsManager operation; the first input byte picks it.
 *
 * Beyond "nothing crashes", what the endpoint relies on:
 * - an accepted body passes rpc_wire_check (no NUL, valid UTF-8): the
 *   JSON path cannot smuggle what the gRPC path refuses;
 * - the packed message unpacks, and back to JSON and packed again gives
 *   the same bytes (one mapping, both ways).
 * A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "rpc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *svc =
	    &coffer__v1__secrets_manager__descriptor;
	const ProtobufCMessageDescriptor *d;
	struct cf_arena *a;
	struct cf_error err;
	uint8_t *packed, *again;
	size_t len, len2, tlen;
	char *text = NULL;

	if (size < 1)
		return (0);
	d = svc->methods[data[0] % svc->n_methods].input;
	if ((a = cf_arena_new()) == NULL)
		return (0);
	if (rpc_json_request_pack(d, data + 1, size - 1, a, &packed, &len,
	    &err) != 0) {
		if (err.code != CF_ERR_SERIALIZATION &&
		    err.code != CF_ERR_INVALID_PARAMETER &&
		    err.code != CF_ERR_INTERNAL)
			abort();
		goto out;
	}
	if (rpc_wire_check(d, packed, len, &err) != 0)
		abort();
	if (rpc_json_reply_text(d, packed, len, a, &text, &tlen, &err) != 0)
		abort();
	if (rpc_json_request_pack(d, (const uint8_t *)text, tlen, a, &again,
	    &len2, &err) != 0 || len2 != len || memcmp(again, packed, len) != 0)
		abort();
out:
	free(text);
	cf_arena_free(a);
	return (0);
}
