/*
 * args.c: coffer's command line, parsed the way the AWS CLI parses it.
 *
 * Global options may appear anywhere; the first bare word is the verb;
 * the words after it are the verb's flags, which are the request's fields
 * in kebab-case (found by reflection, so every member of every operation
 * has its flag).  Booleans come in --x / --no-x pairs.  --cli-input-json
 * fills the request first; flags then override it; then the required
 * members are checked and a ClientRequestToken generated.  The value forms
 * of a flag are values.c's.
 *
 * The transport follows the endpoint's scheme as in the AWS CLI: http:// is
 * plaintext gRPC, https:// or a bare HOST:PORT is TLS with --ca-bundle,
 * --cert and --key (or COFFER_CA_BUNDLE, COFFER_CERT, COFFER_KEY), else
 * the dev certificates ci/dev keeps in .coffer-dev/tls.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli_internal.h"

/* ---- global options -------------------------------------------------------------- */

enum global_id {
	G_ENDPOINT, G_OUTPUT, G_QUERY, G_INPUT_JSON, G_SKELETON, G_BINFMT,
	G_NO_PAGINATE, G_MAX_ITEMS, G_STARTING_TOKEN, G_PAGE_SIZE,
	G_READ_TIMEOUT, G_DEBUG, G_VERSION, G_CA_BUNDLE, G_CERT, G_KEY,
	G_IGNORED
};

struct global {
	const char *name;
	int arity;			/* 0, 1, or 2 for an optional value */
	enum global_id id;
};

static const struct global globals[] = {
	{ "--endpoint", 1, G_ENDPOINT },
	{ "--endpoint-url", 1, G_ENDPOINT },
	{ "--output", 1, G_OUTPUT },
	{ "--query", 1, G_QUERY },
	{ "--cli-input-json", 1, G_INPUT_JSON },
	{ "--generate-cli-skeleton", 2, G_SKELETON },
	{ "--cli-binary-format", 1, G_BINFMT },
	{ "--no-paginate", 0, G_NO_PAGINATE },
	{ "--max-items", 1, G_MAX_ITEMS },
	{ "--starting-token", 1, G_STARTING_TOKEN },
	{ "--page-size", 1, G_PAGE_SIZE },
	{ "--cli-read-timeout", 1, G_READ_TIMEOUT },
	{ "--debug", 0, G_DEBUG },
	{ "--version", 0, G_VERSION },
	{ "--ca-bundle", 1, G_CA_BUNDLE },
	{ "--cert", 1, G_CERT },
	{ "--key", 1, G_KEY },
	/* Accepted so AWS command lines run; they mean nothing here. */
	{ "--region", 1, G_IGNORED },
	{ "--profile", 1, G_IGNORED },
	{ "--color", 1, G_IGNORED },
	{ "--cli-connect-timeout", 1, G_IGNORED },
	{ "--no-cli-pager", 0, G_IGNORED },
	{ "--no-verify-ssl", 0, G_IGNORED },
	{ "--no-sign-request", 0, G_IGNORED },
	{ "--no-cli-auto-prompt", 0, G_IGNORED },
};
#define N_GLOBALS (sizeof(globals) / sizeof(globals[0]))

/* A command-line word, split at "=" when it is --name=value. */
struct word {
	const char *s;
	size_t namelen;			/* length of the --name part */
	const char *value;		/* after "=", or NULL */
};

static struct word
split(const char *s)
{
	struct word w = { s, strlen(s), NULL };
	const char *eq;

	if (strncmp(s, "--", 2) == 0 && (eq = strchr(s, '=')) != NULL) {
		w.namelen = (size_t)(eq - s);
		w.value = eq + 1;
	}
	return (w);
}

static int
word_is(const struct word *w, const char *name)
{

	return (strlen(name) == w->namelen && strncmp(w->s, name,
	    w->namelen) == 0);
}

static int usage(struct cli_usage *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage(struct cli_usage *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof(u->msg), fmt, ap);
	va_end(ap);
	return (-1);
}

static int
parse_long(const char *flag, const char *s, long min, long *out,
    struct cli_usage *u)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min)
		return (usage(u, "argument %s: invalid int value: '%s'", flag,
		    s));
	*out = v;
	return (0);
}

