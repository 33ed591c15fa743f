/*
 * tls_watch.c: tls_cert, tls_key and tls_client_ca, read at start and
 * read again when they change, so that certificates issued for hours
 * (SPIFFE SVIDs, most internal CAs) rotate without a restart.
 *
 * One thread looks at the three files every tls_reload_interval seconds
 * (stat(2), which follows the symbolic links a Kubernetes secret volume
 * swaps) and at once on SIGHUP (serve.c).  When anything changed it reads
 * them as at start and hands them to the listeners, which check them
 * first (the key is the certificate's, the CAs parse) and otherwise keep
 * what they have: a half-written set, or a bad one, is logged and the old
 * credentials go on serving.  Connections already made keep theirs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "awsapi.h"
#include "cf_log.h"
#include "rpc.h"
#include "server_internal.h"

/* What stat(2) says of a file, as far as telling a change goes. */
struct seen {
	int err;			/* errno of stat, or 0 */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct server_tls_watch {
	const struct config *cfg;
	struct rpc_server *srv;
	struct awsapi *aws;		/* NULL: no AWS listener */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kicked;			/* SIGHUP: read them whatever stat says */
	struct seen seen[3];
};

int
server_tls_read(const struct config *cfg, struct cf_secret *pem[3],
    struct cf_error *err)
{

	/* The key only if no one else may read it. */
	pem[0] = pem[1] = pem[2] = NULL;
	if (cf_read_file(cfg->tls_cert, "tls_cert", CF_FILE_ANY_MODE, &pem[0],
	    err) || cf_read_file(cfg->tls_key, "tls_key", CF_FILE_PRIVATE,
	    &pem[1], err) || cf_read_file(cfg->tls_client_ca, "tls_client_ca",
	    CF_FILE_ANY_MODE, &pem[2], err)) {
		server_tls_free(pem);
		return (-1);
	}
	return (0);
}

void
server_tls_free(struct cf_secret *pem[3])
{
	int i;

	for (i = 0; i < 3; i++) {
		cf_secret_free(pem[i]);
		pem[i] = NULL;
	}
}

static void
look(const struct config *cfg, struct seen out[3])
{
	const char *path[3] = { cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca };
	struct stat st;
	int i;

	memset(out, 0, 3 * sizeof(*out));
	for (i = 0; i < 3; i++) {
		if (stat(path[i], &st) != 0) {
			out[i].err = errno;
			continue;
		}
		out[i].dev = st.st_dev;
		out[i].ino = st.st_ino;
		out[i].size = st.st_size;
		out[i].mtime = st.st_mtim;
		out[i].ctime = st.st_ctim;
	}
}

/* Read the files and hand them over; say what happened. */
static void
reload(struct server_tls_watch *w)
{
	struct cf_error err = { CF_OK, "" };
	struct cf_secret *pem[3];

	if (server_tls_read(w->cfg, pem, &err) ||
	    rpc_server_tls_update(w->srv, (const char *)pem[0]->data,
	    (const char *)pem[1]->data, (const char *)pem[2]->data, &err) ||
	    (w->aws != NULL && awsapi_tls_update(w->aws,
	    (const char *)pem[0]->data, (const char *)pem[1]->data, &err))) {
		cf_log(CF_LOG_ERROR, "tls: kept the certificate, key and "
		    "client CAs in use: %s", err.msg);
		server_tls_free(pem);
		return;
	}
	server_tls_free(pem);
	cf_log(CF_LOG_INFO, "tls: reloaded tls_cert, tls_key and "
	    "tls_client_ca for new connections");
}

static void *
watch(void *arg)
{
	struct server_tls_watch *w = arg;
	struct seen now[3];
	struct timespec until;
	int kicked;

	(void)pthread_setname_np(pthread_self(), "coffer-tlswatch");
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += w->cfg->tls_reload_interval;
		while (!w->stop && !w->kicked && pthread_cond_timedwait(&w->cv,
		    &w->mu, &until) != ETIMEDOUT)
			;
		if (w->stop)
			break;
		kicked = w->kicked;
		w->kicked = 0;
		pthread_mutex_unlock(&w->mu);

		/*
		 * Only this thread reloads.  What was seen is kept even when
		 * the reload fails, so a bad set is said once, not every
		 * interval; the next change (or SIGHUP) tries again.
		 */
		look(w->cfg, now);
		if (kicked || memcmp(now, w->seen, sizeof(now)) != 0) {
			memcpy(w->seen, now, sizeof(now));
			reload(w);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return (NULL);
}

struct server_tls_watch *
server_tls_watch_start(const struct config *cfg, struct rpc_server *srv,
    struct awsapi *aws, struct cf_error *err)
{
	struct server_tls_watch *w;
	pthread_condattr_t ca;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	w->cfg = cfg;
	w->srv = srv;
	w->aws = aws;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* What was read at start is what the listeners hold. */
	look(cfg, w->seen);
	if ((errno = pthread_create(&w->thread, NULL, watch, w)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the TLS "
		    "file watcher: %s", strerror(errno));
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return (NULL);
	}
	return (w);
}

void
server_tls_watch_kick(struct server_tls_watch *w)
{

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->kicked = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void
server_tls_watch_stop(struct server_tls_watch *w)
{

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	(void)pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
