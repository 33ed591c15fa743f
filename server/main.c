/*
 * main.c: cofferd, the Coffer server.
 *
 *	cofferd [serve] [--config FILE]		serve gRPC until SIGTERM/SIGINT
 *	cofferd migrate [--config FILE]		apply database migrations
 *	cofferd init-token [--config FILE]	create the KEK in the token
 *
 * main is small on purpose: read the configuration, bring up hsm, engine
 * and rpc in that order, wait for a signal, take them down in reverse.
 * Messages go to stderr as "cofferd: <message>"; a failure exits 1.  No
 * value, PIN or key ever reaches a message.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "cf.h"
#include "config.h"
#include "engine.h"
#include "hsm.h"
#include "rpc.h"

#ifndef COFFER_VERSION
#define COFFER_VERSION "unknown"
#endif

enum command { CMD_SERVE, CMD_MIGRATE, CMD_INIT_TOKEN };

#define USAGE \
    "usage: cofferd [serve] [--config FILE]\n" \
    "       cofferd migrate [--config FILE]\n" \
    "       cofferd init-token [--config FILE]\n" \
    "       cofferd --help | --version\n"

static const char usage_text[] = USAGE
    "\n"
    "  serve       serve the gRPC API until SIGTERM or SIGINT (default)\n"
    "  migrate     apply pending database migrations (as admin_database,\n"
    "              the owner; cofferd itself connects as coffer_app)\n"
    "  init-token  create the key encryption key (kek_label) and the audit\n"
    "              key (coffer-audit) in the token\n"
    "\n"
    "  --config FILE  configuration file (default: $COFFER_CONFIG, if set)\n"
    "\n"
    "Every configuration key can also be set as COFFER_<KEY> in the\n"
    "environment (COFFER_LISTEN, COFFER_DATABASE, ...), which wins over the\n"
    "file.  The token PIN comes from the file named by pin_file (mode 0600)\n"
    "or from COFFER_PIN, never from a flag.\n";

/* Print "cofferd: <msg>" for a failure. */
static void
fail(const struct cf_error *err)
{

	fprintf(stderr, "cofferd: %s\n", err->msg);
}

