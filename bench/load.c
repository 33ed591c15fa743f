/*
 * load.c: the gRPC load of coffer-bench.
 *
 * One worker per thread, each with a channel of its own (its own HTTP/2
 * connection, as separate clients would have) and a completion queue, keeps
 * up to C calls in flight: when one completes, the next starts in its slot.
 * The same workers and connections serve every run: seeding the secrets,
 * the API mix, and the grpc-health baseline, so connection set-up is paid
 * once, before seeding (load_connect waits until each is READY).  With
 * --baseline-endpoint each worker has a second channel, to an unaudited
 * cofferd, for the grpc-health baseline alone.  A run stops starting calls
 * when its end time has passed or when its shared call counter reaches its
 * limit, and is over when the last call in flight completes.
 *
 * Every call's status is checked, and a BatchGetSecretValue that answers
 * OK with per-secret errors, or a health check that is not SERVING, counts
 * as failed too: failures are counted and never hidden in the rate.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

#include "bench.h"

#define CALL_TIMEOUT_S 60		/* a call that takes longer fails */
#define CONNECT_TIMEOUT_S 30		/* a channel not READY by then fails */
#define MD_ERROR_TYPE "coffer-error-type"

/* One call in flight. */
struct slot {
	grpc_call *call;
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *send, *recv;
	grpc_status_code status;
	grpc_slice details;
	enum bench_op op;
	int64_t started_ns;
};

/* One run: which operations, until when, how many calls, on which channels. */
struct run {
	int baseline;			/* on the baseline channels */
	int weights[BENCH_OP__COUNT];
	int total;			/* sum of the weights */
	int64_t end_ns;			/* start no call after; 0: no end */
	uint64_t limit;			/* start at most this many; 0: none */
	_Atomic uint64_t started;	/* calls started (or refused) so far */
};

/* One thread's connection, queue, calls in flight and counters. */
struct worker {
	struct load *l;
	int id;
	pthread_t th;
	grpc_channel *ch;		/* to --endpoint */
	grpc_channel *bch;		/* to --baseline-endpoint; NULL: ch */
	grpc_completion_queue *cq;
	struct slot *slots;		/* o->inflight */
	uint64_t rng;
	uint64_t seq;
	struct run *run;
	struct stats st[BENCH_OP__COUNT];
};

struct load {
	const struct bench_opts *o;
	grpc_channel_credentials *creds;
	struct worker *ws;		/* o->threads */
	char **names;			/* the seeded secrets, o->secrets */
	char *value;			/* o->size bytes of 'v', NUL-terminated */
	char run_id[9];
	char prefix[32];		/* "bench/<run id>/": ours */
};

static const char *const op_names[BENCH_OP__COUNT] = {
	"get", "put", "create", "describe", "list", "batch-get",
	"list-prefix", "update", "grpc-health", "seed"
};

/*
 * load_op_name(op):
 * The name of ${op} on the command line and in reports ("batch-get").
 */
const char *
load_op_name(enum bench_op op)
{

	return (op_names[op]);
}

/* The next number of the generator at ${state} (a 64-bit LCG). */
static uint64_t
next_rand(uint64_t *state)
{

	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (*state ^ (*state >> 29));
}

/* A random UUIDv4-shaped token (client request token); not secret. */
static void
token(char out[37], uint64_t *state)
{
	uint64_t a, b;

	a = next_rand(state);
	b = next_rand(state);
	snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012" PRIx64,
	    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
	    (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
	    (uint64_t)(b & 0xffffffffffffULL));
}

/* Serialize ${m} as a gRPC byte buffer. */
static grpc_byte_buffer *
pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return (bb);
}

/* A seeded secret's name, picked at random. */
static char *
any_name(struct worker *w)
{

	return (w->l->names[next_rand(&w->rng) % (uint64_t)w->l->o->secrets]);
}

/*
 * The request of operation ${op} (${n}: the run's call number, which names
 * the secret to seed); its method in ${method}.
 */