/* HOST:PORT from --endpoint-url http[s]://HOST:PORT/, and the transport. */
static int
set_endpoint(struct cli_args *a, const char *v, struct cli_usage *u)
{

	if (cli_endpoint_parse(v, a->endpoint, sizeof(a->endpoint), &a->tls))
		return (usage(u, "argument --endpoint-url: invalid endpoint "
		    "'%s' (expected HOST:PORT, http://HOST:PORT or "
		    "https://HOST:PORT)", v));
	return (0);
}

/* One of the TLS file options: its path into ${dst}. */
static int
set_path(char *dst, const struct global *g, const char *v,
    struct cli_usage *u)
{

	if (cli_tls_path(dst, v))
		return (usage(u, "argument %s: invalid path '%s'", g->name, v));
	return (0);
}

static int
set_output(struct cli_args *a, const char *v, struct cli_usage *u)
{

	if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0 &&
	    strcmp(v, "table") != 0)
		return (usage(u, "argument --output: Invalid choice, valid "
		    "choices are: json | text | table"));
	a->output = v;
	return (0);
}

/* Apply global option ${g} with value ${v} (NULL when it takes none). */
static int
apply_global(struct cli_args *a, const struct global *g, const char *v,
    struct cli_usage *u)
{
	long n = 0;

	switch (g->id) {
	case G_ENDPOINT:
		return (set_endpoint(a, v, u));
	case G_OUTPUT:
		return (set_output(a, v, u));
	case G_QUERY:
		a->query = v;
		return (0);
	case G_INPUT_JSON:
		a->input_json = v;
		return (0);
	case G_SKELETON:
		a->skeleton = v != NULL ? v : "input";
		if (strcmp(a->skeleton, "input") != 0 &&
		    strcmp(a->skeleton, "output") != 0)
			return (usage(u, "argument --generate-cli-skeleton: "
			    "Invalid choice, valid choices are: input | "
			    "output"));
		return (0);
	case G_BINFMT:
		if (strcmp(v, "base64") != 0 &&
		    strcmp(v, "raw-in-base64-out") != 0)
			return (usage(u, "argument --cli-binary-format: Invalid "
			    "choice, valid choices are: base64 | "
			    "raw-in-base64-out"));
		a->o.raw_binary = strcmp(v, "raw-in-base64-out") == 0;
		return (0);
	case G_NO_PAGINATE:
		a->no_paginate = 1;
		return (0);
	case G_MAX_ITEMS:
		return (parse_long(g->name, v, 1, &a->max_items, u));
	case G_PAGE_SIZE:
		return (parse_long(g->name, v, 1, &a->page_size, u));
	case G_READ_TIMEOUT:
		if (parse_long(g->name, v, 0, &n, u))
			return (-1);
		a->timeout = n > INT_MAX ? INT_MAX : (int)n;
		return (0);
	case G_STARTING_TOKEN:
		free(a->start_token);
		a->start_token = NULL;
		if (cli_token_decode(v, &a->start_token, &a->start_skip))
			return (usage(u, "argument --starting-token: invalid "
			    "token (pass a NextToken that coffer printed)"));
		a->has_starting_token = 1;
		return (0);
	case G_DEBUG:
		a->debug = 1;
		return (0);
	case G_CA_BUNDLE:
		return (set_path(a->tls.ca_bundle, g, v, u));
	case G_CERT:
		return (set_path(a->tls.cert, g, v, u));
	case G_KEY:
		return (set_path(a->tls.key, g, v, u));
	case G_VERSION:
	case G_IGNORED:
		return (0);
	}
	return (0);
}

static const struct global *
find_global(const struct word *w)
{
	size_t i;

	for (i = 0; i < N_GLOBALS; i++)
		if (word_is(w, globals[i].name))
			return (&globals[i]);
	return (NULL);
}

/* ---- the verb's flags -------------------------------------------------------------- */

static int
is_help(const struct word *w)
{

	return (w->value == NULL && (strcmp(w->s, "help") == 0 ||
	    strcmp(w->s, "--help") == 0 || strcmp(w->s, "-h") == 0));
}

/* The field named by --kebab-name (name without the dashes). */
static const ProtobufCFieldDescriptor *
flag_field(const ProtobufCMessageDescriptor *d, const char *name, size_t n)
{
	char snake[128];
	size_t i;

	if (n >= sizeof(snake))
		return (NULL);
	for (i = 0; i < n; i++)
		snake[i] = name[i] == '-' ? '_' : name[i];
	snake[n] = '\0';
	return (protobuf_c_message_descriptor_get_field_by_name(d, snake));
}

