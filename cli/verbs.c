/*
 * verbs.c: coffer's command line — the verbs of `aws secretsmanager`, the
 * AWS CLI's global options, pagination, and its error and exit-code
 * conventions.  Each verb is one row of a table: the operation, its
 * request and response types, its required members and its paginator.
 * Flags are the request's fields in kebab-case, found by reflection.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <grpc/grpc.h>

#include "cli.h"
#include "coffer/v1/secrets_manager.pb-c.h"

#define D(x) &coffer__v1__##x##__descriptor

struct verb {
	const char *name;		/* create-secret */
	const char *op;			/* CreateSecret */
	const ProtobufCMessageDescriptor *req, *resp;
	const char *required[3];	/* request fields */
	int token;			/* fill client_request_token */
	const char *results[2];		/* paginated list members (JSON) */
	const char *help;
};

static const struct verb verbs[] = {
	{ "batch-get-secret-value", "BatchGetSecretValue",
	    D(batch_get_secret_value_request), D(batch_get_secret_value_response),
	    { NULL }, 0, { "SecretValues", "Errors" },
	    "Retrieve the values of up to 20 secrets, by id or by filters." },
	{ "cancel-rotate-secret", "CancelRotateSecret",
	    D(cancel_rotate_secret_request), D(cancel_rotate_secret_response),
	    { "secret_id" }, 0, { NULL }, "Turn off automatic rotation." },
	{ "create-secret", "CreateSecret", D(create_secret_request),
	    D(create_secret_response), { "name" }, 1, { NULL },
	    "Create a new secret." },
	{ "delete-resource-policy", "DeleteResourcePolicy",
	    D(delete_resource_policy_request), D(delete_resource_policy_response),
	    { "secret_id" }, 0, { NULL },
	    "Delete the resource policy of a secret." },
	{ "delete-secret", "DeleteSecret", D(delete_secret_request),
	    D(delete_secret_response), { "secret_id" }, 0, { NULL },
	    "Mark a secret for deletion (or delete it now with "
	    "--force-delete-without-recovery)." },
	{ "describe-secret", "DescribeSecret", D(describe_secret_request),
	    D(describe_secret_response), { "secret_id" }, 0, { NULL },
	    "Get metadata about a secret." },
	{ "get-random-password", "GetRandomPassword",
	    D(get_random_password_request), D(get_random_password_response),
	    { NULL }, 0, { NULL }, "Generate a random password." },
	{ "get-resource-policy", "GetResourcePolicy",
	    D(get_resource_policy_request), D(get_resource_policy_response),
	    { "secret_id" }, 0, { NULL },
	    "Retrieve the resource policy of a secret." },
	{ "get-secret-value", "GetSecretValue", D(get_secret_value_request),
	    D(get_secret_value_response), { "secret_id" }, 0, { NULL },
	    "Retrieve the value of a secret." },
	{ "list-secret-version-ids", "ListSecretVersionIds",
	    D(list_secret_version_ids_request), D(list_secret_version_ids_response),
	    { "secret_id" }, 0, { "Versions" },
	    "List the versions of a secret." },
	{ "list-secrets", "ListSecrets", D(list_secrets_request),
	    D(list_secrets_response), { NULL }, 0, { "SecretList" },
	    "List secrets in the account." },
	{ "put-resource-policy", "PutResourcePolicy",
	    D(put_resource_policy_request), D(put_resource_policy_response),
	    { "secret_id", "resource_policy" }, 0, { NULL },
	    "Attach a resource policy to a secret." },
	{ "put-secret-value", "PutSecretValue", D(put_secret_value_request),
	    D(put_secret_value_response), { "secret_id" }, 1, { NULL },
	    "Store a new value for an existing secret." },
	{ "remove-regions-from-replication", "RemoveRegionsFromReplication",
	    D(remove_regions_from_replication_request),
	    D(remove_regions_from_replication_response),
	    { "secret_id", "remove_replica_regions" }, 0, { NULL },
	    "Stop replicating a secret to regions (Coffer is one region)." },
	{ "replicate-secret-to-regions", "ReplicateSecretToRegions",
	    D(replicate_secret_to_regions_request),
	    D(replicate_secret_to_regions_response),
	    { "secret_id", "add_replica_regions" }, 0, { NULL },
	    "Replicate a secret to regions (Coffer is one region)." },
	{ "restore-secret", "RestoreSecret", D(restore_secret_request),
	    D(restore_secret_response), { "secret_id" }, 0, { NULL },
	    "Restore a previously deleted secret." },
	{ "rotate-secret", "RotateSecret", D(rotate_secret_request),
	    D(rotate_secret_response), { "secret_id" }, 1, { NULL },
	    "Trigger secret rotation." },
	{ "stop-replication-to-replica", "StopReplicationToReplica",
	    D(stop_replication_to_replica_request),
	    D(stop_replication_to_replica_response), { "secret_id" }, 0,
	    { NULL }, "Promote a replica (Coffer is one region)." },
	{ "tag-resource", "TagResource", D(tag_resource_request),
	    D(tag_resource_response), { "secret_id", "tags" }, 0, { NULL },
	    "Attach tags to a secret." },
	{ "untag-resource", "UntagResource", D(untag_resource_request),
	    D(untag_resource_response), { "secret_id", "tag_keys" }, 0,
	    { NULL }, "Remove tags from a secret." },
	{ "update-secret", "UpdateSecret", D(update_secret_request),
	    D(update_secret_response), { "secret_id" }, 1, { NULL },
	    "Update secret metadata or value." },
	{ "update-secret-version-stage", "UpdateSecretVersionStage",
	    D(update_secret_version_stage_request),
	    D(update_secret_version_stage_response),
	    { "secret_id", "version_stage" }, 0, { NULL },
	    "Move a staging label from one version to another." },
	{ "validate-resource-policy", "ValidateResourcePolicy",
	    D(validate_resource_policy_request),
	    D(validate_resource_policy_response), { "resource_policy" }, 0,
	    { NULL }, "Validate a resource policy." },
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

struct globals {
	const char *endpoint;
	const char *output;
	const char *query;
	const char *input_json;
	const char *starting_token;
	long max_items;			/* 0: all */
	long page_size;			/* 0: server default */
	int no_paginate;
	int timeout;
	int debug;
	struct cli_opts o;
};

/* ---- errors and help ---------------------------------------------------------- */

static int usage_error(const char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\nusage: coffer [options] <command> [parameters]\n"
	    "To see help text, you can run:\n\n  coffer help\n");
	if (verb != NULL)
		fprintf(stderr, "  coffer %s help\n", verb);
	fprintf(stderr, "\ncoffer: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return (CLI_EXIT_USAGE);
}

static const char *
type_name(const ProtobufCFieldDescriptor *f)
{

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return (f->type == PROTOBUF_C_TYPE_MESSAGE ? "list of structures"
		    : "list");
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return ("boolean");
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		return ("integer");
	case PROTOBUF_C_TYPE_BYTES:
		return ("blob");
	case PROTOBUF_C_TYPE_MESSAGE:
		return ("structure");
	default:
		return ("string");
	}
}

