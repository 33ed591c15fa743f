/*
 * authz.c: who may do what (policy/DESIGN.md for the documents; the
 * "Authorization" section of docs/design-notes.md for the model).
 *
 * Every operation names an IAM action (call->action, set by rpc/ from its
 * method table).  engine_authorize() asks policy_evaluate() with the
 * caller's identity policies and the secret's resource policy: an explicit
 * Deny anywhere wins, an Allow in either grants, nothing denies.
 *
 * Caches, all per worker so the hot path takes no lock:
 *  - identity policies, compiled, by principal.  An entry is good while the
 *    process-wide epoch has not moved since it was loaded (the epoch is read
 *    before the rows, so a change that commits during the load still moves
 *    it) and the listener thread is listening.  The listener LISTENs on
 *    channel coffer_policy, which migration 0005's trigger notifies on every
 *    change, and bumps the epoch on each notification, on each (re)connect
 *    and on losing its connection; while it is not connected nothing is
 *    cached and every call reads its principal's policies.
 *  - resource policies, compiled, by secret: the document comes with the
 *    secret's row on every call, so an entry is good while its text is the
 *    same.
 * A document that no longer parses (edited in the database by hand) denies
 * every request it would take part in: failing open could drop a Deny.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "cf_log.h"
#include "policy.h"

#define ID_CACHE_SLOTS 64		/* principals cached per worker */
#define RES_CACHE_SLOTS 256		/* resource policies per worker */
#define LISTEN_POLL_MS 250
#define LISTEN_RETRY_MS 1000
#define MAX_CONTEXT (4 + ENGINE_MAX_TAGS)

/* The bootstrap administrator's implicit policy. */
static const char admin_doc[] = "{\"Version\":\"2012-10-17\",\"Statement\":"
    "[{\"Sid\":\"CofferBootstrapAdmin\",\"Effect\":\"Allow\",\"Action\":\"*\","
    "\"Resource\":\"*\"}]}";

struct id_entry {
	char *principal;		/* NULL: empty slot */
	uint64_t epoch;
	struct policy **policies;	/* NULL entries: unparseable */
	size_t n;
	int broken;			/* a stored document did not parse */
};

struct res_entry {
	char uuid[37];
	char *doc;
	struct policy *p;		/* NULL: did not parse */
};

struct authz_cache {
	struct id_entry ids[ID_CACHE_SLOTS];
	struct res_entry res[RES_CACHE_SLOTS];
};

struct engine_authz {
	char *admin;			/* bootstrap admin principal, or NULL */
	struct policy *admin_policy;
	atomic_uint_fast64_t epoch;
	atomic_int listening;
	char *conninfo;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* FNV-1a: spreads principals and uuids over the slots. */
static size_t
hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return ((size_t)h);
}

/* ---- process-wide state and the listener ---------------------------------- */

int
engine_authz_init(struct engine *e, const char *admin, struct cf_error *err)
{
	struct engine_authz *z;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return (engine_oom(err));
	atomic_init(&z->epoch, 1);
	atomic_init(&z->listening, 0);
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->cv, NULL);
	e->authz = z;
	if (admin != NULL && *admin != '\0') {
		if ((z->admin = strdup(admin)) == NULL)
			return (engine_oom(err));
		if ((z->admin_policy = policy_parse(admin_doc,
		    sizeof(admin_doc) - 1, POLICY_IDENTITY, err)) == NULL)
			return (-1);
	}
	return (0);
}

/* Sleep up to ${ms} unless asked to stop; 1 if asked. */
static int
listener_pause(struct engine_authz *z, int ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&z->mu);
	if (!z->stop)
		(void)pthread_cond_timedwait(&z->cv, &z->mu, &ts);
	stop = z->stop;
	pthread_mutex_unlock(&z->mu);
	return (stop);
}

static int
listener_stopping(struct engine_authz *z)
{
	int stop;

	pthread_mutex_lock(&z->mu);
	stop = z->stop;
	pthread_mutex_unlock(&z->mu);
	return (stop);
}