static int
is_bool(const ProtobufCFieldDescriptor *f)
{

	return (f != NULL && f->type == PROTOBUF_C_TYPE_BOOL &&
	    f->label != PROTOBUF_C_LABEL_REPEATED);
}

/* Load --cli-input-json (JSON text or file://PATH) into the request. */
static int
input_json(struct cli_args *a, struct cli_usage *u)
{
	char err[512], *text;
	json_error_t je;
	size_t len;
	json_t *j;
	int bin, rc;

	if ((text = cli_param_value(a->input_json, &len, &bin, err,
	    sizeof(err))) == NULL)
		return (usage(u, "Error parsing parameter '--cli-input-json': "
		    "%s", err));
	j = json_loadb(text, len, 0, &je);
	cf_heap_wipe_free(text);
	if (j == NULL)
		return (usage(u, "Error parsing parameter '--cli-input-json': "
		    "Invalid JSON received: %s", je.text));
	rc = shape_json_to_message(a->req, j, &a->o, err, sizeof(err));
	json_decref(j);
	if (rc)
		return (usage(u, "%s", err));
	return (0);
}

/*
 * The verb's words, in order.  Returns 1 if they ask for help, 0 when the
 * request is built, -1 on a usage error.
 */
static int
verb_flags(struct cli_args *a, struct word *w, int n, struct cli_usage *u)
{
	const ProtobufCFieldDescriptor *f;
	const struct cli_verb *v = a->verb;
	char err[768], **vals = NULL;
	const char *name;
	size_t len;
	int i, j, k, used;

	if ((vals = calloc((size_t)n + 1, sizeof(*vals))) == NULL)
		return (usage(u, "out of memory"));
	for (i = 0; i < n; i += 1 + used) {
		used = 0;
		if (is_help(&w[i])) {
			free(vals);
			return (1);
		}
		if (strncmp(w[i].s, "--", 2) != 0) {
			usage(u, "Unknown options: %s", w[i].s);
			goto fail;
		}
		name = w[i].s + 2;
		len = w[i].namelen - 2;

		/* --no-x sets boolean x false; --x sets it true. */
		if (len > 3 && strncmp(name, "no-", 3) == 0 &&
		    is_bool(f = flag_field(v->req, name + 3, len - 3))) {
			if (w[i].value != NULL)
				goto explicit;
			*(protobuf_c_boolean *)((char *)a->req +
			    f->quantifier_offset) = 1;
			*(protobuf_c_boolean *)((char *)a->req + f->offset) = 0;
			continue;
		}
		if ((f = flag_field(v->req, name, len)) == NULL) {
			usage(u, "Unknown options: %.*s", (int)w[i].namelen,
			    w[i].s);
			goto fail;
		}
		if (is_bool(f) && w[i].value != NULL)
			goto explicit;

		/* Setting the page size or token by hand turns paging off. */
		if (cli_verb_paginated(v) && (strcmp(f->name, "max_results") ==
		    0 || strcmp(f->name, "next_token") == 0))
			a->manual_paging = 1;

		/*
		 * The values: "--x=v", or the words that follow.  They are
		 * argv's strings; cli_set_flag takes argv's type and only
		 * reads them.
		 */
		k = 0;
		if (w[i].value != NULL)
			vals[k++] = (char *)(uintptr_t)w[i].value;
		else
			for (j = i + 1; j < n && w[j].value == NULL; j++)
				vals[k++] = (char *)(uintptr_t)w[j].s;
		if (cli_set_flag(a->req, f, vals, k, &used, &a->o, err,
		    sizeof(err))) {
			usage(u, "%s", err);
			goto fail;
		}
		if (w[i].value != NULL)
			used = 0;
	}
	free(vals);
	return (0);

explicit:
	usage(u, "argument %.*s: ignored explicit argument '%s'",
	    (int)w[i].namelen, w[i].s, w[i].value);
fail:
	free(vals);
	return (-1);
}

