/*
 * rotation.c: RotateSecret, CancelRotateSecret, and the scheduler that runs
 * rotations inside cofferd (migrations/0006_rotation.sql for the state).
 *
 * The scheduler thread also purges secrets past their recovery window.
 *
 * RotateSecret, as AWS: it stores the rotator (RotationLambdaARN) and the
 * rules, puts AWSPENDING on an empty version named by its
 * ClientRequestToken *before* any step runs, and returns; the rotation is
 * asynchronous.  The four steps (createSecret, setSecret, testSecret,
 * finishSecret; testSecret alone for RotateImmediately = false) run in the
 * scheduler thread of whichever cofferd claims the secret: a lease taken
 * with FOR UPDATE SKIP LOCKED (store_rotation_claim), so each rotation runs
 * on one server at a time and exactly once.  Each step commits the step it
 * reached together with its audit event; a server that dies mid-rotation
 * loses its lease and the rotation resumes where it stopped.  A failed step
 * is retried with exponential backoff (2 s doubling, at most an hour) until
 * it succeeds or the rotation is cancelled.  Scheduled rotations start when
 * NextRotationDate comes, inside their window (engine/schedule.h); a window
 * missed entirely (every server down) moves to the next one.
 *
 * Rotators built in this release: builtin:password, with GetRandomPassword's
 * parameters as a query string (builtin:password?PasswordLength=32&
 * ExcludePunctuation=true); when the current value is a JSON object with a
 * "password" string, only that member changes.
 *
 * Whose rights a rotation uses (issue 11): RotateSecret with a rotator or
 * rules records its caller (secrets.rotation_principal, DescribeSecret's
 * RotationPrincipal); every step runs as that principal, its decisions
 * made by engine_authorize and its audit events naming it.  The database
 * rotators read a master secret only if that principal may GetSecretValue
 * it, and only the master, user and server pinned at configuration
 * (secrets.rotation_pins): a PutSecretValue cannot redirect them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "engine_internal.h"
#include "schedule.h"

#define STAGE_PENDING "AWSPENDING"
#define ROT_LEASE_S 300			/* at least; renewed at each step */
#define ROT_BACKOFF_MIN_S 2
#define ROT_BACKOFF_MAX_S 3600
#define ROTATOR_MAX 2048
#define PURGE_BATCH 100

enum { STEP_CREATE = 1, STEP_SET, STEP_TEST, STEP_FINISH };

static const char *const step_op[] = { NULL, "Rotation/createSecret",
    "Rotation/setSecret", "Rotation/testSecret", "Rotation/finishSecret" };
static const char *const step_name[] = { NULL, "createSecret", "setSecret",
    "testSecret", "finishSecret" };

/* ---- rotators ------------------------------------------------------------ */

enum rotator_kind { ROT_PASSWORD, ROT_PG_SINGLE, ROT_PG_ALTERNATING,
    ROT_EXEC };

static const struct {
	const char *name;
	enum rotator_kind kind;
} rotators[] = {
	{ "builtin:password", ROT_PASSWORD },
	{ "builtin:postgresql-single-user", ROT_PG_SINGLE },
	{ "builtin:postgresql-alternating-users", ROT_PG_ALTERNATING },
};

/* The database rotators' default: AWS's characters that break DSNs out. */
#define PG_EXCLUDE "/@\"'\\"
#define PG_LENGTH 32
#define CLONE_SUFFIX ENGINE_PG_CLONE_SUFFIX

struct rotator {
	enum rotator_kind kind;
	const char *path;		/* ROT_EXEC: the program */
	struct engine_password_req pw;
	char exclude[ROTATOR_MAX];
};

