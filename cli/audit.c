/*
 * audit.c: `coffer audit verify` and `coffer audit export` (Coffer's own
 * commands; the audit trail is not part of the AWS API).
 *
 *   coffer audit verify [--endpoint-url U]
 *	cofferd walks every chain (VerifyAuditLog, a bounded part per call,
 *	followed to the end): the report as JSON; exit 0 if every chain
 *	verifies, 1 if one does not.
 *   coffer audit verify --file EXPORT [--pkcs11-module M --token-label T
 *       --pin-file F | --key-bundle B --private-key K]
 *	offline, on a file `coffer audit export` wrote: each chain's links
 *	and hashes, and with a token, or with an auditor's key bundle
 *	(export-audit-key-bundle) and private key, each event's HMAC too.
 *	An export that starts mid-chain (a date range) is checked from its
 *	first event.  Unsigned events (no "Hmac": cofferd signs the last
 *	event of each batch, whose HMAC covers the ones before it) are
 *	proven by the next signed event of their chain; a chain whose last
 *	events in the file have none after them is reported broken ("covered
 *	by no HMAC"), since nothing proves them.  An export that ends at a
 *	UTC month boundary (--end-date YYYY-MM-01) never ends a chain
 *	unsigned: cofferd signs every chain's last event of each month.
 *	export does not reach past --end-date for the signed event.
 *   coffer audit export [--output-file F] [--secret-id ...] [--principal
 *       ...] [--operation ...] [--outcome ...] [--start-date ...]
 *       [--end-date ...] [--endpoint-url U]
 *	every matching event as one JSON object per line, for a SIEM.
 *
 * The calls to cofferd take the transport options of every coffer command:
 * --ca-bundle, --cert, --key (COFFER_CA_BUNDLE, COFFER_CERT, COFFER_KEY),
 * TLS unless the endpoint is http://, and the dev files of .coffer-dev/tls
 * when none is given (args.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "audit.h"
#include "cli_internal.h"
#include "coffer/v1/secrets_manager.pb-c.h"
#include "hsm.h"

#define AUDIT_SERVICE "coffer.v1.Audit"
#define EXPORT_PAGE 1000
#define EXIT_BROKEN 1

struct audit_opts {
	char endpoint[256];
	struct cli_tls tls;		/* plaintext or TLS, and its files */
	const char *file;		/* verify --file */
	const char *output_file;	/* export --output-file */
	const char *module, *token_label, *pin_file;
	const char *key_bundle, *private_key;	/* verify --file, no token */
	Coffer__V1__ListAuditEventsRequest filter;
	int64_t start, end;
};

static int usage(const char *, ...) CF_PRINTF(1, 2);