/* Required members, then the ClientRequestToken the SDKs generate. */
static int
finish_request(struct cli_args *a, struct cli_usage *u)
{
	const ProtobufCFieldDescriptor *f;
	const struct cli_verb *v = a->verb;
	char missing[512], flag[128], token[37];
	size_t i, k = 0;

	missing[0] = '\0';
	for (i = 0; i < 3 && v->required[i] != NULL; i++) {
		f = protobuf_c_message_descriptor_get_field_by_name(v->req,
		    v->required[i]);
		if (shape_field_present(a->req, f))
			continue;
		cli_kebab(f->name, flag, sizeof(flag));
		k += (size_t)snprintf(missing + k, sizeof(missing) - k,
		    "%s--%s", k ? ", " : "", flag);
	}
	if (k > 0)
		return (usage(u, "the following arguments are required: %s",
		    missing));
	if (v->token && (f = protobuf_c_message_descriptor_get_field_by_name(
	    v->req, "client_request_token")) != NULL &&
	    !shape_field_present(a->req, f)) {
		if (cf_uuid_random(token) ||
		    (*(char **)((char *)a->req + f->offset) = strdup(token)) ==
		    NULL)
			return (usage(u, "could not generate a "
			    "ClientRequestToken"));
	}
	return (0);
}

/* ---- the whole line ----------------------------------------------------------------- */

static void
defaults(struct cli_args *a)
{
	const char *env;

	memset(a, 0, sizeof(*a));
	snprintf(a->endpoint, sizeof(a->endpoint), "%s", CLI_DEFAULT_ENDPOINT);
	a->output = "json";
	a->timeout = CLI_DEFAULT_TIMEOUT;
	env = getenv("COFFER_CLI_TIMESTAMP_FORMAT");
	a->o.wire_dates = env != NULL && strcmp(env, "wire") == 0;
}

/*
 * COFFER_ENDPOINT, COFFER_DEFAULT_OUTPUT and the TLS files, before the
 * options.
 */
static int
environment(struct cli_args *a, struct cli_usage *u)
{
	const char *env;

	if ((env = getenv("COFFER_ENDPOINT")) != NULL && *env != '\0' &&
	    set_endpoint(a, env, u))
		return (-1);
	if (cli_tls_env(&a->tls, u->msg, sizeof(u->msg)))
		return (-1);
	if ((env = getenv("COFFER_DEFAULT_OUTPUT")) != NULL && *env != '\0' &&
	    set_output(a, env, u))
		return (-1);
	return (0);
}

enum cli_parse
cli_args_parse(int argc, char **argv, struct cli_args *a, struct cli_usage *u)
{
	const struct global *g;
	struct word *rest = NULL, w;
	const char *verb = NULL, *val;
	enum cli_parse r = CLI_PARSE_USAGE;
	int i, n = 0, help = 0, version = 0, rc;

	defaults(a);
	memset(u, 0, sizeof(*u));
	if (environment(a, u))
		return (CLI_PARSE_USAGE);
	if ((rest = calloc((size_t)argc + 1, sizeof(*rest))) == NULL)
		return (CLI_PARSE_NOMEM);

	/* Global options anywhere; the first bare word is the verb. */
	for (i = 1; i < argc; i++) {
		w = split(argv[i]);
		if ((g = find_global(&w)) != NULL) {
			val = w.value;
			if (g->arity == 0 && val != NULL) {
				usage(u, "argument %s: ignored explicit "
				    "argument '%s'", g->name, val);
				goto out;
			}
			if (g->arity == 1 && val == NULL) {
				if (i + 1 >= argc) {
					usage(u, "argument %s: expected one "
					    "argument", g->name);
					goto out;
				}
				val = argv[++i];
			}
			if (g->arity == 2 && val == NULL && i + 1 < argc &&
			    strncmp(argv[i + 1], "-", 1) != 0 &&
			    (strcmp(argv[i + 1], "input") == 0 ||
			    strcmp(argv[i + 1], "output") == 0))
				val = argv[++i];
			if (apply_global(a, g, val, u))
				goto out;
			version |= g->id == G_VERSION;
			continue;
		}
		if (verb == NULL) {
			if (is_help(&w))
				help = 1;
			else if (argv[i][0] == '-') {
				usage(u, "Unknown options: %s", argv[i]);
				goto out;
			} else
				verb = argv[i];
			continue;
		}
		rest[n++] = w;
	}
	if (version) {
		r = CLI_PARSE_VERSION;
		goto out;
	}
	if (verb == NULL) {
		if (help)
			r = CLI_PARSE_HELP;
		else
			usage(u, "the following arguments are required: "
			    "command");
		goto out;
	}
	if ((a->verb = cli_verb_find(verb)) == NULL) {
		usage(u, "argument command: Invalid choice: '%s' (see `coffer "
		    "help` for the valid choices)", verb);
		goto out;
	}
	u->verb = a->verb;
	if (help) {
		r = CLI_PARSE_HELP;
		goto out;
	}
	if (cli_tls_check(&a->tls, u->msg, sizeof(u->msg)))
		goto out;

	/* The request: --cli-input-json, then the flags, then defaults. */
	if ((a->req = shape_message_new(a->verb->req)) == NULL) {
		r = CLI_PARSE_NOMEM;
		goto out;
	}
	if (a->input_json != NULL && input_json(a, u))
		goto out;
	if ((rc = verb_flags(a, rest, n, u)) != 0) {
		if (rc == 1)
			r = CLI_PARSE_HELP;
		goto out;
	}
	if (a->skeleton != NULL) {
		r = CLI_PARSE_SKELETON;
		goto out;
	}
	if (finish_request(a, u))
		goto out;
	r = CLI_PARSE_RUN;

out:
	free(rest);
	return (r);
}