/* The value of hex digit ${c}, or -1. */
static int
hexval(char c)
{

	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* %XX-decode the ${n} bytes of ${in} into ${out} (ROTATOR_MAX); 0 or -1. */
static int
url_decode(const char *in, size_t n, char *out)
{
	size_t i, k = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (k + 1 >= ROTATOR_MAX)
			return (-1);
		if (in[i] != '%') {
			out[k++] = in[i] == '+' ? ' ' : in[i];
			continue;
		}
		if (i + 2 >= n || (hi = hexval(in[i + 1])) < 0 ||
		    (lo = hexval(in[i + 2])) < 0 || (hi == 0 && lo == 0))
			return (-1);
		out[k++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[k] = '\0';
	return (0);
}

/* "true"/"false" of option ${name}; -1 for anything else. */
static int
bool_opt(const char *v)
{

	if (strcmp(v, "true") == 0)
		return (1);
	if (strcmp(v, "false") == 0)
		return (0);
	return (-1);
}

/*
 * Parse a RotationLambdaARN naming a rotator of this release into ${r}.
 * A name is the whole ARN or the part before '?': never a prefix, nor a
 * name with anything after it.  Longer than ROTATOR_MAX characters:
 * ValidationException, as AWS's model has it; anything else that names no
 * rotator: InvalidParameterException, naming what is available.
 */
static int
rotator_parse(const char *arn, struct rotator *r, struct cf_error *err)
{
	const char *q, *p, *amp, *eq;
	char name[64], value[ROTATOR_MAX];
	int b;

	size_t i, n = 0, nr = sizeof(rotators) / sizeof(rotators[0]);

	memset(r, 0, sizeof(*r));

	/* The length first: nothing past it is looked at. */
	if (arn != NULL && strnlen(arn, ROTATOR_MAX + 1) > ROTATOR_MAX) {
		cf_error_set(err, CF_ERR_VALIDATION, "1 validation error "
		    "detected: Value at 'rotationLambdaARN' failed to satisfy "
		    "constraint: Member must have length less than or equal "
		    "to %d", ROTATOR_MAX);
		return (-1);
	}
	if (arn != NULL && strncmp(arn, "exec:", 5) == 0) {
		r->kind = ROT_EXEC;
		r->path = arn + 5;
		return (0);
	}
	for (i = 0; arn != NULL && i < nr; i++) {
		n = strlen(rotators[i].name);
		if (strncmp(arn, rotators[i].name, n) == 0 &&
		    (arn[n] == '\0' || arn[n] == '?'))
			break;
	}
	if (arn == NULL || i == nr) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "RotationLambdaARN "
		    "\"%.128s\" names no rotator of this release: use "
		    "builtin:password, builtin:postgresql-single-user or "
		    "builtin:postgresql-alternating-users (with "
		    "GetRandomPassword's parameters as a query string if "
		    "wanted), or exec:/path/to/program", arn != NULL ? arn :
		    "");
		return (-1);
	}
	r->kind = rotators[i].kind;
	if (r->kind != ROT_PASSWORD) {
		r->pw.has_password_length = 1;
		r->pw.password_length = PG_LENGTH;
		snprintf(r->exclude, sizeof(r->exclude), "%s", PG_EXCLUDE);
		r->pw.exclude_characters = r->exclude;
	}
	for (q = arn[n] == '?' ? arn + n + 1 : NULL; q != NULL && *q != '\0';
	    q = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(q, '&');
		p = amp != NULL ? amp : q + strlen(q);
		if ((eq = memchr(q, '=', (size_t)(p - q))) == NULL ||
		    (size_t)(eq - q) >= sizeof(name) ||
		    url_decode(eq + 1, (size_t)(p - eq - 1), value))
			goto bad;
		memcpy(name, q, (size_t)(eq - q));
		name[eq - q] = '\0';
		if (strcmp(name, "PasswordLength") == 0) {
			/* A decimal number and nothing else. */
			if (value[0] < '0' || value[0] > '9' ||
			    value[strspn(value, "0123456789")] != '\0')
				goto bad;
			r->pw.has_password_length = 1;
			r->pw.password_length = strtoll(value, NULL, 10);
			continue;
		}
		if (strcmp(name, "ExcludeCharacters") == 0) {
			snprintf(r->exclude, sizeof(r->exclude), "%s", value);
			r->pw.exclude_characters = r->exclude;
			continue;
		}
		if ((b = bool_opt(value)) == -1)
			goto bad;
		if (strcmp(name, "ExcludeNumbers") == 0)
			r->pw.exclude_numbers = b;
		else if (strcmp(name, "ExcludePunctuation") == 0)
			r->pw.exclude_punctuation = b;
		else if (strcmp(name, "ExcludeUppercase") == 0)
			r->pw.exclude_uppercase = b;
		else if (strcmp(name, "ExcludeLowercase") == 0)
			r->pw.exclude_lowercase = b;
		else if (strcmp(name, "IncludeSpace") == 0)
			r->pw.include_space = b;
		else if (strcmp(name, "RequireEachIncludedType") == 0) {
			r->pw.has_require_each_included_type = 1;
			r->pw.require_each_included_type = b;
		} else
			goto bad;
	}
	return (0);

bad:
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "RotationLambdaARN "
	    "\"%.128s\": a rotator takes GetRandomPassword's parameters, "
	    "e.g. ?PasswordLength=32&ExcludePunctuation=true", arn);
	return (-1);
}

int
engine_rotator_parse(const char *arn, enum engine_rotator_kind *out_kind,
    int64_t *out_length, struct cf_error *err)
{
	struct rotator r;

	if (rotator_parse(arn, &r, err))
		return (-1);
	switch (r.kind) {
	case ROT_PASSWORD:
		*out_kind = ENGINE_ROTATOR_PASSWORD;
		break;
	case ROT_PG_SINGLE:
		*out_kind = ENGINE_ROTATOR_PG_SINGLE;
		break;
	case ROT_PG_ALTERNATING:
		*out_kind = ENGINE_ROTATOR_PG_ALTERNATING;
		break;
	case ROT_EXEC:
		*out_kind = ENGINE_ROTATOR_EXEC;
		break;
	}
	*out_length = r.pw.has_password_length ? r.pw.password_length : 0;
	return (0);
}

static int
token_random(void *ctx, uint8_t *buf, size_t n, struct cf_error *err)
{

	return (hsm_random(ctx, buf, n, err));
}

/* ---- rules -------------------------------------------------------------- */

/* The rules as stored (jsonb): AWS's member names. */
static char *
rules_json(struct cf_arena *a, const struct engine_rotation_rules *r)
{
	json_t *o = json_object();
	char *s, *out = NULL;

	if (o == NULL)
		return (NULL);
	if (r->has_automatically_after_days)
		json_object_set_new(o, "AutomaticallyAfterDays",
		    json_integer(r->automatically_after_days));
	if (r->schedule_expression != NULL)
		json_object_set_new(o, "ScheduleExpression",
		    json_string(r->schedule_expression));
	if (r->duration != NULL)
		json_object_set_new(o, "Duration", json_string(r->duration));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		out = cf_arena_strdup(a, s);
		free(s);
	}
	json_decref(o);
	return (out);
}

int
engine_rules_decode(struct cf_arena *a, const char *json,
    struct engine_rotation_rules *out)
{
	json_t *o, *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (json == NULL || (o = json_loads(json, 0, NULL)) == NULL)
		return (-1);
	if ((v = json_object_get(o, "AutomaticallyAfterDays")) != NULL &&
	    json_is_integer(v)) {
		out->has_automatically_after_days = 1;
		out->automatically_after_days = json_integer_value(v);
	}
	if ((v = json_object_get(o, "ScheduleExpression")) != NULL &&
	    json_is_string(v) && (out->schedule_expression = cf_arena_strdup(a,
	    json_string_value(v))) == NULL)
		goto done;
	if ((v = json_object_get(o, "Duration")) != NULL &&
	    json_is_string(v) && (out->duration = cf_arena_strdup(a,
	    json_string_value(v))) == NULL)
		goto done;
	rc = 0;
done:
	json_decref(o);
	return (rc);
}

/* Parse the rules into a schedule; InvalidParameterException if wrong. */
static int
rules_schedule(const struct engine_rotation_rules *r, struct schedule *s,
    struct cf_error *err)
{