static grpc_byte_buffer *
request(struct worker *w, enum bench_op op, uint64_t n, const char **method)
{
	const struct bench_opts *o = w->l->o;
	char tok[37], name[96], *ids[BENCH_BATCH];
	uint64_t first;
	size_t i;

	token(tok, &w->rng);
	switch (op) {
	case BENCH_OP_PUT: {
		Coffer__V1__PutSecretValueRequest r =
		    COFFER__V1__PUT_SECRET_VALUE_REQUEST__INIT;

		r.secret_id = any_name(w);
		r.client_request_token = tok;
		r.secret_string = w->l->value;
		*method = "/coffer.v1.SecretsManager/PutSecretValue";
		return (pack(&r.base));
	}
	case BENCH_OP_UPDATE: {
		Coffer__V1__UpdateSecretRequest r =
		    COFFER__V1__UPDATE_SECRET_REQUEST__INIT;

		r.secret_id = any_name(w);
		r.client_request_token = tok;
		r.secret_string = w->l->value;
		*method = "/coffer.v1.SecretsManager/UpdateSecret";
		return (pack(&r.base));
	}
	case BENCH_OP_CREATE:
	case BENCH_OP_SEED: {
		Coffer__V1__CreateSecretRequest r =
		    COFFER__V1__CREATE_SECRET_REQUEST__INIT;

		if (op == BENCH_OP_SEED)
			r.name = w->l->names[n];
		else {
			snprintf(name, sizeof(name), "bench/%s/new/%d-%" PRIu64,
			    w->l->run_id, w->id, w->seq++);
			r.name = name;
		}
		r.client_request_token = tok;
		r.secret_string = w->l->value;
		*method = "/coffer.v1.SecretsManager/CreateSecret";
		return (pack(&r.base));
	}
	case BENCH_OP_DESCRIBE: {
		Coffer__V1__DescribeSecretRequest r =
		    COFFER__V1__DESCRIBE_SECRET_REQUEST__INIT;

		r.secret_id = any_name(w);
		*method = "/coffer.v1.SecretsManager/DescribeSecret";
		return (pack(&r.base));
	}
	case BENCH_OP_LIST: {
		Coffer__V1__ListSecretsRequest r =
		    COFFER__V1__LIST_SECRETS_REQUEST__INIT;

		r.has_max_results = 1;
		r.max_results = 100;
		*method = "/coffer.v1.SecretsManager/ListSecrets";
		return (pack(&r.base));
	}
	case BENCH_OP_BATCH_GET: {
		Coffer__V1__BatchGetSecretValueRequest r =
		    COFFER__V1__BATCH_GET_SECRET_VALUE_REQUEST__INIT;

		/* BENCH_BATCH distinct seeded secrets (fewer if K is less). */
		first = next_rand(&w->rng) % (uint64_t)o->secrets;
		r.n_secret_id_list = (size_t)o->secrets < BENCH_BATCH ?
		    (size_t)o->secrets : BENCH_BATCH;
		for (i = 0; i < r.n_secret_id_list; i++)
			ids[i] = w->l->names[(first + i) %
			    (uint64_t)o->secrets];
		r.secret_id_list = ids;
		*method = "/coffer.v1.SecretsManager/BatchGetSecretValue";
		return (pack(&r.base));
	}
	case BENCH_OP_LIST_PREFIX: {
		Coffer__V1__ListSecretsRequest r =
		    COFFER__V1__LIST_SECRETS_REQUEST__INIT;
		Coffer__V1__Filter f = COFFER__V1__FILTER__INIT, *fp = &f;
		char *values[1];

		/* A page of 100 whose names start with the prefix. */
		values[0] = (char *)(uintptr_t)(o->prefix != NULL ? o->prefix :
		    w->l->prefix);
		f.key = (char *)(uintptr_t)"name";
		f.n_values = 1;
		f.values = values;
		r.has_max_results = 1;
		r.max_results = 100;
		r.n_filters = 1;
		r.filters = &fp;
		*method = "/coffer.v1.SecretsManager/ListSecrets";
		return (pack(&r.base));
	}
	case BENCH_OP_HEALTH: {
		Grpc__Health__V1__HealthCheckRequest r;

		/* Empty: the server as a whole. */
		grpc__health__v1__health_check_request__init(&r);
		*method = "/grpc.health.v1.Health/Check";
		return (pack(&r.base));
	}
	default: {
		Coffer__V1__GetSecretValueRequest r =
		    COFFER__V1__GET_SECRET_VALUE_REQUEST__INIT;

		r.secret_id = any_name(w);
		*method = "/coffer.v1.SecretsManager/GetSecretValue";
		return (pack(&r.base));
	}
	}
}

