/*
 * cli.c: one invocation of coffer, from argv to exit code.
 *
 * Parse (args.c), compile --query, call cofferd once or page by page
 * (page.c, call.c), apply the query and print (render.c).  Errors are
 * printed the way the AWS CLI prints them, with its exit codes: 252 for a
 * usage error, 254 when the service answered with an error, 255 when it
 * did not answer (or coffer itself failed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>

#include "cli_internal.h"

#ifndef COFFER_VERSION
#define COFFER_VERSION "0"
#endif

struct fetch_ctx {
	struct cli_conn *conn;
	const struct cli_args *a;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* One call to cofferd, its response as the AWS CLI's JSON. */
static int
fetch(void *vctx, const ProtobufCMessage *req, json_t **out,
    struct cli_status *st)
{
	const struct fetch_ctx *ctx = vctx;
	const struct cli_args *a = ctx->a;
	ProtobufCMessage *resp = NULL;
	long long t0 = now_ms();
	int rc;

	*out = NULL;
	if (a->debug)
		fprintf(stderr, "coffer: debug: calling /%s/%s on %s (%zu "
		    "request bytes, deadline %d s)\n", a->verb->service ?
		    a->verb->service : "coffer.v1.SecretsManager",
		    a->verb->op, a->endpoint,
		    protobuf_c_message_get_packed_size(req), a->timeout);
	rc = cli_call(ctx->conn, a->verb->service, a->verb->op, req,
	    a->verb->resp, a->timeout,
	    &resp, st);
	if (a->debug)
		fprintf(stderr, "coffer: debug: %s -> %s%s%s%s%s (%lld ms)\n",
		    a->verb->op, rc == 0 ? "OK" : cli_status_name(st->code),
		    st->error_type[0] != '\0' ? " " : "", st->error_type,
		    rc != 0 ? ": " : "", rc != 0 ? st->message : "",
		    now_ms() - t0);
	if (rc)
		return (-1);
	*out = shape_message_to_json(resp, &a->o);
	shape_message_free(resp);
	if (*out == NULL) {
		st->code = CLI_STATUS_LOCAL;
		snprintf(st->message, sizeof(st->message), "out of memory");
		return (-1);
	}
	return (0);
}

/* --debug: the transport and the files it uses. */
static void
debug_transport(const struct cli_args *a)
{

	if (a->tls.plaintext)
		fprintf(stderr, "coffer: debug: plaintext gRPC to %s\n",
		    a->endpoint);
	else
		fprintf(stderr, "coffer: debug: TLS to %s, CA bundle %s, "
		    "client certificate %s\n", a->endpoint, a->tls.ca_bundle,
		    a->tls.cert[0] != '\0' ? a->tls.cert : "(none)");
}

/* --output-file: the response as JSON in that file, not on stdout. */
static int
write_output_file(const struct cli_args *a, json_t *out)
{
	FILE *f;
	int rc = CLI_EXIT_OK;

	if ((f = fopen(a->output_file, "w")) == NULL) {
		fprintf(stderr, "coffer: could not create %s: %s\n",
		    a->output_file, strerror(errno));
		return (CLI_EXIT_CLIENT);
	}
	if (cli_render(f, out, "json", a->verb->op))
		rc = CLI_EXIT_CLIENT;
	if (fclose(f) == EOF)
		rc = CLI_EXIT_CLIENT;
	return (rc);
}

/*
 * Take "--output-file F" (or "--output-file=F") out of ${argv} for the
 * verbs that write a file (export-audit-key-bundle): not a request member,
 * so the generic parser would refuse it.  *${out} gets F (or NULL).
 */
