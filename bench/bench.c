/*
 * bench.c: coffer-bench, a load generator for cofferd.
 *
 *   coffer-bench [--endpoint H:P] [--op get|put|describe|list|mixed]
 *       [--threads T] [--inflight C] [--duration S] [--secrets K]
 *       [--size BYTES] [--ca-bundle F --cert F --key F]
 *
 * It creates K secrets of BYTES bytes, then for S seconds keeps C calls in
 * flight on each of T threads (one channel and completion queue each),
 * and prints calls per second and latency percentiles.  Every call's
 * status is checked: failures are counted and printed, never hidden in the
 * rate.  "mixed" is 90% GetSecretValue and 10% PutSecretValue.  With
 * --ca-bundle (and the client certificate and key) it speaks mutual TLS,
 * as cofferd does by default; without, plaintext (a server with
 * plaintext = on).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/grpc_security.h>

#include "coffer/v1/secrets_manager.pb-c.h"

#define MAX_INFLIGHT 256
#define MAX_SAMPLES (1 << 22)

struct opts {
	const char *endpoint;
	const char *op;
	int threads, inflight, duration, secrets;
	size_t size;
	const char *ca, *cert, *key;	/* PEM files; NULL ca: plaintext */
};

/* One call in flight. */
struct slot {
	grpc_call *call;
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *send, *recv;
	grpc_status_code status;
	grpc_slice details;
	int64_t started_ns;
};

struct worker {
	const struct opts *o;
	int id;
	char **names;
	grpc_channel *ch;
	grpc_completion_queue *cq;
	struct slot slots[MAX_INFLIGHT];
	uint64_t seq;
	uint64_t ok, failed;
	int64_t *lat;			/* nanoseconds, one per completed call */
	size_t n_lat, cap_lat;
	grpc_status_code last_failure;
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
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

/* A random UUIDv4-shaped token (client request token); not secret. */
static void
token(char out[37], uint64_t *state)
{
	uint64_t a, b;

	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	a = *state;
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	b = *state;
	snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012" PRIx64,
	    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
	    (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
	    (uint64_t)(b & 0xffffffffffffULL));
}

/* Build the next request for this worker: its method and payload. */
static const char *
next_request(struct worker *w, grpc_byte_buffer **out, char *value)
{
	const char *op = w->o->op;
	const char *name = w->names[(w->seq * 7 + (uint64_t)w->id) %
	    (uint64_t)w->o->secrets];
	char tok[37];

	w->seq++;
	if (strcmp(op, "mixed") == 0)
		op = w->seq % 10 == 0 ? "put" : "get";
	if (strcmp(op, "put") == 0) {
		Coffer__V1__PutSecretValueRequest r =
		    COFFER__V1__PUT_SECRET_VALUE_REQUEST__INIT;

		token(tok, &w->seq);
		r.secret_id = (char *)(uintptr_t)name;
		r.client_request_token = tok;
		r.secret_string = value;
		*out = pack(&r.base);
		return ("/coffer.v1.SecretsManager/PutSecretValue");
	}
	if (strcmp(op, "describe") == 0) {
		Coffer__V1__DescribeSecretRequest r =
		    COFFER__V1__DESCRIBE_SECRET_REQUEST__INIT;

		r.secret_id = (char *)(uintptr_t)name;
		*out = pack(&r.base);
		return ("/coffer.v1.SecretsManager/DescribeSecret");
	}
	if (strcmp(op, "list") == 0) {
		Coffer__V1__ListSecretsRequest r =
		    COFFER__V1__LIST_SECRETS_REQUEST__INIT;

		r.has_max_results = 1;
		r.max_results = 10;
		*out = pack(&r.base);
		return ("/coffer.v1.SecretsManager/ListSecrets");
	}
	{
		Coffer__V1__GetSecretValueRequest r =
		    COFFER__V1__GET_SECRET_VALUE_REQUEST__INIT;

		r.secret_id = (char *)(uintptr_t)name;
		*out = pack(&r.base);
		return ("/coffer.v1.SecretsManager/GetSecretValue");
	}
}

/* Start one call in ${s}. */
static void
start(struct worker *w, struct slot *s, char *value)
{
	grpc_op ops[6];
	const char *method;
	grpc_slice path;

	memset(s, 0, sizeof(*s));
	method = next_request(w, &s->send, value);
	path = grpc_slice_from_static_string(method);
	s->call = grpc_channel_create_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
	    w->cq, path, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array_init(&s->initial);
	grpc_metadata_array_init(&s->trailing);
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
	s->started_ns = now_ns();
	if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "coffer-bench: could not start a call\n");
		exit(1);
	}
}

