/*
 * support.c: the pure helpers of rpc/.
 *
 * Everything here is logic without I/O, so the unit tests exercise it
 * without a server: the cf_code -> gRPC status table, the listen-address
 * policy (plaintext only on loopback until TLS exists), the pre-scan of string fields on the wire and the allocator that protobuf-c
 * unpacks requests with (the call's arena of locked, never-dumped memory).
 */
#include "rpc_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Nested messages deeper than this are refused; the schema needs 3. */
#define WIRE_MAX_DEPTH 8

/* The longest host part of a listen address we look at. */
#define HOST_MAX 255

static const grpc_status_code status_of[CF_ERR__COUNT] = {
	[CF_OK] = GRPC_STATUS_OK,
	[CF_ERR_RESOURCE_NOT_FOUND] = GRPC_STATUS_NOT_FOUND,
	[CF_ERR_RESOURCE_EXISTS] = GRPC_STATUS_ALREADY_EXISTS,
	[CF_ERR_INVALID_PARAMETER] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_VALIDATION] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_INVALID_NEXT_TOKEN] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_MALFORMED_POLICY] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_PUBLIC_POLICY] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_INVALID_REQUEST] = GRPC_STATUS_FAILED_PRECONDITION,
	[CF_ERR_PRECONDITION_NOT_MET] = GRPC_STATUS_FAILED_PRECONDITION,
	[CF_ERR_LIMIT_EXCEEDED] = GRPC_STATUS_RESOURCE_EXHAUSTED,
	[CF_ERR_THROTTLING] = GRPC_STATUS_RESOURCE_EXHAUSTED,
	[CF_ERR_ACCESS_DENIED] = GRPC_STATUS_PERMISSION_DENIED,
	[CF_ERR_UNAUTHENTICATED] = GRPC_STATUS_UNAUTHENTICATED,
	[CF_ERR_ENCRYPTION_FAILURE] = GRPC_STATUS_INTERNAL,
	[CF_ERR_DECRYPTION_FAILURE] = GRPC_STATUS_INTERNAL,
	[CF_ERR_INTERNAL] = GRPC_STATUS_INTERNAL,
	[CF_ERR_UNAVAILABLE] = GRPC_STATUS_UNAVAILABLE,
	[CF_ERR_UNIMPLEMENTED] = GRPC_STATUS_UNIMPLEMENTED,
	[CF_ERR_TIMEOUT] = GRPC_STATUS_DEADLINE_EXCEEDED,
	[CF_ERR_SERIALIZATION] = GRPC_STATUS_INVALID_ARGUMENT,
	[CF_ERR_UNKNOWN_OPERATION] = GRPC_STATUS_UNIMPLEMENTED,
	[CF_ERR_MISSING_AUTH] = GRPC_STATUS_UNAUTHENTICATED,
	[CF_ERR_INCOMPLETE_SIGNATURE] = GRPC_STATUS_UNAUTHENTICATED,
	[CF_ERR_INVALID_SIGNATURE] = GRPC_STATUS_UNAUTHENTICATED,
	[CF_ERR_UNRECOGNIZED_CLIENT] = GRPC_STATUS_UNAUTHENTICATED,
};

grpc_status_code
rpc_status_of(enum cf_code code)
{

	if ((int)code < 0 || code >= CF_ERR__COUNT)
		return (GRPC_STATUS_INTERNAL);
	return (status_of[code]);
}

/* ---- listen addresses --------------------------------------------------- */

/* Nonzero if ${host} (brackets removed) names the loopback interface. */
static int
host_is_loopback(const char *host, int bracketed)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!bracketed && strcasecmp(host, "localhost") == 0)
		return (1);
	if (!bracketed && inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (bracketed && inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return (1);
		return (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	}
	return (0);
}

/* Nonzero if ${s} is a decimal port number in 0..65535. */
static int
port_valid(const char *s)
{
	size_t i;
	unsigned long v = 0;

	if (s[0] == '\0' || strlen(s) > 5)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return (v <= 65535);
}

/* Split ${addr} into ${host} (HOST_MAX + 1 bytes) and its port; -1 if bad. */
static int
split_addr(const char *addr, char *host, const char **port, int *bracketed)
{
	const char *end;
	size_t n;

	/* "[V6]:PORT" or "HOST:PORT"; a bare IPv6 address is ambiguous. */
	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL || end[1] != ':')
			return (-1);
		addr++;
		*port = end + 2;
		*bracketed = 1;
	} else {
		if ((end = strrchr(addr, ':')) == NULL)
			return (-1);
		*port = end + 1;
		*bracketed = 0;
	}
	if ((n = (size_t)(end - addr)) == 0 || n > HOST_MAX)
		return (-1);
	memcpy(host, addr, n);
	host[n] = '\0';
	if (!*bracketed && strchr(host, ':') != NULL)
		return (-1);
	return (0);
}

