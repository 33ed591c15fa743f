/*
 * hsmbase.c: the hsm-open-1k baselines of coffer-bench.
 *
 * What the token alone can do for the server's reads: T threads, each with
 * its own session on the server's token, open (find the data key, then
 * decrypt and verify) an envelope of 1 KiB sealed once per thread, through
 * the same hsm_open() that cofferd uses.  Twice, because cofferd reads
 * differently with its DEK handle cache (hsm/DESIGN.md; dek_cache, on by
 * default): one handle with the cache on, where a hot version costs one
 * C_Decrypt, and one with it off (dek_cache = off), an unwrap, a decrypt
 * and a destroy every time.  Each thread opens its envelope once before
 * the measured window, so that with the cache on the window measures hits,
 * as cofferd's reads of a hot secret are.  The token is found as cofferd
 * finds it: COFFER_PKCS11_MODULE, COFFER_TOKEN_LABEL, COFFER_PIN_FILE and
 * COFFER_KEK_LABEL.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm.h"

#include "bench.h"

#define OPEN_LEN 1024

/* One session, its envelope, and the thread that opens it. */
struct hsmworker {
	struct bench_thread t;	/* first: bench_threads_run */
	int id;
	struct hsmbase *b;
	struct hsm_session *s;
	char uuid[37], version[37];	/* the binding's strings */
	struct hsm_binding bind;
	struct hsm_envelope env;
	int sealed;
	uint8_t pt[OPEN_LEN];		/* bench data, not a secret */
};

struct hsmbase {
	struct hsm *h;
	const char *name;		/* the baseline's, for the report */
	int n;
	struct hsmworker *ws;
	/* The current run. */
	int64_t end_ns;
	uint64_t limit;			/* 0: none */
	_Atomic uint64_t started;
};

/* ${name} from the environment, or ${def}. */
static const char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0' ? v : def);
}

/*
 * Log in to the token as cofferd does, with its DEK handle cache on if
 * ${dek_cache}; NULL with ${err} set on error.
 */
static struct hsm *
token_open(int dek_cache, struct cf_error *err)
{
	struct hsm_config cfg;
	struct cf_secret *pin = NULL;
	const char *pin_file;
	struct hsm *h;

	/* The PIN, from its file, in secret memory. */
	if ((pin_file = env_or("COFFER_PIN_FILE", NULL)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "the hsm-open-1k baseline needs the token PIN: set "
		    "COFFER_PIN_FILE");
		return (NULL);
	}
	if (cf_read_secret_file(pin_file, &pin, err))
		return (NULL);

	/* Log in; the PIN is wiped as soon as that is done. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.module_path = env_or("COFFER_PKCS11_MODULE",
	    "/usr/lib/softhsm/libsofthsm2.so");
	cfg.token_label = env_or("COFFER_TOKEN_LABEL", "coffer");
	cfg.pin = (const char *)pin->data;
	cfg.kek_label = env_or("COFFER_KEK_LABEL", "coffer-kek");
	/* As cofferd's dek_cache: off, an unwrap and a decrypt every time. */
	cfg.no_dek_cache = !dek_cache;
	h = hsm_new(&cfg, err);
	cf_secret_free(pin);
	return (h);
}

/* A random UUIDv4-shaped string for a binding. */
static void
uuid(char out[37], uint64_t *state)
{
	uint64_t a, b;

	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	a = *state;
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	b = *state;
	snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx",
	    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
	    (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
	    (unsigned long long)(b & 0xffffffffffffULL));
}

/*
 * Open ${w}'s envelope once and check the plaintext: 0, or -1 with ${err}
 * set.
 */
static int
open_once(struct hsmworker *w, struct cf_error *err)
{
	struct cf_secret *out = NULL;
	int rc = 0;

	if (hsm_open(w->s, &w->env, &w->bind, &out, err))
		return (-1);
	if (out->len != sizeof(w->pt) ||
	    memcmp(out->data, w->pt, sizeof(w->pt)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "opened plaintext differs "
		    "from the sealed one");
		rc = -1;
	}
	cf_secret_free(out);
	return (rc);
}