static void
kebab(const char *snake, char *out, size_t n)
{
	size_t i;

	for (i = 0; snake[i] != '\0' && i + 1 < n; i++)
		out[i] = snake[i] == '_' ? '-' : snake[i];
	out[i] = '\0';
}

static int
is_required(const struct verb *v, const char *field)
{
	size_t i;

	for (i = 0; i < 3 && v->required[i] != NULL; i++)
		if (strcmp(v->required[i], field) == 0)
			return (1);
	return (0);
}

static int
help(const struct verb *v)
{
	const ProtobufCFieldDescriptor *f;
	char flag[128];
	size_t i;

	if (v == NULL) {
		printf("coffer: the command-line client of Coffer, with the verbs"
		    " and flags of `aws secretsmanager`.\n\nusage: coffer "
		    "[options] <command> [parameters]\n\nCommands:\n");
		for (i = 0; i < N_VERBS; i++)
			printf("  %-32s %s\n", verbs[i].name, verbs[i].help);
		printf("\nGlobal options:\n"
		    "  --endpoint HOST:PORT       cofferd (alias --endpoint-url; "
		    "env COFFER_ENDPOINT; default 127.0.0.1:50051)\n"
		    "  --output json|text|table   output format (env "
		    "COFFER_DEFAULT_OUTPUT)\n"
		    "  --query EXPR               a JMESPath expression on the "
		    "output\n"
		    "  --cli-input-json JSON      request members as JSON "
		    "(or file://path)\n"
		    "  --cli-binary-format F      base64 (default) or "
		    "raw-in-base64-out\n"
		    "  --no-paginate, --max-items N, --starting-token T, "
		    "--page-size N\n"
		    "  --cli-read-timeout SECONDS  (default 60)\n"
		    "  --debug                    print the call and its status "
		    "to stderr\n\n"
		    "Exit codes: 0 ok, 252 usage error, 254 service error, 255 "
		    "endpoint unreachable.\n");
		return (0);
	}
	printf("%s\n\n%s\n\nusage: coffer %s", v->name, v->help, v->name);
	for (i = 0; i < v->req->n_fields; i++) {
		f = &v->req->fields[i];
		kebab(f->name, flag, sizeof(flag));
		printf(is_required(v, f->name) ? " --%s" : " [--%s]", flag);
	}
	printf("\n\nParameters:\n");
	for (i = 0; i < v->req->n_fields; i++) {
		f = &v->req->fields[i];
		kebab(f->name, flag, sizeof(flag));
		printf("  --%s (%s)%s%s\n", flag, type_name(f),
		    is_required(v, f->name) ? " [required]" : "",
		    f->type == PROTOBUF_C_TYPE_BOOL ?
		    "  (--no-... to set false)" : "");
	}
	return (0);
}