/* Record a finished call and release it. */
static void
finish(struct worker *w, struct slot *s)
{

	if (s->status == GRPC_STATUS_OK)
		w->ok++;
	else {
		w->failed++;
		w->last_failure = s->status;
	}
	if (w->n_lat < w->cap_lat)
		w->lat[w->n_lat++] = now_ns() - s->started_ns;
	grpc_byte_buffer_destroy(s->send);
	if (s->recv)
		grpc_byte_buffer_destroy(s->recv);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->initial);
	grpc_metadata_array_destroy(&s->trailing);
	grpc_call_unref(s->call);
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	int64_t end = now_ns() + (int64_t)w->o->duration * 1000000000;
	char *value = malloc(w->o->size + 1);
	grpc_event ev;
	int i, pending = 0;

	memset(value, 'v', w->o->size);
	value[w->o->size] = '\0';
	for (i = 0; i < w->o->inflight; i++, pending++)
		start(w, &w->slots[i], value);
	while (pending > 0) {
		ev = grpc_completion_queue_next(w->cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		finish(w, ev.tag);
		pending--;
		if (now_ns() < end) {
			start(w, ev.tag, value);
			pending++;
		}
	}
	free(value);
	return (NULL);
}

/* One synchronous call, for set-up. */
static grpc_status_code
call_sync(grpc_channel *ch, const char *method, const ProtobufCMessage *m)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	struct slot s;
	grpc_op ops[6];
	grpc_status_code st;

	memset(&s, 0, sizeof(s));
	s.send = pack(m);
	s.call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	    grpc_slice_from_static_string(method), NULL,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array_init(&s.initial);
	grpc_metadata_array_init(&s.trailing);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s.send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s.initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &s.recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &s.trailing;
	ops[5].data.recv_status_on_client.status = &s.status;
	ops[5].data.recv_status_on_client.status_details = &s.details;
	grpc_call_start_batch(s.call, ops, 6, &s, NULL);
	grpc_completion_queue_pluck(cq, &s, gpr_inf_future(GPR_CLOCK_REALTIME),
	    NULL);
	st = s.status;
	if (st != GRPC_STATUS_OK) {
		char *d = grpc_slice_to_c_string(s.details);

		fprintf(stderr, "coffer-bench: %s: status %d: %s\n", method,
		    (int)st, d);
		gpr_free(d);
	}
	grpc_byte_buffer_destroy(s.send);
	if (s.recv)
		grpc_byte_buffer_destroy(s.recv);
	grpc_slice_unref(s.details);
	grpc_metadata_array_destroy(&s.initial);
	grpc_metadata_array_destroy(&s.trailing);
	grpc_call_unref(s.call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	return (st);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
usage(void)
{

	fprintf(stderr, "usage: coffer-bench [--endpoint H:P] [--op get|put|"
	    "describe|list|mixed] [--threads T] [--inflight C] [--duration S] "
	    "[--secrets K] [--size BYTES] [--ca-bundle F --cert F --key F]\n");
	exit(2);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--endpoint") == 0)
			o->endpoint = argv[++i];
		else if (strcmp(argv[i], "--op") == 0)
			o->op = argv[++i];
		else if (strcmp(argv[i], "--threads") == 0)
			o->threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--inflight") == 0)
			o->inflight = atoi(argv[++i]);
		else if (strcmp(argv[i], "--duration") == 0)
			o->duration = atoi(argv[++i]);
		else if (strcmp(argv[i], "--secrets") == 0)
			o->secrets = atoi(argv[++i]);
		else if (strcmp(argv[i], "--size") == 0)
			o->size = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--ca-bundle") == 0)
			o->ca = argv[++i];
		else if (strcmp(argv[i], "--cert") == 0)
			o->cert = argv[++i];
		else if (strcmp(argv[i], "--key") == 0)
			o->key = argv[++i];
		else
			usage();
	}
	if (o->threads < 1 || o->inflight < 1 || o->inflight > MAX_INFLIGHT ||
	    o->duration < 1 || o->secrets < 1 || o->size < 1 ||
	    o->size > 65536 || (o->cert == NULL) != (o->key == NULL) ||
	    (o->cert != NULL && o->ca == NULL))
		usage();
}

/* The whole file ${path}, NUL-terminated; exits on failure. */
static char *
slurp(const char *path)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "coffer-bench: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	buf[n] = '\0';
	return (buf);
}

/* Plaintext, or mutual TLS with the files of ${o}. */
static grpc_channel_credentials *
credentials(const struct opts *o)
{
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *c;
	char *ca, *cert = NULL, *key = NULL;

	if (o->ca == NULL)
		return (grpc_insecure_credentials_create());
	ca = slurp(o->ca);
	if (o->cert != NULL) {
		cert = slurp(o->cert);
		key = slurp(o->key);
	}
	pair.private_key = key;
	pair.cert_chain = cert;
	c = grpc_ssl_credentials_create(ca, cert != NULL ? &pair : NULL, NULL,
	    NULL);
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	free(key);
	free(cert);
	free(ca);
	return (c);
}

