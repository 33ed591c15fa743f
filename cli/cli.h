/*
 * cli.h: the parts of `coffer` that the unit tests call directly.
 *
 * coffer is driven by protobuf-c reflection: a verb names a request and a
 * response descriptor, flags map onto request fields (--secret-id ->
 * secret_id), and responses become JSON with AWS's member names
 * (SecretId, ARN, VersionIdsToStages).  Only the exceptions to those rules
 * are written out by hand.
 */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#define CLI_EXIT_SERVICE 254		/* an error from cofferd */
#define CLI_EXIT_CONNECT 255		/* the endpoint did not answer */
#define CLI_EXIT_USAGE 252		/* a bad command line */

/* How JSON is printed: the AWS CLI's indent; dates to the millisecond. */
#define CLI_JSON_FLAGS (JSON_INDENT(4) | JSON_ENCODE_ANY | \
	JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16))

struct cli_opts {
	int raw_binary;			/* --cli-binary-format raw-in-base64-out */
	int wire_dates;			/* COFFER_CLI_TIMESTAMP_FORMAT=wire */
};

/* ---- pbjson.c: protobuf <-> JSON with AWS names ------------------------- */

/* cli_pascal(snake, out, n): "rotation_lambda_arn" -> "RotationLambdaARN". */
void cli_pascal(const char *, char *, size_t);

/*
 * cli_message_to_json(m, o): the AWS CLI's JSON for response ${m}: absent
 * members left out, *_date members as timestamps, bytes in base64, version
 * stage lists as {VersionId: [labels]}.  New reference.
 */
json_t *cli_message_to_json(const ProtobufCMessage *, const struct cli_opts *);

/* cli_format_date(ms, wire, out, n): ISO 8601 (UTC) or epoch seconds. */
json_t *cli_date(int64_t, int);

/*
 * cli_json_to_message(m, j, o, err, n):
 * Set the fields of ${m} named (in PascalCase) by object ${j}.  Returns 0
 * or -1 with a message in ${err}.
 */
int cli_json_to_message(ProtobufCMessage *, json_t *, const struct cli_opts *,
    char *, size_t);

/*
 * cli_set_flag(m, field, args, n, used, o, err, errlen):
 * Set request field ${field} from the command-line words ${args} (n of
 * them, the words after the flag); *used is how many it consumed.  Handles
 * file://, fileb://, base64 blobs, lists, shorthand (Key=k,Value=v) and
 * JSON forms.  Returns 0 or -1 with ${err}.
 */
int cli_set_flag(ProtobufCMessage *, const ProtobufCFieldDescriptor *,
    char **, int, int *, const struct cli_opts *, char *, size_t);

/* cli_set_bool(m, field, v): set a boolean field. */
void cli_set_bool(ProtobufCMessage *, const ProtobufCFieldDescriptor *, int);

/* cli_new_message(desc): a zero-initialised message (free: ...free_unpacked). */
ProtobufCMessage *cli_new_message(const ProtobufCMessageDescriptor *);

/* ---- query.c: a JMESPath subset ------------------------------------------ */

/*
 * cli_query(v, expr, err, n): evaluate ${expr} (field paths, [N], [] and
 * [*] projections, [a, b] and {k: a} multiselects, | pipes, length()) on
 * ${v}.  New reference (json null for no match), or NULL with ${err}.
 */
json_t *cli_query(json_t *, const char *, char *, size_t);

/* ---- output.c ---------------------------------------------------------------- */

/* cli_render(v, format, title): print ${v} as json, text or table. */
int cli_render(json_t *, const char *, const char *);

/* ---- call.c ------------------------------------------------------------------ */

struct cli_status {
	int code;			/* gRPC status */
	char error_type[64];		/* coffer-error-type, or "" */
	char message[1024];
};

/*
 * cli_call(endpoint, method, req, resp_desc, timeout_s, out, st):
 * One unary call.  On status OK, *out is the decoded response.  Returns 0
 * if the call completed with OK, else -1 with ${st} filled.
 */
int cli_call(const char *, const char *, const ProtobufCMessage *,
    const ProtobufCMessageDescriptor *, int, ProtobufCMessage **,
    struct cli_status *);

/* ---- tokens: --starting-token / NextToken with --max-items ----------------- */

char *cli_token_encode(const char *, long);
int cli_token_decode(const char *, char **, long *);

/* ---- verbs.c ----------------------------------------------------------------- */

int cli_main(int, char **);

#endif /* !COFFER_CLI_H */