/* ---- building the request ---------------------------------------------------- */

static int
field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return (*(const size_t *)(p + f->quantifier_offset) > 0);
	if (f->type == PROTOBUF_C_TYPE_STRING ||
	    f->type == PROTOBUF_C_TYPE_MESSAGE)
		return (*(void *const *)(p + f->offset) != NULL);
	return (*(const protobuf_c_boolean *)(p + f->quantifier_offset));
}

/* A UUIDv4 from the kernel, as the AWS CLI makes ClientRequestTokens. */
static char *
uuid4(void)
{
	uint8_t b[16];
	char *s = malloc(37);

	if (s == NULL || getrandom(b, sizeof(b), 0) != sizeof(b)) {
		free(s);
		return (NULL);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return (s);
}

/* --cli-input-json, then the flags (which win), then the defaults. */
static int
build(const struct verb *v, const struct globals *g, char **args, int n,
    ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f;
	char err[512], name[128], *text;
	json_t *j;
	int i, used;
	size_t k;

	if (g->input_json != NULL) {
		if (strncmp(g->input_json, "file://", 7) == 0)
			j = json_load_file(g->input_json + 7, 0, NULL);
		else
			j = json_loads(g->input_json, 0, NULL);
		if (j == NULL)
			return (usage_error(v->name, "%s", "Error parsing "
			    "parameter 'cli-input-json': Invalid JSON"));
		i = cli_json_to_message(m, j, &g->o, err, sizeof(err));
		json_decref(j);
		if (i)
			return (usage_error(v->name, "%s", err));
	}
	for (i = 0; i < n; i += 1 + used) {
		used = 0;
		if (strncmp(args[i], "--", 2) != 0)
			return (usage_error(v->name, "Unknown options: %s",
			    args[i]));
		snprintf(name, sizeof(name), "%s", args[i] + 2);
		for (text = name; *text; text++)
			if (*text == '-')
				*text = '_';
		/* --no-x sets boolean x to false. */
		if (strncmp(name, "no_", 3) == 0 &&
		    (f = protobuf_c_message_descriptor_get_field_by_name(v->req,
		    name + 3)) != NULL && f->type == PROTOBUF_C_TYPE_BOOL) {
			cli_set_bool(m, f, 0);
			continue;
		}
		if ((f = protobuf_c_message_descriptor_get_field_by_name(v->req,
		    name)) == NULL)
			return (usage_error(v->name, "Unknown options: %s",
			    args[i]));
		if (f->type == PROTOBUF_C_TYPE_BOOL &&
		    f->label != PROTOBUF_C_LABEL_REPEATED) {
			cli_set_bool(m, f, 1);
			continue;
		}
		if (cli_set_flag(m, f, args + i + 1, n - i - 1, &used, &g->o,
		    err, sizeof(err)))
			return (usage_error(v->name, "%s", err));
	}

	/* Required members, then the token the SDKs generate. */
	for (k = 0; k < 3 && v->required[k] != NULL; k++) {
		f = protobuf_c_message_descriptor_get_field_by_name(v->req,
		    v->required[k]);
		if (!field_set(m, f)) {
			kebab(f->name, name, sizeof(name));
			return (usage_error(v->name, "the following arguments "
			    "are required: --%s", name));
		}
	}
	if (v->token && (f = protobuf_c_message_descriptor_get_field_by_name(
	    v->req, "client_request_token")) != NULL && !field_set(m, f))
		*(char **)((char *)m + f->offset) = uuid4();
	return (0);
}

/* ---- calling, paging, printing -------------------------------------------------- */

static const char *
status_name(int code)
{
	static const char *const names[] = { "OK", "CANCELLED", "UNKNOWN",
	    "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED" };

	return (code >= 0 && code <= 16 ? names[code] : "UNKNOWN");
}

/* Print a failed call the way the AWS CLI does; return the exit code. */
static int
report(const struct verb *v, const struct globals *g,
    const struct cli_status *st)
{

	if (st->error_type[0] == '\0' &&
	    (st->code == GRPC_STATUS_UNAVAILABLE ||
	    st->code == GRPC_STATUS_DEADLINE_EXCEEDED)) {
		fprintf(stderr, "\n%s on endpoint URL: \"http://%s/\"\n",
		    st->code == GRPC_STATUS_UNAVAILABLE ? "Could not connect" :
		    "Read timeout", g->endpoint);
		return (CLI_EXIT_CONNECT);
	}
	fprintf(stderr, "\nAn error occurred (%s) when calling the %s "
	    "operation: %s\n", st->error_type[0] ? st->error_type :
	    status_name(st->code), v->op, st->message);
	return (CLI_EXIT_SERVICE);
}

static int
call(const struct verb *v, const struct globals *g, const ProtobufCMessage *m,
    json_t **out, char **next, struct cli_status *st)
{
	char method[128];
	ProtobufCMessage *resp;
	const ProtobufCFieldDescriptor *f;
	int rc;

	snprintf(method, sizeof(method), "/coffer.v1.SecretsManager/%s", v->op);
	rc = cli_call(g->endpoint, method, m, v->resp, g->timeout, &resp, st);
	if (g->debug)
		fprintf(stderr, "coffer: %s -> %s %s\n", method,
		    status_name(st->code), st->error_type);
	if (rc)
		return (-1);
	*out = cli_message_to_json(resp, &g->o);
	f = protobuf_c_message_descriptor_get_field_by_name(v->resp,
	    "next_token");
	*next = NULL;
	if (f != NULL && *(char **)((char *)resp + f->offset) != NULL)
		*next = strdup(*(char **)((char *)resp + f->offset));
	protobuf_c_message_free_unpacked(resp, NULL);
	return (0);
}

/* Set a string field of the request (next_token), replacing its value. */
static void
set_string(ProtobufCMessage *m, const char *field, const char *value)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    field);
	char **p = (char **)((char *)m + f->offset);

	free(*p);
	*p = value ? strdup(value) : NULL;
}