/*
 * hsmbase_new(n, dek_cache, err):
 * Log in to the token (with the DEK handle cache on if ${dek_cache}) and,
 * for each of ${n} threads, open a session, seal 1 KiB under the default
 * KEK and open it once.  Returns the handle (free with hsmbase_free), or
 * NULL with ${err} set.
 */
struct hsmbase *
hsmbase_new(int n, int dek_cache, struct cf_error *err)
{
	struct hsmbase *b;
	struct hsmworker *w;
	uint64_t state = (uint64_t)stats_now_ns();
	int i;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->ws = calloc((size_t)n, sizeof(*b->ws))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err0;
	}
	b->n = n;
	b->name = dek_cache ? "hsm-open-1k (dek cache on)" :
	    "hsm-open-1k (dek cache off)";
	if ((b->h = token_open(dek_cache, err)) == NULL)
		goto err0;
	for (i = 0; i < n; i++) {
		w = &b->ws[i];
		w->id = i;
		w->b = b;

		/* A session of its own. */
		if ((w->s = hsm_session_new(b->h, err)) == NULL)
			goto err0;

		/* Its envelope: 1 KiB bound to a made-up secret version. */
		uuid(w->uuid, &state);
		uuid(w->version, &state);
		w->bind.secret_uuid = w->uuid;
		w->bind.version_id = w->version;
		memset(w->pt, 'a' + i % 26, sizeof(w->pt));
		if (hsm_seal(w->s, NULL, &w->bind, w->pt, sizeof(w->pt),
		    &w->env, err))
			goto err0;
		w->sealed = 1;

		/* Opened once: a cached data key from now on, if cached. */
		if (open_once(w, err))
			goto err0;
	}

	/* Success! */
	return (b);

err0:
	/* Failure! */
	hsmbase_free(b);
	return (NULL);
}

/* A thread: open its envelope until the run is over. */
static void *
hsmworker_main(void *arg)
{
	struct hsmworker *w = arg;
	struct hsmbase *b = w->b;
	struct cf_error err;
	const char *type;
	int64_t t0;

	for (;;) {
		/* Is the run over? */
		if (stats_now_ns() >= b->end_ns)
			break;
		if (atomic_fetch_add(&b->started, 1) >= b->limit &&
		    b->limit != 0)
			break;

		/* Open; the plaintext must be what was sealed. */
		t0 = stats_now_ns();
		if (open_once(w, &err)) {
			type = cf_code_name(err.code);
			stats_fail(&w->t.st, 0, type, strlen(type), err.msg,
			    strlen(err.msg));
		} else
			stats_ok(&w->t.st, stats_now_ns() - t0);
	}
	return (NULL);
}

/*
 * hsmbase_run(b, seconds, limit, out):
 * Open envelopes on every session for ${seconds} (or ${limit} opens in
 * all, if not 0), and fill ${out}.
 */
void
hsmbase_run(struct hsmbase *b, int seconds, uint64_t limit,
    struct bench_result *out)
{
	/* The run. */
	b->limit = limit;
	atomic_store(&b->started, 0);
	b->end_ns = stats_now_ns() + (int64_t)seconds * 1000000000;
	bench_threads_run(b->name, b->ws, sizeof(*b->ws), b->n,
	    hsmworker_main, out);
}

/*
 * hsmbase_free(b):
 * Free the envelopes, close the sessions, log out.  NULL does nothing.
 */
void
hsmbase_free(struct hsmbase *b)
{
	int i;

	if (b == NULL)
		return;
	for (i = 0; b->ws != NULL && i < b->n; i++) {
		if (b->ws[i].sealed)
			hsm_envelope_cleanup(&b->ws[i].env);
		hsm_session_free(b->ws[i].s);
	}
	free(b->ws);
	hsm_free(b->h);
	free(b);
}
