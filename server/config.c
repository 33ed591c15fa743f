/*
 * config.c: defaults, the INI file (parsed by libinih) and the environment.
 *
 * One table names every key, where it lives in struct config and how its
 * value is checked, so the file and the environment share one code path.
 * inih does not report line numbers to its handler, so the file is fed to
 * it through a reader that counts lines (and catches lines too long for
 * inih's buffer, which it would otherwise split silently).
 */
#include "cf_log.h"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

enum key_type {
	KEY_STRING, KEY_WORKERS, KEY_SECONDS, KEY_ACCOUNT, KEY_COUNT,
	KEY_MILLIS, KEY_EVENTS, KEY_ONOFF, KEY_MICROS
};

/* Nonzero for the keys stored as an unsigned, not a string. */
#define KEY_NUMERIC(t) ((t) == KEY_WORKERS || (t) == KEY_SECONDS || \
    (t) == KEY_COUNT || (t) == KEY_MILLIS || (t) == KEY_EVENTS || \
    (t) == KEY_MICROS)

/* Nonzero for the keys stored as a heap string (which cleanup frees). */
#define KEY_TEXT(t) ((t) == KEY_STRING || (t) == KEY_ACCOUNT)

struct key {
	const char *name;
	size_t offset;			/* of the member in struct config */
	enum key_type type;
	const char *def;		/* default; NULL: unset */
};

#define KEY(name, type, def) { #name, offsetof(struct config, name), type, def }

static const struct key keys[] = {
	KEY(listen, KEY_STRING, "127.0.0.1:50051"),
	KEY(workers, KEY_WORKERS, NULL),
	KEY(long_workers, KEY_WORKERS, NULL),
	KEY(long_queue, KEY_COUNT, "1024"),
	KEY(database, KEY_STRING, "dbname=coffer user=coffer_app"),
	KEY(admin_database, KEY_STRING, NULL),
	KEY(audit, KEY_ONOFF, "on"),
	KEY(audit_head_max_lag, KEY_SECONDS, "5"),
	KEY(audit_lanes, KEY_WORKERS, NULL),
	KEY(audit_batch_wait_us, KEY_MICROS, "1000"),
	KEY(tls_cert, KEY_STRING, NULL),
	KEY(tls_key, KEY_STRING, NULL),
	KEY(tls_client_ca, KEY_STRING, NULL),
	KEY(tls_reload_interval, KEY_SECONDS, "10"),
	KEY(plaintext, KEY_ONOFF, "off"),
	KEY(health_without_cert, KEY_ONOFF, "off"),
	KEY(refusal_audit_interval, KEY_SECONDS, "60"),
	KEY(admin_principal, KEY_STRING, NULL),
	KEY(pkcs11_module, KEY_STRING, "/usr/lib/softhsm/libsofthsm2.so"),
	KEY(token_label, KEY_STRING, "coffer"),
	KEY(pin_file, KEY_STRING, NULL),
	KEY(kek_label, KEY_STRING, "coffer-kek"),
	KEY(audit_key_recipients, KEY_STRING, NULL),
	KEY(dek_cache, KEY_ONOFF, "on"),
	KEY(region, KEY_STRING, "local-1"),
	KEY(account_id, KEY_ACCOUNT, "000000000000"),
	KEY(partition, KEY_STRING, "aws"),
	KEY(purge_interval, KEY_SECONDS, "60"),
	KEY(rewrap_rate, KEY_COUNT, "1000"),
	KEY(aws_listen, KEY_STRING, NULL),
	KEY(metrics_listen, KEY_STRING, NULL),
	KEY(log_format, KEY_STRING, "text"),
	KEY(log_level, KEY_STRING, "info"),
	KEY(aws_workers, KEY_WORKERS, NULL),
	KEY(aws_max_connections, KEY_COUNT, "1024"),
	KEY(aws_timeout, KEY_SECONDS, "60"),
	KEY(rotation_interval, KEY_SECONDS, "10"),
	KEY(rotator_dir, KEY_STRING, NULL),
	KEY(rotator_timeout, KEY_SECONDS, "60"),
	KEY(rotator_pg_allow_hosts, KEY_STRING, NULL),
	KEY(rotator_pg_sslmode, KEY_STRING, "prefer"),
	KEY(rotator_pg_sslrootcert, KEY_STRING, NULL),
	KEY(rotator_ca_bundle, KEY_STRING, NULL),
	KEY(rotator_cert, KEY_STRING, NULL),
	KEY(rotator_key, KEY_STRING, NULL),
	KEY(max_connections, KEY_COUNT, "4096"),
	KEY(handshake_timeout, KEY_SECONDS, "10"),
	KEY(max_streams, KEY_COUNT, "100"),
	KEY(max_transport_memory, KEY_COUNT, "256"),
	KEY(max_connection_age, KEY_SECONDS, "3600"),
	KEY(max_connection_age_grace, KEY_SECONDS, "60"),
	KEY(rotator_user, KEY_STRING, NULL),
	KEY(rotator_group, KEY_STRING, NULL),
	KEY(db_timeout, KEY_SECONDS, "10"),
	KEY(statement_timeout_ms, KEY_MILLIS, "5000"),
	KEY(list_statement_timeout_ms, KEY_MILLIS, "30000"),
	KEY(audit_verify_max_events, KEY_EVENTS, "100000"),
	KEY(audit_verify_max_ms, KEY_MILLIS, "10000"),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The state of one file parse. */
struct parse {
	struct config *cfg;
	const char *path;
	FILE *f;
	int lineno;			/* of the line inih is looking at */
	int too_long;			/* that line did not fit */
	int err_line;			/* first line the handler refused */
	int seen[N_KEYS];
	struct cf_error *err;
};

/* The key called ${name}, or NULL. */
static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (&keys[i]);
	return (NULL);
}

