/*
 * cli_internal.h: the pieces of coffer, shared by its files and its unit
 * tests (tests/unit/cli_*_test.c, over cli_testlib.c).
 *
 * The command line is driven by protobuf-c reflection plus one table of
 * verbs (verbs.c): a verb names its request and response descriptors, its
 * required members and its paginated result lists; flags are the request's
 * fields in kebab-case (--secret-id -> secret_id); JSON member names are
 * the fields in PascalCase (SecretId, ARN, RotationLambdaARN).
 *
 *   verbs.c   the verb table, member documentation, help text
 *   args.c    the command line: global options, verbs and their flags
 *   values.c  the value forms of a flag: file://, shorthand, JSON, base64
 *   page.c    the AWS CLI's pagination and its --starting-token
 *   query.c   --query: a JMESPath lexer and parser (query_internal.h)
 *   query_eval.c  and its interpreter over jansson values
 *   render.c  --output json|text|table, error lines, usage errors
 *   call.c    one unary gRPC call (gRPC C core)
 *   cli.c     cli_main: one invocation from argv to exit code
 */
#ifndef COFFER_CLI_INTERNAL_H
#define COFFER_CLI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "cf.h"
#include "cli.h"
#include "shape.h"

/* JSON as the AWS CLI v2 prints it: 4-space indent, members in order. */
#define CLI_JSON_FLAGS (JSON_INDENT(4) | JSON_ENCODE_ANY | \
	JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16))

#define CLI_DEFAULT_ENDPOINT "127.0.0.1:50051"
#define CLI_DEFAULT_TIMEOUT 60		/* seconds, --cli-read-timeout */


/* ---- verbs.c -------------------------------------------------------------- */

struct cli_verb {
	const char *name;		/* create-secret */
	const char *op;			/* CreateSecret */
	const ProtobufCMessageDescriptor *req, *resp;
	const char *required[3];	/* request fields the AWS CLI requires */
	int token;			/* generate client_request_token */
	const char *results[2];		/* result lists merged across pages */
	const char *summary;		/* one line for `coffer help` */
	const char *service;		/* NULL: coffer.v1.SecretsManager */
};

/* cli_verb_find(name): the verb called ${name}, or NULL. */
const struct cli_verb *cli_verb_find(const char *);

/* cli_verb_at(i): the i-th verb in alphabetical order, or NULL past the end. */
const struct cli_verb *cli_verb_at(size_t);

/* cli_verb_requires(v, field): nonzero if ${field} is required by ${v}. */
int cli_verb_requires(const struct cli_verb *, const char *);

/* cli_verb_paginated(v): nonzero if ${v} has a paginator (result lists). */
int cli_verb_paginated(const struct cli_verb *);

/*
 * cli_member_doc(v, field, out_syntax):
 * The description of request member ${field} of ${v} (never NULL), and in
 * *out_syntax its shorthand syntax, or NULL when it has none.
 */
const char *cli_member_doc(const struct cli_verb *, const char *,
    const char **);

/* cli_help(out, v): `coffer help` (v NULL) or `coffer VERB help`. */
void cli_help(FILE *, const struct cli_verb *);

/* ---- verbs.c: flag names --------------------------------------------------- */

/* cli_kebab(snake, out, n): "secret_id" -> "secret-id". */
void cli_kebab(const char *, char *, size_t);

/* ---- args.c: the transport ------------------------------------------------------ */

#define CLI_PATH_MAX 4096

/*
 * How coffer reaches cofferd, as in the AWS CLI's --endpoint-url: an
 * http:// endpoint is plaintext gRPC; https:// or a bare HOST:PORT is TLS,
 * checked against a CA bundle, with a client certificate and key for
 * mutual TLS.  Each path comes from its option (--ca-bundle, --cert,
 * --key), else its environment variable (COFFER_CA_BUNDLE, COFFER_CERT,
 * COFFER_KEY); when none of the three is given, cli_tls_resolve looks for
 * the files ci/dev makes.
 */
struct cli_tls {
	int plaintext;			/* an http:// endpoint: no TLS */
	char ca_bundle[CLI_PATH_MAX];	/* PEM paths; "" when not given */
	char cert[CLI_PATH_MAX];
	char key[CLI_PATH_MAX];
	char dev_dir[CLI_PATH_MAX];	/* set by cli_tls_resolve when it
					   used ci/dev's files unasked */
};

