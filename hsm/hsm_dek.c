/*
 * hsm_dek.c: the process-wide cache of data keys unwrapped in the token.
 *
 * Reading a version means unwrapping its data key inside the token: a new
 * session object each time (and SoftHSM keeps memory for every object it
 * ever created).  So the data keys unwrapped are kept, as handles, found by
 * their wrapped form, for DEK_CACHE_TTL_MS: a hot version opens with one
 * decrypt.  The keys never leave the token (CKA_SENSITIVE, not
 * extractable); only handles are cached.
 *
 * The cache belongs to the process, not to a session.  PKCS#11 makes a
 * session object visible to every session of the application that made it,
 * so the key one worker unwrapped serves every worker; a cache per session
 * held the same key once per worker, and the token's memory for those
 * copies was most of cofferd's RSS after a run over 1,000 secrets
 * (docs/performance.md).  A token that does not let one session use
 * another's object is noticed on the first such failure (the open is
 * retried with a key of its own); from then on each session finds only its
 * own entries.
 *
 * Ownership: a session object lives until a session destroys it or the
 * session that made it closes.  So an entry remembers the session that made
 * it, and a session that closes takes its entries out first.  The session
 * that evicts an entry (least recently used, or past its time) destroys the
 * object itself, as PKCS#11 lets any session of the application destroy a
 * session object it can see.  Only on a token that does not share objects
 * between sessions (private_only) is the handle left to its owner, on the
 * owner's doomed list, destroyed at its next open; an entry whose owner's
 * list is full then stays.  (Leaving every eviction to the owner, as the
 * first version did, broke on idle owners: a long-call worker that had
 * filled the cache during a BatchGetSecretValue run and then sat idle kept
 * its list full, so the readers' keys could not be kept and every read
 * unwrapped anew; `bench/run --soak 10` grew 55 → 263 MiB in ten minutes.)
 * An entry in use (pinned) is never evicted; one whose owner closed under a
 * reader fails that reader's decrypt, which is retried with a fresh unwrap.
 *
 * Placement: a key may live in either of two sets, and is kept in the one
 * with more room (two-choice hashing).  With one set per key, 1,000 hot
 * versions in 256 sets of 8 overfilled a few sets by chance, and the keys
 * of those sets evicted each other on every pass: about 1 % of reads
 * unwrapped anew, each a session object SoftHSM never frees (about 240
 * bytes), which was `bench/run --soak`'s growth of cofferd (0.5-1.3 MiB a
 * minute; docs/performance.md).  Two choices among 64 sets of 32 leave no
 * set full until the cache nearly is (tests/integration/hsm_test.c,
 * test_dek_cache_working_set).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm_internal.h"

/* One slot. */
struct hsm_dek {
	uint8_t wrapped[WRAPPED_MAX];
	size_t wrapped_len;		/* 0: empty slot */
	char kek[HSM_LABEL_MAX + 1];
	uint32_t kek_version;
	unsigned epoch;			/* the process's key epoch when kept */
	CK_OBJECT_HANDLE obj;
	struct hsm_session *owner;	/* made obj; the only one to destroy it */
	int64_t at_ms;			/* when it was unwrapped */
	uint64_t hash;			/* key_hash() of wrapped: compared first */
	uint64_t used;			/* the cache's tick at last use */
	uint64_t gen;			/* bumped each time the slot empties */
	unsigned pins;			/* opens using obj right now */
	int bad;			/* a decrypt with it failed: never again */
};

/* DEK_CACHE_WAYS slots and their lock. */
struct hsm_dek_set {
	pthread_mutex_t mu;
	struct hsm_dek way[DEK_CACHE_WAYS];
};

struct hsm_dek_cache {
	struct hsm_dek_set sets[DEK_CACHE_SETS];
	/* One clock for every set: the two sets of a key compare ages. */
	atomic_uint_fast64_t tick;
	atomic_int private_only;	/* 1: sessions cannot use others' objects */
};

struct hsm_dek_cache *
hsm_dek_cache_new(void)
{
	struct hsm_dek_cache *c;
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	for (i = 0; i < DEK_CACHE_SETS; i++)
		pthread_mutex_init(&c->sets[i].mu, NULL);
	return (c);
}

void
hsm_dek_cache_free(struct hsm_dek_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	/* Every session has gone (hsm_dek_forget took its entries out). */
	for (i = 0; i < DEK_CACHE_SETS; i++)
		pthread_mutex_destroy(&c->sets[i].mu);
	free(c);
}

/* FNV-1a of ${env}'s wrapped data key. */
static uint64_t
key_hash(const struct hsm_envelope *env)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < env->wrapped_dek_len; i++)
		h = (h ^ env->wrapped_dek[i]) * 1099511628211ULL;
	return (h);
}