static int
usage(const char *fmt, ...)
{
	va_list ap;


	fputs("usage: coffer audit verify [--file EXPORT [--pkcs11-module M "
	    "--token-label T --pin-file F\n"
	    "                           | --key-bundle BUNDLE --private-key "
	    "PEM]] [--endpoint-url URL]\n"
	    "                           [--ca-bundle PEM] [--cert PEM --key "
	    "PEM]\n"
	    "       coffer audit export [--output-file FILE] [--secret-id ID] "
	    "[--principal P]\n"
	    "                           [--operation OP] [--outcome O] "
	    "[--start-date D] [--end-date D]\n"
	    "                           [--endpoint-url URL] [--ca-bundle PEM] "
	    "[--cert PEM --key PEM]\n"
	    "URL http://HOST:PORT is plaintext; https:// or HOST:PORT is TLS "
	    "(env COFFER_CA_BUNDLE,\n"
	    "COFFER_CERT, COFFER_KEY; default .coffer-dev/tls as ci/dev makes "
	    "it)\n", stderr);
	fprintf(stderr, "coffer: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return (CLI_EXIT_USAGE);
}

/* --endpoint-url (or COFFER_ENDPOINT): the target and the transport. */
static int
set_endpoint(struct audit_opts *o, const char *v)
{

	if (cli_endpoint_parse(v, o->endpoint, sizeof(o->endpoint), &o->tls))
		return (usage("invalid endpoint \"%s\" (expected HOST:PORT, "
		    "http://HOST:PORT or https://HOST:PORT)", v));
	return (0);
}

/* The path of ${t} that option ${name} sets, or NULL for another option. */
static char *
tls_file(struct cli_tls *t, const char *name)
{

	if (strcmp(name, "--ca-bundle") == 0)
		return (t->ca_bundle);
	if (strcmp(name, "--cert") == 0)
		return (t->cert);
	if (strcmp(name, "--key") == 0)
		return (t->key);
	return (NULL);
}

/* Parse the options after "audit verify" / "audit export". */
static int
parse(int argc, char **argv, int export, struct audit_opts *o)
{
	const char *env, *v;
	char err[512], *path;
	int i;

	memset(o, 0, sizeof(*o));
	coffer__v1__list_audit_events_request__init(&o->filter);
	snprintf(o->endpoint, sizeof(o->endpoint), "%s", CLI_DEFAULT_ENDPOINT);
	if ((env = getenv("COFFER_ENDPOINT")) != NULL && *env != '\0' &&
	    set_endpoint(o, env))
		return (CLI_EXIT_USAGE);
	if (cli_tls_env(&o->tls, err, sizeof(err)))
		return (usage("%s", err));
	o->module = getenv("COFFER_PKCS11_MODULE");
	o->token_label = getenv("COFFER_TOKEN_LABEL");
	o->pin_file = getenv("COFFER_PIN_FILE");
	for (i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			return (usage("argument %s: expected one argument",
			    argv[i]));
		v = argv[i + 1];
		if (strcmp(argv[i], "--endpoint-url") == 0 ||
		    strcmp(argv[i], "--endpoint") == 0) {
			if (set_endpoint(o, v))
				return (CLI_EXIT_USAGE);
		} else if ((path = tls_file(&o->tls, argv[i])) != NULL) {
			if (cli_tls_path(path, v))
				return (usage("argument %s: invalid path \"%s\"",
				    argv[i], v));
		} else if (!export && strcmp(argv[i], "--file") == 0)
			o->file = v;
		else if (!export && strcmp(argv[i], "--pkcs11-module") == 0)
			o->module = v;
		else if (!export && strcmp(argv[i], "--token-label") == 0)
			o->token_label = v;
		else if (!export && strcmp(argv[i], "--pin-file") == 0)
			o->pin_file = v;
		else if (!export && strcmp(argv[i], "--key-bundle") == 0)
			o->key_bundle = v;
		else if (!export && strcmp(argv[i], "--private-key") == 0)
			o->private_key = v;
		else if (export && strcmp(argv[i], "--output-file") == 0)
			o->output_file = v;
		else if (export && strcmp(argv[i], "--secret-id") == 0)
			o->filter.secret_id = argv[i + 1];
		else if (export && strcmp(argv[i], "--principal") == 0)
			o->filter.principal = argv[i + 1];
		else if (export && strcmp(argv[i], "--operation") == 0)
			o->filter.operation = argv[i + 1];
		else if (export && strcmp(argv[i], "--outcome") == 0)
			o->filter.outcome = argv[i + 1];
		else if (export && strcmp(argv[i], "--start-date") == 0) {
			if (shape_parse_date(v, &o->filter.start_date))
				return (usage("invalid --start-date \"%s\"", v));
			o->filter.has_start_date = 1;
		} else if (export && strcmp(argv[i], "--end-date") == 0) {
			if (shape_parse_date(v, &o->filter.end_date))
				return (usage("invalid --end-date \"%s\"", v));
			o->filter.has_end_date = 1;
		} else
			return (usage("unknown option %s", argv[i]));
	}
	if (cli_tls_check(&o->tls, err, sizeof(err)))
		return (usage("%s", err));
	if ((o->key_bundle != NULL) != (o->private_key != NULL))
		return (usage("--key-bundle and --private-key go together"));
	if (o->key_bundle != NULL && o->file == NULL)
		return (usage("--key-bundle checks an export: give --file"));
	return (0);
}

/*
 * A connection to cofferd with the transport of ${o}; NULL with the error
 * printed (exit CLI_EXIT_CLIENT).
 */
static struct cli_conn *
connect_to(struct audit_opts *o)
{
	struct cli_status st = { 0, "", "" };
	struct cli_conn *conn;

	if (cli_tls_resolve(&o->tls, st.message, sizeof(st.message))) {
		fprintf(stderr, "\ncoffer: error: %s\n", st.message);
		return (NULL);
	}
	cli_tls_announce(&o->tls);
	if ((conn = cli_conn_new(o->endpoint, &o->tls, &st)) == NULL)
		fprintf(stderr, "\ncoffer: error: %s\n", st.message);
	return (conn);
}

/* Report a failed call the AWS CLI's way; returns the exit code. */
static int
call_failed(const char *op, const struct cli_status *st, const char *ep)
{
	char buf[2048];
	int rc;

	rc = cli_error_text(buf, sizeof(buf), op, st, ep);
	fputs(buf, stderr);
	return (rc);
}

/* ---- hex ----------------------------------------------------------------------- */

/* Exactly ${n} bytes from the hex member ${s} (NULL if it is missing). */
static int
unhex(const char *s, uint8_t *out, size_t n)
{

	if (s == NULL || cf_hex_decode(s, strlen(s), CF_HEX_ANY_CASE, out,
	    n) != CF_HEX_OK)
		return (-1);
	return (0);
}

/* ---- export ---------------------------------------------------------------------- */

/* One event as a line of JSON. */
static int
export_line(FILE *f, const Coffer__V1__AuditEvent *e)
{
	char ph[65], h[65], m[65];
	json_t *o;
	char *line;
	int rc = -1;

	/* No Hmac: an unsigned event, which a later signed one covers. */
	if (e->prev_hash.len != 32 || e->hash.len != 32 ||
	    (e->has_hmac && e->hmac.len != 32))
		return (-1);
	cf_hex_encode(e->prev_hash.data, 32, ph);
	cf_hex_encode(e->hash.data, 32, h);
	if (e->has_hmac)
		cf_hex_encode(e->hmac.data, 32, m);
	o = json_pack("{s:s, s:I, s:I, s:o, s:s, s:s, s:s, s:s, s:s?, s:s?, "
	    "s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s*, s:I}",
	    "ChainId", e->chain_id, "Sequence", (json_int_t)e->sequence,
	    "EventTime", (json_int_t)e->event_date,
	    "EventDate", shape_date(e->event_date, 0),
	    "RequestId", e->request_id, "Principal", e->principal,
	    "Peer", e->peer, "Operation", e->operation,
	    "SecretArn", e->secret_arn, "VersionId", e->version_id,
	    "Outcome", e->outcome, "RequestParameters", e->request_parameters,
	    "Transport", e->transport, "AccessKeyId", e->access_key_id,
	    "PrevHash", ph, "Hash", h, "Hmac", e->has_hmac ? m : NULL,
	    "MacKeyVersion",
	    (json_int_t)(e->has_mac_key_version ? e->mac_key_version : 1));
	if (o == NULL)
		return (-1);
	if ((line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL) {
		rc = fprintf(f, "%s\n", line) < 0 ? -1 : 0;
		free(line);
	}
	json_decref(o);
	return (rc);
}

static int
cmd_export(struct audit_opts *o)
{
	Coffer__V1__ListAuditEventsRequest req = o->filter;
	Coffer__V1__ListAuditEventsResponse *resp = NULL;
	struct cli_status st = { 0, "", "" };
	struct cli_conn *conn;
	FILE *f = stdout;
	char *tok = NULL;
	size_t i, total = 0;
	int rc = CLI_EXIT_OK;

	if (o->output_file != NULL && (f = fopen(o->output_file, "w")) == NULL) {
		fprintf(stderr, "coffer: could not create %s: %s\n",
		    o->output_file, strerror(errno));
		return (CLI_EXIT_CLIENT);
	}
	if ((conn = connect_to(o)) == NULL) {
		rc = CLI_EXIT_CLIENT;
		goto done;
	}
	req.has_max_results = 1;
	req.max_results = EXPORT_PAGE;
	do {
		req.next_token = tok;
		if (cli_call(conn, AUDIT_SERVICE, "ListAuditEvents", &req.base,
		    &coffer__v1__list_audit_events_response__descriptor, 0,
		    (ProtobufCMessage **)&resp, &st)) {
			rc = call_failed("ListAuditEvents", &st, o->endpoint);
			goto done;
		}
		for (i = 0; i < resp->n_events; i++, total++)
			if (export_line(f, resp->events[i])) {
				fprintf(stderr, "coffer: could not write the "
				    "export\n");
				rc = CLI_EXIT_CLIENT;
				goto done;
			}
		free(tok);
		tok = resp->next_token != NULL ? strdup(resp->next_token) :
		    NULL;
		shape_message_free(&resp->base);
		resp = NULL;
	} while (tok != NULL);
	if (fflush(f) == EOF) {
		rc = CLI_EXIT_CLIENT;
		goto done;
	}
	fprintf(stderr, "coffer: exported %zu audit events\n", total);
done:
	if (resp != NULL)
		shape_message_free(&resp->base);
	free(tok);
	cli_conn_free(conn);
	if (f != stdout && fclose(f) == EOF)
		rc = CLI_EXIT_CLIENT;
	return (rc);
}

/* ---- verify ---------------------------------------------------------------------- */

/* ${o}[k] as a string (NULL when absent). */
static const char *
str(json_t *o, const char *k)
{

	return (json_string_value(json_object_get(o, k)));
}

/* ${o}[key] as an integer (0 when absent). */
static json_int_t
jint(json_t *o, const char *key)
{

	return (json_integer_value(json_object_get(o, key)));
}

/*
 * Fold one more VerifyAuditLog response (JSON) into ${acc}.  A chain the
 * server cut short comes back in parts: a part that continues ${acc}'s
 * last chain extends it (its events, its end, its verdict).
 */
static int
verify_fold(json_t *acc, json_t *more)
{
	json_t *chains = json_object_get(acc, "Chains");
	json_t *next = json_object_get(more, "Chains");
	json_t *last, *c;
	const char *key;
	json_t *v;
	size_t i, n;

	if (!json_is_array(chains)) {
		chains = json_array();
		if (chains == NULL || json_object_set_new(acc, "Chains", chains))
			return (-1);
	}
	for (i = 0; i < json_array_size(next); i++) {
		c = json_array_get(next, i);
		n = json_array_size(chains);
		last = n > 0 ? json_array_get(chains, n - 1) : NULL;
		if (last == NULL || strcmp(str(last, "ChainId") ? str(last,
		    "ChainId") : "", str(c, "ChainId") ? str(c, "ChainId") :
		    "") != 0) {
			if (json_array_append(chains, c))
				return (-1);
			continue;
		}
		/* The same chain, continued: keep its start, take its end. */
		if (json_object_set_new(last, "Events", json_integer(jint(last,
		    "Events") + jint(c, "Events"))))
			return (-1);
		json_object_foreach(c, key, v) {
			if (strcmp(key, "Events") == 0 ||
			    strcmp(key, "FirstSequence") == 0 ||
			    strcmp(key, "Anchored") == 0)
				continue;
			if (json_object_set(last, key, v))
				return (-1);
		}
	}
	if (json_object_set_new(acc, "Ok", json_boolean(json_is_true(
	    json_object_get(acc, "Ok")) && json_is_true(json_object_get(more,
	    "Ok")))) || json_object_set_new(acc, "Events", json_integer(
	    jint(acc, "Events") + jint(more, "Events"))))
		return (-1);
	return (0);
}

/*
 * cofferd checks a bounded part per call (audit_verify_max_events,
 * audit_verify_max_ms) and says where to go on: follow NextToken to the
 * end of every chain, and report the whole as one.
 */
static int
cmd_verify_online(struct audit_opts *o)
{
	Coffer__V1__VerifyAuditLogRequest req =
	    COFFER__V1__VERIFY_AUDIT_LOG_REQUEST__INIT;
	Coffer__V1__VerifyAuditLogResponse *resp = NULL;
	struct cli_status st = { 0, "", "" };
	struct shape_opts co = { 0 };
	struct cli_conn *conn;
	json_t *acc = NULL, *j, *c;
	char *tok = NULL;
	size_t i;
	int rc = CLI_EXIT_CLIENT, folded;

	if ((conn = connect_to(o)) == NULL)
		return (CLI_EXIT_CLIENT);
	do {
		req.next_token = tok;
		if (cli_call(conn, AUDIT_SERVICE, "VerifyAuditLog", &req.base,
		    &coffer__v1__verify_audit_log_response__descriptor, 0,
		    (ProtobufCMessage **)&resp, &st)) {
			rc = call_failed("VerifyAuditLog", &st, o->endpoint);
			goto done;
		}
		free(tok);
		tok = resp->next_token != NULL ? strdup(resp->next_token) :
		    NULL;
		if (resp->next_token != NULL && tok == NULL)
			goto done;
		j = shape_message_to_json(&resp->base, &co);
		shape_message_free(&resp->base);
		resp = NULL;
		if (j == NULL)
			goto done;
		json_object_del(j, "NextToken");
		if (acc == NULL)
			acc = j;
		else {
			folded = verify_fold(acc, j);
			json_decref(j);
			if (folded != 0)
				goto done;
		}
	} while (tok != NULL);

	rc = cli_render(stdout, acc, "json", NULL) ? CLI_EXIT_CLIENT :
	    CLI_EXIT_OK;
	for (i = 0; i < json_array_size(json_object_get(acc, "Chains")); i++) {
		c = json_array_get(json_object_get(acc, "Chains"), i);
		if (!json_is_true(json_object_get(c, "Ok")))
			fprintf(stderr, "coffer: audit chain %s is broken at "
			    "event %lld: %s\n", str(c, "ChainId") ? str(c,
			    "ChainId") : "?", (long long)jint(c,
			    "BrokenSequence"), str(c, "Reason") ? str(c,
			    "Reason") : "?");
	}
	if (rc == CLI_EXIT_OK && !json_is_true(json_object_get(acc, "Ok")))
		rc = EXIT_BROKEN;
done:
	if (resp != NULL)
		shape_message_free(&resp->base);
	free(tok);
	json_decref(acc);
	cli_conn_free(conn);
	return (rc);
}

/* A parsed export line: the row points into the JSON object it keeps. */
struct line {
	struct cf_audit_row row;
	json_t *obj;
};

static int
line_parse(json_t *o, struct line *l)
{
	struct cf_audit_row *r = &l->row;
	const char *chain = str(o, "ChainId");
	json_t *v;

	memset(l, 0, sizeof(*l));
	l->obj = o;
	if (chain == NULL || strlen(chain) != 36 ||
	    !json_is_integer(json_object_get(o, "Sequence")) ||
	    !json_is_integer(json_object_get(o, "EventTime")))
		return (-1);
	memcpy(r->chain_id, chain, 37);
	r->seq = json_integer_value(json_object_get(o, "Sequence"));
	r->time_ms = json_integer_value(json_object_get(o, "EventTime"));
	r->request_id = str(o, "RequestId");
	r->principal = str(o, "Principal");
	r->peer = str(o, "Peer");
	r->operation = str(o, "Operation");
	r->secret_arn = str(o, "SecretArn");
	r->version_id = str(o, "VersionId");
	r->outcome = str(o, "Outcome");
	r->request_params = str(o, "RequestParameters");
	r->transport = str(o, "Transport");
	r->access_key_id = str(o, "AccessKeyId");
	/* Absent in an export made before audit keys had versions: 1. */
	v = json_object_get(o, "MacKeyVersion");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > UINT32_MAX))
		return (-1);
	r->mac_version = v != NULL ? (uint32_t)json_integer_value(v) : 1;
	/* Without "Hmac": an unsigned event (a later signed one covers it). */
	v = json_object_get(o, "Hmac");
	r->hmac_absent = v == NULL || json_is_null(v);
	if (r->request_id == NULL || r->principal == NULL || r->peer == NULL ||
	    r->operation == NULL || r->outcome == NULL ||
	    unhex(str(o, "PrevHash"), r->prev_hash, 32) ||
	    unhex(str(o, "Hash"), r->hash, 32) ||
	    (!r->hmac_absent && unhex(str(o, "Hmac"), r->hmac, 32)))
		return (-1);
	return (0);
}

