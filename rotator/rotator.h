/*
 * rotator.h: the rotators, what changes a credential when a secret is
 * rotated: builtin:password, the two PostgreSQL rotators and exec:
 * programs.  The engine decides when a rotation runs, under which lease,
 * as whom, and what is stored and audited; a rotator only knows how to
 * make a new value and how to set it and test it where it is used.
 * rotator/DESIGN.md states the contract between the two.
 *
 * Nothing here touches Coffer's own database or the token: values come in
 * decrypted and go out to be sealed by the engine, and the new password
 * is drawn by the engine (from the token) and handed in.  Every function
 * returns 0, or -1 with ${err} set (InvalidRequestException for a value or
 * a target database that does not do what the rotation needs).
 */
#ifndef COFFER_ROTATOR_H
#define COFFER_ROTATOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cf.h"
#include "cf_password.h"

#define ROTATOR_MAX 2048	/* a RotationLambdaARN, in characters (AWS) */

enum rotator_kind {
	ROTATOR_PASSWORD,	/* builtin:password */
	ROTATOR_PG_SINGLE,	/* builtin:postgresql-single-user */
	ROTATOR_PG_ALTERNATING,	/* builtin:postgresql-alternating-users */
	ROTATOR_EXEC		/* exec:/path/to/program */
};

/*
 * The steps of AWS's rotation-Lambda contract, in the order they run; the
 * numbers are those stored in secrets.rotation_step (migrations/0006).
 */
enum rotator_step {
	ROTATOR_CREATE = 1,	/* createSecret: the pending value */
	ROTATOR_SET,		/* setSecret: where the credential is used */
	ROTATOR_TEST,		/* testSecret: the pending value works there */
	ROTATOR_FINISH		/* finishSecret: AWSCURRENT moves */
};

/* rotator_step_name(step): "createSecret" ... "finishSecret". */
const char *rotator_step_name(enum rotator_step);

/*
 * A parsed RotationLambdaARN.  ${pw.exclude_characters} may point into the
 * struct itself: use it where rotator_parse filled it, never a copy.
 */
struct rotator {
	enum rotator_kind kind;
	const char *path;		/* exec: the program (in the ARN) */
	struct cf_password_rules pw;	/* the others: the password's rules */
	char exclude[ROTATOR_MAX];
};

/*
 * rotator_parse(arn, out, err):
 * Which rotator ${arn} names, with its parameters.  A name is the whole
 * ARN or the part before '?': never a prefix, nor a name with anything
 * after it.  -1 with ValidationException when longer than ROTATOR_MAX
 * characters (AWS's model), InvalidParameterException when it names no
 * rotator or its parameters are not GetRandomPassword's.  ${out}'s path
 * points into ${arn}.
 */
int rotator_parse(const char *, struct rotator *, struct cf_error *)
    CF_MUSTCHECK;

/* A secret value, decrypted: SecretString (text) or SecretBinary. */
struct rotator_value {
	int present;
	int binary;
	const uint8_t *data;
	size_t len;
};

/* ---- builtin:password (rotator_password.c) ------------------------------- */

/*
 * rotator_password_value(a, cur, password, out, err):
 * createSecret's value for builtin:password: ${password}, or, when the
 * current value ${cur} (NULL or not present: none) is a JSON object with a
 * "password" string, that object with only its "password" replaced.
 * ${out} points at ${password} or into ${a}; the JSON text that held the
 * password outside ${a} is wiped.
 */
int rotator_password_value(struct cf_arena *, const struct rotator_value *,
    const char *, struct rotator_value *, struct cf_error *) CF_MUSTCHECK;

/* ---- PostgreSQL (rotator_pg.c, rotator_pg_value.c) ----------------------- */

/*
 * Where they may log in and how.  ${allow_hosts}: a comma-separated list of
 * host names, "*" (any TCP host) and Unix socket directories; NULL or
 * empty: any TCP host and no socket.  ${sslmode}: the weakest libpq sslmode
 * a login may use (a value's own "sslmode" may only be stronger); NULL:
 * "prefer".  ${sslrootcert}: the CA file for verify-ca/verify-full; NULL:
 * libpq's default.
 */