	return (schedule_parse(r->has_automatically_after_days,
	    r->automatically_after_days, r->schedule_expression, r->duration,
	    s, err));
}

/*
 * The next window's start after a rotation (or manual change) at
 * ${last_ms}, for the stored rules ${json}; 0 when there are none.
 */
static int64_t
next_window(struct cf_arena *a, const char *json, int64_t last_ms,
    int64_t now_ms)
{
	struct engine_rotation_rules r;
	struct schedule s;
	struct cf_error err;
	int64_t next;

	if (json == NULL || engine_rules_decode(a, json, &r) ||
	    rules_schedule(&r, &s, &err))
		return (0);
	next = schedule_next_window(&s, last_ms, now_ms);
	return (next > 0 ? next : 0);
}

int
engine_rotation_touched(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, struct cf_error *err)
{
	int64_t now = cf_now_ms();

	/* A manual change of AWSCURRENT counts as a rotation (AWS). */
	if (sec->rotation_enabled != 1)
		return (0);
	return (store_rotation_touched(w->store, sec->uuid,
	    next_window(call->arena, sec->rotation_rules, now, now), err));
}

/* ---- RotateSecret and CancelRotateSecret --------------------------------- */

static int current_value(struct engine_worker *, const struct engine_call *,
    const struct store_secret *, struct engine_value *, struct cf_error *);

/*
 * The master secret ${arn}, which ${call}'s principal must be allowed to
 * GetSecretValue (the same decision as for that call): -1 with
 * AccessDeniedException, decided before whether it exists is told, or
 * ResourceNotFoundException.
 */
static int
master_secret(struct engine_worker *w, const struct engine_call *call,
    const char *arn, struct store_secret *m, struct cf_error *err)
{
	struct engine_call c = *call;
	int rc;

	c.action = "secretsmanager:GetSecretValue";
	c.auth_name = NULL;
	c.auth_version_id = NULL;
	c.auth_version_stage = STAGE_CURRENT;
	if ((rc = store_secret_by_arn(w->store, call->arena, arn, 0, m,
	    err)) == -1)
		return (-1);
	if (rc == 0 || m->deleted_ms != 0) {
		if (engine_authorize(w, &c, NULL, NULL, arn, NULL, err))
			return (-1);
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the master secret "
		    "%.256s does not exist", arn);
		return (-1);
	}
	return (engine_authorize(w, &c, NULL, m, NULL, NULL, err));
}

/*
 * Record that ${call}'s principal configures the rotation of ${sec} with
 * ${rot}: its steps will run as that principal.  For the PostgreSQL
 * rotators, pin what the current value names (engine_pg_pins); the
 * alternating one also needs that principal to be allowed to read the
 * master secret, as each setSecret will check again.
 */
static int
pin_rotation(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const struct rotator *rot,
    struct cf_error *err)
{
	struct engine_value cur, pins_v;
	struct store_secret m;
	const char *pins = NULL, *master;
	int alt = rot->kind == ROT_PG_ALTERNATING;

	if (rot->kind == ROT_PG_SINGLE || alt) {
		if (current_value(w, call, sec, &cur, err))
			return (-1);
		if (!cur.present) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret "
			    "has no AWSCURRENT credentials to rotate");
			return (-1);
		}
		if (engine_pg_pins(call->arena, &cur, alt, &pins, err))
			return (-1);
		memset(&pins_v, 0, sizeof(pins_v));
		pins_v.present = 1;
		pins_v.data = (const uint8_t *)pins;
		pins_v.len = strlen(pins);
		if (alt && (engine_pg_field(call->arena, &pins_v, "masterarn",
		    &master) || master_secret(w, call, master, &m, err)))
			return (-1);
	}
	return (store_rotation_pin(w->store, sec->uuid, call->principal, pins,
	    err));
}

/* A rotator's password parameters must make a password: try them once. */
static int
rotator_check(struct engine_worker *w, const struct rotator *rot,
    struct cf_error *err)
{
	char pw[4097];
	int rc;

	if (rot->kind == ROT_EXEC)
		return (engine_exec_check(w->e->exec.dir, rot->path, err));
	rc = engine_password_generate(&rot->pw, token_random, w->hsm, pw, err);
	explicit_bzero(pw, sizeof(pw));
	return (rc);
}

static int
rotate_check(const struct engine_rotate_req *req, struct rotator *rot,
    struct schedule *sched, struct cf_error *err)
{

	if (engine_check_secret_id(req->secret_id, err))
		return (-1);
	if (req->client_request_token == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, MSG_NEED_TOKEN);
		return (-1);
	}
	if (engine_check_token(req->client_request_token, err))
		return (-1);
	if (req->rotation_lambda_arn != NULL &&
	    rotator_parse(req->rotation_lambda_arn, rot, err))
		return (-1);
	if (req->has_rules && rules_schedule(&req->rules, sched, err))
		return (-1);
	return (0);
}

