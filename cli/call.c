/*
 * call.c: one unary call to cofferd with the gRPC C core.
 *
 * One channel per invocation (struct cli_conn), plaintext or TLS with the
 * PEM files of a struct cli_tls, a pluck completion queue per call, and
 * one batch holding every operation.  The AWS exception name comes back in
 * the trailing metadata "coffer-error-type" and the AWS message in the
 * status details.  Request and response bytes may hold secret values: they
 * are wiped before they are freed, and the response is decoded with the
 * wiping allocator.  So is the client key, once gRPC has its own copy.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cli_internal.h"

#define SERVICE_PATH "/coffer.v1.SecretsManager/"
#define ERROR_TYPE_KEY "coffer-error-type"

struct cli_conn {
	grpc_channel *channel;
};

static int local_error(struct cli_status *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* The PEM file ${path} (the ${what}) into *out; -1 with ${st} if not. */
static int
read_pem(const char *path, const char *what, struct cf_secret **out,
    struct cli_status *st)
{
	struct cf_error err = { CF_OK, "" };

	if (cf_read_file(path, what, CF_FILE_ANY_MODE, out, &err) != CF_OK)
		return (local_error(st, "%s", err.msg));
	return (0);
}

/*
 * TLS credentials from the files of ${t}: the CA bundle, and the client
 * certificate and key when given, read into secret memory.  gRPC copies
 * what it keeps; our copies are wiped when they are freed.  NULL with ${st}.
 */
static grpc_channel_credentials *
tls_credentials(const struct cli_tls *t, struct cli_status *st)
{
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *creds = NULL;
	struct cf_secret *ca = NULL, *cert = NULL, *key = NULL;

	/* The PEM files, into memory. */
	if (read_pem(t->ca_bundle, "CA bundle", &ca, st))
		goto done;
	if (t->cert[0] != '\0' && read_pem(t->cert, "client certificate",
	    &cert, st))
		goto done;
	if (t->key[0] != '\0' && read_pem(t->key, "client key", &key, st))
		goto done;

	/* TLS, with a client certificate for mTLS when there is one. */
	pair.private_key = key != NULL ? (const char *)key->data : NULL;
	pair.cert_chain = cert != NULL ? (const char *)cert->data : NULL;
	creds = grpc_ssl_credentials_create((const char *)ca->data,
	    key != NULL && cert != NULL ? &pair : NULL, NULL, NULL);
	if (creds == NULL)
		local_error(st, "could not set up TLS with the CA bundle "
		    "\"%s\"", t->ca_bundle);

done:
	cf_secret_free(key);
	cf_secret_free(cert);
	cf_secret_free(ca);
	return (creds);
}

struct cli_conn *
cli_conn_new(const char *target, const struct cli_tls *t,
    struct cli_status *st)
{
	grpc_channel_credentials *creds;
	struct cli_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		local_error(st, "out of memory");
		return (NULL);
	}

	/* http:// is plaintext; anything else is TLS. */
	if (t->plaintext)
		creds = grpc_insecure_credentials_create();
	else
		creds = tls_credentials(t, st);
	if (creds == NULL) {
		if (t->plaintext)
			local_error(st, "could not create gRPC credentials");
		goto err0;
	}
	c->channel = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	if (c->channel == NULL) {
		local_error(st, "could not create a channel to \"%s\"", target);
		goto err0;
	}

	/* Success! */
	return (c);

err0:
	free(c);
	return (NULL);
}

void
cli_conn_free(struct cli_conn *c)
{

	if (c == NULL)
		return;
	grpc_channel_destroy(c->channel);
	free(c);
}

const char *
cli_status_name(int code)
{
	static const char *const names[] = { "OK", "CANCELLED", "UNKNOWN",
	    "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED" };

	if (code == CLI_STATUS_LOCAL)
		return ("LOCAL");
	return (code >= 0 && code <= 16 ? names[code] : "UNKNOWN");
}

/* Copy a slice into a fixed buffer as a string (truncated to fit). */
static void
slice_copy(char *out, size_t n, grpc_slice s)
{
	size_t len = GRPC_SLICE_LENGTH(s);

	if (len >= n)
		len = n - 1;
	memcpy(out, GRPC_SLICE_START_PTR(s), len);
	out[len] = '\0';
}