/* Keep secrets out of core files and away from ptrace by other users. */
static int
no_core_dumps(struct cf_error *err)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		cf_error_set(err, CF_ERR_INTERNAL,
		    "could not disable core dumps: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Read the PIN into secret memory: from pin_file, or from COFFER_PIN, whose
 * value is then wiped from the environment block and unset.
 */
static int
pin_read(const struct config *cfg, struct cf_secret **out,
    struct cf_error *err)
{
	struct cf_secret *pin;
	char *env = getenv("COFFER_PIN");
	size_t len;

	if (cfg->pin_file != NULL && env != NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "both pin_file and COFFER_PIN are set; use one");
		return (-1);
	}
	if (cfg->pin_file != NULL)
		return (cf_read_secret_file(cfg->pin_file, out, err));
	if (env == NULL || env[0] == '\0') {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "no token PIN: set pin_file (a file of mode 0600) or "
		    "COFFER_PIN");
		return (-1);
	}
	len = strlen(env);
	if ((pin = cf_secret_new(len + 1)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	memcpy(pin->data, env, len + 1);
	pin->len = len;
	explicit_bzero(env, len);
	unsetenv("COFFER_PIN");
	*out = pin;
	return (0);
}

/* The token's settings; ${pin} may be NULL where no login is needed. */
static void
hsm_config_of(const struct config *cfg, const struct cf_secret *pin,
    struct hsm_config *hc)
{

	memset(hc, 0, sizeof(*hc));
	hc->module_path = cfg->pkcs11_module;
	hc->token_label = cfg->token_label;
	hc->pin = pin != NULL ? (const char *)pin->data : NULL;
	hc->kek_label = cfg->kek_label;
	hc->no_dek_cache = !cfg->dek_cache;
}

/* Log in to the token; the PIN is wiped as soon as the login is done. */
static struct hsm *
hsm_open_token(const struct config *cfg, struct cf_error *err)
{
	struct cf_secret *pin = NULL;
	struct hsm_config hc;
	struct hsm *h;

	if (pin_read(cfg, &pin, err))
		return (NULL);
	hsm_config_of(cfg, pin, &hc);
	h = hsm_new(&hc, err);
	cf_secret_free(pin);
	return (h);
}

static void
engine_config_of(const struct config *cfg, struct hsm *h,
    struct engine_config *ec)
{

	memset(ec, 0, sizeof(*ec));
	ec->pg_conninfo = cfg->database;
	ec->hsm = h;
	ec->partition = cfg->partition;
	ec->region = cfg->region;
	ec->account_id = cfg->account_id;
	ec->default_kek_label = cfg->kek_label;
	ec->admin_principal = cfg->admin_principal;
	ec->exec.dir = cfg->rotator_dir;
	ec->exec.timeout_s = (int)cfg->rotator_timeout;
	ec->exec.ca_bundle = cfg->rotator_ca_bundle;
	ec->exec.cert = cfg->rotator_cert;
	ec->exec.key = cfg->rotator_key;
	ec->pg.allow_hosts = cfg->rotator_pg_allow_hosts;
	ec->pg.sslmode = cfg->rotator_pg_sslmode;
	ec->pg.sslrootcert = cfg->rotator_pg_sslrootcert;
	ec->db_timeout_ms = (int)cfg->db_timeout * 1000;
	ec->statement_timeout_ms = (int)cfg->statement_timeout_ms;
	ec->list_statement_timeout_ms = (int)cfg->list_statement_timeout_ms;
	ec->audit_verify_max_events = (int)cfg->audit_verify_max_events;
	ec->audit_verify_max_ms = (int)cfg->audit_verify_max_ms;
}

/*
 * Tell exec: rotators where to call back: this server's port on the
 * listen host, or on 127.0.0.1 when listening on every address.
 */
static int
rotator_endpoint(const struct config *cfg, const struct rpc_server *srv,
    struct engine *e)
{
	const char *colon = strrchr(cfg->listen, ':');
	char host[256], url[300];
	int n = (int)(colon - cfg->listen);

	snprintf(host, sizeof(host), "%.*s", n, cfg->listen);
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "[::]") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(url, sizeof(url), "%s%s:%d", cfg->plaintext ? "http://" : "",
	    host, rpc_server_port(srv));
	return (engine_set_rotator_endpoint(e, url));
}

/*
 * The PEM file ${path}, NUL-terminated, in *${out} (heap); 0 or -1.  A
 * ${private} file (a key) is refused if group or others may access it.
 */
static int
pem_read(const char *what, const char *path, int private, char **out,
    size_t *len, struct cf_error *err)
{
	FILE *f;
	char *buf;
	size_t n = 0, cap = 1 << 20;
	int fd = -1;

	*out = NULL;
	*len = 0;
	if (path == NULL)
		return (0);
	if (private && (fd = cf_open_restricted(path, what, CF_FILE_PRIVATE,
	    err)) == -1)
		return (-1);
	if ((f = fd != -1 ? fdopen(fd, "rb") : fopen(path, "rb")) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "cannot read %s "
		    "\"%.256s\": %s", what, path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if ((buf = malloc(cap + 1)) == NULL) {
		fclose(f);
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	n = fread(buf, 1, cap + 1, f);
	fclose(f);
	if (n == 0 || n > cap) {
		explicit_bzero(buf, n > cap ? cap + 1 : n);
		free(buf);
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "%s \"%.256s\" is "
		    "empty or larger than 1 MiB", what, path);
		return (-1);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return (0);
}

/* Wipe and free what pem_read gave. */
static void
pem_free(char *buf, size_t len)
{

	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/*
 * The transport: mutual TLS with the three files, or plaintext when the
 * configuration says plaintext = on (rpc/ then insists on loopback).
 */
static int
tls_config(const struct config *cfg, struct rpc_config *rc, char *pem[3],
    size_t len[3], struct cf_error *err)
{

	if (cfg->plaintext) {
		if (cfg->tls_cert != NULL || cfg->tls_key != NULL ||
		    cfg->tls_client_ca != NULL) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "plaintext "
			    "= on and tls_* keys are both set; choose one");
			return (-1);
		}
		fprintf(stderr, "cofferd: WARNING: plaintext = on: no TLS, "
		    "every caller is \"anonymous\" (loopback only)\n");
		rc->plaintext = 1;
		return (0);
	}
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL ||
	    cfg->tls_client_ca == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "cofferd serves "
		    "mutual TLS: set tls_cert, tls_key and tls_client_ca (or, "
		    "on a loopback address only, plaintext = on)");
		return (-1);
	}
	rc->health_without_cert = cfg->health_without_cert;
	rc->refusal_interval_s = cfg->refusal_audit_interval;
	if (pem_read("tls_cert", cfg->tls_cert, 0, &pem[0], &len[0], err) ||
	    pem_read("tls_key", cfg->tls_key, 1, &pem[1], &len[1], err) ||
	    pem_read("tls_client_ca", cfg->tls_client_ca, 0, &pem[2], &len[2],
	    err))
		return (-1);
	rc->tls_cert_pem = pem[0];
	rc->tls_key_pem = pem[1];
	rc->tls_client_ca_pem = pem[2];
	return (0);
}