/* Put a NextToken that resumes at item ${skip} of page ${server}. */
static void
resume_token(json_t *merged, const char *server, long skip)
{
	char *t = cli_token_encode(server, skip);

	json_object_set_new(merged, "NextToken", json_string(t));
	free(t);
}

/*
 * The AWS CLI's auto-pagination: fetch every page and merge the result
 * lists; with --max-items stop after N items and hand out a NextToken that
 * --starting-token resumes from (the server token of that page and how many
 * of its items were already shown).
 */
static int
paginate(const struct verb *v, const struct globals *g, ProtobufCMessage *m,
    json_t **out, struct cli_status *st)
{
	const ProtobufCFieldDescriptor *lim, *flt;
	json_t *page, *merged = NULL, *list, *e;
	char *next = NULL, *start = NULL;
	long skip = 0, shown = 0;
	size_t r, i;
	int truncated = 0;

	if (g->starting_token != NULL) {
		if (cli_token_decode(g->starting_token, &start, &skip)) {
			st->code = GRPC_STATUS_INVALID_ARGUMENT;
			snprintf(st->error_type, sizeof(st->error_type),
			    "InvalidNextTokenException");
			snprintf(st->message, sizeof(st->message),
			    "The --starting-token value is invalid.");
			return (-1);
		}
		set_string(m, "next_token", start);
	}
	/* --page-size is MaxResults (BatchGet takes it only with filters). */
	lim = protobuf_c_message_descriptor_get_field_by_name(v->req,
	    "max_results");
	flt = protobuf_c_message_descriptor_get_field_by_name(v->req,
	    "filters");
	if (g->page_size > 0 && lim != NULL && (strcmp(v->op,
	    "BatchGetSecretValue") != 0 || field_set(m, flt))) {
		*(protobuf_c_boolean *)((char *)m + lim->quantifier_offset) = 1;
		*(int32_t *)((char *)m + lim->offset) = (int32_t)g->page_size;
	}

	while (!truncated) {
		if (call(v, g, m, &page, &next, st))
			goto fail;
		if (merged == NULL) {
			merged = json_deep_copy(page);
			for (r = 0; r < 2 && v->results[r] != NULL; r++)
				json_object_set_new(merged, v->results[r],
				    json_array());
		}
		/* This page's items (after those already shown). */
		for (r = 0; r < 2 && v->results[r] != NULL; r++) {
			list = json_object_get(merged, v->results[r]);
			json_array_foreach(json_object_get(page, v->results[r]),
			    i, e) {
				if (r == 0 && (long)i < skip)
					continue;
				if (r == 0 && g->max_items > 0 &&
				    shown >= g->max_items) {
					resume_token(merged, start, (long)i);
					truncated = 1;
					break;
				}
				json_array_append(list, e);
				shown += r == 0;
			}
		}
		json_decref(page);
		if (truncated)
			break;
		skip = 0;
		free(start);
		start = next;
		next = NULL;
		if (start == NULL)
			break;
		if (g->max_items > 0 && shown >= g->max_items) {
			resume_token(merged, start, 0);
			truncated = 1;
		}
		set_string(m, "next_token", start);
	}
	if (!truncated)
		json_object_del(merged, "NextToken");
	free(start);
	free(next);
	*out = merged;
	return (0);
fail:
	free(start);
	json_decref(merged);
	return (-1);
}