/*
 * The two sets a key of hash ${h} may live in, distinct, the one with the
 * lower address first (the order keep() locks them in).
 */
static void
sets_of(struct hsm_dek_cache *c, uint64_t h, struct hsm_dek_set *two[2])
{
	/* Mixed, so that the two halves are independent of each other. */
	uint64_t m = h * 0x9E3779B97F4A7C15ULL;
	size_t a = (size_t)(m >> 32) % DEK_CACHE_SETS;
	size_t b = (size_t)(m & 0xffffffffu) % DEK_CACHE_SETS;

	if (b == a)
		b = (a + 1) % DEK_CACHE_SETS;
	two[0] = &c->sets[a < b ? a : b];
	two[1] = &c->sets[a < b ? b : a];
}

static int
same_key(const struct hsm_dek *d, const struct hsm_envelope *env, uint64_t h)
{

	return (d->hash == h && d->wrapped_len == env->wrapped_dek_len &&
	    memcmp(d->wrapped, env->wrapped_dek, d->wrapped_len) == 0 &&
	    d->kek_version == (env->kek_version > 0 ? env->kek_version : 1) &&
	    strcmp(d->kek, env->kek_label) == 0);
}

static void
empty(struct hsm_dek *d)
{
	uint64_t gen = d->gen + 1;

	explicit_bzero(d, sizeof(*d));
	d->gen = gen;
}

/*
 * Take the unpinned entry ${d} out (set lock held).  Its object is ${s}'s
 * to destroy (returned, for after the lock), or, on a token that keeps
 * sessions' objects apart, handed to its owner's doomed list.  Returns
 * CK_INVALID_HANDLE when there is nothing for ${s} to do, and leaves ${d}
 * in place when that list is full (1 in *${kept}).
 */
static CK_OBJECT_HANDLE
take_out(struct hsm_session *s, struct hsm_dek *d, int *kept)
{
	struct hsm_session *o = d->owner;
	CK_OBJECT_HANDLE obj = d->obj;

	*kept = 0;
	if (o != s && atomic_load(&s->h->deks->private_only)) {
		pthread_mutex_lock(&o->doomed_mu);
		if (o->n_doomed == DEK_DOOMED_MAX) {
			pthread_mutex_unlock(&o->doomed_mu);
			*kept = 1;
			return (CK_INVALID_HANDLE);
		}
		o->doomed[o->n_doomed] = obj;
		atomic_store(&o->has_doomed, 1);
		o->n_doomed++;
		pthread_mutex_unlock(&o->doomed_mu);
		obj = CK_INVALID_HANDLE;
	}
	empty(d);
	return (obj);
}

/*
 * Destroy ${obj} from ${s}, whichever session made it.  Should the token
 * refuse, the object lives on until the session that made it closes: a
 * bounded cost, never a wrong key (its entry is already gone).
 */
static void
destroy_obj(struct hsm_session *s, CK_OBJECT_HANDLE obj)
{

	if (obj != CK_INVALID_HANDLE)
		(void)s->h->p11->C_DestroyObject(s->s, obj);
}

void
hsm_dek_reap(struct hsm_session *s)
{
	CK_OBJECT_HANDLE doomed[DEK_DOOMED_MAX];
	size_t i, n;

	if (!atomic_load(&s->has_doomed))
		return;
	pthread_mutex_lock(&s->doomed_mu);
	n = s->n_doomed;
	memcpy(doomed, s->doomed, n * sizeof(doomed[0]));
	s->n_doomed = 0;
	atomic_store(&s->has_doomed, 0);
	pthread_mutex_unlock(&s->doomed_mu);
	for (i = 0; i < n; i++)
		destroy_obj(s, doomed[i]);
}

/*
 * Where ${env}'s key may be: its hash in *${h}, its two sets in ${two}.
 * 0 when there is no cache, or the key is too long to keep.  Empties
 * *${pin} either way.
 */
static int
where(struct hsm_session *s, const struct hsm_envelope *env,
    struct hsm_dek_pin *pin, uint64_t *h, struct hsm_dek_set *two[2])
{

	memset(pin, 0, sizeof(*pin));
	if (s->h->deks == NULL || env->wrapped_dek_len > WRAPPED_MAX)
		return (0);
	*h = key_hash(env);
	sets_of(s->h->deks, *h, two);
	return (1);
}

/* Pin entry ${d} of ${set} (locked) into *${pin}: in use, used now. */
static void
pin_entry(struct hsm_dek_cache *c, struct hsm_dek_set *set,
    struct hsm_dek *d, struct hsm_dek_pin *pin)
{

	d->pins++;
	d->used = atomic_fetch_add_explicit(&c->tick, 1,
	    memory_order_relaxed) + 1;
	pin->set = set;
	pin->slot = d;
	pin->gen = d->gen;
	pin->obj = d->obj;
	pin->owner = d->owner;
}

