/*
 * config.h: cofferd's configuration.
 *
 * Three layers, later ones winning: built-in defaults, an INI file of
 * "key = value" lines (no sections), and environment variables COFFER_<KEY>
 * (the key in upper case, e.g. COFFER_LISTEN).  Every key is documented in
 * etc/cofferd.conf.example.  The PIN is never a key: it comes from the file
 * named by pin_file or from COFFER_PIN (see token.c).
 */
#ifndef COFFER_CONFIG_H
#define COFFER_CONFIG_H

#include "cf.h"
#include "cf_log.h"

#define CONFIG_WORKERS_MAX 1024
/*
 * Each audit lane holds a database connection and two token sessions and
 * writes its token head every 20 ms under load: past 8, more lanes cost
 * the token more than they give (an operator may still set more).
 */
#define CONFIG_AUDIT_LANES_DEFAULT_MAX 8
#define CONFIG_INTERVAL_MAX 86400
#define CONFIG_COUNT_MAX 1000000
#define CONFIG_MILLIS_MAX 3600000	/* timeouts: an hour */
#define CONFIG_MICROS_MAX 1000000	/* a second */
#define CONFIG_EVENTS_MAX 100000000	/* events per VerifyAuditLog call */

/*
 * Every string is NUL-terminated, heap-allocated and owned by the struct.
 * The on/off keys are ints, 1 for "on" and 0 for "off" (no other value
 * loads).
 */
struct config {
	char *listen;		/* gRPC listen address */
	unsigned workers;	/* worker threads */
	char *database;		/* libpq conninfo, as role coffer_app */
	char *admin_database;	/* conninfo of the owner, for migrate; NULL */
	int audit;		/* on (1); off (0) only to benchmark the cost */
	unsigned audit_head_max_lag; /* s the token's audit head may lag */
	unsigned audit_lanes;	/* audit queue lanes, written side by
				   side; default: one per 4 cores, at
				   most 8 */
	unsigned audit_batch_wait_us; /* a queue lane under load waits up
				   to this long after its last batch
				   for company; 0: never */
	char *tls_cert;		/* server certificate chain (PEM file) */
	char *tls_key;		/* its private key (PEM file) */
	char *tls_client_ca;	/* CA bundle client certificates chain to */
	unsigned tls_reload_interval; /* seconds between looks at the three */
	int plaintext;		/* on: no TLS, loopback only; default off */
	int health_without_cert; /* on: health check needs no cert */
	unsigned refusal_audit_interval; /* seconds between refusal summaries */
	char *admin_principal;	/* allowed everything; NULL: nobody */
	char *pkcs11_module;	/* PKCS#11 module path */
	char *token_label;	/* token label */
	char *pin_file;		/* file holding the user PIN; NULL: unset */
	char *kek_label;	/* default KEK label */
	char *audit_key_recipients; /* PEM file of auditors' RSA public keys
				   new audit key versions are escrowed
				   for; NULL: none */
	int dek_cache;		/* on: keep unwrapped data keys in the token */
	char *region;		/* ARN region */
	char *account_id;	/* ARN account id, 12 digits */
	char *partition;	/* ARN partition */
	unsigned purge_interval; /* seconds between purges of deleted secrets */
	unsigned rotation_interval; /* seconds between looks for due rotations */
	char *rotator_dir;	/* where exec: rotators live; NULL: refused */
	unsigned rotator_timeout; /* seconds an exec: step may take */
	/* PostgreSQL rotators: hosts/sockets they may use, TLS (engine.h). */
	char *rotator_pg_allow_hosts;	/* NULL: any TCP host, no socket */
	char *rotator_pg_sslmode;	/* the weakest allowed; "prefer" */
	char *rotator_pg_sslrootcert;	/* NULL: libpq's default */
	char *rotator_ca_bundle; /* what exec: rotators call cofferd with */
	char *rotator_cert;
	char *rotator_key;
	unsigned long_workers;	/* threads for long calls; default
				   2 * workers */
	unsigned long_queue;	/* long calls waiting at most */
	unsigned max_connections; /* connections held at most (about) */
	unsigned handshake_timeout; /* seconds a connection may take to
				   finish its TLS and HTTP/2 handshakes */
	unsigned max_streams;	/* concurrent calls per connection */
	unsigned max_transport_memory; /* MiB gRPC may hold for connections */
	unsigned max_connection_age;	/* seconds before GOAWAY */
	unsigned max_connection_age_grace; /* seconds from GOAWAY to close */
	char *rotator_user;	/* exec: rotators run as; NULL: see rotators.c */
	char *rotator_group;	/* and in; NULL: rotator_user's login group */
	unsigned db_timeout;	/* seconds cofferd waits for the database */
	unsigned statement_timeout_ms;	/* each statement of a request */
	unsigned list_statement_timeout_ms; /* ...of listings, audit queries */
	unsigned audit_verify_max_events; /* per VerifyAuditLog call */
	unsigned audit_verify_max_ms;	/* per VerifyAuditLog call */
	unsigned rewrap_rate;	/* envelopes a second this server moves
				   to their KEK's current version */
	/* AWS's JSON protocol over HTTPS (awsapi/), off unless set. */
	char *aws_listen;	/* "HOST:PORT"; NULL: not served */
	char *metrics_listen;	/* GET /metrics there; NULL: not served */
	char *log_format;	/* "text" or "json" */
	char *log_level;	/* "debug", "info", "warn", "error" */
	enum cf_log_format log_fmt;	/* ...as cf_log takes them */
	enum cf_log_level log_lvl;
	unsigned aws_workers;	/* its threads; default: workers */
	unsigned aws_max_connections;	/* connections held at most */
	unsigned aws_timeout;	/* seconds a connection may sit idle */
};

/*
 * config_load(cfg, path, err):
 * Fill ${cfg} with the defaults, then the keys of the file ${path} (NULL:
 * no file), then the COFFER_<KEY> environment variables.  Returns 0, or -1
 * with ${err} set (naming the file and line, or the variable) and ${cfg}
 * cleaned up.  Free a loaded config with config_cleanup().
 */
int config_load(struct config *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/* config_cleanup(cfg): free the strings of ${cfg} and zero it. */
void config_cleanup(struct config *);

#endif /* !COFFER_CONFIG_H */