/*
 * cli_endpoint_parse(url, out, n, t):
 * The gRPC target of endpoint ${url} into ${out} (${n} bytes): HOST:PORT
 * without the scheme and path ("unix:" targets kept whole), and in
 * t->plaintext whether it is http://.  Returns 0, or -1 if ${url} names
 * no host or does not fit.
 */
int cli_endpoint_parse(const char *, char *, size_t, struct cli_tls *);

/*
 * cli_tls_path(dst, path): copy file path ${path} into ${dst}, one of a
 * struct cli_tls's paths.  Returns 0, or -1 if it is empty or too long.
 */
int cli_tls_path(char[CLI_PATH_MAX], const char *);

/*
 * cli_tls_env(t, err, errlen): the paths COFFER_CA_BUNDLE, COFFER_CERT and
 * COFFER_KEY name (empty values ignored) into ${t}, for options to
 * override.  Returns 0, or -1 with ${err}.
 */
int cli_tls_env(struct cli_tls *, char *, size_t);

/*
 * cli_tls_check(t, err, errlen): a usage check once the options are read:
 * a client certificate needs its key and a key its certificate.  Returns
 * 0, or -1 with ${err}.
 */
int cli_tls_check(const struct cli_tls *, char *, size_t);

/*
 * cli_tls_resolve(t, err, errlen):
 * Complete ${t} before connecting.  Plaintext needs nothing.  For TLS,
 * when no path was given, the dev files: COFFER_DEV_DIR/tls if that
 * variable is set (and then only there), else the .coffer-dev/tls of the
 * checkout the running binary lives in (cli_dev_tls_near); its ca.pem,
 * admin.pem and admin.key, with t->dev_dir set to say so.  Never the
 * working directory's: a CA and admin key planted there would be trusted.
 * Returns 0, or -1 with ${err} when TLS is selected and there is no CA
 * bundle.
 */
int cli_tls_resolve(struct cli_tls *, char *, size_t);

/*
 * cli_dev_tls_near(exe, out, err, errlen):
 * The .coffer-dev/tls beside binary ${exe} (in its directory or the one
 * above: a checkout's build/), owned by us or root and writable by nobody
 * else, into ${out}.  Returns 1 if found, 0 if not, -1 with ${err}.
 */
int cli_dev_tls_near(const char *, char[CLI_PATH_MAX], char *, size_t);

/*
 * cli_tls_announce(t): when cli_tls_resolve used ci/dev's files without
 * being asked, say on stderr which, so a user is never silently some
 * principal they did not choose.
 */
void cli_tls_announce(const struct cli_tls *);

/* ---- args.c, values.c --------------------------------------------------------------- */

struct cli_args {
	char endpoint[256];		/* HOST:PORT, or a gRPC target */
	struct cli_tls tls;		/* plaintext or TLS, and its files */
	const char *output;		/* json | text | table */
	const char *query;		/* --query, or NULL */
	const char *input_json;		/* --cli-input-json, or NULL */
	const char *skeleton;		/* --generate-cli-skeleton, or NULL */
	int has_starting_token;
	char *start_token;		/* server NextToken to resume from */
	long start_skip;		/* items of that page already shown */
	long max_items;			/* 0: all */
	long page_size;			/* 0: the server's default */
	int no_paginate;
	int manual_paging;		/* --max-results or --next-token given */
	int timeout;			/* seconds; 0: none */
	int debug;
	const char *output_file;	/* export-audit-key-bundle's; NULL */
	struct shape_opts o;
	const struct cli_verb *verb;
	ProtobufCMessage *req;		/* the request, built */
};

enum cli_parse {
	CLI_PARSE_RUN,			/* call args->verb with args->req */
	CLI_PARSE_HELP,			/* print help for args->verb (or all) */
	CLI_PARSE_VERSION,		/* print the version */
	CLI_PARSE_SKELETON,		/* print --generate-cli-skeleton */
	CLI_PARSE_USAGE,		/* a usage error, in the cli_usage */
	CLI_PARSE_NOMEM
};

