/*
 * call.c: one unary call to cofferd with the gRPC C core.
 *
 * A channel per process, a pluck completion queue per call, one batch
 * with every operation.  The AWS exception name comes back in the trailing
 * metadata "coffer-error-type".  Request and response bytes may hold
 * secret values: they are wiped before they are freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "cli.h"

static grpc_channel *channel;

static grpc_byte_buffer *
pack(const ProtobufCMessage *m, uint8_t **buf, size_t *n)
{
	grpc_slice s;
	grpc_byte_buffer *bb;

	*n = protobuf_c_message_get_packed_size(m);
	*buf = malloc(*n ? *n : 1);
	protobuf_c_message_pack(m, *buf);
	s = grpc_slice_from_static_buffer(*buf, *n);
	bb = grpc_raw_byte_buffer_create(&s, 1);
	return (bb);
}

/* The response bytes as one buffer (wiped and freed by the caller). */
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
	grpc_slice_unref(s);
	return (out);
}

static void
status_from(struct cli_status *st, grpc_status_code code, grpc_slice details,
    const grpc_metadata_array *trailing)
{
	size_t i, n;

	st->code = (int)code;
	n = GRPC_SLICE_LENGTH(details);
	if (n >= sizeof(st->message))
		n = sizeof(st->message) - 1;
	memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
	st->message[n] = '\0';
	st->error_type[0] = '\0';
	for (i = 0; i < trailing->count; i++)
		if (grpc_slice_str_cmp(trailing->metadata[i].key,
		    "coffer-error-type") == 0) {
			n = GRPC_SLICE_LENGTH(trailing->metadata[i].value);
			if (n >= sizeof(st->error_type))
				n = sizeof(st->error_type) - 1;
			memcpy(st->error_type, GRPC_SLICE_START_PTR(
			    trailing->metadata[i].value), n);
			st->error_type[n] = '\0';
		}
}

int
cli_call(const char *endpoint, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, int timeout_s,
    ProtobufCMessage **out, struct cli_status *st)
{
	grpc_completion_queue *cq;
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	gpr_timespec deadline;
	grpc_call *call;
	grpc_op ops[6];
	uint8_t *reqbuf, *respbuf;
	size_t reqlen, resplen = 0;
	int rc = -1;

	*out = NULL;
	if (channel == NULL)
		channel = grpc_channel_create(endpoint,
		    grpc_insecure_credentials_create(), NULL);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
	    gpr_time_from_seconds(timeout_s, GPR_TIMESPAN));
	call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS,
	    cq, grpc_slice_from_static_string(method), NULL, deadline, NULL);
	send = pack(req, &reqbuf, &reqlen);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);

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
	if (grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK)
		(void)grpc_completion_queue_pluck(cq, call,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	status_from(st, code, details, &trailing);

	/* Decode the response of a successful call. */
	if (code == GRPC_STATUS_OK && recv != NULL &&
	    (respbuf = flatten(recv, &resplen)) != NULL) {
		*out = protobuf_c_message_unpack(resp_desc, NULL, resplen,
		    respbuf);
		explicit_bzero(respbuf, resplen);
		free(respbuf);
		if (*out != NULL)
			rc = 0;
		else
			snprintf(st->message, sizeof(st->message),
			    "could not decode the %s", resp_desc->short_name);
	}

	explicit_bzero(reqbuf, reqlen);
	free(reqbuf);
	grpc_byte_buffer_destroy(send);
	if (recv != NULL)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	return (rc);
}