static char **
key_string(struct config *cfg, const struct key *k)
{

	return ((char **)(void *)((char *)cfg + k->offset));
}

/* Parse a whole number from 1 to ${max}; 0 if ${v} is not one. */
static unsigned
parse_count(const char *v, unsigned long max)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)v[0]))
		return (0);
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return (0);
	return ((unsigned)n);
}

/*
 * An on/off key's value: "on" or "off", exactly (no other spelling, so
 * that a typo cannot silently mean either).
 */
enum onoff { ONOFF_OFF, ONOFF_ON, ONOFF_BAD };

static enum onoff
parse_onoff(const char *v)
{

	if (strcmp(v, "on") == 0)
		return (ONOFF_ON);
	if (strcmp(v, "off") == 0)
		return (ONOFF_OFF);
	return (ONOFF_BAD);
}

/* Nonzero if ${v} is an AWS account id: exactly 12 digits. */
static int
account_valid(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!isdigit((unsigned char)v[i]))
			return (0);
	return (i == 12);
}

/*
 * Set key ${k} to ${v}.  Returns 0, or -1 with a message in ${why} saying
 * what is wrong with the value (the caller adds where it came from).
 */
static int
key_set(struct config *cfg, const struct key *k, const char *v,
    const char **why)
{
	char **s, *copy;
	enum onoff o;
	unsigned n;

	/* Check the value. */
	if (k->type == KEY_ONOFF) {
		if ((o = parse_onoff(v)) == ONOFF_BAD) {
			*why = "must be \"on\" or \"off\"";
			return (-1);
		}
		*(int *)(void *)((char *)cfg + k->offset) = o == ONOFF_ON;
		return (0);
	}
	/* Microseconds: 0 is a value (no wait), not a typo. */
	if (k->type == KEY_MICROS) {
		if (strcmp(v, "0") != 0 &&
		    (n = parse_count(v, CONFIG_MICROS_MAX)) == 0) {
			*why = "must be a number of microseconds from 0 to "
			    "1000000";
			return (-1);
		}
		*(unsigned *)(void *)((char *)cfg + k->offset) =
		    strcmp(v, "0") == 0 ? 0 : n;
		return (0);
	}
	if (k->type == KEY_MILLIS || k->type == KEY_EVENTS) {
		if ((n = parse_count(v, k->type == KEY_MILLIS ?
		    CONFIG_MILLIS_MAX : CONFIG_EVENTS_MAX)) == 0) {
			*why = k->type == KEY_MILLIS ?
			    "must be a number of milliseconds from 1 to 3600000" :
			    "must be an integer from 1 to 100000000";
			return (-1);
		}
		*(unsigned *)(void *)((char *)cfg + k->offset) = n;
		return (0);
	}
	if (KEY_NUMERIC(k->type)) {
		if ((n = parse_count(v, k->type == KEY_WORKERS ?
		    CONFIG_WORKERS_MAX : k->type == KEY_COUNT ?
		    CONFIG_COUNT_MAX : CONFIG_INTERVAL_MAX)) == 0) {
			*why = k->type == KEY_WORKERS ?
			    "must be an integer from 1 to 1024" :
			    k->type == KEY_COUNT ?
			    "must be an integer from 1 to 1000000" :
			    "must be a number of seconds from 1 to 86400";
			return (-1);
		}
		*(unsigned *)(void *)((char *)cfg + k->offset) = n;
		return (0);
	}
	if (v[0] == '\0') {
		*why = "must not be empty";
		return (-1);
	}
	if (k->type == KEY_ACCOUNT && !account_valid(v)) {
		*why = "must be 12 digits";
		return (-1);
	}

	/* Replace the string. */
	if ((copy = strdup(v)) == NULL) {
		*why = "could not be stored: out of memory";
		return (-1);
	}
	s = key_string(cfg, k);
	free(*s);
	*s = copy;
	return (0);
}