static int
line_cmp(const void *va, const void *vb)
{
	const struct cf_audit_row *a = &((const struct line *)va)->row;
	const struct cf_audit_row *b = &((const struct line *)vb)->row;
	int c;

	if ((c = strcmp(a->chain_id, b->chain_id)) != 0)
		return (c);
	if (a->seq != b->seq)
		return (a->seq < b->seq ? -1 : 1);
	return (memcmp(a->hash, b->hash, 32));
}

/* Read every line of ${path}; NULL with a message printed on error. */
static struct line *
read_export(const char *path, size_t *out_n)
{
	struct line *lines = NULL, *grown;
	size_t n = 0, cap = 0, lineno = 0;
	json_error_t jerr;
	char *buf = NULL;
	size_t bufcap = 0;
	ssize_t len;
	FILE *f;
	json_t *o;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "coffer: could not open %s: %s\n", path,
		    strerror(errno));
		return (NULL);
	}
	while ((len = getline(&buf, &bufcap, f)) != -1) {
		lineno++;
		if (len <= 1)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if ((grown = realloc(lines, cap * sizeof(*lines))) ==
			    NULL)
				goto fail;
			lines = grown;
		}
		if ((o = json_loads(buf, 0, &jerr)) == NULL ||
		    line_parse(o, &lines[n]) != 0) {
			json_decref(o);
			fprintf(stderr, "coffer: %s:%zu: not an audit event "
			    "of coffer audit export\n", path, lineno);
			goto fail;
		}
		n++;
	}
	free(buf);
	fclose(f);
	*out_n = n;
	return (lines != NULL ? lines : calloc(1, sizeof(*lines)));