/* The operation of the next call: one op, or drawn by weight. */
static enum bench_op
pick(struct worker *w)
{
	const struct run *r = w->run;
	int x, op;

	x = (int)(next_rand(&w->rng) % (uint64_t)r->total);
	for (op = 0; op < BENCH_OP__COUNT - 1; op++) {
		if (x < r->weights[op])
			break;
		x -= r->weights[op];
	}
	return ((enum bench_op)op);
}

/*
 * Start the run's next call in ${s}.  Returns 0, or 1 when the run starts
 * no more calls (its end or limit is reached, or gRPC refused the call).
 */
static int
start(struct worker *w, struct slot *s)
{
	struct run *r = w->run;
	const char *method;
	grpc_op ops[6];
	gpr_timespec deadline;
	uint64_t n;

	/* Is the run over? */
	if (r->end_ns != 0 && stats_now_ns() >= r->end_ns)
		return (1);
	n = atomic_fetch_add(&r->started, 1);
	if (r->limit != 0 && n >= r->limit)
		return (1);

	/* Build the request and the call. */
	memset(s, 0, sizeof(*s));
	s->op = pick(w);
	s->send = request(w, s->op, n, &method);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_seconds(CALL_TIMEOUT_S, GPR_TIMESPAN));
	s->call = grpc_channel_create_call(r->baseline && w->bch != NULL ?
	    w->bch : w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
	    grpc_slice_from_static_string(method), NULL, deadline, NULL);
	grpc_metadata_array_init(&s->initial);
	grpc_metadata_array_init(&s->trailing);

	/* Send it all and ask for everything back, in one batch. */
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &s->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing;
	ops[5].data.recv_status_on_client.status = &s->status;
	ops[5].data.recv_status_on_client.status_details = &s->details;
	s->started_ns = stats_now_ns();
	if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
		stats_fail(&w->st[s->op], GRPC_STATUS_UNKNOWN, NULL, 0,
		    "could not start a call", 22);
		grpc_call_unref(s->call);
		grpc_byte_buffer_destroy(s->send);
		grpc_metadata_array_destroy(&s->initial);
		grpc_metadata_array_destroy(&s->trailing);
		return (1);
	}

	/* Success! */
	return (0);
}

/* The message of ${bb} decoded as ${desc}, or NULL. */
static ProtobufCMessage *
unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
	grpc_byte_buffer_reader rd;
	ProtobufCMessage *m;
	grpc_slice sl;

	if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb))
		return (NULL);
	sl = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(sl),
	    GRPC_SLICE_START_PTR(sl));
	grpc_slice_unref(sl);
	return (m);
}

/*
 * Check the answer of a call that ended OK: its message must be there and,
 * for a batch or a health check, say that all went well.  Returns 0, or -1
 * after counting the call as failed.
 */