static void
status_from(struct cli_status *st, grpc_status_code code, grpc_slice details,
    const grpc_metadata_array *trailing)
{
	size_t i;

	st->code = (int)code;
	slice_copy(st->message, sizeof(st->message), details);
	st->error_type[0] = '\0';
	for (i = 0; i < trailing->count; i++)
		if (grpc_slice_str_cmp(trailing->metadata[i].key,
		    ERROR_TYPE_KEY) == 0)
			slice_copy(st->error_type, sizeof(st->error_type),
			    trailing->metadata[i].value);
}

static int
local_error(struct cli_status *st, const char *fmt, ...)
{
	va_list ap;

	st->code = CLI_STATUS_LOCAL;
	st->error_type[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return (-1);
}

/* The response bytes as one heap buffer (the caller wipes and frees). */
static uint8_t *
flatten(grpc_byte_buffer *bb, size_t *n)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	uint8_t *out;

	if (!grpc_byte_buffer_reader_init(&r, bb))
		return (NULL);
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	*n = GRPC_SLICE_LENGTH(s);
	if ((out = malloc(*n ? *n : 1)) != NULL)
		memcpy(out, GRPC_SLICE_START_PTR(s), *n);
	explicit_bzero(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
	grpc_slice_unref(s);
	return (out);
}

int
cli_call(struct cli_conn *c, const char *service, const char *op,
    const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, int timeout_s,
    ProtobufCMessage **out, struct cli_status *st)
{
	grpc_completion_queue *cq = NULL;
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *send = NULL, *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice(), body;
	gpr_timespec deadline;
	grpc_call *call = NULL;
	grpc_op ops[6];
	uint8_t *reqbuf = NULL, *respbuf = NULL;
	size_t reqlen, resplen = 0;
	char method[128];
	int rc = -1;

	*out = NULL;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);

	/* Pack the request; the slice borrows the buffer until the end. */
	reqlen = protobuf_c_message_get_packed_size(req);
	if ((reqbuf = malloc(reqlen ? reqlen : 1)) == NULL) {
		local_error(st, "out of memory");
		goto done;
	}
	protobuf_c_message_pack(req, reqbuf);
	body = grpc_slice_from_static_buffer(reqbuf, reqlen);
	send = grpc_raw_byte_buffer_create(&body, 1);

	/* One call with a deadline of --cli-read-timeout seconds. */
	if (service != NULL)
		snprintf(method, sizeof(method), "/%s/%s", service, op);
	else
		snprintf(method, sizeof(method), SERVICE_PATH "%s", op);
	deadline = timeout_s > 0 ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
	    gpr_time_from_seconds(timeout_s, GPR_TIMESPAN)) :
	    gpr_inf_future(GPR_CLOCK_REALTIME);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	call = grpc_channel_create_call(c->channel, NULL,
	    GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(method),
	    NULL, deadline, NULL);
	if (cq == NULL || call == NULL) {
		local_error(st, "could not start the %s call", op);
		goto done;
	}

	/* Send, half-close and receive in one batch; wait for it. */
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
		local_error(st, "could not start the %s call", op);
		goto done;
	}
	(void)grpc_completion_queue_pluck(cq, call,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	status_from(st, code, details, &trailing);
	if (code != GRPC_STATUS_OK)
		goto done;

	/* Decode the response of a successful call. */
	if (recv == NULL || (respbuf = flatten(recv, &resplen)) == NULL) {
		local_error(st, "no response to the %s call", op);
		goto done;
	}
	if ((*out = protobuf_c_message_unpack(resp_desc, shape_allocator(),
	    resplen, respbuf)) == NULL) {
		local_error(st, "could not decode the response of the %s call",
		    op);
		goto done;
	}
	rc = 0;

done:
	if (respbuf != NULL)
		cf_heap_wipe_free(respbuf);
	if (recv != NULL)
		grpc_byte_buffer_destroy(recv);
	if (send != NULL)
		grpc_byte_buffer_destroy(send);
	if (reqbuf != NULL)
		cf_heap_wipe_free(reqbuf);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	if (call != NULL)
		grpc_call_unref(call);
	if (cq != NULL) {
		grpc_completion_queue_shutdown(cq);
		while (grpc_completion_queue_pluck(cq, NULL,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		    GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(cq);
	}
	return (rc);
}