fail:
	while (n > 0)
		json_decref(lines[--n].obj);
	free(lines);
	free(buf);
	fclose(f);
	return (NULL);
}

/* A token for the HMAC check, when one is configured. */
static struct hsm *
open_token(const struct audit_opts *o, struct hsm_session **out)
{
	struct cf_error err = { CF_OK, "" };
	struct cf_secret *pin = NULL;
	struct hsm_config hc;
	struct hsm *h;

	*out = NULL;
	if (o->module == NULL || o->token_label == NULL || o->pin_file == NULL)
		return (NULL);
	if (cf_read_secret_file(o->pin_file, &pin, &err)) {
		fprintf(stderr, "coffer: %s\n", err.msg);
		return (NULL);
	}
	memset(&hc, 0, sizeof(hc));
	hc.module_path = o->module;
	hc.token_label = o->token_label;
	hc.pin = (const char *)pin->data;
	h = hsm_new(&hc, &err);
	cf_secret_free(pin);
	if (h == NULL || (*out = hsm_session_new(h, &err)) == NULL) {
		fprintf(stderr, "coffer: %s\n", err.msg);
		hsm_free(h);
		return (NULL);
	}
	return (h);
}

/*
 * The versions of the bundle ${o}->key_bundle (export-audit-key-bundle's
 * JSON) that ${o}->private_key unwraps; NULL with a message printed.
 */
