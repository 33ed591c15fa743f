/*
 * metrics.c: what the engine's background work did, and what its database
 * connections and token sessions saw, for /metrics (engine.h).
 */
#include <stdio.h>

#include "cf_metrics.h"
#include "engine_internal.h"
#include "rotator.h"

/* The rotator kinds' label values, in enum rotator_kind's order. */
static const char *const kinds[ENGINE_ROTATOR_KINDS + 1] = {
	"builtin:password", "builtin:postgresql-single-user",
	"builtin:postgresql-alternating-users", "exec", "unknown"
};

_Static_assert(ROTATOR_EXEC + 1 == ENGINE_ROTATOR_KINDS,
    "a rotator kind without a label");

/* The calls that seal first, in enum engine_sealed_op's order. */
static const char *const sealed_call[ENGINE_SEALED_OPS] = {
	"PutSecretValue", "UpdateSecret", "UpdateSecret/KmsKeyId"
};

void
engine_metrics_rotation(struct engine *e, int kind, int ok)
{

	if (kind < 0 || kind >= ENGINE_ROTATOR_KINDS)
		kind = ENGINE_ROTATOR_KINDS;
	atomic_fetch_add_explicit(&e->rotations[kind][ok != 0], 1,
	    memory_order_relaxed);
}

void
engine_metrics_write(struct engine *e, struct cf_prom *out)
{
	struct hsm_metrics hm;
	char labels[96];
	uint64_t n;
	int k, ok, op;

	cf_prom_family(out, "coffer_rotations_total", "counter", "Rotations "
	    "run to their end (OK) or to a failure (Failed, retried later), "
	    "by kind of rotator.");
	for (k = 0; k <= ENGINE_ROTATOR_KINDS; k++)
		for (ok = 1; ok >= 0; ok--) {
			if ((n = atomic_load_explicit(&e->rotations[k][ok],
			    memory_order_relaxed)) == 0)
				continue;
			snprintf(labels, sizeof(labels), "rotator=\"%s\","
			    "outcome=\"%s\"", kinds[k], ok ? "OK" : "Failed");
			cf_prom_value(out, "coffer_rotations_total", labels, n);
		}
	cf_prom_family(out, "coffer_purged_secrets_total", "counter",
	    "Secrets deleted for good by this server's purge, their recovery "
	    "window over.");
	cf_prom_value(out, "coffer_purged_secrets_total", NULL,
	    atomic_load_explicit(&e->purged, memory_order_relaxed));

	cf_prom_family(out, "coffer_read_ahead_reads_total", "counter",
	    "GetSecretValue and DescribeSecret reads a worker made together "
	    "with others', in one round trip, before running their calls.");
	cf_prom_value(out, "coffer_read_ahead_reads_total", NULL,
	    atomic_load_explicit(&e->ahead_reads, memory_order_relaxed));
	cf_prom_family(out, "coffer_read_ahead_round_trips_total", "counter",
	    "The round trips that carried those reads.");
	cf_prom_value(out, "coffer_read_ahead_round_trips_total", NULL,
	    atomic_load_explicit(&e->ahead_trips, memory_order_relaxed));
	cf_prom_family(out, "coffer_read_ahead_used_total", "counter",
	    "Reads made ahead that their call used; the others it made again "
	    "on its own (a failed round trip).");
	cf_prom_value(out, "coffer_read_ahead_used_total", NULL,
	    atomic_load_explicit(&e->ahead_used, memory_order_relaxed));

	cf_prom_family(out, "coffer_put_sealed_first_total", "counter",
	    "Writes sealed before their transaction (PutSecretValue, "
	    "UpdateSecret with a value, UpdateSecret moving every version to "
	    "a new KmsKeyId), by whether what they sealed against still held "
	    "under the row lock (held=\"false\": run again under the lock).");
	for (op = 0; op < ENGINE_SEALED_OPS; op++)
		for (ok = 1; ok >= 0; ok--) {
			snprintf(labels, sizeof(labels),
			    "call=\"%s\",held=\"%s\"", sealed_call[op],
			    ok ? "true" : "false");
			cf_prom_value(out, "coffer_put_sealed_first_total",
			    labels, atomic_load_explicit(
			    &e->sealed_first[op][ok], memory_order_relaxed));
		}

	hsm_metrics(e->hsm, &hm);
	cf_prom_family(out, "coffer_dek_cache_hits_total", "counter", "Opens "
	    "that found the data key already unwrapped in the token.");
	cf_prom_value(out, "coffer_dek_cache_hits_total", NULL, hm.dek_hits);
	cf_prom_family(out, "coffer_dek_cache_misses_total", "counter",
	    "Opens that unwrapped the data key in the token.");
	cf_prom_value(out, "coffer_dek_cache_misses_total", NULL,
	    hm.dek_misses);
	cf_prom_family(out, "coffer_token_errors_total", "counter", "Token "
	    "calls that failed because the token was unreachable or "
	    "logged out.");
	cf_prom_value(out, "coffer_token_errors_total", NULL, hm.token_down);
	cf_prom_family(out, "coffer_database_errors_total", "counter",
	    "Database calls that failed because PostgreSQL was unreachable, "
	    "did not answer in time, or did not accept connections.");
	cf_prom_value(out, "coffer_database_errors_total", NULL,
	    store_unavailable_total());
}
