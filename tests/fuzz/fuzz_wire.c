/*
 * fuzz_wire.c: libFuzzer target for the first code that sees a request's
 * bytes: rpc_wire_check (the NUL / UTF-8 scan over the raw message) and,
 * when it accepts, protobuf-c's unpack with the arena allocator, for
 * every request type cofferd serves.  The first input byte picks the type.
 */
#include <stddef.h>
#include <stdint.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define D(x) &coffer__v1__##x##__descriptor
static const ProtobufCMessageDescriptor *const requests[] = {
	D(batch_get_secret_value_request), D(cancel_rotate_secret_request),
	D(create_secret_request), D(delete_resource_policy_request),
	D(delete_secret_request), D(describe_secret_request),
	D(get_random_password_request), D(get_resource_policy_request),
	D(get_secret_value_request), D(list_secret_version_ids_request),
	D(list_secrets_request), D(put_resource_policy_request),
	D(put_secret_value_request), D(remove_regions_from_replication_request),
	D(replicate_secret_to_regions_request), D(restore_secret_request),
	D(rotate_secret_request), D(stop_replication_to_replica_request),
	D(tag_resource_request), D(untag_resource_request),
	D(update_secret_request), D(update_secret_version_stage_request),
	D(validate_resource_policy_request),
	&grpc__health__v1__health_check_request__descriptor,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCAllocator alloc;
	struct cf_arena *a;
	struct cf_error err;

	if (size < 1)
		return (0);
	d = requests[data[0] % (sizeof(requests) / sizeof(requests[0]))];
	if (rpc_wire_check(d, data + 1, size - 1, &err) != 0)
		return (0);
	if ((a = cf_arena_new()) == NULL)
		return (0);
	rpc_arena_allocator_init(&alloc, a);
	(void)protobuf_c_message_unpack(d, &alloc, size - 1, data + 1);
	cf_arena_free(a);
	return (0);
}