static struct audit_keyring *
open_bundle(const struct audit_opts *o)
{
	struct cf_error err = { CF_OK, "" };
	struct audit_keyring *k = NULL;
	enum audit_keyring_took took;
	json_error_t jerr;
	json_t *doc, *vs, *v, *ver;
	const char *rcpt, *mech, *wk, *kc;
	uint8_t *wrapped = NULL, *check = NULL;
	size_t i, len, check_len = 0, all = 0;

	if ((doc = json_load_file(o->key_bundle, 0, &jerr)) == NULL) {
		fprintf(stderr, "coffer: %s: %s (line %d)\n", o->key_bundle,
		    jerr.text, jerr.line);
		return (NULL);
	}
	if (audit_keyring_new(o->private_key, &k, &err)) {
		fprintf(stderr, "coffer: %s\n", err.msg);
		goto fail;
	}
	vs = json_object_get(doc, "Versions");
	if (!json_is_array(vs)) {
		fprintf(stderr, "coffer: %s: not a bundle of coffer "
		    "export-audit-key-bundle (no \"Versions\")\n",
		    o->key_bundle);
		goto fail;
	}
	json_array_foreach(vs, i, v) {
		ver = json_object_get(v, "MacKeyVersion");
		rcpt = str(v, "Recipient");
		mech = str(v, "Mechanism");
		wk = str(v, "WrappedKey");
		kc = str(v, "KeyCheck");
		if (!json_is_integer(ver) || json_integer_value(ver) < 1 ||
		    json_integer_value(ver) > UINT32_MAX || rcpt == NULL ||
		    mech == NULL || wk == NULL || kc == NULL ||
		    shape_b64_decode(wk, strlen(wk), &wrapped, &len) ||
		    shape_b64_decode(kc, strlen(kc), &check, &check_len) ||
		    check_len != AUDIT_HASH_LEN) {
			fprintf(stderr, "coffer: %s: entry %zu is not an "
			    "escrowed audit key version\n", o->key_bundle,
			    i + 1);
			goto fail;
		}
		all++;
		if (audit_keyring_add(k, (uint32_t)json_integer_value(ver),
		    rcpt, mech, wrapped, len, check, &took, &err)) {
			fprintf(stderr, "coffer: %s: %s\n", o->key_bundle,
			    err.msg);
			goto fail;
		}
		cf_wipe_free(wrapped, len);
		wrapped = NULL;
		free(check);
		check = NULL;
	}
	if (audit_keyring_size(k) == 0) {
		fprintf(stderr, "coffer: %s: none of its %zu versions is for "
		    "the private key %s (recipient %s): a bundle for another "
		    "auditor, or the wrong key\n", o->key_bundle, all,
		    o->private_key, audit_keyring_recipient(k));
		goto fail;
	}
	json_decref(doc);
	return (k);
fail:
	if (wrapped != NULL)
		cf_wipe_free(wrapped, len);
	free(check);
	audit_keyring_free(k);
	json_decref(doc);
	return (NULL);
}