int
engine_rotate_secret(struct engine_worker *w, const struct engine_call *call,
    const struct engine_rotate_req *req, struct engine_rotate_resp *resp,
    struct cf_error *err)
{
	struct store_version v = { 0 };
	struct store_secret sec;
	struct schedule sched;
	struct rotator rot;
	const char *lambda, *pending = NULL, *current = NULL, *prev, *rules;
	int64_t now = cf_now_ms(), next = 0;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (rotate_check(req, &rot, &sched, err) ||
	    (req->rotation_lambda_arn != NULL && rotator_check(w, &rot, err)))
		return (-1);
	engine_audit_at(call, NULL, req->client_request_token);
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, req->secret_id, &sec, err))
		goto fail;
	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = req->client_request_token;

	/* The same request again: it is running or done. */
	if (sec.rotation_token != NULL &&
	    strcmp(sec.rotation_token, req->client_request_token) == 0) {
		store_rollback(w->store);
		return (0);
	}

	/* A rotator, given or stored. */
	lambda = req->rotation_lambda_arn != NULL ? req->rotation_lambda_arn :
	    sec.rotation_lambda_arn;
	if (lambda == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "No Lambda rotation "
		    "function ARN is associated with this secret.");
		goto fail;
	}
	if (req->rotation_lambda_arn == NULL &&
	    rotator_parse(lambda, &rot, err))
		goto fail;

	/* One rotation at a time: AWSPENDING on no version but AWSCURRENT's. */
	if (store_stage_holder(w->store, call->arena, sec.uuid, STAGE_PENDING,
	    &pending, err) == -1 || store_stage_holder(w->store, call->arena,
	    sec.uuid, STAGE_CURRENT, &current, err) == -1)
		goto fail;
	if (sec.rotation_token != NULL || (pending != NULL &&
	    (current == NULL || strcmp(pending, current) != 0))) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Previous rotation "
		    "request is still in progress.");
		goto fail;
	}
	if ((rc = store_version_exists(w->store, sec.uuid,
	    req->client_request_token, err)) == -1)
		goto fail;
	if (rc == 1) {
		cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "You can't use "
		    "ClientRequestToken %.64s because that value is already in "
		    "use for a version of secret %.512s.",
		    req->client_request_token, sec.arn);
		goto fail;
	}

	/* The pending version, empty until createSecret, then the state. */
	v.version_id = req->client_request_token;
	v.empty = 1;
	v.kek_label = "";
	if (store_version_insert(w->store, sec.uuid, &v, err) ||
	    store_stage_move(w->store, call->arena, sec.uuid, STAGE_PENDING,
	    req->client_request_token, &prev, err))
		goto fail;
	rules = NULL;
	if (req->has_rules && (rules = rules_json(call->arena, &req->rules)) ==
	    NULL) {
		(void)engine_oom(err);
		goto fail;
	}
	/* Configured now (or before 0007): who, and what it may touch. */
	if ((req->rotation_lambda_arn != NULL || req->has_rules ||
	    sec.rotation_principal == NULL) &&
	    pin_rotation(w, call, &sec, &rot, err))
		goto fail;
	if (rules != NULL)
		next = schedule_next_window(&sched, sec.last_rotated_ms != 0 ?
		    sec.last_rotated_ms : sec.created_ms, now);
	else if (sec.rotation_rules != NULL)
		next = next_window(call->arena, sec.rotation_rules,
		    sec.last_rotated_ms != 0 ? sec.last_rotated_ms :
		    sec.created_ms, now);
	if (store_rotation_configure(w->store, sec.uuid, 1,
	    req->rotation_lambda_arn, rules, next, err) ||
	    store_rotation_begin(w->store, sec.uuid, req->client_request_token,
	    req->has_rotate_immediately && !req->rotate_immediately ?
	    STEP_TEST : STEP_CREATE, req->has_rotate_immediately &&
	    !req->rotate_immediately, err))
		goto fail;
	engine_audit_at(call, sec.arn, req->client_request_token);
	if (engine_commit(w, call, err))
		return (-1);
	engine_rotation_kick(w->e);
	return (0);

fail:
	store_rollback(w->store);
	return (-1);
}

int
engine_cancel_rotate_secret(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id,
    struct engine_rotate_resp *resp, struct cf_error *err)
{
	struct store_secret sec;

	memset(resp, 0, sizeof(*resp));
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto fail;
	if (sec.rotation_lambda_arn == NULL && sec.rotation_enabled != 1) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "Rotation is not "
		    "configured for this secret.");
		goto fail;
	}
	/* The rules and the rotator stay; AWSPENDING stays for the caller. */
	if (store_rotation_cancel(w->store, sec.uuid, err))
		goto fail;
	engine_audit_at(call, sec.arn, sec.rotation_token);
	if (engine_commit(w, call, err))
		return (-1);
	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = sec.rotation_token;
	return (0);

fail:
	store_rollback(w->store);
	return (-1);
}

/* ---- the scheduler -------------------------------------------------------- */

struct engine_rotation {
	struct engine_worker *w;
	struct audit *audit;
	int interval_s;
	int purge_interval_s;
	int lease_s;			/* outlasts any one step */
	int64_t next_purge_ms;
	char owner[128];		/* this server, for leases */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kicked;
};

/*
 * What one step needs: a call of its own, as the principal who configured
 * the rotation (its decisions and its audit events); "cofferd" in the
 * events of rotations configured before that was recorded.
 */
struct step_ctx {
	struct engine_rotation *r;
	struct engine_call call;
	struct engine_audit ea;
	char request_id[37];
	const char *op;
	const char *arn;
	const char *token;
};

/* The event of step ${c} with ${outcome}. */
static void
step_event(const struct step_ctx *c, const char *outcome,
    struct audit_event *ev)
{

	memset(ev, 0, sizeof(*ev));
	ev->time_ms = cf_now_ms();
	ev->request_id = c->request_id;
	ev->principal = c->call.principal != NULL ? c->call.principal :
	    "cofferd";
	ev->peer = "local";
	ev->operation = c->op;
	ev->secret_arn = c->arn;
	ev->version_id = c->token;
	ev->outcome = outcome;
}

/* engine_commit's hook: the step's event, durable before its commit. */
static int
step_record(struct engine_audit *ea, struct cf_error *err)
{
	struct step_ctx *c = ea->hook_arg;
	struct audit_event ev;

	if (c->r->audit == NULL)
		return (0);
	step_event(c, "OK", &ev);
	return (audit_record(c->r->audit, &ev, 1, err));
}

/* Record a step that failed (after its rollback). */
static void
step_failed(struct step_ctx *c, const struct cf_error *why)
{
	struct audit_event ev;
	struct cf_error err;

	fprintf(stderr, "cofferd: rotation of %s, %s failed: %s\n", c->arn,
	    c->op, why->msg);
	if (c->r->audit == NULL)
		return;
	step_event(c, cf_code_name(why->code != CF_OK ? why->code :
	    CF_ERR_INTERNAL), &ev);
	if (audit_record(c->r->audit, &ev, 1, &err))
		fprintf(stderr, "cofferd: could not audit the failed %s of "
		    "%s: %s\n", c->op, c->arn, err.msg);
}