/* ---- main ------------------------------------------------------------------------ */

static int
global(struct globals *g, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *const with_value[] = { "--endpoint", "--endpoint-url",
	    "--output", "--query", "--cli-input-json", "--cli-binary-format",
	    "--max-items", "--starting-token", "--page-size",
	    "--cli-read-timeout", "--region", "--profile", NULL };
	const char *v;
	size_t k;

	if (strcmp(a, "--no-paginate") == 0)
		return (g->no_paginate = 1);
	if (strcmp(a, "--debug") == 0)
		return (g->debug = 1);
	if (strcmp(a, "--no-cli-pager") == 0)
		return (1);
	for (k = 0; with_value[k] != NULL; k++)
		if (strcmp(a, with_value[k]) == 0)
			break;
	if (with_value[k] == NULL)
		return (0);
	if (*i + 1 >= argc)
		return (-1);
	v = argv[++*i];
	if (strcmp(a, "--endpoint") == 0 || strcmp(a, "--endpoint-url") == 0) {
		if (strncmp(v, "http://", 7) == 0)
			v += 7;
		else if (strncmp(v, "https://", 8) == 0)
			v += 8;
		g->endpoint = strndup(v, strcspn(v, "/"));
	} else if (strcmp(a, "--output") == 0)
		g->output = v;
	else if (strcmp(a, "--query") == 0)
		g->query = v;
	else if (strcmp(a, "--cli-input-json") == 0)
		g->input_json = v;
	else if (strcmp(a, "--cli-binary-format") == 0)
		g->o.raw_binary = strcmp(v, "raw-in-base64-out") == 0;
	else if (strcmp(a, "--max-items") == 0)
		g->max_items = atol(v);
	else if (strcmp(a, "--starting-token") == 0)
		g->starting_token = v;
	else if (strcmp(a, "--page-size") == 0)
		g->page_size = atol(v);
	else if (strcmp(a, "--cli-read-timeout") == 0)
		g->timeout = atoi(v);
	return (1);		/* --region and --profile are accepted, unused */
}