/*
 * One chain of an export file as audit_verify_chain()'s source: its lines
 * [next, end) of the sorted file, and the token (NULL: none) for the
 * hmacs.
 */
struct file_source {
	const struct line *lines;
	size_t next, end;
	struct hsm_session *hs;
	const struct audit_keyring *ring;	/* instead of the token */
	struct cf_audit_row page[AUDIT_VERIFY_PAGE];
};

static int
file_fetch(void *arg, size_t want, const struct cf_audit_row **out,
    size_t *out_n, int *out_more, struct cf_error *err)
{
	struct file_source *f = arg;
	size_t n;

	(void)err;
	for (n = 0; n < want && n < AUDIT_VERIFY_PAGE && f->next < f->end;
	    n++)
		f->page[n] = f->lines[f->next++].row;
	*out = f->page;
	*out_n = n;
	*out_more = f->next < f->end;
	return (0);
}

static int
file_mac(void *arg, const struct cf_audit_row *r, enum audit_mac *out,
    struct cf_error *err)
{
	struct file_source *f = arg;
	enum hsm_mac_check rc;

	if (r->hmac_absent) {
		*out = AUDIT_MAC_ABSENT;
		return (0);
	}
	if ((rc = hsm_audit_mac_verify(f->hs, r->mac_version, r->hash,
	    AUDIT_HASH_LEN, r->hmac, err)) == HSM_MAC_ERROR)
		return (-1);
	*out = rc == HSM_MAC_OK ? AUDIT_MAC_OK : AUDIT_MAC_BAD;
	return (0);
}