static int
step_begin(struct step_ctx *c, struct engine_rotation *r, struct cf_arena *a,
    const char *op, const char *arn, const char *token, const char *principal,
    struct cf_error *err)
{

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->op = op;
	c->arn = arn;
	c->token = token;
	if (engine_random_uuid(r->w, c->request_id, err))
		return (-1);
	c->call.principal = principal;
	c->call.peer = "local";
	c->call.request_id = c->request_id;
	c->call.arena = a;
	c->call.audit = &c->ea;
	c->ea.before_commit = step_record;
	c->ea.hook_arg = c;
	return (0);
}


/*
 * The new value for builtin:password: a password, or the current JSON value
 * with its "password" member replaced.
 */
static int
new_password_value(struct engine_worker *w, struct cf_arena *a,
    const struct rotator *rot, const struct engine_value *cur,
    struct engine_value *out, struct cf_error *err)
{
	json_t *o = NULL, *pw;
	char *p, *s;
	size_t n;

	if ((p = cf_arena_alloc(a, 4097)) == NULL)
		return (engine_oom(err));
	if (engine_password_generate(&rot->pw, token_random, w->hsm, p, err))
		return (-1);
	memset(out, 0, sizeof(*out));
	out->present = 1;
	if (cur != NULL && !cur->binary && cur->len > 0 &&
	    (o = json_loadb((const char *)cur->data, cur->len, 0, NULL)) !=
	    NULL && json_is_object(o) && (pw = json_object_get(o,
	    "password")) != NULL && json_is_string(pw)) {
		json_object_set_new(o, "password", json_string(p));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (s == NULL)
			return (engine_oom(err));
		n = strlen(s);
		out->data = cf_arena_memdup(a, s, n);
		explicit_bzero(s, n);
		free(s);
		if (out->data == NULL)
			return (engine_oom(err));
		out->len = n;
		return (0);
	}
	json_decref(o);
	out->data = (const uint8_t *)p;
	out->len = strlen(p);
	return (0);
}

/* Lock the secret ${uuid}'s row and read it; -1 if it is gone. */
static int
lock_secret(struct engine_worker *w, struct cf_arena *a, const char *arn,
    struct store_secret *sec, struct cf_error *err)
{
	int rc;

	if ((rc = store_secret_by_arn(w->store, a, arn, 1, sec, err)) == -1)
		return (-1);
	if (rc == 0) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, MSG_NOT_FOUND);
		return (-1);
	}
	return (0);
}

/* The AWSCURRENT value of ${sec} into ${out}; 0 (out->present 0 if none). */
static int
current_value(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, struct engine_value *out,
    struct cf_error *err)
{
	struct store_version cv;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_version_get(w->store, call->arena, sec->uuid, NULL,
	    STAGE_CURRENT, &cv, err)) == -1)
		return (-1);
	if (rc == 0 || cv.empty)
		return (0);
	return (engine_open(w, call, sec->uuid, &cv, out, err));
}

/* The base user of alternating rotation: ${user} without "_clone". */
static const char *
base_user(struct cf_arena *a, const char *user)
{
	size_t n = strlen(user), k = strlen(CLONE_SUFFIX);
	char *b;

	if (n <= k || strcmp(user + n - k, CLONE_SUFFIX) != 0)
		return (user);
	if ((b = cf_arena_memdup(a, user, n - k)) == NULL)
		return (NULL);
	return (b);
}

/* createSecret's new value, per rotator, from the current one ${cur}. */
static int
create_value(struct engine_worker *w, struct cf_arena *a,
    const struct rotator *rot, const struct engine_value *cur,
    struct engine_value *out, struct cf_error *err)
{
	const char *user, *base, *next = NULL;
	char *p, *clone;

	if (rot->kind == ROT_PASSWORD)
		return (new_password_value(w, a, rot, cur->present ? cur : NULL,
		    out, err));
	if (!cur->present) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret has no "
		    "AWSCURRENT credentials to rotate");
		return (-1);
	}
	if ((p = cf_arena_alloc(a, 4097)) == NULL)
		return (engine_oom(err));
	if (engine_password_generate(&rot->pw, token_random, w->hsm, p, err))
		return (-1);
	if (rot->kind == ROT_PG_ALTERNATING) {
		/* user -> user_clone -> user ... */
		if (engine_pg_field(a, cur, "username", &user) ||
		    (base = base_user(a, user)) == NULL) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the secret's "
			    "value has no \"username\"");
			return (-1);
		}
		if (base != user)
			next = base;
		else {
			if ((clone = cf_arena_alloc(a, strlen(base) +
			    sizeof(CLONE_SUFFIX))) == NULL)
				return (engine_oom(err));
			snprintf(clone, strlen(base) + sizeof(CLONE_SUFFIX),
			    "%s%s", base, CLONE_SUFFIX);
			next = clone;
		}
	}
	return (engine_pg_new_value(a, cur, p, next, out, err));
}

/*
 * The master credentials of alternating rotation: the AWSCURRENT value of
 * the master secret pinned in ${sec}, read as ${call}'s principal (who
 * configured the rotation) may read it, on the rotated user's server.
 */
static int
master_value(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, struct engine_value *out,
    struct cf_error *err)
{
	struct engine_value pins_v;
	struct store_secret m;
	const char *arn;

	memset(&pins_v, 0, sizeof(pins_v));
	pins_v.present = 1;
	pins_v.data = (const uint8_t *)(sec->rotation_pins != NULL ?
	    sec->rotation_pins : "");
	pins_v.len = strlen((const char *)pins_v.data);
	if (engine_pg_field(call->arena, &pins_v, "masterarn", &arn)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "alternating-users "
		    "rotation has no pinned master secret: call RotateSecret "
		    "with RotationLambdaARN to configure it again");
		return (-1);
	}
	if (master_secret(w, call, arn, &m, err) ||
	    current_value(w, call, &m, out, err))
		return (-1);
	if (!out->present) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the master secret "
		    "%.256s has no AWSCURRENT value", arn);
		return (-1);
	}
	return (engine_pg_check_master(out, sec->rotation_pins, err));
}