static int
check_answer(struct worker *w, struct slot *s)
{
	struct stats *st = &w->st[s->op];
	Coffer__V1__BatchGetSecretValueResponse *b;
	Grpc__Health__V1__HealthCheckResponse *h;
	const Coffer__V1__APIErrorType *e;
	const char *type, *msg;
	int rc = 0;

	if (s->recv == NULL) {
		stats_fail(st, 0, NULL, 0, "OK without a response message",
		    29);
		return (-1);
	}
	if (s->op == BENCH_OP_BATCH_GET) {
		b = (Coffer__V1__BatchGetSecretValueResponse *)unpack(s->recv,
		    &coffer__v1__batch_get_secret_value_response__descriptor);
		if (b == NULL) {
			stats_fail(st, 0, NULL, 0, "undecodable response", 20);
			return (-1);
		}
		if (b->n_errors > 0) {
			/* A per-secret error under an OK status. */
			e = b->errors[0];
			type = e->error_code != NULL ? e->error_code : "";
			msg = e->message != NULL ? e->message : "";
			stats_fail(st, 0, type, strlen(type), msg, strlen(msg));
			rc = -1;
		}
		protobuf_c_message_free_unpacked(&b->base, NULL);
		return (rc);
	}
	if (s->op == BENCH_OP_HEALTH) {
		h = (Grpc__Health__V1__HealthCheckResponse *)unpack(s->recv,
		    &grpc__health__v1__health_check_response__descriptor);
		if (h == NULL || h->status !=
		    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
			stats_fail(st, 0, "NOT_SERVING", 11,
			    "health check not SERVING", 24);
			if (h != NULL)
				protobuf_c_message_free_unpacked(&h->base,
				    NULL);
			return (-1);
		}
		protobuf_c_message_free_unpacked(&h->base, NULL);
	}

	/* Success! */
	return (0);
}

/* Record the call in ${s}, which has completed, and release it. */
static void
finish(struct worker *w, struct slot *s, int success)
{
	struct stats *st = &w->st[s->op];
	int64_t ns = stats_now_ns() - s->started_ns;
	const grpc_metadata *md;
	size_t i;

	/* The status, and coffer-error-type from the trailing metadata. */
	if (!success)
		stats_fail(st, GRPC_STATUS_UNKNOWN, NULL, 0,
		    "the call's batch failed", 23);
	else if (s->status != GRPC_STATUS_OK) {
		const char *type = NULL;
		size_t type_len = 0;

		for (i = 0; i < s->trailing.count; i++) {
			md = &s->trailing.metadata[i];
			if (grpc_slice_str_cmp(md->key, MD_ERROR_TYPE) == 0) {
				type = (const char *)GRPC_SLICE_START_PTR(
				    md->value);
				type_len = GRPC_SLICE_LENGTH(md->value);
			}
		}
		stats_fail(st, (int)s->status, type, type_len,
		    (const char *)GRPC_SLICE_START_PTR(s->details),
		    GRPC_SLICE_LENGTH(s->details));
	} else if (check_answer(w, s) == 0)
		stats_ok(st, ns);

	/* Release the call. */
	grpc_byte_buffer_destroy(s->send);
	if (s->recv != NULL)
		grpc_byte_buffer_destroy(s->recv);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->initial);
	grpc_metadata_array_destroy(&s->trailing);
	grpc_call_unref(s->call);
}

/* A worker thread: keep C calls in flight until the run is over. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct slot *s;
	grpc_event ev;
	int i, pending = 0;

	/* Fill every slot. */
	for (i = 0; i < w->l->o->inflight; i++) {
		if (start(w, &w->slots[i]) != 0)
			break;
		pending++;
	}

	/* As each call completes, start the next in its slot. */
	while (pending > 0) {
		ev = grpc_completion_queue_next(w->cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		s = ev.tag;
		finish(w, s, ev.success);
		pending--;
		if (start(w, s) == 0)
			pending++;
	}
	return (NULL);
}

/*
 * Run ${r} on every worker and fill ${out} (BENCH_OP__COUNT results) with
 * each operation's merged counters and the run's wall time.
 */
static void
run_all(struct load *l, struct run *r, struct bench_result *out)
{
	const struct bench_opts *o = l->o;
	int64_t t0, elapsed;
	int t, op;

	/* Start the threads, each with zeroed counters. */
	t0 = stats_now_ns();
	for (t = 0; t < o->threads; t++) {
		l->ws[t].run = r;
		memset(l->ws[t].st, 0, sizeof(l->ws[t].st));
		if (pthread_create(&l->ws[t].th, NULL, worker_main,
		    &l->ws[t]) != 0) {
			fprintf(stderr, "coffer-bench: could not start a "
			    "thread\n");
			exit(2);
		}
	}

	/* Wait for them, then merge what they counted. */
	for (t = 0; t < o->threads; t++)
		pthread_join(l->ws[t].th, NULL);
	elapsed = stats_now_ns() - t0;
	for (op = 0; op < BENCH_OP__COUNT; op++) {
		memset(&out[op], 0, sizeof(out[op]));
		out[op].name = op_names[op];
		out[op].connections = o->threads;
		out[op].elapsed_ns = elapsed;
		for (t = 0; t < o->threads; t++)
			stats_merge(&out[op].st, &l->ws[t].st[op]);
	}
}