/* What look_in() found in one set. */
enum look {
	LOOK_ABSENT,		/* not there: try the other set */
	LOOK_HIT,		/* there and pinned */
	LOOK_STALE		/* there but past its time: unwrap anew */
};

/*
 * Look for ${env}'s key (hash ${h}) in ${set}, locked by the caller.  A
 * stale entry not in use is taken out, its object left in *${gone} for the
 * caller to destroy once the lock is let go.
 */
static enum look
look_in(struct hsm_session *s, struct hsm_dek_set *set,
    const struct hsm_envelope *env, uint64_t h, struct hsm_dek_pin *pin,
    CK_OBJECT_HANDLE *gone)
{
	struct hsm_dek_cache *c = s->h->deks;
	int private_only = atomic_load(&c->private_only);
	struct hsm_dek *d;
	int kept;
	size_t i;

	for (i = 0; i < DEK_CACHE_WAYS; i++) {
		d = &set->way[i];
		if (d->wrapped_len == 0 || d->bad || !same_key(d, env, h) ||
		    (private_only && d->owner != s))
			continue;
		/* Past its time, or kept before a KEK was destroyed. */
		if (cf_mono_ms() - d->at_ms >= DEK_CACHE_TTL_MS ||
		    d->epoch != atomic_load(&s->h->key_epoch)) {
			if (d->pins == 0)
				*gone = take_out(s, d, &kept);
			return (LOOK_STALE);
		}
		pin_entry(c, set, d, pin);
		return (LOOK_HIT);
	}
	return (LOOK_ABSENT);
}

enum hsm_dek_found
hsm_dek_find(struct hsm_session *s, const struct hsm_envelope *env,
    struct hsm_dek_pin *pin)
{
	struct hsm_dek_set *two[2];
	CK_OBJECT_HANDLE gone = CK_INVALID_HANDLE;
	enum look found = LOOK_ABSENT;
	uint64_t h;
	size_t k;

	if (!where(s, env, pin, &h, two))
		return (HSM_DEK_MISS);
	/*
	 * One set locked at a time: a key kept in the other set meanwhile
	 * is a miss, and keep() then finds it there and keeps no second.
	 */
	for (k = 0; k < 2 && found == LOOK_ABSENT; k++) {
		pthread_mutex_lock(&two[k]->mu);
		found = look_in(s, two[k], env, h, pin, &gone);
		pthread_mutex_unlock(&two[k]->mu);
	}
	if (found == LOOK_HIT) {
		s->dek_hits++;
		atomic_fetch_add_explicit(&s->h->dek_hits, 1,
		    memory_order_relaxed);
		return (HSM_DEK_HIT);
	}
	destroy_obj(s, gone);
	s->dek_misses++;
	atomic_fetch_add_explicit(&s->h->dek_misses, 1, memory_order_relaxed);
	return (HSM_DEK_MISS);
}

/*
 * The way of ${set} to keep a new key in: an empty one, else the least
 * recently used not in use; NULL if every way is in use.  *${used} counts
 * the ways taken.  0 in *${dup} unless ${env}'s key is there already.
 */
static struct hsm_dek *
room_in(struct hsm_dek_set *set, const struct hsm_envelope *env, uint64_t h,
    size_t *used, int *dup)
{
	struct hsm_dek *d = NULL, *w;
	size_t i;

	*used = 0;
	*dup = 0;
	for (i = 0; i < DEK_CACHE_WAYS; i++) {
		w = &set->way[i];
		if (w->wrapped_len == 0) {
			if (d == NULL || d->wrapped_len != 0)
				d = w;
			continue;
		}
		(*used)++;
		if (!w->bad && same_key(w, env, h))
			*dup = 1;
		else if (w->pins == 0 && (d == NULL ||
		    (d->wrapped_len != 0 && w->used < d->used)))
			d = w;
	}
	return (d);
}

