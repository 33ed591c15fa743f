/*
 * pb.c: small conversions between protobuf-c messages and engine structs,
 * shared by the operation handlers.  Everything is allocated in the call's
 * arena (locked, never dumped, wiped when the call ends), so nothing here
 * is freed by hand: response strings that copy a value, and the packed
 * response itself.
 */
#include "rpc_ops.h"

#include <string.h>

void *
rpc_pb_alloc(struct cf_arena *a, size_t n, struct cf_error *err)
{
	void *p;

	if ((p = cf_arena_alloc(a, n)) == NULL)
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (p);
}

void
rpc_pb_date(protobuf_c_boolean *has, int64_t *dst, int64_t v)
{

	*has = (v != 0);
	*dst = v;
}

int
rpc_pb_encode(struct cf_arena *a, const ProtobufCMessage *m,
    struct rpc_reply *out, struct cf_error *err)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;

	if ((buf = rpc_pb_alloc(a, n > 0 ? n : 1, err)) == NULL)
		return (-1);
	out->len = protobuf_c_message_pack(m, buf);
	out->buf = buf;
	return (0);
}

void
rpc_pb_value_in(const char *str, protobuf_c_boolean has_bin,
    const ProtobufCBinaryData *bin, struct engine_value *v)
{

	memset(v, 0, sizeof(*v));
	if (str != NULL && has_bin) {
		v->conflict = 1;
	} else if (str != NULL) {
		/* rpc_wire_check made sure strlen() is the wire length. */
		v->present = 1;
		v->data = (const uint8_t *)str;
		v->len = strlen(str);
	} else if (has_bin) {
		v->present = 1;
		v->binary = 1;
		v->data = bin->data;
		v->len = bin->len;
	}
}

int
rpc_pb_value_out(struct cf_arena *a, const struct engine_value *v,
    protobuf_c_boolean *has_bin, ProtobufCBinaryData *bin, char **str,
    struct cf_error *err)
{

	if (!v->present)
		return (0);
	if (v->binary) {
		*has_bin = 1;
		bin->data = (uint8_t *)(uintptr_t)v->data;
		bin->len = v->len;
		return (0);
	}
	if ((*str = cf_arena_memdup(a, v->data, v->len)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

int
rpc_pb_filters(struct cf_arena *a, Coffer__V1__Filter *const *in, size_t n,
    struct engine_filter **out, struct cf_error *err)
{
	struct engine_filter *f;
	size_t i;

	*out = NULL;
	if (n == 0)
		return (0);
	if ((f = rpc_pb_alloc(a, n * sizeof(*f), err)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		f[i].key = in[i]->key;
		f[i].values = (const char *const *)in[i]->values;
		f[i].n_values = in[i]->n_values;
	}
	*out = f;
	return (0);
}

int
rpc_pb_tags(struct cf_arena *a, Coffer__V1__Tag *const *in, size_t n,
    struct engine_tag **out, struct cf_error *err)
{
	struct engine_tag *t;
	size_t i;

	*out = NULL;
	if (n == 0)
		return (0);
	if ((t = rpc_pb_alloc(a, n * sizeof(*t), err)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		t[i].key = in[i]->key;
		t[i].value = in[i]->value;
	}
	*out = t;
	return (0);
}