/*
 * The database rotators' values must match what was pinned when rotation
 * was configured: the current one and, once there, the pending one.
 */
static int
pg_check_values(const struct store_secret *sec, const struct rotator *rot,
    const struct engine_value *cur, const struct engine_value *pending,
    struct cf_error *err)
{
	int alt = rot->kind == ROT_PG_ALTERNATING;

	if (cur != NULL && cur->present && engine_pg_check_pins(cur,
	    sec->rotation_pins, alt, "secret's current value", err))
		return (-1);
	if (pending != NULL && pending->present && engine_pg_check_pins(
	    pending, sec->rotation_pins, alt, "pending version's value", err))
		return (-1);
	return (0);
}

/*
 * setSecret and testSecret of the database rotators, outside any
 * transaction (they talk to another database and may take seconds).
 */
static int
pg_outside(const struct engine_pg_config *cfg, struct cf_arena *a,
    const struct rotator *rot, int step,
    const struct engine_value *cur, const struct engine_value *pending,
    const struct engine_value *master, struct cf_error *err)
{
	const char *user, *base;

	if (step == STEP_TEST)
		return (engine_pg_login_ok(cfg, pending->present ? pending :
		    cur, err));
	if (rot->kind == ROT_PG_SINGLE)
		return (engine_pg_set_own_password(cfg, cur, pending, err));
	if (engine_pg_field(a, pending, "username", &user) ||
	    (base = base_user(a, user)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending value has "
		    "no \"username\"");
		return (-1);
	}
	return (engine_pg_set_as_master(cfg, master, pending, base != user ?
	    base : NULL, err));
}

/* engine_exec_step with the endpoint as it is now. */
static int
exec_step(struct engine *e, struct cf_arena *a, const char *path,
    const char *step, const char *arn, const char *token,
    struct cf_error *err)
{
	struct engine_exec_config cfg;

	pthread_mutex_lock(&e->rot_mu);
	cfg = e->exec;
	cfg.endpoint = e->exec.endpoint != NULL ? cf_arena_strdup(a,
	    e->exec.endpoint) : NULL;
	pthread_mutex_unlock(&e->rot_mu);
	return (engine_exec_step(&cfg, path, step, arn, token, err));
}

/* Run step ${step} of the rotation ${token} of ${arn}; 0, or -1. */
static int
run_step(struct engine_rotation *r, struct cf_arena *a, const char *arn,
    const char *token, int step, const struct rotator *rot,
    const char *principal, struct cf_error *err)
{
	struct engine_worker *w = r->w;
	struct store_secret sec;
	struct store_version pv;
	struct engine_value cur, nv, pending, master;
	struct step_ctx c;
	const char *prev;
	int rc, more, outside, outside_done = 0;

	if (step_begin(&c, r, a, step_op[step], arn, token, principal, err))
		return (-1);
again:
	if (store_begin(w->store, err))
		return (-1);
	if (lock_secret(w, a, arn, &sec, err))
		goto fail;
	/* The step runs as whoever configured the rotation, as recorded. */
	c.call.principal = sec.rotation_principal;
	if (sec.rotation_token == NULL || strcmp(sec.rotation_token, token) ||
	    sec.rotation_step != step) {
		store_rollback(w->store);
		return (1);		/* cancelled or done meanwhile */
	}
	if ((rc = store_version_get(w->store, a, sec.uuid, token, NULL, &pv,
	    err)) == -1)
		goto fail;
	if (rc == 0) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "the pending "
		    "version %s is gone", token);
		goto fail;
	}
	more = !(sec.rotation_test_only && step == STEP_TEST);
	outside = rot->kind != ROT_PASSWORD &&
	    (step == STEP_SET || step == STEP_TEST);

	/* An operator's program does each step through the API: no lock. */
	if (rot->kind == ROT_EXEC && !outside_done) {
		store_rollback(w->store);
		if (exec_step(w->e, a, rot->path, step_name[step], arn, token,
		    err)) {
			step_failed(&c, err);
			return (-1);
		}
		outside_done = 1;
		goto again;
	}

	/* What the database rotators need, read; then no lock held. */
	if (outside && !outside_done) {
		memset(&pending, 0, sizeof(pending));
		memset(&master, 0, sizeof(master));
		if (current_value(w, &c.call, &sec, &cur, err) ||
		    (!pv.empty && engine_open(w, &c.call, sec.uuid, &pv,
		    &pending, err)))
			goto fail;
		if (!pending.present && !(step == STEP_TEST &&
		    sec.rotation_test_only)) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
			    "version has no value");
			goto fail;
		}
		if (pg_check_values(&sec, rot, &cur, &pending, err))
			goto fail;
		if (step == STEP_SET && rot->kind == ROT_PG_ALTERNATING &&
		    master_value(w, &c.call, &sec, &master, err))
			goto fail;
		store_rollback(w->store);
		if (pg_outside(&w->e->pg, a, rot, step, &cur, &pending, &master,
		    err)) {
			step_failed(&c, err);
			return (-1);
		}
		/* Then record the step, if the rotation is still ours. */
		outside_done = 1;
		goto again;
	}

	switch (rot->kind == ROT_EXEC ? -step : step) {
	case -STEP_CREATE:
		if (pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "createSecret "
			    "put no value: it must call PutSecretValue with the "
			    "token and AWSPENDING");
			goto fail;
		}
		break;
	case -STEP_SET:
	case -STEP_TEST:
		break;
	case -STEP_FINISH:
		if (store_stage_holder(w->store, a, sec.uuid, STAGE_CURRENT,
		    &prev, err) == -1)
			goto fail;
		if (prev == NULL || strcmp(prev, token) != 0) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "finishSecret "
			    "did not move AWSCURRENT to version %s", token);
			goto fail;
		}
		if (store_stage_remove(w->store, sec.uuid, STAGE_PENDING, err))
			goto fail;
		break;
	case STEP_CREATE:
		/* Resumed after it had run: the value is there already. */
		if (!pv.empty)
			break;
		if (current_value(w, &c.call, &sec, &cur, err) ||
		    (rot->kind != ROT_PASSWORD && pg_check_values(&sec, rot,
		    &cur, NULL, err)) ||
		    create_value(w, a, rot, &cur, &nv, err) ||
		    engine_seal(w, sec.uuid, token, sec.kms_key_id, &nv, &pv,
		    a, err) || store_version_fill(w->store, sec.uuid, &pv,
		    err) || store_secret_touch_changed(w->store, sec.uuid, err))
			goto fail;
		break;
	case STEP_SET:
		/* builtin:password has nothing outside Coffer to set. */
		break;
	case STEP_TEST:
		/* A test-only run validates the configuration: the rotator. */
		if (rot->kind == ROT_PASSWORD && !sec.rotation_test_only &&
		    pv.empty) {
			cf_error_set(err, CF_ERR_INVALID_REQUEST, "the pending "
			    "version has no value to test");
			goto fail;
		}
		break;
	case STEP_FINISH:
		if (store_stage_move(w->store, a, sec.uuid, STAGE_CURRENT,
		    token, &prev, err))
			goto fail;
		if (prev != NULL && strcmp(prev, token) != 0 &&
		    store_stage_move(w->store, a, sec.uuid, STAGE_PREVIOUS,
		    prev, &prev, err))
			goto fail;
		if (store_stage_remove(w->store, sec.uuid, STAGE_PENDING,
		    err) || store_secret_touch_changed(w->store, sec.uuid, err))
			goto fail;
		break;
	}

	/* Where the rotation goes next, in the step's transaction. */
	if (step == STEP_FINISH || !more) {
		if (!more && (store_stage_remove(w->store, sec.uuid,
		    STAGE_PENDING, err) || store_version_drop_empty(w->store,
		    sec.uuid, token, err)))
			goto fail;
		rc = store_rotation_done(w->store, sec.uuid, token, r->owner,
		    more, more ? next_window(a, sec.rotation_rules,
		    cf_now_ms(), cf_now_ms()) : 0, err);
	} else
		rc = store_rotation_step(w->store, sec.uuid, token, r->owner,
		    step + 1, r->lease_s, err);
	if (rc == -1)
		goto fail;
	if (rc == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the rotation lease "
		    "was lost");
		goto fail;
	}
	if (engine_commit(w, &c.call, err)) {
		step_failed(&c, err);
		return (-1);
	}
	return (more && step != STEP_FINISH ? 0 : 1);