enum hsm_dek_kept
hsm_dek_keep(struct hsm_session *s, const struct hsm_envelope *env,
    CK_OBJECT_HANDLE obj, struct hsm_dek_pin *pin)
{
	struct hsm_dek_cache *c = s->h->deks;
	struct hsm_dek_set *two[2], *set;
	struct hsm_dek *room[2], *d;
	CK_OBJECT_HANDLE gone = CK_INVALID_HANDLE;
	size_t used[2];
	int dup[2], kept = 0, k;
	uint64_t h;

	if (!where(s, env, pin, &h, two))
		return (HSM_DEK_NOT_KEPT);
	/* Both locked, in address order (sets_of's): the choice is whole. */
	pthread_mutex_lock(&two[0]->mu);
	pthread_mutex_lock(&two[1]->mu);
	for (k = 0; k < 2; k++)
		room[k] = room_in(two[k], env, h, &used[k], &dup[k]);
	/* Another worker kept the same key meanwhile: one is enough. */
	if (dup[0] || dup[1]) {
		pthread_mutex_unlock(&two[1]->mu);
		pthread_mutex_unlock(&two[0]->mu);
		return (HSM_DEK_NOT_KEPT);
	}
	/*
	 * The emptier set; when both are full, the older of their least
	 * recently used entries goes.
	 */
	if (room[0] == NULL || room[1] == NULL)
		k = room[0] == NULL;
	else if (used[0] != used[1])
		k = used[1] < used[0];
	else
		k = room[1]->used < room[0]->used;
	set = two[k];
	d = room[k];
	if (d != NULL && d->wrapped_len != 0)
		gone = take_out(s, d, &kept);
	if (d == NULL || kept) {
		/* Every way in use, or its owner's doomed list full. */
		pthread_mutex_unlock(&two[1]->mu);
		pthread_mutex_unlock(&two[0]->mu);
		return (HSM_DEK_NOT_KEPT);
	}
	memcpy(d->wrapped, env->wrapped_dek, env->wrapped_dek_len);
	d->wrapped_len = env->wrapped_dek_len;
	d->hash = h;
	snprintf(d->kek, sizeof(d->kek), "%s", env->kek_label);
	d->kek_version = env->kek_version > 0 ? env->kek_version : 1;
	d->epoch = atomic_load(&s->h->key_epoch);
	d->obj = obj;
	d->owner = s;
	d->at_ms = cf_mono_ms();
	pin_entry(c, set, d, pin);
	pthread_mutex_unlock(&two[1]->mu);
	pthread_mutex_unlock(&two[0]->mu);
	destroy_obj(s, gone);
	return (HSM_DEK_KEPT);
}

enum hsm_dek_released
hsm_dek_release(struct hsm_session *s, struct hsm_dek_pin *pin,
    enum hsm_dek_use use)
{
	struct hsm_dek *d = pin->slot;
	CK_OBJECT_HANDLE gone = CK_INVALID_HANDLE;
	enum hsm_dek_released was = HSM_DEK_WAS_GONE;
	int kept;

	if (d == NULL)
		return (HSM_DEK_WAS_GONE);
	pthread_mutex_lock(&pin->set->mu);
	/* A slot emptied meanwhile (its owner closed) is not ours to touch. */
	if (d->gen == pin->gen) {
		was = HSM_DEK_WAS_THERE;
		d->pins--;
		if (use == HSM_DEK_FAILED)
			d->bad = 1;
		if (d->bad && d->pins == 0)
			gone = take_out(s, d, &kept);
	}
	pthread_mutex_unlock(&pin->set->mu);
	destroy_obj(s, gone);
	memset(pin, 0, sizeof(*pin));
	return (was);
}

void
hsm_dek_flush(struct hsm_session *s)
{
	struct hsm_dek_cache *c = s->h->deks;
	struct hsm_dek_set *set;
	CK_OBJECT_HANDLE gone[DEK_CACHE_WAYS];
	size_t i, j, n;
	int kept;

	if (c == NULL)
		return;
	for (i = 0; i < DEK_CACHE_SETS; i++) {
		set = &c->sets[i];
		n = 0;
		pthread_mutex_lock(&set->mu);
		for (j = 0; j < DEK_CACHE_WAYS; j++) {
			if (set->way[j].wrapped_len == 0)
				continue;
			/* In use: dropped when its reader lets it go. */
			set->way[j].bad = 1;
			if (set->way[j].pins == 0)
				gone[n++] = take_out(s, &set->way[j], &kept);
		}
		pthread_mutex_unlock(&set->mu);
		for (j = 0; j < n; j++)
			destroy_obj(s, gone[j]);
	}
}

void
hsm_dek_private_only(struct hsm_session *s)
{

	if (s->h->deks != NULL)
		atomic_store(&s->h->deks->private_only, 1);
}

void
hsm_dek_forget(struct hsm_session *s)
{
	struct hsm_dek_cache *c = s->h->deks;
	struct hsm_dek_set *set;
	size_t i, j;

	if (c == NULL)
		return;
	/*
	 * The objects go with the session when it closes; only the entries
	 * are taken out here (a reader holding one fails and unwraps anew).
	 */
	for (i = 0; i < DEK_CACHE_SETS; i++) {
		set = &c->sets[i];
		pthread_mutex_lock(&set->mu);
		for (j = 0; j < DEK_CACHE_WAYS; j++)
			if (set->way[j].wrapped_len != 0 &&
			    set->way[j].owner == s)
				empty(&set->way[j]);
		pthread_mutex_unlock(&set->mu);
	}
	pthread_mutex_lock(&s->doomed_mu);
	s->n_doomed = 0;
	atomic_store(&s->has_doomed, 0);
	pthread_mutex_unlock(&s->doomed_mu);
}