/* Built-in defaults. */
static int
config_defaults(struct config *cfg, struct cf_error *err)
{
	const char *why;
	long ncpu;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < N_KEYS; i++) {
		if (keys[i].def == NULL)
			continue;
		if (key_set(cfg, &keys[i], keys[i].def, &why)) {
			cf_error_set(err, CF_ERR_INTERNAL, "default %s %s",
			    keys[i].name, why);
			return (-1);
		}
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu < 1 ? 1 : ncpu > CONFIG_WORKERS_MAX ?
	    CONFIG_WORKERS_MAX : (unsigned)ncpu;
	/*
	 * An audit queue lane per four cores: one lane's writer needs about
	 * 18 % of a core per 10,000 audited reads/s, and each lane commits
	 * (and fsyncs) on its own, so on 2 cores a second lane cost 20 % of
	 * the read rate (docs/performance.md, "Issue 14").
	 */
	cfg->audit_lanes = ncpu < 4 ? 1 : ncpu / 4 > CONFIG_AUDIT_LANES_DEFAULT_MAX ?
	    CONFIG_AUDIT_LANES_DEFAULT_MAX : (unsigned)(ncpu / 4);
	return (0);
}

/* ---- the file ----------------------------------------------------------- */

/* Record the handler's first failure, ${msg}; later ones keep the first. */
static int
parse_fail(struct parse *p, const char *msg)
{

	if (p->err_line == 0) {
		p->err_line = p->lineno;
		cf_error_set(p->err, CF_ERR_INVALID_PARAMETER,
		    "%s, line %d: %s", p->path, p->lineno, msg);
	}
	return (0);
}

/* inih's callback: one "name = value" pair. */
static int
parse_pair(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse *p = user;
	const struct key *k;
	const char *why;
	char msg[256];

	if (section[0] != '\0') {
		snprintf(msg, sizeof(msg), "key \"%s\" is in section [%s]; "
		    "the file has no sections", name, section);
		return (parse_fail(p, msg));
	}
	if ((k = key_find(name)) == NULL) {
		snprintf(msg, sizeof(msg), "unknown key \"%s\"", name);
		return (parse_fail(p, msg));
	}
	if (p->seen[k - keys]++) {
		snprintf(msg, sizeof(msg), "key \"%s\" is set more than once",
		    name);
		return (parse_fail(p, msg));
	}
	if (key_set(p->cfg, k, value, &why)) {
		snprintf(msg, sizeof(msg), "%s %s", name, why);
		return (parse_fail(p, msg));
	}
	return (1);
}