/* The bundle's verdict: a version it does not hold is a finding. */
static int
bundle_mac(void *arg, const struct cf_audit_row *r, enum audit_mac *out,
    struct cf_error *err)
{
	struct file_source *f = arg;

	(void)err;
	*out = audit_keyring_check(f->ring, r);
	return (0);
}

static int
cmd_verify_file(const struct audit_opts *o)
{
	struct cf_error err = { CF_OK, "" };
	struct hsm_session *hs = NULL;
	struct audit_keyring *ring = NULL;
	struct hsm *h = NULL;
	struct audit_check c;
	struct audit_bound b = { INT64_MAX, INT64_MAX, 0 };
	struct file_source *fs = NULL;
	struct audit_source src;
	struct line *lines;
	size_t n, i, start;
	json_t *report = NULL, *chains = NULL, *ch;
	int ok = 1, rc = CLI_EXIT_OK;

	if ((lines = read_export(o->file, &n)) == NULL)
		return (CLI_EXIT_CLIENT);
	/* The hmacs' judge: an auditor's bundle, or the token, or none. */
	if (o->key_bundle != NULL) {
		if ((ring = open_bundle(o)) == NULL) {
			rc = CLI_EXIT_CLIENT;
			goto done;
		}
	} else {
		h = open_token(o, &hs);
		if ((o->module || o->token_label || o->pin_file) && hs == NULL) {
			rc = CLI_EXIT_CLIENT;
			goto done;
		}
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	chains = json_array();
	if ((fs = calloc(1, sizeof(*fs))) == NULL) {
		fprintf(stderr, "coffer: out of memory\n");
		rc = CLI_EXIT_CLIENT;
		goto done;
	}
	fs->lines = lines;
	fs->hs = hs;
	fs->ring = ring;
	src.fetch = file_fetch;
	src.mac = ring != NULL ? bundle_mac : hs != NULL ? file_mac : NULL;
	src.arg = fs;

	/*
	 * Each chain from its first exported event, walked whole (no bound,
	 * and no head to judge its end by: the file cannot prove its tail).
	 */
	for (start = 0; start < n; start = i) {
		audit_check_init(&c, lines[start].row.chain_id,
		    AUDIT_HEAD_NOT_ASKED, 0, NULL);
		if (lines[start].row.seq > 1)
			audit_check_anchor(&c, lines[start].row.seq - 1,
			    lines[start].row.prev_hash, 0,
			    AUDIT_MAC_UNCHECKED);
		for (i = start; i < n && strcmp(lines[i].row.chain_id,
		    c.chain_id) == 0; i++)
			;
		fs->next = start;
		fs->end = i;
		if (audit_verify_chain(&c, &src, NULL, 0, 0, &b, &err)) {
			fprintf(stderr, "coffer: %s\n", err.msg);
			rc = CLI_EXIT_CLIENT;
			goto done;
		}
		ok &= c.ok;
		ch = json_pack("{s:s, s:b, s:I, s:I, s:I, s:b}", "ChainId",
		    c.chain_id, "Ok", c.ok, "Events", (json_int_t)c.events,
		    "FirstSequence", (json_int_t)c.first_seq, "LastSequence",
		    (json_int_t)c.last_seq, "HmacChecked", hs != NULL ||
		    ring != NULL);
		if (!c.ok) {
			json_object_set_new(ch, "BrokenSequence",
			    json_integer(c.broken_seq));
			json_object_set_new(ch, "Reason", json_string(c.reason));
			fprintf(stderr, "coffer: audit chain %s is broken at "
			    "event %lld: %s\n", c.chain_id,
			    (long long)c.broken_seq, c.reason);
		}
		json_array_append_new(chains, ch);
	}
	report = json_pack("{s:b, s:I, s:o}", "Ok", ok, "Events",
	    (json_int_t)n, "Chains", chains);
	chains = NULL;			/* the report owns it (or freed it) */
	if (report == NULL || cli_render(stdout, report, "json", NULL))
		rc = CLI_EXIT_CLIENT;
	if (hs == NULL && ring == NULL)
		fprintf(stderr, "coffer: no token given: links and hashes "
		    "checked, HMACs not (--pkcs11-module, --token-label, "
		    "--pin-file)\n");
	if (rc == CLI_EXIT_OK && !ok)
		rc = EXIT_BROKEN;
done:
	json_decref(report);
	json_decref(chains);
	for (i = 0; i < n; i++)
		json_decref(lines[i].obj);
	free(lines);
	free(fs);
	audit_keyring_free(ring);
	hsm_session_free(hs);
	hsm_free(h);
	return (rc);
}

int
cli_audit_main(int argc, char **argv)
{
	struct audit_opts o;
	int rc, export;

	if (argc < 1 || (strcmp(argv[0], "verify") != 0 &&
	    strcmp(argv[0], "export") != 0))
		return (usage("choose \"verify\" or \"export\""));
	export = strcmp(argv[0], "export") == 0;
	if ((rc = parse(argc - 1, argv + 1, export, &o)) != 0)
		return (rc);
	if (!export && o.file != NULL)
		return (cmd_verify_file(&o));
	grpc_init();
	rc = export ? cmd_export(&o) : cmd_verify_online(&o);
	grpc_shutdown();
	return (rc);
}