/* Print the listening line, with the port the kernel chose for port 0. */
static void
announce(const struct config *cfg, const struct rpc_server *srv)
{
	const char *colon = strrchr(cfg->listen, ':');
	int hostlen = (int)(colon - cfg->listen);

	fprintf(stderr, "cofferd: listening on %.*s:%d (%u worker%s, %u for "
	    "long calls)\n", hostlen, cfg->listen, rpc_server_port(srv),
	    cfg->workers, cfg->workers == 1 ? "" : "s", cfg->long_workers);
}

/*
 * Who exec: rotators run as, in ${x}: rotator_user (and rotator_group, or
 * its login group), an unprivileged account that is not cofferd's.  Unset,
 * they would run as cofferd, which is refused when cofferd is root or owns
 * pin_file or tls_key: the program could read the PIN, the token and the
 * TLS key.  Returns 0, or -1 with ${err} set.
 */
static int
rotator_identity(const struct config *cfg, struct engine_exec_config *x,
    struct cf_error *err)
{
	const char *own[2] = { cfg->pin_file, cfg->tls_key };
	const struct passwd *pw;
	const struct group *gr;
	struct stat st;
	size_t i;

	memset(x, 0, sizeof(*x));
	if (cfg->rotator_dir == NULL)
		return (0);
	if (cfg->rotator_user == NULL) {
		for (i = 0; i < 2 && geteuid() != 0; i++)
			if (own[i] != NULL && stat(own[i], &st) == 0 &&
			    st.st_uid == geteuid())
				break;
		if (geteuid() == 0 || i < 2) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_dir "
			    "is set but rotator_user is not: exec: rotators "
			    "would run as cofferd (%s) and could read its PIN, "
			    "token and TLS key; set rotator_user to an "
			    "unprivileged account of their own", geteuid() == 0 ?
			    "root" : "owner of its secret files");
			return (-1);
		}
		return (0);
	}
	if ((pw = getpwnam(cfg->rotator_user)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_user "
		    "\"%.64s\" is not a user", cfg->rotator_user);
		return (-1);
	}
	if (pw->pw_uid == 0 || pw->pw_uid == geteuid()) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_user "
		    "\"%.64s\" must be an unprivileged user other than cofferd's",
		    cfg->rotator_user);
		return (-1);
	}
	x->uid = pw->pw_uid;
	x->gid = pw->pw_gid;
	if (cfg->rotator_group != NULL) {
		if ((gr = getgrnam(cfg->rotator_group)) == NULL) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_group "
			    "\"%.64s\" is not a group", cfg->rotator_group);
			return (-1);
		}
		x->gid = gr->gr_gid;
	}
	if (x->gid == 0 || x->gid == getegid()) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec: rotators may "
		    "not run in group root nor in cofferd's group: set "
		    "rotator_group");
		return (-1);
	}
	x->run_as_user = 1;
	return (0);
}