/* inih's reader: fgets that counts lines and refuses to split one. */
static char *
parse_read(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n;
	int c;

	if (fgets(str, num, p->f) == NULL)
		return (NULL);
	p->lineno++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		if ((c = fgetc(p->f)) != EOF) {
			p->too_long = 1;
			return (NULL);
		}
	}
	return (str);
}

/* Read the keys of the file ${path} into ${cfg}. */
static int
config_file(struct config *cfg, const char *path, struct cf_error *err)
{
	struct parse p;
	int fd, rc;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.path = path;
	p.err = err;
	/* It says who the admin is and which CA to trust: nobody else's. */
	if ((fd = cf_open_restricted(path, "config file", CF_FILE_NOT_WRITABLE,
	    err)) == -1)
		return (-1);
	if ((p.f = fdopen(fd, "r")) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "could not open config file \"%s\": %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	rc = ini_parse_stream(parse_read, &p, parse_pair, &p);
	fclose(p.f);

	/* The first problem wins: a refused pair, a bad line, a long line. */
	if (p.err_line != 0 && (rc <= 0 || p.err_line <= rc))
		return (-1);
	if (rc > 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "%s, line %d: expected \"key = value\"", path, rc);
		return (-1);
	}
	if (p.too_long) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "%s, line %d: line too long (set this key in the "
		    "environment instead)", path, p.lineno);
		return (-1);
	}
	if (rc < 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "could not parse config file \"%s\"", path);
		return (-1);
	}
	return (0);
}

/* ---- the environment ---------------------------------------------------- */

/* Apply COFFER_<KEY> for every key that has one. */
static int
config_env(struct config *cfg, struct cf_error *err)
{
	char var[64];
	const char *v, *why;
	size_t i, j;

	for (i = 0; i < N_KEYS; i++) {
		/* COFFER_ and the key in upper case. */
		memcpy(var, "COFFER_", 7);
		for (j = 0; keys[i].name[j] != '\0'; j++)
			var[7 + j] = (char)toupper(
			    (unsigned char)keys[i].name[j]);
		var[7 + j] = '\0';

		if ((v = getenv(var)) == NULL)
			continue;
		if (key_set(cfg, &keys[i], v, &why)) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER,
			    "environment variable %s: %s %s", var,
			    keys[i].name, why);
			return (-1);
		}
	}
	return (0);
}

int
config_load(struct config *cfg, const char *path, struct cf_error *err)
{

	/* Defaults, then the file, then the environment. */
	if (config_defaults(cfg, err))
		goto err0;
	if (path != NULL && config_file(cfg, path, err))
		goto err0;
	if (config_env(cfg, err))
		goto err0;

	/* Defaults that follow other keys' final values. */
	/*
	 * Long calls wait on PostgreSQL, not on our cores: twice the workers
	 * (measured: ListSecrets pages/s on 2 cores with 1, 2, 4, 8 long
	 * workers: 367, 631, 697, 723; docs/performance.md).
	 */
	if (cfg->long_workers == 0)
		cfg->long_workers = cfg->workers > CONFIG_WORKERS_MAX / 2 ?
		    CONFIG_WORKERS_MAX : 2 * cfg->workers;
	/* Each AWS request holds its thread from start to reply, as a
	 * worker holds a gRPC call: as many threads as workers. */
	if (cfg->aws_workers == 0)
		cfg->aws_workers = cfg->workers;
	if (cf_log_format_parse(cfg->log_format, &cfg->log_fmt)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "log_format must be "
		    "text or json, not \"%.64s\"", cfg->log_format);
		goto err0;
	}
	if (cf_log_level_parse(cfg->log_level, &cfg->log_lvl)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "log_level must be "
		    "debug, info, warn or error, not \"%.64s\"",
		    cfg->log_level);
		goto err0;
	}

	/* Success! */
	return (0);

err0:
	/* Failure! */
	config_cleanup(cfg);
	return (-1);
}

void
config_cleanup(struct config *cfg)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (KEY_TEXT(keys[i].type))
			free(*key_string(cfg, &keys[i]));
	memset(cfg, 0, sizeof(*cfg));
}