static int
take_output_file(int *argc, char **argv, const char **out)
{
	int i, j, verb = 0;

	*out = NULL;
	for (i = 1; i < *argc; i++)
		if (strcmp(argv[i], "export-audit-key-bundle") == 0)
			verb = 1;
	if (!verb)
		return (0);
	for (i = 1; i < *argc; i++) {
		if (strncmp(argv[i], "--output-file=", 14) == 0) {
			*out = argv[i] + 14;
			j = 1;
		} else if (strcmp(argv[i], "--output-file") == 0) {
			if (i + 1 >= *argc)
				return (-1);
			*out = argv[i + 1];
			j = 2;
		} else
			continue;
		memmove(&argv[i], &argv[i + j], (size_t)(*argc - i - j + 1) *
		    sizeof(*argv));
		*argc -= j;
		i--;
	}
	return (*out != NULL && **out == '\0' ? -1 : 0);
}

/* Call, query, print.  Returns the exit code. */
static int
run(struct cli_args *a, const struct cli_query *q)
{
	struct cli_status st = { 0, "", "" };
	struct fetch_ctx ctx = { NULL, a };
	json_t *out = NULL, *next = NULL, *r;
	char buf[2048];
	int rc;

	/* Plaintext for http://, else TLS with its files found. */
	if (cli_tls_resolve(&a->tls, buf, sizeof(buf))) {
		fprintf(stderr, "\ncoffer: error: %s\n", buf);
		return (CLI_EXIT_CLIENT);
	}
	cli_tls_announce(&a->tls);
	if (a->debug)
		debug_transport(a);
	if ((ctx.conn = cli_conn_new(a->endpoint, &a->tls, &st)) == NULL) {
		fprintf(stderr, "\ncoffer: error: %s\n", st.message);
		return (CLI_EXIT_CLIENT);
	}
	if (cli_paginate(a, fetch, &ctx, &out, &st)) {
		rc = cli_error_text(buf, sizeof(buf), a->verb->op, &st,
		    a->endpoint);
		fputs(buf, stderr);
		goto done;
	}
	if (q != NULL) {
		if ((r = cli_query_eval(q, out, buf, sizeof(buf))) == NULL) {
			fprintf(stderr, "\n%s\n", buf);
			rc = CLI_EXIT_CLIENT;
			goto done;
		}
		json_decref(out);
		out = r;
	}

	/*
	 * The AWS CLI's text output puts the --max-items resume token last,
	 * on a NEXTTOKEN line.
	 */
	if (q == NULL && strcmp(a->output, "text") == 0 &&
	    cli_verb_paginated(a->verb) && !a->no_paginate &&
	    !a->manual_paging && (r = json_object_get(out, "NextToken")) !=
	    NULL) {
		next = json_incref(r);
		json_object_del(out, "NextToken");
	}

	/* An empty response (TagResource) prints nothing, as in the AWS CLI. */
	rc = CLI_EXIT_OK;
	if (a->output_file != NULL) {
		rc = write_output_file(a, out);
		goto done;
	}
	if (!(json_is_object(out) && json_object_size(out) == 0) &&
	    cli_render(stdout, out, a->output, a->verb->op))
		rc = CLI_EXIT_CLIENT;
	if (json_is_string(next))
		printf("NEXTTOKEN\t%s\n", json_string_value(next));
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_CLIENT;

done:
	json_decref(next);
	json_decref(out);
	cli_conn_free(ctx.conn);
	return (rc);
}

/* The global options the audit commands take too, each with a value. */
static const char *const audit_globals[] = { "--endpoint-url", "--endpoint",
    "--ca-bundle", "--cert", "--key" };

/* Nonzero if ${arg} is one of audit_globals, as "--opt" or "--opt=V". */
static int
audit_global(const char *arg, int *joined)
{
	size_t i, n;

	for (i = 0; i < sizeof(audit_globals) / sizeof(audit_globals[0]);
	    i++) {
		n = strlen(audit_globals[i]);
		if (strncmp(arg, audit_globals[i], n) == 0 &&
		    (arg[n] == '\0' || arg[n] == '=')) {
			*joined = arg[n] == '=';
			return (1);
		}
	}
	return (0);
}