static void *
listener_main(void *arg)
{
	struct engine_authz *z = arg;
	struct store_listener *l;
	struct cf_error err;
	enum store_listen_wait rc;
	int reported = 0;

	(void)pthread_setname_np(pthread_self(), "coffer-policies");
	while (!listener_stopping(z)) {
		if ((l = store_listen(z->conninfo, "coffer_policy", &err)) ==
		    NULL) {
			if (!reported)
				cf_log(CF_LOG_ERROR, "policy listener: %s; "
				    "policies are read on every call until it "
				    "reconnects", err.msg);
			reported = 1;
			if (listener_pause(z, LISTEN_RETRY_MS))
				break;
			continue;
		}
		if (reported)
			cf_log(CF_LOG_INFO, "policy listener: "
			    "listening again");
		reported = 0;
		/* Whatever was loaded before now may be stale. */
		atomic_fetch_add(&z->epoch, 1);
		atomic_store(&z->listening, 1);
		while ((rc = store_listener_wait(l, LISTEN_POLL_MS)) !=
		    STORE_LISTEN_LOST && !listener_stopping(z))
			if (rc == STORE_LISTEN_NOTIFIED)
				atomic_fetch_add(&z->epoch, 1);
		atomic_store(&z->listening, 0);
		atomic_fetch_add(&z->epoch, 1);
		store_listener_free(l);
	}
	return (NULL);
}

int
engine_authz_start(struct engine *e, struct cf_error *err)
{
	struct engine_authz *z = e->authz;

	if (z->running)
		return (0);
	if ((z->conninfo = strdup(e->conninfo)) == NULL)
		return (engine_oom(err));
	if (pthread_create(&z->thread, NULL, listener_main, z) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "cannot start the policy "
		    "listener thread");
		return (-1);
	}
	z->running = 1;
	return (0);
}

void
engine_authz_free(struct engine *e)
{
	struct engine_authz *z = e->authz;

	if (z == NULL)
		return;
	if (z->running) {
		pthread_mutex_lock(&z->mu);
		z->stop = 1;
		pthread_cond_broadcast(&z->cv);
		pthread_mutex_unlock(&z->mu);
		pthread_join(z->thread, NULL);
	}
	pthread_mutex_destroy(&z->mu);
	pthread_cond_destroy(&z->cv);
	policy_free(z->admin_policy);
	free(z->admin);
	free(z->conninfo);
	free(z);
	e->authz = NULL;
}

uint64_t
engine_config_epoch(struct engine *e, int *listening)
{
	struct engine_authz *z = e->authz;

	*listening = atomic_load(&z->listening);
	return (atomic_load(&z->epoch));
}

void
engine_policies_changed(struct engine *e)
{

	atomic_fetch_add(&e->authz->epoch, 1);
}

/* ---- per-worker caches ------------------------------------------------------ */

struct authz_cache *
engine_authz_cache_new(void)
{

	return (calloc(1, sizeof(struct authz_cache)));
}

static void
id_entry_clear(struct id_entry *ie)
{
	size_t i;

	for (i = 0; i < ie->n; i++)
		policy_free(ie->policies[i]);
	free(ie->policies);
	free(ie->principal);
	memset(ie, 0, sizeof(*ie));
}

void
engine_authz_cache_free(struct authz_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < ID_CACHE_SLOTS; i++)
		id_entry_clear(&c->ids[i]);
	for (i = 0; i < RES_CACHE_SLOTS; i++) {
		policy_free(c->res[i].p);
		free(c->res[i].doc);
	}
	free(c);
}

/*
 * The identity policies of ${principal}, from the cache or the database.
 * Returns the entry (valid until the next call on this worker), or NULL
 * with ${err}.
 */
static struct id_entry *
identity_policies(struct engine_worker *w, struct cf_arena *a,
    const char *principal, struct cf_error *err)
{
	struct engine_authz *z = w->e->authz;
	struct id_entry *ie = &w->authz->ids[hash_str(principal) %
	    ID_CACHE_SLOTS];
	struct store_identity_policy *rows;
	struct cf_error perr;
	uint64_t epoch;
	size_t n, i;
	int listening;

	/* The epoch first: a change during the load makes the entry stale. */
	listening = atomic_load(&z->listening);
	epoch = atomic_load(&z->epoch);
	if (listening && ie->principal != NULL && ie->epoch == epoch &&
	    strcmp(ie->principal, principal) == 0)
		return (ie);

	id_entry_clear(ie);
	if (store_identity_policies(w->store, a, principal, &rows, &n, err))
		return (NULL);
	if ((ie->principal = strdup(principal)) == NULL ||
	    (n > 0 && (ie->policies = calloc(n, sizeof(*ie->policies))) ==
	    NULL)) {
		id_entry_clear(ie);
		engine_oom(err);
		return (NULL);
	}
	for (i = 0; i < n; i++) {
		ie->policies[i] = policy_parse(rows[i].document,
		    strlen(rows[i].document), POLICY_IDENTITY, &perr);
		if (ie->policies[i] == NULL) {
			cf_log(CF_LOG_ERROR, "identity policy \"%s\" of "
			    "\"%s\" does not parse (%s); it denies every "
			    "request of that principal",
			    rows[i].policy_name, principal, perr.msg);
			ie->broken = 1;
		}
	}
	ie->n = n;
	ie->epoch = epoch;
	return (ie);
}