/*
 * Run the single operation ${op} into ${out}, on the baseline channels if
 * ${baseline}.
 */
static void
run_one(struct load *l, enum bench_op op, int baseline, int64_t end_ns,
    uint64_t limit, struct bench_result *out)
{
	struct bench_result *all;
	struct run r;

	memset(&r, 0, sizeof(r));
	r.baseline = baseline;
	r.weights[op] = r.total = 1;
	r.end_ns = end_ns;
	r.limit = limit;
	atomic_init(&r.started, 0);
	if ((all = calloc(BENCH_OP__COUNT, sizeof(*all))) == NULL) {
		fprintf(stderr, "coffer-bench: out of memory\n");
		exit(2);
	}
	run_all(l, &r, all);
	*out = all[op];
	free(all);
}

/*
 * load_seed(l, out, out_s):
 * Create the K seeded secrets, C calls in flight per thread.  ${out} holds
 * the CreateSecret counters and *out_s the seconds it took.  Returns 0, or
 * -1 if any call failed.
 */
int
load_seed(struct load *l, struct bench_result *out, double *out_s)
{

	run_one(l, BENCH_OP_SEED, 0, 0, (uint64_t)l->o->secrets, out);
	*out_s = (double)out->elapsed_ns / 1e9;
	return (out->st.failed > 0 ? -1 : 0);
}

/*
 * load_run(l, out):
 * Run the mix of the options for --duration seconds (or --max-calls calls)
 * and fill ${out}, indexed by enum bench_op.
 */
void
load_run(struct load *l, struct bench_result out[BENCH_OP__COUNT])
{
	const struct bench_opts *o = l->o;
	struct run r;
	int op;

	memset(&r, 0, sizeof(r));
	for (op = 0; op < BENCH_OP__COUNT; op++) {
		r.weights[op] = o->mix[op];
		r.total += o->mix[op];
	}
	r.end_ns = stats_now_ns() + (int64_t)o->duration * 1000000000;
	r.limit = o->max_calls;
	atomic_init(&r.started, 0);
	run_all(l, &r, out);
}

/*
 * load_health(l, out):
 * The grpc-health baseline: Health/Check calls for --baseline-duration
 * seconds (or --max-calls calls), same threads and calls in flight, on
 * connections to --baseline-endpoint (an unaudited cofferd) if it was
 * given, else on the run's own.
 */
void
load_health(struct load *l, struct bench_result *out)
{

	run_one(l, BENCH_OP_HEALTH, 1, stats_now_ns() +
	    (int64_t)l->o->baseline_duration * 1000000000, l->o->max_calls,
	    out);
	out->name = l->ws[0].bch != NULL ? "grpc-health (unaudited)" :
	    "grpc-health (measured server)";
}

/* A connectivity state's name, for messages. */
static const char *
state_name(grpc_connectivity_state st)
{

	switch (st) {
	case GRPC_CHANNEL_IDLE:
		return ("IDLE");
	case GRPC_CHANNEL_CONNECTING:
		return ("CONNECTING");
	case GRPC_CHANNEL_READY:
		return ("READY");
	case GRPC_CHANNEL_TRANSIENT_FAILURE:
		return ("TRANSIENT_FAILURE");
	default:
		return ("SHUTDOWN");
	}
}

/*
 * Wait until ${ch} is READY or ${deadline} passes, asking it to connect
 * whenever it is idle.  Returns its last state; *${out_failed} is set if
 * it went through TRANSIENT_FAILURE on the way.
 */