/* Serve until SIGTERM or SIGINT, then drain. */
static int
cmd_serve(const struct config *cfg, struct cf_error *err)
{
	struct hsm *h = NULL;
	struct engine *e = NULL;
	struct engine_rotation *rot = NULL;
	struct audit *audit = NULL;
	struct audit_config ac;
	struct rpc_server *srv = NULL;
	struct engine_config ec;
	struct engine_exec_config rx;
	struct rpc_config rc;
	char *pem[3] = { NULL, NULL, NULL };
	size_t pem_len[3] = { 0, 0, 0 }, i;
	sigset_t sigs;
	int sig;

	if (rotator_identity(cfg, &rx, err))
		goto err0;

	/* No core dumps; signals for sigwait only, in every thread. */
	if (no_core_dumps(err))
		goto err0;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if ((errno = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not block signals: %s",
		    strerror(errno));
		goto err0;
	}

	/* The token, the engine (which migrates), the server. */
	if ((h = hsm_open_token(cfg, err)) == NULL)
		goto err0;
	engine_config_of(cfg, h, &ec);
	ec.exec.run_as_user = rx.run_as_user;
	ec.exec.uid = rx.uid;
	ec.exec.gid = rx.gid;
	if ((e = engine_new(&ec, err)) == NULL)
		goto err1;
	if (engine_authz_start(e, err))
		goto err2;

	/* The audit writer: no call is served before its chain works. */
	if (!cfg->audit) {
		fprintf(stderr, "cofferd: WARNING: audit = off: calls are NOT "
		    "audited (for measuring the audit's cost only)\n");
	} else {
		memset(&ac, 0, sizeof(ac));
		ac.conninfo = cfg->database;
		ac.hsm = h;
		ac.head_max_lag_ms = (int64_t)cfg->audit_head_max_lag * 1000;
		ac.db_timeout_ms = (int)cfg->db_timeout * 1000;
		if ((audit = audit_start(&ac, err)) == NULL)
			goto err2;
		engine_set_audit(e, audit);
	}

	/* Rotations (each step audited, once the audit writer runs), purges. */
	if ((rot = engine_rotation_start(e, audit,
	    (int)cfg->rotation_interval, (int)cfg->purge_interval, err)) ==
	    NULL)
		goto err4;
	memset(&rc, 0, sizeof(rc));
	rc.listen = cfg->listen;
	rc.workers = cfg->workers;
	rc.long_workers = cfg->long_workers;
	rc.long_queue = cfg->long_queue;
	rc.max_connections = cfg->max_connections;
	rc.handshake_timeout_ms = cfg->handshake_timeout * 1000;
	rc.max_streams = cfg->max_streams;
	rc.max_transport_mib = cfg->max_transport_memory;
	rc.max_connection_age_ms = cfg->max_connection_age * 1000;
	rc.max_connection_age_grace_ms = cfg->max_connection_age_grace * 1000;
	rc.engine = e;
	rc.audit = audit;
	if (tls_config(cfg, &rc, pem, pem_len, err))
		goto err4;
	srv = rpc_server_new(&rc, err);
	for (i = 0; i < 3; i++) {
		pem_free(pem[i], pem_len[i]);
		pem[i] = NULL;
	}
	if (srv == NULL)
		goto err4;
	if (rpc_server_start(srv, err))
		goto err5;
	if (rotator_endpoint(cfg, srv, e)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err5;
	}
	announce(cfg, srv);

	/* Wait for the signal, then drain and take everything down. */
	while (sigwait(&sigs, &sig) != 0)
		continue;
	fprintf(stderr, "cofferd: %s received, draining\n",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	engine_cancel_rotators(e);
	rpc_server_stop(srv);
	rpc_server_wait(srv);
	rpc_server_free(srv);
	engine_rotation_stop(e, rot);
	audit_stop(audit);
	engine_free(e);
	hsm_free(h);

	/* Success! */
	return (0);

err5:
	rpc_server_free(srv);
err4:
	for (i = 0; i < 3; i++)
		pem_free(pem[i], pem_len[i]);
	engine_rotation_stop(e, rot);
	audit_stop(audit);
err2:
	engine_free(e);
err1:
	hsm_free(h);
err0:
	/* Failure! */
	return (-1);
}

/* Apply the migrations (no token needed). */
static int
cmd_migrate(const struct config *cfg, struct cf_error *err)
{
	int n;

	if ((n = engine_migrate(cfg->admin_database != NULL ?
	    cfg->admin_database : cfg->database, err)) < 0)
		return (-1);
	fprintf(stderr, "cofferd: database schema is up to date (%d "
	    "migration%s applied)\n", n, n == 1 ? "" : "s");
	return (0);
}

/* Create the KEK named by kek_label unless it exists. */
static int
cmd_init_token(const struct config *cfg, struct cf_error *err)
{
	struct cf_secret *pin = NULL;
	struct hsm_config hc;
	int rc;

	if (no_core_dumps(err) || pin_read(cfg, &pin, err))
		return (-1);
	hsm_config_of(cfg, pin, &hc);
	rc = hsm_create_kek(&hc, cfg->kek_label, err);
	if (rc != -1) {
		fprintf(stderr, "cofferd: key \"%s\" %s in token \"%s\"\n",
		    cfg->kek_label, rc == 1 ? "created" : "already exists",
		    cfg->token_label);
		rc = hsm_create_audit_key(&hc, err);
	}
	cf_secret_free(pin);
	if (rc == -1)
		return (-1);
	fprintf(stderr, "cofferd: key \"%s\" %s in token \"%s\"\n",
	    HSM_AUDIT_KEY_LABEL, rc == 1 ? "created" : "already exists",
	    cfg->token_label);
	return (0);
}

/* Parse the command line; -1 after printing a usage error, 1 to exit 0. */
static int
parse_args(int argc, char **argv, enum command *cmd, const char **config)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*cmd = CMD_SERVE;
	*config = getenv("COFFER_CONFIG");
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*config = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return (1);
		case 'V':
			printf("cofferd %s\n", COFFER_VERSION);
			return (1);
		default:
			fputs(USAGE, stderr);
			return (-1);
		}
	}
	if (argc - optind > 1)
		goto usage;
	if (optind == argc || strcmp(argv[optind], "serve") == 0)
		*cmd = CMD_SERVE;
	else if (strcmp(argv[optind], "migrate") == 0)
		*cmd = CMD_MIGRATE;
	else if (strcmp(argv[optind], "init-token") == 0)
		*cmd = CMD_INIT_TOKEN;
	else
		goto usage;
	return (0);