fail:
	store_rollback(w->store);
	step_failed(&c, err);
	return (-1);
}

/* Start the due scheduled rotation of ${sec}; 1 started, 0 not, -1. */
static int
start_due(struct engine_rotation *r, struct cf_arena *a,
    struct store_secret *sec, char token[37], struct cf_error *err)
{
	struct engine_worker *w = r->w;
	struct engine_rotation_rules rules;
	struct store_version v = { 0 };
	struct schedule s;
	struct step_ctx c;
	const char *pending = NULL, *current = NULL, *prev;
	int64_t now = cf_now_ms(), end, next;

	/* A window missed entirely moves to the next one. */
	if (sec->rotation_rules == NULL ||
	    engine_rules_decode(a, sec->rotation_rules, &rules) ||
	    rules_schedule(&rules, &s, err))
		return (store_rotation_release(w->store, sec->uuid, r->owner,
		    0, err) ? -1 : 0);
	end = sec->next_rotation_ms + schedule_window_ms(&s,
	    sec->next_rotation_ms);
	if (now >= end) {
		next = schedule_next_window(&s, sec->last_rotated_ms != 0 ?
		    sec->last_rotated_ms : sec->created_ms, now);
		fprintf(stderr, "cofferd: the rotation window of %s passed "
		    "unused; the next one opens at %lld ms\n", sec->arn,
		    (long long)next);
		return (store_rotation_release(w->store, sec->uuid, r->owner,
		    next > 0 ? next : 0, err) ? -1 : 0);
	}

	if (engine_random_uuid(w, token, err) ||
	    step_begin(&c, r, a, "Rotation/start", sec->arn, token,
	    sec->rotation_principal, err))
		return (-1);
	if (store_begin(w->store, err))
		return (-1);
	if (lock_secret(w, a, sec->arn, sec, err))
		goto fail;
	if (sec->rotation_token != NULL || sec->rotation_enabled != 1) {
		store_rollback(w->store);
		return (0);
	}
	if (store_stage_holder(w->store, a, sec->uuid, STAGE_PENDING, &pending,
	    err) == -1 || store_stage_holder(w->store, a, sec->uuid,
	    STAGE_CURRENT, &current, err) == -1)
		goto fail;
	if (pending != NULL && (current == NULL || strcmp(pending, current))) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "AWSPENDING is on "
		    "version %s: remove it to let rotations run", pending);
		store_rollback(w->store);
		step_failed(&c, err);
		next = schedule_next_window(&s, now, now);
		return (store_rotation_release(w->store, sec->uuid, r->owner,
		    next > 0 ? next : 0, err) ? -1 : 0);
	}
	v.version_id = token;
	v.empty = 1;
	v.kek_label = "";
	if (store_version_insert(w->store, sec->uuid, &v, err) ||
	    store_stage_move(w->store, a, sec->uuid, STAGE_PENDING, token,
	    &prev, err) || store_rotation_begin(w->store, sec->uuid, token,
	    STEP_CREATE, 0, err) || engine_commit(w, &c.call, err))
		goto fail;
	return (1);

fail:
	store_rollback(w->store);
	step_failed(&c, err);
	return (-1);
}