static grpc_connectivity_state
wait_ready(grpc_channel *ch, grpc_completion_queue *cq, gpr_timespec deadline,
    int *out_failed)
{
	grpc_connectivity_state st;
	grpc_event ev;

	*out_failed = 0;
	while ((st = grpc_channel_check_connectivity_state(ch, 1)) !=
	    GRPC_CHANNEL_READY && st != GRPC_CHANNEL_SHUTDOWN) {
		if (st == GRPC_CHANNEL_TRANSIENT_FAILURE)
			*out_failed = 1;
		grpc_channel_watch_connectivity_state(ch, st, deadline, cq,
		    NULL);
		ev = grpc_completion_queue_next(cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success)
			return (grpc_channel_check_connectivity_state(ch, 0));
	}
	return (st);
}

/*
 * load_connect(l, baseline):
 * Connect every worker's channel (its baseline channel if ${baseline}) and
 * wait until each is READY, for CONNECT_TIMEOUT_S at most, before any call
 * is made on it.  The calls are fail-fast: made while a channel's first
 * attempt fails, they fail with it (seeding did, "failed to connect to all
 * addresses", when libgrpc 1.51's tcp_client_posix read errno after other
 * calls had overwritten connect(2)'s EINPROGRESS).  A channel waited for
 * here is tried again after gRPC's backoff instead, and each one that had
 * to be is said on standard error.  Returns 0, or -1 after saying which
 * channel did not become READY.
 */
int
load_connect(struct load *l, int baseline)
{
	const struct bench_opts *o = l->o;
	const char *target;
	grpc_completion_queue *cq;
	grpc_connectivity_state st;
	grpc_channel *ch;
	gpr_timespec deadline;
	int i, failed, rc = 0;

	/* Every connection starts at once; then each is waited for. */
	for (i = 0; i < o->threads; i++)
		(void)grpc_channel_check_connectivity_state(baseline &&
		    l->ws[i].bch != NULL ? l->ws[i].bch : l->ws[i].ch, 1);
	cq = grpc_completion_queue_create_for_next(NULL);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_seconds(CONNECT_TIMEOUT_S, GPR_TIMESPAN));
	for (i = 0; i < o->threads; i++) {
		ch = baseline && l->ws[i].bch != NULL ? l->ws[i].bch :
		    l->ws[i].ch;
		target = ch == l->ws[i].ch ? o->endpoint :
		    o->baseline_endpoint;
		st = wait_ready(ch, cq, deadline, &failed);
		if (st != GRPC_CHANNEL_READY) {
			fprintf(stderr, "coffer-bench: connection %d to %s not "
			    "ready within %d s: %s\n", i, target,
			    CONNECT_TIMEOUT_S, state_name(st));
			rc = -1;
			break;
		}
		if (failed)
			fprintf(stderr, "coffer-bench: connection %d to %s: an "
			    "attempt failed (TRANSIENT_FAILURE); READY after "
			    "gRPC's reconnect\n", i, target);
	}

	/* The queue saw only watches, all complete. */
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	    GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return (rc);
}

/*
 * load_names(l):
 * The names of the seeded secrets (o->secrets of them), owned by ${l}.
 */
const char *const *
load_names(const struct load *l)
{

	return ((const char *const *)l->names);
}

/* The PEM file ${path} in secret memory, or NULL after saying why. */
static struct cf_secret *
read_pem(const char *path, const char *what)
{
	struct cf_error err = { CF_OK, "" };
	struct cf_secret *s = NULL;

	if (cf_read_file(path, what, CF_FILE_ANY_MODE, &s, &err) != CF_OK) {
		fprintf(stderr, "coffer-bench: %s\n", err.msg);
		return (NULL);
	}
	return (s);
}

/* Plaintext, or mutual TLS with the files of ${o}; NULL on error. */
static grpc_channel_credentials *
credentials(const struct bench_opts *o)
{
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *c = NULL;
	struct cf_secret *ca, *cert = NULL, *key = NULL;

	if (o->ca == NULL)
		return (grpc_insecure_credentials_create());
	if ((ca = read_pem(o->ca, "CA bundle")) == NULL)
		return (NULL);
	if (o->cert != NULL && ((cert = read_pem(o->cert,
	    "client certificate")) == NULL || (key = read_pem(o->key,
	    "client key")) == NULL))
		goto out;
	pair.private_key = key != NULL ? (const char *)key->data : NULL;
	pair.cert_chain = cert != NULL ? (const char *)cert->data : NULL;
	c = grpc_ssl_credentials_create((const char *)ca->data, cert != NULL ?
	    &pair : NULL, NULL, NULL);
out:
	cf_secret_free(key);
	cf_secret_free(cert);
	cf_secret_free(ca);
	return (c);
}

