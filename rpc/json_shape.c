/*
 * json_shape.c: AWS's JSON bodies <-> the protobuf messages of rpc's
 * method table, for json.c (rpc_internal.h, "json_shape.c").
 *
 * Pure: no gRPC calls, no I/O, so that the fuzzer (fuzz_awsjson) links
 * it with shape/ alone and drives exactly the code an HTTPS request's
 * body meets.  The JSON trees are on the heap (cofferd has jansson wipe
 * what it frees, server/main.c); the packed request and the unpacked
 * reply are in the call's arena.
 */
#include "rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shape.h"

int
rpc_json_request_pack(const ProtobufCMessageDescriptor *desc,
    const uint8_t *body, size_t len, struct cf_arena *arena, uint8_t **out,
    size_t *out_len, struct cf_error *err)
{
	const struct shape_opts wire = { .wire_dates = 1,
	    .ignore_unknown = 1 };
	ProtobufCMessage *m = NULL;
	json_error_t jerr;
	json_t *j;
	char msg[512];
	int rc = -1, shaped;

	/*
	 * An empty body is an operation without members, as "{}" is.  The
	 * parser's message is not repeated: it quotes the text near the
	 * error, which may be a value.  A \u0000 is let through the parser
	 * so that shape/ refuses it in the gRPC path's words.
	 */
	j = len == 0 ? json_object() : json_loadb((const char *)body, len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (j == NULL || !json_is_object(j)) {
		cf_error_set(err, CF_ERR_SERIALIZATION, j == NULL ? "The "
		    "request body is not valid JSON (line %d, column %d)" :
		    "The request body must be a JSON object", j == NULL ?
		    jerr.line : 0, j == NULL ? jerr.column : 0);
		goto out;
	}
	if ((m = shape_message_new(desc)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((shaped = shape_json_to_message(m, j, &wire, msg,
	    sizeof(msg))) != 0) {
		cf_error_set(err, shaped == SHAPE_NUL ?
		    CF_ERR_INVALID_PARAMETER : CF_ERR_SERIALIZATION, "%s",
		    msg);
		goto out;
	}
	*out_len = protobuf_c_message_get_packed_size(m);
	if ((*out = cf_arena_alloc(arena, *out_len > 0 ? *out_len : 1)) ==
	    NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto out;
	}
	(void)protobuf_c_message_pack(m, *out);
	rc = 0;
out:
	if (m != NULL)
		shape_message_free(m);
	json_decref(j);
	return (rc);
}

int
rpc_json_reply_text(const ProtobufCMessageDescriptor *desc,
    const uint8_t *buf, size_t len, struct cf_arena *arena, char **text,
    size_t *text_len, struct cf_error *err)
{
	const struct shape_opts wire = { .wire_dates = 1 };
	ProtobufCAllocator alloc;
	ProtobufCMessage *m;
	json_t *j = NULL;
	size_t n;

	*text = NULL;
	rpc_arena_allocator_init(&alloc, arena);
	if ((m = protobuf_c_message_unpack(desc, &alloc, len, buf)) == NULL ||
	    (j = shape_message_to_json(m, &wire)) == NULL ||
	    (n = json_dumpb(j, NULL, 0, JSON_COMPACT)) == 0 ||
	    (*text = malloc(n)) == NULL) {
		json_decref(j);
		cf_error_set(err, CF_ERR_INTERNAL, "could not encode the "
		    "response");
		return (-1);
	}
	*text_len = json_dumpb(j, *text, n, JSON_COMPACT);
	json_decref(j);
	return (0);
}