/*
 * Where the word "audit" stands when only global transport options come
 * before it ("coffer --endpoint-url U audit verify"), or 0.  Global
 * options go anywhere, as the help says, Coffer's own commands included.
 */
static int
audit_word(int argc, char **argv)
{
	int i, joined;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "audit") == 0)
			return (i);
		if (!audit_global(argv[i], &joined))
			return (0);
		if (!joined)
			i++;
	}
	return (0);
}

/*
 * Run "coffer [globals] audit SUB [options]" as "audit SUB [options]
 * [globals]", each global split into its name and value.
 */
static int
audit_main(int argc, char **argv, int at)
{
	char **v = NULL, **names = NULL, *eq;
	int i, n = 0, k = 0, rc = CLI_EXIT_CLIENT;

	if ((v = calloc((size_t)argc * 2, sizeof(*v))) == NULL ||
	    (names = calloc((size_t)argc, sizeof(*names))) == NULL)
		goto nomem;
	for (i = at + 1; i < argc; i++)
		v[n++] = argv[i];
	for (i = 1; i < at; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL) {
			v[n++] = argv[i];
			continue;
		}

		/* "--opt=V": the name alone, then V. */
		if ((names[k] = strndup(argv[i], (size_t)(eq - argv[i]))) ==
		    NULL)
			goto nomem;
		v[n++] = names[k++];
		v[n++] = eq + 1;
	}
	rc = cli_audit_main(n, v);
	goto done;

nomem:
	fprintf(stderr, "\ncoffer: out of memory\n");
done:
	while (k > 0)
		free(names[--k]);
	free(names);
	free(v);
	return (rc);
}

int
cli_main(int argc, char **argv)
{
	struct cli_args a;
	struct cli_usage u;
	struct cli_query *q = NULL;
	const char *output_file;
	json_t *skel;
	int rc = CLI_EXIT_OK, at;

	/* jansson's copies of secret values are wiped when freed. */
	json_set_alloc_funcs(cf_heap_alloc, cf_heap_wipe_free);

	/* Coffer's own commands, outside the AWS verb set. */
	if ((at = audit_word(argc, argv)) != 0)
		return (audit_main(argc, argv, at));

	if (take_output_file(&argc, argv, &output_file)) {
		fprintf(stderr, "\ncoffer: error: argument --output-file: "
		    "expected one argument\n");
		return (CLI_EXIT_USAGE);
	}
	switch (cli_args_parse(argc, argv, &a, &u)) {
	case CLI_PARSE_USAGE:
		cli_usage_print(stderr, &u);
		rc = CLI_EXIT_USAGE;
		break;
	case CLI_PARSE_NOMEM:
		fprintf(stderr, "\ncoffer: out of memory\n");
		rc = CLI_EXIT_CLIENT;
		break;
	case CLI_PARSE_HELP:
		cli_help(stdout, a.verb);
		break;
	case CLI_PARSE_VERSION:
		printf("coffer/%s (Coffer; AWS Secrets Manager API "
		    "2017-10-17 over gRPC)\n", COFFER_VERSION);
		break;
	case CLI_PARSE_SKELETON:
		skel = shape_skeleton(strcmp(a.skeleton, "output") == 0 ?
		    a.verb->resp : a.verb->req);
		if (skel == NULL || cli_render(stdout, skel, "json", NULL))
			rc = CLI_EXIT_CLIENT;
		json_decref(skel);
		break;
	case CLI_PARSE_RUN:
		/* A bad --query is a usage error, found before any call. */
		if (a.query != NULL && (q = cli_query_compile(a.query, u.msg,
		    sizeof(u.msg))) == NULL) {
			u.verb = a.verb;
			cli_usage_print(stderr, &u);
			rc = CLI_EXIT_USAGE;
			break;
		}
		a.output_file = output_file;
		grpc_init();
		rc = run(&a, q);
		grpc_shutdown();
		break;
	}
	cli_query_free(q);
	cli_args_cleanup(&a);
	return (rc);
}