/*
 * load_new(o):
 * Start gRPC, make the credentials, the names of the K secrets to seed and
 * one worker (channel, completion queue, slots) per thread.  Returns the
 * handle (free with load_free), or NULL after printing why.
 */
struct load *
load_new(const struct bench_opts *o)
{
	static char key[] = "grpc.use_local_subchannel_pool";
	grpc_arg arg = { GRPC_ARG_INTEGER, key, { .integer = 1 } };
	grpc_channel_args args = { 1, &arg };
	struct load *l;
	struct worker *w;
	uint64_t seed = (uint64_t)stats_now_ns();
	char tok[37];
	int i;

	grpc_init();
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto err0;
	l->o = o;
	if ((l->creds = credentials(o)) == NULL)
		goto err1;

	/* This run's names: bench/<run id>/<i>. */
	token(tok, &seed);
	memcpy(l->run_id, tok, 8);
	snprintf(l->prefix, sizeof(l->prefix), "bench/%.8s/", tok);
	if ((l->names = calloc((size_t)o->secrets, sizeof(char *))) == NULL ||
	    (l->value = malloc(o->size + 1)) == NULL)
		goto err1;
	for (i = 0; i < o->secrets; i++) {
		if ((l->names[i] = malloc(32)) == NULL)
			goto err1;
		snprintf(l->names[i], 32, "bench/%s/%d", l->run_id, i);
	}
	memset(l->value, 'v', o->size);
	l->value[o->size] = '\0';

	/* The workers: a connection of its own per thread. */
	if ((l->ws = calloc((size_t)o->threads, sizeof(*l->ws))) == NULL)
		goto err1;
	for (i = 0; i < o->threads; i++) {
		w = &l->ws[i];
		w->l = l;
		w->id = i;
		w->rng = seed ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
		if ((w->slots = calloc((size_t)o->inflight,
		    sizeof(*w->slots))) == NULL)
			goto err1;
		w->ch = grpc_channel_create(o->endpoint, l->creds, &args);
		if (o->baselines && o->baseline_endpoint != NULL &&
		    strcmp(o->baseline_endpoint, o->endpoint) != 0)
			w->bch = grpc_channel_create(o->baseline_endpoint,
			    l->creds, &args);
		w->cq = grpc_completion_queue_create_for_next(NULL);
	}

	/* Success! */
	return (l);

err1:
	load_free(l);
	return (NULL);
err0:
	/* Failure! */
	fprintf(stderr, "coffer-bench: out of memory\n");
	grpc_shutdown();
	return (NULL);
}

/*
 * load_free(l):
 * Close the connections and queues, free everything and stop gRPC.
 * NULL does nothing.
 */
void
load_free(struct load *l)
{
	struct worker *w;
	int i;

	if (l == NULL)
		return;
	for (i = 0; l->ws != NULL && i < l->o->threads; i++) {
		w = &l->ws[i];
		if (w->cq != NULL) {
			grpc_completion_queue_shutdown(w->cq);
			while (grpc_completion_queue_next(w->cq,
			    gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
			    GRPC_QUEUE_SHUTDOWN)
				;
			grpc_completion_queue_destroy(w->cq);
		}
		if (w->ch != NULL)
			grpc_channel_destroy(w->ch);
		if (w->bch != NULL)
			grpc_channel_destroy(w->bch);
		free(w->slots);
	}
	free(l->ws);
	for (i = 0; l->names != NULL && i < l->o->secrets; i++)
		free(l->names[i]);
	free(l->names);
	free(l->value);
	if (l->creds != NULL)
		grpc_channel_credentials_release(l->creds);
	free(l);
	grpc_shutdown();
}