/*
 * The compiled resource policy of ${sec}: *${out} NULL when it has none.
 * -1 when the document does not parse (deny) or memory runs out.
 */
static int
resource_policy(struct engine_worker *w, const struct store_secret *sec,
    const struct policy **out)
{
	struct res_entry *re;
	struct cf_error perr;

	*out = NULL;
	if (sec == NULL || sec->resource_policy == NULL)
		return (0);
	re = &w->authz->res[hash_str(sec->uuid) % RES_CACHE_SLOTS];
	if (re->doc == NULL || strcmp(re->uuid, sec->uuid) != 0 ||
	    strcmp(re->doc, sec->resource_policy) != 0) {
		policy_free(re->p);
		free(re->doc);
		memset(re, 0, sizeof(*re));
		if ((re->doc = strdup(sec->resource_policy)) == NULL)
			return (-1);
		snprintf(re->uuid, sizeof(re->uuid), "%s", sec->uuid);
		if ((re->p = policy_parse(re->doc, strlen(re->doc),
		    POLICY_RESOURCE, &perr)) == NULL)
			cf_log(CF_LOG_ERROR, "the resource policy of %s "
			    "does not parse (%s); it denies every request",
			    sec->arn, perr.msg);
	}
	if (re->p == NULL)
		return (-1);
	*out = re->p;
	return (0);
}

/* ---- the decision ----------------------------------------------------------- */

struct ctx_builder {
	struct policy_context_key keys[MAX_CONTEXT];
	const char *vals[MAX_CONTEXT];
	size_t n;
};

static void
ctx_add(struct ctx_builder *b, const char *key, const char *value)
{

	if (value == NULL || b->n >= MAX_CONTEXT)
		return;
	b->vals[b->n] = value;
	b->keys[b->n].key = key;
	b->keys[b->n].values = &b->vals[b->n];
	b->keys[b->n].nvalues = 1;
	b->n++;
}

/*
 * Could any of the ${n} policies ${ids} or ${rp} (NULL) look at tags?  If
 * none can, the tags cannot change the decision and are not read.
 */
static int
tags_matter(const struct policy *const *ids, size_t n,
    const struct policy *rp)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] != NULL && policy_reads_tags(ids[i]))
			return (1);
	return (rp != NULL && policy_reads_tags(rp));
}

/*
 * secretsmanager:ResourceTag/<key> for each tag of ${sec}, read now if the
 * lookup that found it did not (a Deny on a tag must never be skipped).
 */
static int
ctx_tags(struct engine_worker *w, struct ctx_builder *b, struct cf_arena *a,
    const struct store_secret *sec, struct cf_error *err)
{
	const struct store_tag *tags = sec->tags;
	struct store_tag *read;
	size_t i, n = sec->n_tags, *owner;
	const char *uuid = sec->uuid;
	char *key;

	if (!sec->tags_loaded) {
		if (store_tags(w->store, a, &uuid, 1, &read, &owner, &n, err))
			return (-1);
		tags = read;
	}
	for (i = 0; i < n; i++) {
		if ((key = cf_arena_alloc(a, strlen(tags[i].key) + 28)) == NULL)
			return (engine_oom(err));
		snprintf(key, strlen(tags[i].key) + 28,
		    "secretsmanager:ResourceTag/%s", tags[i].key);
		ctx_add(b, key, tags[i].value);
	}
	return (0);
}

/* Say why ${principal} may not; ${resource} as the caller named it. */
static int
deny(const struct engine_call *call, const char *action, const char *resource,
    enum policy_decision d, const char *why, struct cf_error *err)
{