struct rotator_pg_config {
	const char *allow_hosts;
	const char *sslmode;
	const char *sslrootcert;
};

/* rotator_pg_config_check(cfg, err): is ${cfg} valid (at start-up)? */
int rotator_pg_config_check(const struct rotator_pg_config *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * Values are AWS's JSON {engine, host, port, username, password, dbname}
 * (and "sslmode", Coffer's own, at least the configured one).
 *
 * rotator_pg_new_value(a, rot, cur, password, out, err): createSecret's
 *     value: ${cur} with ${password}, and for alternating users the other
 *     user (user -> user_clone -> user ...).  ${out} is in ${a}.
 * rotator_pg_step(cfg, a, rot, step, cur, pending, master, err): setSecret
 *     or testSecret on the target database, outside any transaction of
 *     Coffer's (it may take seconds): testSecret logs in with ${pending}
 *     (${cur} when it has no value: a test-only run); setSecret sets the
 *     pending password as the current credentials (single user; nothing
 *     to do if it works already) or as ${master} (alternating users,
 *     creating the clone as a member of the base user).
 * rotator_pg_field(a, v, field, out): the string member ${field} of ${v},
 *     copied into ${a}; -1 (no error set) when there is none.
 * rotator_pg_pins(a, v, alternating, out, err): what a rotation of ${v}
 *     pins (JSON text in ${a}): "masterarn" (alternating), the base
 *     username, host, port, dbname.
 * rotator_pg_check_pins(v, pins, alternating, what, err): does ${v} (named
 *     ${what} in the error) match ${pins}?
 * rotator_pg_check_master(master, pins, err): is the master's host and
 *     port the pinned one?
 */
int rotator_pg_new_value(struct cf_arena *, const struct rotator *,
    const struct rotator_value *, const char *, struct rotator_value *,
    struct cf_error *) CF_MUSTCHECK;
int rotator_pg_step(const struct rotator_pg_config *, struct cf_arena *,
    const struct rotator *, enum rotator_step, const struct rotator_value *,
    const struct rotator_value *, const struct rotator_value *,
    struct cf_error *) CF_MUSTCHECK;
int rotator_pg_field(struct cf_arena *, const struct rotator_value *,
    const char *, const char **) CF_MUSTCHECK;
int rotator_pg_pins(struct cf_arena *, const struct rotator_value *, int,
    const char **, struct cf_error *) CF_MUSTCHECK;
int rotator_pg_check_pins(const struct rotator_value *, const char *, int,
    const char *, struct cf_error *) CF_MUSTCHECK;
int rotator_pg_check_master(const struct rotator_value *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- exec: programs (rotator_exec.c) ------------------------------------- */

/*
 * The directory programs must be in (NULL: exec: rotators refused), how
 * long a step may take, the user and group it runs as (run_as_user 0:
 * cofferd's own), what stops a running program (*cancel nonzero, read
 * atomically; NULL: nothing), and what a program gets to call cofferd back
 * (NULL members are not passed).
 */
struct rotator_exec_config {
	const char *dir;
	int timeout_s;
	int run_as_user;		/* switch to uid and gid */
	uid_t uid;
	gid_t gid;
	const int *cancel;		/* nonzero: stop now */
	const char *endpoint;		/* COFFER_ENDPOINT for the program */
	const char *ca_bundle, *cert, *key;
};

/*
 * rotator_exec_check(dir, path, err): may exec:${path} run (inside ${dir},
 * an executable file, it and its directory owned by root or cofferd's user
 * and writable by no one else)?  -1 with InvalidParameterException if not.
 * rotator_exec_step(cfg, path, step, arn, token, err): check it again and
 * run that very file for ${step} of rotation ${token} of ${arn}, as cfg's
 * user; 0 when it exits 0 in time, -1 with ${err} otherwise (its process
 * group is killed at the time limit or when *cfg->cancel is set).
 */
int rotator_exec_check(const char *, const char *, struct cf_error *)
    CF_MUSTCHECK;
int rotator_exec_step(const struct rotator_exec_config *, const char *,
    enum rotator_step, const char *, const char *, struct cf_error *)
    CF_MUSTCHECK;

#endif /* !COFFER_ROTATOR_H */