usage:
	fprintf(stderr, "cofferd: unexpected argument \"%s\"\n%s",
	    argv[optind + (argc - optind > 1)], USAGE);
	return (-1);
}

/*
 * jansson's allocator, wiping what it frees: JSON documents may hold
 * secret values (a rotated secret's JSON, a database's credentials), and
 * jansson copies every string it parses.
 */
static void *
json_alloc(size_t n)
{

	return (malloc(n));
}

static void
json_wipe_free(void *p)
{

	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

int
main(int argc, char **argv)
{
	struct cf_error err = {CF_OK, ""};
	struct config cfg;
	enum command cmd;
	const char *path;
	int rc;

	json_set_alloc_funcs(json_alloc, json_wipe_free);

	/* Command line, then configuration. */
	if ((rc = parse_args(argc, argv, &cmd, &path)) != 0)
		exit(rc == 1 ? 0 : 1);
	if (config_load(&cfg, path, &err)) {
		fail(&err);
		exit(1);
	}

	/* Run the command. */
	if (cmd == CMD_MIGRATE)
		rc = cmd_migrate(&cfg, &err);
	else if (cmd == CMD_INIT_TOKEN)
		rc = cmd_init_token(&cfg, &err);
	else
		rc = cmd_serve(&cfg, &err);
	if (rc)
		fail(&err);
	config_cleanup(&cfg);
	exit(rc ? 1 : 0);
}