int
rpc_listen_check(const char *addr, struct cf_error *err)
{
	char host[HOST_MAX + 1];
	const char *port;
	int bracketed;

	/* Parse the address. */
	if (split_addr(addr, host, &port, &bracketed) || !port_valid(port)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "invalid listen address \"%s\": expected HOST:PORT or "
		    "[IPV6]:PORT", addr);
		goto err0;
	}

	/* Plaintext gRPC is for this machine only. */
	if (!host_is_loopback(host, bracketed)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "refusing to listen on \"%s\": this release serves "
		    "plaintext gRPC only on loopback addresses (127.0.0.0/8, "
		    "[::1], localhost) until TLS is supported", addr);
		goto err0;
	}

	/* Success! */
	return (0);

err0:
	/* Failure! */
	return (-1);
}

/* ---- wire pre-scan ------------------------------------------------------ */

/* Read a varint at buf[*pos]; -1 if it is truncated or too long. */
static int
wire_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift;
	uint8_t b;

	for (shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return (-1);
		b = buf[(*pos)++];
		v |= (uint64_t)(b & 0x7F) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return (0);
		}
	}
	return (-1);
}

/* Write ${name} (snake_case) in the AWS spelling (CamelCase) to ${out}. */
static void
aws_name(const char *name, char *out, size_t size)
{
	size_t o = 0;
	int up = 1;

	for (; *name != '\0' && o + 1 < size; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		out[o++] = up && *name >= 'a' && *name <= 'z' ?
		    (char)(*name - 'a' + 'A') : *name;
		up = 0;
	}
	out[o] = '\0';
}

/* Check the ${n} bytes of string field ${f}; -1 with ${err} set if bad. */
static int
wire_string(const ProtobufCFieldDescriptor *f, const uint8_t *s, size_t n,
    struct cf_error *err)
{
	char field[64];

	if (memchr(s, '\0', n) == NULL && cf_utf8_valid(s, n))
		return (0);
	aws_name(f->name, field, sizeof(field));
	if (memchr(s, '\0', n) != NULL)
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "%s must not contain NUL characters", field);
	else
		cf_error_set(err, CF_ERR_VALIDATION, "Invalid UTF-8 in %s",
		    field);
	return (-1);
}

/* Skip the value of wire type ${wt} at buf[*pos]; -1 if malformed. */
static int
wire_skip(const uint8_t *buf, size_t len, size_t *pos, unsigned wt)
{
	uint64_t v;

	switch (wt) {
	case 0:
		return (wire_varint(buf, len, pos, &v));
	case 1:
		v = 8;
		break;
	case 5:
		v = 4;
		break;
	default:
		return (-1);
	}
	if (v > len - *pos)
		return (-1);
	*pos += v;
	return (0);
}

/*
 * Walk one message.  Returns 0, -1 if malformed (${err} untouched), or -2
 * with ${err} set for a bad string.
 */
static int
wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, unsigned depth, struct cf_error *err)
{
	const ProtobufCFieldDescriptor *f;
	size_t pos = 0;
	uint64_t key, n;
	int rc;

	while (pos < len) {
		/* The key: field number and wire type. */
		if (wire_varint(buf, len, &pos, &key) || (key >> 3) == 0 ||
		    (key >> 3) > 0x1FFFFFFF)
			return (-1);
		if ((key & 7) != 2) {
			if (wire_skip(buf, len, &pos, (unsigned)(key & 7)))
				return (-1);
			continue;
		}

		/* Length-delimited: a string, bytes, a message or packed. */
		if (wire_varint(buf, len, &pos, &n) || n > len - pos)
			return (-1);
		f = protobuf_c_message_descriptor_get_field(desc,
		    (unsigned)(key >> 3));
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		    wire_string(f, buf + pos, n, err))
			return (-2);
		if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (depth >= WIRE_MAX_DEPTH)
				return (-1);
			if ((rc = wire_scan(f->descriptor, buf + pos, n,
			    depth + 1, err)) != 0)
				return (rc);
		}
		pos += n;
	}
	return (0);
}

int
rpc_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, struct cf_error *err)
{
	int rc;

	if ((rc = wire_scan(desc, buf, len, 0, err)) == 0)
		return (0);
	if (rc == -1)
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "could not decode the %s message", desc->short_name);
	return (-1);
}

/* ---- the arena allocator ------------------------------------------------ */

void
rpc_arena_allocator_init(ProtobufCAllocator *pa, struct cf_arena *a)
{

	pa->alloc = cf_arena_hook_alloc;
	pa->free = cf_arena_hook_free;
	pa->allocator_data = a;
}