void
cli_args_cleanup(struct cli_args *a)
{

	shape_message_free(a->req);
	a->req = NULL;
	free(a->start_token);
	a->start_token = NULL;
}

/* ---- the transport ------------------------------------------------------------------ */

static int fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Format an error into ${err}; returns -1. */
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* ${dir}/${name} into ${out}; 0, or -1 if it does not fit. */
static int
join(char out[CLI_PATH_MAX], const char *dir, const char *name)
{
	size_t n = strlen(dir);
	int len;

	len = snprintf(out, CLI_PATH_MAX, "%s%s%s", dir,
	    n > 0 && dir[n - 1] == '/' ? "" : "/", name);
	return (len < 0 || len >= CLI_PATH_MAX ? -1 : 0);
}

/* Nonzero if ${path} is a directory. */
static int
is_dir(const char *path)
{
	struct stat sb;

	return (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/*
 * Nonzero if ${path} is a directory that nobody but its owner can change and
 * whose owner is us or root: files in a directory another user controls
 * could be a planted CA and key.
 */
static int
is_trusted_dir(const char *path)
{
	struct stat sb;

	return (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    (sb.st_uid == geteuid() || sb.st_uid == 0) &&
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

int
cli_dev_tls_near(const char *exe, char out[CLI_PATH_MAX], char *err,
    size_t errlen)
{
	char dir[CLI_PATH_MAX];
	char *slash;
	int up;

	/*
	 * The binary's directory and its parent: a checkout's build/coffer
	 * finds the checkout's .coffer-dev, and nothing the working directory
	 * or its parents hold is ever looked at.
	 */
	if (cli_tls_path(dir, exe))
		return (fail(err, errlen, "path too long: %s", exe));
	for (up = 0; up < 2; up++) {
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			break;
		*slash = '\0';
		if (join(out, dir, ".coffer-dev/tls") == 0 &&
		    is_trusted_dir(out))
			return (1);
	}
	out[0] = '\0';
	return (0);
}

/*
 * The dev TLS directory into ${out}: COFFER_DEV_DIR/tls when that variable
 * is set, else the .coffer-dev/tls of the checkout the running binary was
 * built in.  Returns 1 if found, 0 if not, -1 with ${err}.
 */
static int
find_dev_tls(char out[CLI_PATH_MAX], char *err, size_t errlen)
{
	char exe[CLI_PATH_MAX];
	const char *env;
	ssize_t n;

	/* COFFER_DEV_DIR is the only place looked at when it is set. */
	if ((env = getenv("COFFER_DEV_DIR")) != NULL && *env != '\0') {
		if (join(out, env, "tls") || !is_dir(out))
			return (fail(err, errlen, "COFFER_DEV_DIR is \"%s\" but "
			    "\"%s/tls\" is not a directory (ci/dev creates "
			    "it)", env, env));
		return (1);
	}

	/* Else the checkout this very binary lives in. */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0 ||
	    (size_t)n >= sizeof(exe) - 1) {
		out[0] = '\0';
		return (0);
	}
	exe[n] = '\0';
	return (cli_dev_tls_near(exe, out, err, errlen));
}

/* Environment variable ${name}, when set and not empty, into ${dst}. */
static int
env_path(char *dst, const char *name, char *err, size_t errlen)
{
	const char *env;

	if ((env = getenv(name)) == NULL || *env == '\0')
		return (0);
	if (cli_tls_path(dst, env))
		return (fail(err, errlen, "%s: path too long", name));
	return (0);
}

int
cli_endpoint_parse(const char *url, char *out, size_t n, struct cli_tls *t)
{
	const char *v = url;
	int plaintext = 0;
	size_t len;

	/* The scheme picks the transport; none means TLS. */
	if (strncasecmp(v, "http://", 7) == 0) {
		v += 7;
		plaintext = 1;
	} else if (strncasecmp(v, "https://", 8) == 0)
		v += 8;

	/* HOST:PORT stops at a path; a unix: target is kept whole. */
	len = strncmp(v, "unix:", 5) == 0 ? strlen(v) : strcspn(v, "/");
	if (len == 0 || len >= n)
		return (-1);
	memcpy(out, v, len);
	out[len] = '\0';
	t->plaintext = plaintext;

	/* Success! */
	return (0);
}

void
cli_tls_announce(const struct cli_tls *t)
{

	/* Files nobody named on the command line: say which were used. */
	if (t->dev_dir[0] == '\0')
		return;
	fprintf(stderr, "coffer: using the development TLS files of %s: "
	    "ca.pem%s\n", t->dev_dir, t->cert[0] != '\0' &&
	    strncmp(t->cert, t->dev_dir, strlen(t->dev_dir)) == 0 ?
	    ", admin.pem, admin.key" : "");
}

int
cli_tls_path(char dst[CLI_PATH_MAX], const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n >= CLI_PATH_MAX)
		return (-1);
	memcpy(dst, path, n + 1);
	return (0);
}

int
cli_tls_env(struct cli_tls *t, char *err, size_t errlen)
{

	if (env_path(t->ca_bundle, "COFFER_CA_BUNDLE", err, errlen) ||
	    env_path(t->cert, "COFFER_CERT", err, errlen) ||
	    env_path(t->key, "COFFER_KEY", err, errlen))
		return (-1);
	return (0);
}

int
cli_tls_check(const struct cli_tls *t, char *err, size_t errlen)
{

	if (t->cert[0] != '\0' && t->key[0] == '\0')
		return (fail(err, errlen, "argument --cert: a client "
		    "certificate needs its key: give --key as well (or "
		    "COFFER_KEY)"));
	if (t->key[0] != '\0' && t->cert[0] == '\0')
		return (fail(err, errlen, "argument --key: a client key needs "
		    "its certificate: give --cert as well (or COFFER_CERT)"));
	return (0);
}

int
cli_tls_resolve(struct cli_tls *t, char *err, size_t errlen)
{
	char dir[CLI_PATH_MAX];
	int found;

	/* Plaintext needs no files. */
	if (t->plaintext)
		return (0);

	/*
	 * No CA bundle given: ci/dev's .coffer-dev/tls supplies its CA, and
	 * its admin certificate too unless a client certificate was given
	 * (so another principal's certificate works against the dev server).
	 * A CA bundle given alone means no client certificate.
	 */
	if (t->ca_bundle[0] == '\0') {
		if ((found = find_dev_tls(dir, err, errlen)) == -1)
			return (-1);
		if (found && join(t->ca_bundle, dir, "ca.pem"))
			return (fail(err, errlen, "path too long: %s", dir));
		if (found && t->cert[0] == '\0' && t->key[0] == '\0' &&
		    (join(t->cert, dir, "admin.pem") ||
		    join(t->key, dir, "admin.key")))
			return (fail(err, errlen, "path too long: %s", dir));
		if (found)
			memcpy(t->dev_dir, dir, sizeof(t->dev_dir));
	}

	/* TLS without a CA bundle cannot check the server. */
	if (t->ca_bundle[0] == '\0')
		return (fail(err, errlen, "TLS needs a CA bundle: give "
		    "--ca-bundle PATH (or COFFER_CA_BUNDLE), with --cert PATH "
		    "and --key PATH (or COFFER_CERT and COFFER_KEY) for a "
		    "client certificate; or run the coffer of a checkout where "
		    "ci/dev made .coffer-dev/tls (or set COFFER_DEV_DIR); an "
		    "http:// endpoint is plaintext"));

	/* Success! */
	return (0);
}
