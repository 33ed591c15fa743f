/*
 * shape.h: protobuf messages <-> AWS's JSON shapes, by reflection
 * (shape.c).  The schema mirrors AWS's shapes member for member, so one
 * mapping serves every operation: the coffer CLI prints and reads the
 * AWS CLI's JSON with it, and the AWS endpoint (issue 15) speaks AWS's
 * JSON protocol with it, so that no member is mapped twice.
 *
 * Depends on protobuf-c, jansson and common/ only.
 */
#ifndef COFFER_SHAPE_H
#define COFFER_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* How values are read and written. */
struct shape_opts {
	int raw_binary;			/* bytes members as raw text, not base64
					   (--cli-binary-format raw-in-base64-out) */
	int wire_dates;			/* timestamps as fractional epoch seconds,
					   as on AWS's wire (else ISO 8601) */
	int ignore_unknown;		/* members the shape lacks are skipped,
					   as AWS's services do (a newer SDK
					   may send them); else refused, as
					   the AWS CLI's validation does */
};

/* shape_pascal(snake, out, n): "rotation_lambda_arn" -> "RotationLambdaARN" */
void shape_pascal(const char *, char *, size_t);

/*
 * shape_allocator(): a protobuf-c allocator (malloc, cf_heap_wipe_free), so
 * that secret values do not outlive their use (jansson should free with
 * cf_heap_wipe_free too: json_set_alloc_funcs, as cli.c does).
 */
ProtobufCAllocator *shape_allocator(void);

/* shape_message_new(desc): an initialised empty message, or NULL. */
ProtobufCMessage *shape_message_new(const ProtobufCMessageDescriptor *);

/* shape_message_free(m): wipe and free ${m} and everything it owns. */
void shape_message_free(ProtobufCMessage *);

/* shape_field_present(m, f): nonzero if field ${f} of ${m} is set. */
int shape_field_present(const ProtobufCMessage *,
    const ProtobufCFieldDescriptor *);

/* shape_field_clear(m, f): unset field ${f} of ${m}, wiping what it held. */
void shape_field_clear(ProtobufCMessage *, const ProtobufCFieldDescriptor *);

/* shape_field_by_pascal(desc, "SecretId"): the field, or NULL. */
const ProtobufCFieldDescriptor *shape_field_by_pascal(
    const ProtobufCMessageDescriptor *, const char *);

/*
 * shape_date(ms, wire): a timestamp as the AWS CLI v2 prints it, ISO 8601 in
 * UTC ("2018-04-11T20:05:45.729000+00:00", no fraction on a whole second,
 * as Python's isoformat), or with ${wire} as fractional epoch seconds
 * (1523477145.729) like CLI v1.  New reference.
 */
json_t *shape_date(int64_t, int);

/* shape_is_date(f): nonzero for an int64 member named *_date. */
int shape_is_date(const ProtobufCFieldDescriptor *);

/*
 * shape_parse_date(s, out): a timestamp as the AWS CLI accepts one, ISO 8601
 * in UTC ("2026-11-22", "2026-11-22T10:00:00Z", with milliseconds) or
 * epoch seconds, into milliseconds.  Returns 0 or -1.
 */
int shape_parse_date(const char *, int64_t *);

/*
 * shape_message_to_json(m, o): the AWS CLI's JSON for response ${m}: absent
 * members (has_ 0, NULL, empty repeated) left out, *_date members as
 * timestamps, bytes in base64, VersionIdsToStages/SecretVersionsToStages
 * as {VersionId: [labels]}.  New reference, NULL on allocation failure.
 */
json_t *shape_message_to_json(const ProtobufCMessage *,
    const struct shape_opts *);

/*
 * shape_json_to_message(m, j, o, err, errlen):
 * Set the members of ${m} named (PascalCase) in object ${j}, checking types
 * as the AWS CLI's parameter validation does; lists replace what ${m} held.
 * Returns 0, or with an AWS-style message in ${err}: SHAPE_NUL for a
 * string holding a NUL character (the value is valid JSON, but no string
 * member may hold one: rpc's wire check refuses the same), -1 for anything
 * else (not the shape: a wrong type, an unknown member, bad base64).
 */
#define SHAPE_NUL (-2)

int shape_json_to_message(ProtobufCMessage *, json_t *,
    const struct shape_opts *, char *, size_t);

/*
 * shape_skeleton(desc): a JSON skeleton of ${desc} with every member set to
 * a placeholder, as --generate-cli-skeleton prints.  New reference.
 */
json_t *shape_skeleton(const ProtobufCMessageDescriptor *);

/* shape_b64_encode(p, n): standard base64 of ${n} bytes (caller frees). */
char *shape_b64_encode(const uint8_t *, size_t);

/*
 * shape_b64_decode(s, len, out, outlen): decode standard base64, ignoring
 * whitespace (base64(1) wraps lines); padding required.  *out is a
 * NUL-terminated heap copy the caller wipes and frees.  Returns 0 or -1.
 */
int shape_b64_decode(const char *, size_t, uint8_t **, size_t *);

#endif /* !COFFER_SHAPE_H */