int
cli_main(int argc, char **argv)
{
	struct globals g = { 0 };
	const struct verb *v = NULL;
	const char *verb = NULL, *env;
	char **args, err[512];
	json_t *out = NULL, *q;
	struct cli_status st = { 0 };
	ProtobufCMessage *m = NULL;
	char *next = NULL;
	int i, n = 0, rc, want_help = 0;
	size_t k;

	g.endpoint = (env = getenv("COFFER_ENDPOINT")) ? env : "127.0.0.1:50051";
	g.output = (env = getenv("COFFER_DEFAULT_OUTPUT")) ? env : "json";
	g.timeout = 60;
	env = getenv("COFFER_CLI_TIMESTAMP_FORMAT");
	g.o.wire_dates = env != NULL && strcmp(env, "wire") == 0;

	/* Global options anywhere; the first bare word is the verb. */
	args = calloc((size_t)argc + 1, sizeof(*args));
	for (i = 1; i < argc; i++) {
		if ((rc = global(&g, argc, argv, &i)) == -1)
			return (usage_error(verb, "argument %s: expected one "
			    "argument", argv[i]));
		if (rc == 1)
			continue;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0)
			want_help = 1;
		else if (verb == NULL && argv[i][0] != '-')
			verb = argv[i];
		else
			args[n++] = argv[i];
	}
	if (verb == NULL)
		return (want_help ? help(NULL) : usage_error(NULL, "%s",
		    "the following arguments are required: command"));
	for (k = 0; k < N_VERBS; k++)
		if (strcmp(verbs[k].name, verb) == 0)
			v = &verbs[k];
	if (v == NULL)
		return (usage_error(NULL, "argument command: Invalid choice: "
		    "'%s'", verb));
	if (want_help)
		return (help(v));
	if (strcmp(g.output, "json") && strcmp(g.output, "text") &&
	    strcmp(g.output, "table"))
		return (usage_error(v->name, "argument --output: Invalid "
		    "choice: '%s' (choose from json, text, table)", g.output));

	/* Build, call (every page unless told not to), print. */
	grpc_init();
	m = cli_new_message(v->req);
	if ((rc = build(v, &g, args, n, m)) != 0)
		goto done;
	if (v->results[0] != NULL && !g.no_paginate)
		rc = paginate(v, &g, m, &out, &st);
	else
		rc = call(v, &g, m, &out, &next, &st);
	if (rc) {
		rc = report(v, &g, &st);
		goto done;
	}
	if (g.query != NULL) {
		if ((q = cli_query(out, g.query, err, sizeof(err))) == NULL) {
			rc = usage_error(v->name, "%s", err);
			goto done;
		}
		json_decref(out);
		out = q;
	}
	/* Operations with no output members print nothing, as the AWS CLI. */
	if (!(json_is_object(out) && json_object_size(out) == 0 &&
	    g.query == NULL))
		cli_render(out, g.output, v->op);
	rc = 0;
done:
	free(next);
	json_decref(out);
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	free(args);
	grpc_shutdown();
	return (rc);
}