struct cli_usage {
	const struct cli_verb *verb;	/* the verb, when known */
	char msg[768];			/* "the following arguments are ..." */
};

/*
 * cli_args_parse(argc, argv, a, u):
 * Parse a coffer command line (environment defaults included) into ${a},
 * building the request: --cli-input-json first, then the flags (which
 * win), then a generated ClientRequestToken when the verb takes one and
 * none was given.  On CLI_PARSE_USAGE, ${u} holds the message.  The caller
 * calls cli_args_cleanup(a) whatever the result.
 */
enum cli_parse cli_args_parse(int, char **, struct cli_args *,
    struct cli_usage *);

/* cli_args_cleanup(a): free (and wipe) what cli_args_parse allocated. */
void cli_args_cleanup(struct cli_args *);

/*
 * cli_set_flag(m, f, words, n, used, o, err, errlen):
 * Set request field ${f} of ${m} from the command-line words ${words}
 * (${n} of them, the words after the flag); *used is how many it took.
 * Handles file:// and fileb://, base64 blobs, lists as several words or a
 * JSON array, and structures as shorthand (Key=k,Value=v) or JSON.  A list
 * replaces what the field held.  Returns 0 or -1 with ${err}.
 */
int cli_set_flag(ProtobufCMessage *, const ProtobufCFieldDescriptor *,
    char **, int, int *, const struct shape_opts *, char *, size_t);

/*
 * cli_param_value(word, out_len, out_binary, err, errlen):
 * The value a command-line word stands for: the text of file://PATH, the
 * bytes of fileb://PATH (*out_binary set), or the word.  Heap copy, NUL
 * terminated, for the caller to cf_heap_wipe_free; NULL with ${err}.
 */
char *cli_param_value(const char *, size_t *, int *, char *, size_t);

/*
 * cli_shorthand(desc, text, err, errlen):
 * The AWS CLI shorthand "Key=k,Value=v" / "Key=n,Values=a,b" /
 * "Values=[a,b]" / 'Key="a,b"' for a structure of type ${desc}, as a JSON
 * object with integer and boolean members typed.  New reference, or NULL
 * with ${err}.
 */
json_t *cli_shorthand(const ProtobufCMessageDescriptor *, const char *,
    char *, size_t);

/* ---- query.c -------------------------------------------------------------- */

struct cli_query;

/*
 * cli_query_compile(expr, err, errlen): parse a JMESPath expression.
 * Supported: identifiers and "quoted" identifiers, a.b, [N], [a:b:c],
 * [] and [*] and .* projections, [?filter], [a, b], {k: a}, |, ||, &&, !,
 * comparisons, @, 'raw' and `json` literals, &expr, and the functions
 * abs, avg, contains, ends_with, join, keys, length, max, max_by, min,
 * min_by, not_null, reverse, sort, sort_by, starts_with, sum, to_array,
 * to_number, to_string, type, values.  Returns a query to free with
 * cli_query_free, or NULL with ${err} ("Bad value for --query ...").
 */
struct cli_query *cli_query_compile(const char *, char *, size_t);

/*
 * cli_query_eval(q, v, err, errlen): evaluate ${q} on ${v}.  New reference
 * (json null when nothing matched), or NULL with ${err} on a type error in
 * a function call.
 */
json_t *cli_query_eval(const struct cli_query *, json_t *, char *, size_t);

/* cli_query_free(q): free ${q}; NULL does nothing. */
void cli_query_free(struct cli_query *);

/* cli_query(v, expr, err, errlen): compile, evaluate, free. */
json_t *cli_query(json_t *, const char *, char *, size_t);

/* ---- call.c --------------------------------------------------------------- */

#define CLI_STATUS_LOCAL (-1)		/* failed in coffer itself */

struct cli_status {
	int code;			/* gRPC status, or CLI_STATUS_LOCAL */
	char error_type[128];		/* coffer-error-type, or "" */
	char message[1024];		/* status message / local message */
};

struct cli_conn;

/*
 * cli_conn_new(target, tls, st):
 * A channel to ${target} (grpc_init done): plaintext when tls->plaintext,
 * else TLS with the CA bundle of ${tls} (after cli_tls_resolve) and its
 * client certificate and key if set.  The files are read here; the copy of
 * the key is wiped once gRPC has taken its own.  Returns the connection,
 * or NULL with ${st} holding a local error that names the file.
 */