	cf_error_set(err, CF_ERR_ACCESS_DENIED, "User: %.512s is not authorized "
	    "to perform: %.128s on resource: %.512s %s",
	    call->principal != NULL ? call->principal : "(anonymous)", action,
	    resource != NULL ? resource : "*", why != NULL ? why :
	    d == POLICY_DENY_EXPLICIT ? "with an explicit deny" :
	    "because no identity-based or resource-based policy allows it");
	return (-1);
}

int
engine_authorize(struct engine_worker *w, const struct engine_call *call,
    const char *action, const struct store_secret *sec, const char *resource,
    const char *asked, struct cf_error *err)
{
	struct engine_authz *z = w->e->authz;
	const struct policy *ids[ENGINE_MAX_IDENTITY_POLICIES + 1];
	const struct policy *rp = NULL;
	struct policy_request req;
	struct ctx_builder b;
	struct id_entry *ie;
	enum policy_decision d;
	size_t n = 0, i;

	if (w->e->authz_off)
		return (0);
	if (action == NULL)
		action = call->action;
	if (sec != NULL)
		resource = sec->arn;
	if (asked == NULL)
		asked = resource;
	if (action == NULL || call->principal == NULL)
		return (deny(call, action != NULL ? action : "(unknown)", asked,
		    POLICY_DENY_IMPLICIT, "because the call has no identity",
		    err));

	/* The caller's identity policies. */
	if ((ie = identity_policies(w, call->arena, call->principal, err)) ==
	    NULL)
		return (-1);
	if (ie->broken || ie->n > ENGINE_MAX_IDENTITY_POLICIES)
		return (deny(call, action, asked, POLICY_DENY_EXPLICIT,
		    "because one of its identity policies cannot be parsed",
		    err));
	if (z->admin != NULL && strcmp(call->principal, z->admin) == 0)
		ids[n++] = z->admin_policy;
	for (i = 0; i < ie->n; i++)
		ids[n++] = ie->policies[i];

	/* The secret's resource policy. */
	if (resource_policy(w, sec, &rp))
		return (deny(call, action, asked, POLICY_DENY_EXPLICIT,
		    "because the secret's resource policy cannot be parsed",
		    err));

	/* What conditions may test. */
	memset(&b, 0, sizeof(b));
	/* A KEK's ARN (keks.c) is no secret's: no SecretId, no Name. */
	if (resource != NULL && strncmp(resource, w->e->kms_arn_prefix,
	    strlen(w->e->kms_arn_prefix)) != 0) {
		ctx_add(&b, "secretsmanager:SecretId", resource);
		ctx_add(&b, "secretsmanager:Name", sec != NULL ? sec->name :
		    call->auth_name);
	}
	ctx_add(&b, "secretsmanager:VersionId", call->auth_version_id);
	ctx_add(&b, "secretsmanager:VersionStage", call->auth_version_stage);
	if (sec != NULL && tags_matter(ids, n, rp) &&
	    ctx_tags(w, &b, call->arena, sec, err))
		return (-1);

	memset(&req, 0, sizeof(req));
	req.principal = call->principal;
	req.action = action;
	req.resource = resource;
	req.context = b.keys;
	req.ncontext = b.n;
	d = policy_evaluate(ids, n, rp, &req);
	if (d != POLICY_ALLOW)
		return (deny(call, action, asked, d, NULL, err));
	return (0);
}

int
engine_authorize_id(struct engine_worker *w, const struct engine_call *call,
    const char *id, struct cf_error *err)
{
	const char *key, *resource = id;
	struct engine_call c = *call;
	char *arn;

	if (w->e->authz_off)
		return (0);
	/*
	 * No such secret: decide as if it existed under the name or ARN
	 * asked for, so that a caller who may not see it cannot tell that it
	 * does not exist.
	 */
	if (engine_classify(w, id, &key) == ENGINE_ID_NAME &&
	    strncmp(id, "arn:", 4) != 0) {
		if ((arn = cf_arena_alloc(call->arena, strlen(w->e->arn_prefix) +
		    strlen(id) + 1)) == NULL)
			return (engine_oom(err));
		strcpy(arn, w->e->arn_prefix);
		strcat(arn, id);
		resource = arn;
		c.auth_name = id;
	}
	return (engine_authorize(w, &c, NULL, NULL, resource, id, err));
}