int
main(int argc, char **argv)
{
	struct opts o = { "127.0.0.1:50051", "get", 2, 16, 10, 100, 1024,
	    NULL, NULL, NULL };
	struct worker *ws;
	pthread_t *th;
	char **names, *value, tok[37];
	uint64_t ok = 0, failed = 0, seed = (uint64_t)now_ns();
	int64_t *all, t0, elapsed;
	size_t n = 0, i;
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	int t;

	parse(argc, argv, &o);
	grpc_init();

	/* Set up: K secrets of the given size. */
	creds = credentials(&o);
	ch = grpc_channel_create(o.endpoint, creds, NULL);
	names = calloc((size_t)o.secrets, sizeof(*names));
	value = malloc(o.size + 1);
	memset(value, 's', o.size);
	value[o.size] = '\0';
	for (t = 0; t < o.secrets; t++) {
		Coffer__V1__CreateSecretRequest r =
		    COFFER__V1__CREATE_SECRET_REQUEST__INIT;

		names[t] = malloc(64);
		token(tok, &seed);
		snprintf(names[t], 64, "bench/%.8s/%d", tok, t);
		token(tok, &seed);
		r.name = names[t];
		r.client_request_token = tok;
		r.secret_string = value;
		if (call_sync(ch, "/coffer.v1.SecretsManager/CreateSecret",
		    &r.base) != GRPC_STATUS_OK)
			return (1);
	}
	grpc_channel_destroy(ch);

	/* Run: T threads, C calls in flight each, for S seconds. */
	ws = calloc((size_t)o.threads, sizeof(*ws));
	th = calloc((size_t)o.threads, sizeof(*th));
	t0 = now_ns();
	for (t = 0; t < o.threads; t++) {
		/* A connection of its own per thread, so the load spreads over
		 * the server's completion queues as separate clients would. */
		static char key[] = "grpc.use_local_subchannel_pool";
		grpc_arg arg = { GRPC_ARG_INTEGER, key, { .integer = 1 } };
		grpc_channel_args args = { 1, &arg };

		ws[t].o = &o;
		ws[t].id = t;
		ws[t].names = names;
		ws[t].ch = grpc_channel_create(o.endpoint, creds, &args);
		ws[t].cq = grpc_completion_queue_create_for_next(NULL);
		ws[t].cap_lat = MAX_SAMPLES / (size_t)o.threads;
		ws[t].lat = malloc(ws[t].cap_lat * sizeof(int64_t));
		pthread_create(&th[t], NULL, run, &ws[t]);
	}
	grpc_channel_credentials_release(creds);
	for (t = 0; t < o.threads; t++)
		pthread_join(th[t], NULL);
	elapsed = now_ns() - t0;

	/* Report. */
	all = malloc(MAX_SAMPLES * sizeof(int64_t));
	for (t = 0; t < o.threads; t++) {
		ok += ws[t].ok;
		failed += ws[t].failed;
		memcpy(all + n, ws[t].lat, ws[t].n_lat * sizeof(int64_t));
		n += ws[t].n_lat;
		if (ws[t].failed)
			fprintf(stderr, "coffer-bench: thread %d: %" PRIu64
			    " failed calls (last status %d)\n", t,
			    ws[t].failed, (int)ws[t].last_failure);
	}
	qsort(all, n, sizeof(*all), cmp64);
	printf("op=%s threads=%d inflight=%d secrets=%d size=%zu "
	    "duration=%.1fs\n", o.op, o.threads, o.inflight, o.secrets, o.size,
	    (double)elapsed / 1e9);
	printf("calls ok=%" PRIu64 " failed=%" PRIu64 " rate=%.0f/s\n", ok,
	    failed, (double)ok / ((double)elapsed / 1e9));
	if (n > 0)
		printf("latency ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
		    (double)all[n / 2] / 1e6, (double)all[n * 9 / 10] / 1e6,
		    (double)all[n * 99 / 100] / 1e6, (double)all[n - 1] / 1e6);
	for (i = 0; i < (size_t)o.secrets; i++)
		free(names[i]);
	for (t = 0; t < o.threads; t++) {
		grpc_completion_queue_shutdown(ws[t].cq);
		while (grpc_completion_queue_next(ws[t].cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		    GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(ws[t].cq);
		grpc_channel_destroy(ws[t].ch);
		free(ws[t].lat);
	}
	free(names);
	free(value);
	free(all);
	free(ws);
	free(th);
	grpc_shutdown();
	return (failed > 0 ? 1 : 0);
}