/* Run the claimed rotation of ${uuid} as far as it goes. */
static void
run_claimed(struct engine_rotation *r, const char *uuid)
{
	struct engine_worker *w = r->w;
	struct store_secret sec;
	struct rotator rot;
	struct cf_arena *a;
	struct cf_error err = { CF_OK, "" };
	char token[37];
	const char *tok;
	int rc, backoff, i;

	if ((a = cf_arena_new()) == NULL)
		return;
	if (store_secret_by_uuid(w->store, a, uuid, &sec, &err) != 1)
		goto done;
	if (sec.rotation_token == NULL) {
		if ((rc = start_due(r, a, &sec, token, &err)) != 1)
			goto done;
		tok = token;
		sec.rotation_step = STEP_CREATE;
	} else
		tok = cf_arena_strdup(a, sec.rotation_token);
	if (tok == NULL || rotator_parse(sec.rotation_lambda_arn, &rot, &err))
		goto failed;

	for (i = sec.rotation_step; i <= STEP_FINISH; i++) {
		if ((rc = run_step(r, a, sec.arn, tok, i, &rot,
		    sec.rotation_principal, &err)) == 1)
			goto done;
		if (rc == -1)
			goto failed;
	}
	goto done;

failed:
	backoff = ROT_BACKOFF_MIN_S << (sec.rotation_attempts < 11 ?
	    sec.rotation_attempts : 11);
	if (backoff > ROT_BACKOFF_MAX_S)
		backoff = ROT_BACKOFF_MAX_S;
	if (tok != NULL && store_rotation_failed(w->store, uuid, tok,
	    r->owner, backoff, err.msg, &err))
		fprintf(stderr, "cofferd: rotation of %s: %s\n", sec.arn,
		    err.msg);
done:
	cf_arena_free(a);
}

/* Purge until nothing is due; errors are reported and retried later. */
static void
purge_round(struct engine_rotation *r)
{
	struct cf_error err = { 0 };
	int n;

	do {
		if (engine_purge_due(r->w, r->audit, PURGE_BATCH, &n, &err)) {
			fprintf(stderr, "cofferd: purge: %s\n", err.msg);
			return;
		}
		if (n > 0)
			fprintf(stderr, "cofferd: purged %d secret(s) past their "
			    "recovery window\n", n);
	} while (n == PURGE_BATCH);
}

/*
 * The scheduler: purges secrets past their recovery window every
 * purge_interval_s (claimed with FOR UPDATE SKIP LOCKED, so servers share
 * the work), and runs every due or pending rotation every interval_s and
 * whenever RotateSecret kicks it.
 */
static void *
rotation_main(void *arg)
{
	struct engine_rotation *r = arg;
	struct cf_error err;
	struct timespec until;
	char uuid[37];
	int64_t now, wait_ms;
	int rc, n;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		r->kicked = 0;
		pthread_mutex_unlock(&r->mu);
		if ((now = cf_now_ms()) >= r->next_purge_ms) {
			purge_round(r);
			r->next_purge_ms = now + (int64_t)r->purge_interval_s *
			    1000;
		}
		/* Everything due, one secret at a time. */
		for (n = 0; n < 1000; n++) {
			if ((rc = store_rotation_claim(r->w->store, r->owner,
			    r->lease_s, uuid, &err)) == -1)
				fprintf(stderr, "cofferd: rotation: %s\n",
				    err.msg);
			if (rc != 1)
				break;
			run_claimed(r, uuid);
		}
		pthread_mutex_lock(&r->mu);
		wait_ms = (int64_t)r->interval_s * 1000;
		if (r->next_purge_ms - cf_now_ms() < wait_ms)
			wait_ms = r->next_purge_ms - cf_now_ms();
		if (wait_ms < 1)
			wait_ms = 1;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!r->stop && !r->kicked &&
		    pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return (NULL);
}

struct engine_rotation *
engine_rotation_start(struct engine *e, struct audit *audit, int interval_s,
    int purge_interval_s, struct cf_error *err)
{
	struct engine_rotation *r;
	char host[64];
	uint8_t b[4];

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		(void)engine_oom(err);
		return (NULL);
	}
	r->audit = audit;
	r->interval_s = interval_s > 0 ? interval_s : 10;
	r->purge_interval_s = purge_interval_s > 0 ? purge_interval_s : 60;
	/* A step is an exec: program (bounded) or a login (10 s at most). */
	r->lease_s = ROT_LEASE_S > 2 * e->exec.timeout_s + 60 ? ROT_LEASE_S :
	    2 * e->exec.timeout_s + 60;
	if ((r->w = engine_worker_new(e, err)) == NULL) {
		free(r);
		return (NULL);
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (hsm_random(r->w->hsm, b, sizeof(b), err)) {
		engine_worker_free(r->w);
		free(r);
		return (NULL);
	}
	snprintf(r->owner, sizeof(r->owner), "%s:%d:%02x%02x%02x%02x", host,
	    (int)getpid(), b[0], b[1], b[2], b[3]);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, rotation_main, r) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the "
		    "rotation thread");
		engine_worker_free(r->w);
		free(r);
		return (NULL);
	}
	pthread_mutex_lock(&e->rot_mu);
	e->rotation = r;
	pthread_mutex_unlock(&e->rot_mu);
	return (r);
}

void
engine_rotation_kick(struct engine *e)
{
	struct engine_rotation *r;

	pthread_mutex_lock(&e->rot_mu);
	if ((r = e->rotation) != NULL) {
		pthread_mutex_lock(&r->mu);
		r->kicked = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_mutex_unlock(&e->rot_mu);
}

void
engine_rotation_stop(struct engine *e, struct engine_rotation *r)
{

	if (r == NULL)
		return;
	pthread_mutex_lock(&e->rot_mu);
	e->rotation = NULL;
	pthread_mutex_unlock(&e->rot_mu);
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	engine_worker_free(r->w);
	free(r);
}

int
engine_set_rotator_endpoint(struct engine *e, const char *url)
{
	char *copy;

	if ((copy = strdup(url)) == NULL)
		return (-1);
	pthread_mutex_lock(&e->rot_mu);
	free((char *)(uintptr_t)e->exec.endpoint);
	e->exec.endpoint = copy;
	pthread_mutex_unlock(&e->rot_mu);
	return (0);
}