struct cli_conn *cli_conn_new(const char *, const struct cli_tls *,
    struct cli_status *);

/* cli_conn_free(c): close the channel; NULL does nothing. */
void cli_conn_free(struct cli_conn *);

/*
 * cli_call(c, service, op, req, resp_desc, timeout_s, out, st):
 * Call /${service}/${op} (service NULL: coffer.v1.SecretsManager) with ${req} (deadline ${timeout_s}
 * seconds, 0 for none).  On status OK *out is the decoded response, to be
 * freed with shape_message_free, and 0 is returned; otherwise -1 with ${st}
 * filled (including coffer-error-type from the trailing metadata).  The
 * request and response bytes are wiped before they are freed.
 */
int cli_call(struct cli_conn *, const char *, const char *,
    const ProtobufCMessage *,
    const ProtobufCMessageDescriptor *, int, ProtobufCMessage **,
    struct cli_status *);

/* cli_status_name(code): "UNIMPLEMENTED" for 12, and so on. */
const char *cli_status_name(int);

/* ---- page.c --------------------------------------------------------------- */

/*
 * A fetch: send ${req} and return the response page as JSON in *out (new
 * reference), 0; or -1 with ${st}.  cli.c's calls cofferd; tests pass
 * their own.
 */
typedef int cli_fetch_fn(void *, const ProtobufCMessage *, json_t **,
    struct cli_status *);

/*
 * cli_paginate(a, fetch, ctx, out, st):
 * The AWS CLI's auto-pagination of a->verb with request a->req: fetch
 * every page (MaxResults = --page-size) and merge the result lists into
 * one response; with --max-items stop after N items of the first result
 * list and add a NextToken for --starting-token that resumes exactly there
 * (the page's server token and how many of its items were shown).
 * --no-paginate or a manual --max-results/--next-token make one call.
 * Result lists are always present, [] when empty, as AWS sends them.
 * Returns 0 with *out (new reference), or -1 with ${st}.
 */
int cli_paginate(const struct cli_args *, cli_fetch_fn *, void *, json_t **,
    struct cli_status *);

/*
 * cli_token_encode(server_token, skip): the --starting-token for resuming
 * at item ${skip} of the page ${server_token} fetches, in botocore's form
 * (base64 of {"NextToken": ..., "boto_truncate_amount": skip}).  Caller
 * frees; NULL on allocation failure.
 */
char *cli_token_encode(const char *, long);

/*
 * cli_token_decode(token, out_server, out_skip): the inverse; *out_server
 * is a heap copy (NULL for the first page).  Returns 0, or -1 if ${token}
 * is not one.
 */
int cli_token_decode(const char *, char **, long *);

/* ---- render.c ------------------------------------------------------------- */

/*
 * cli_render(out, v, format, title): print ${v} as "json" (the AWS CLI's
 * 4-space JSON), "text" (its tab-separated format) or "table" (a boxed
 * approximation of its table format, titled ${title}).  Returns 0 or -1.
 */
int cli_render(FILE *, json_t *, const char *, const char *);

/*
 * cli_error_text(buf, n, op, st, endpoint):
 * The AWS CLI's report of failed call ${op} in ${buf} (starting with a
 * blank line, ending with a newline):
 *   An error occurred (<type>) when calling the <op> operation: <message>
 * or, when the endpoint did not answer,
 *   Could not connect to the endpoint URL: "<endpoint>"
 * Returns the exit code: CLI_EXIT_SERVICE or CLI_EXIT_CLIENT.
 */
int cli_error_text(char *, size_t, const char *, const struct cli_status *,
    const char *);

/* ---- audit.c ---------------------------------------------------------------- */

/*
 * cli_audit_main(argc, argv): `coffer audit verify|export ...` with argv[0]
 * the subcommand.  Returns the exit code (1 when a chain is broken).
 */
int cli_audit_main(int, char **);

/* cli_usage_print(out, u): the AWS CLI's usage error (exit 252 follows). */
void cli_usage_print(FILE *, const struct cli_usage *);

#endif /* !COFFER_CLI_INTERNAL_H */
