/*
 * tls.c: the AWS listener's certificate and key, which change while it
 * serves (awsapi_tls_update; server/tls_watch.c reads the files).
 *
 * libmicrohttpd asks GnuTLS for them through a callback on every
 * handshake (MHD_OPTION_HTTPS_CERT_CALLBACK) instead of taking them once,
 * so a new pair reaches the next handshake.  GnuTLS keeps using what the
 * callback returned for the rest of that session, and nothing says when
 * it is done, so a replaced pair is kept, not freed, until the listener
 * stops: certificates rotate every few hours, each pair is a few KiB.
 *
 * The callback is handed no pointer of ours, so the pairs are this
 * file's: one listener per process (awsapi_start refuses a second).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "awsapi_internal.h"

#define MAX_CHAIN 16			/* certificates in tls_cert */

struct pair {
	gnutls_pcert_st chain[MAX_CHAIN];
	unsigned n;
	gnutls_privkey_t key;
	struct pair *older;		/* replaced, kept till the stop */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pair *current;		/* NULL: no listener */

static void
pair_free(struct pair *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++)
		gnutls_pcert_deinit(&p->chain[i]);
	if (p->key != NULL)
		gnutls_privkey_deinit(p->key);
	free(p);
}

/* Whether ${p}'s key is the one its first certificate names. */
static int
key_matches(const struct pair *p)
{
	gnutls_pubkey_t pub;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	int same = 0;

	if (p->n == 0 || gnutls_pubkey_init(&pub) < 0)
		return (0);
	if (gnutls_pubkey_import_privkey(pub, p->key, 0, 0) >= 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
	    gnutls_pubkey_export2(p->chain[0].pubkey, GNUTLS_X509_FMT_DER,
	    &b) >= 0)
		same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	return (same);
}

/* ${cert} and ${key} (PEM) as GnuTLS takes them; NULL with ${err}. */
static struct pair *
pair_new(const char *cert, const char *key, struct cf_error *err)
{
	gnutls_datum_t c = { (unsigned char *)(uintptr_t)cert,
	    (unsigned)strlen(cert) };
	gnutls_datum_t k = { (unsigned char *)(uintptr_t)key,
	    (unsigned)strlen(key) };
	struct pair *p;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	p->n = MAX_CHAIN;
	if ((rc = gnutls_pcert_list_import_x509_raw(p->chain, &p->n, &c,
	    GNUTLS_X509_FMT_PEM, 0)) < 0) {
		p->n = 0;
		goto bad;
	}
	if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(p->key, &k,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
		goto bad;
	if (!key_matches(p)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "tls_key is not "
		    "the key of tls_cert");
		pair_free(p);
		return (NULL);
	}
	return (p);
bad:
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the AWS listener could "
	    "not use tls_cert and tls_key: %s", gnutls_strerror(rc));
	pair_free(p);
	return (NULL);
}

/* GnuTLS's question, on every handshake: the newest pair. */
static int
retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
    int n_req, const gnutls_pk_algorithm_t *algos, int n_algos,
    gnutls_pcert_st **chain, unsigned int *n, gnutls_privkey_t *key)
{

	(void)session;
	(void)req_ca_dn;
	(void)n_req;
	(void)algos;
	(void)n_algos;
	pthread_mutex_lock(&mu);
	if (current == NULL) {
		pthread_mutex_unlock(&mu);
		return (-1);
	}
	*chain = current->chain;
	*n = current->n;
	*key = current->key;
	pthread_mutex_unlock(&mu);
	return (0);
}

awsapi_cert_fn *
awsapi_tls_start(const char *cert, const char *key, struct cf_error *err)
{
	struct pair *p;

	if ((p = pair_new(cert, key, err)) == NULL)
		return (NULL);
	pthread_mutex_lock(&mu);
	if (current != NULL) {
		pthread_mutex_unlock(&mu);
		pair_free(p);
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "one AWS listener "
		    "per process");
		return (NULL);
	}
	current = p;
	pthread_mutex_unlock(&mu);
	return (retrieve);
}

int
awsapi_tls_update(struct awsapi *a, const char *cert, const char *key,
    struct cf_error *err)
{
	struct pair *p;

	(void)a;
	if ((p = pair_new(cert, key, err)) == NULL)
		return (-1);
	pthread_mutex_lock(&mu);
	p->older = current;
	current = p;
	pthread_mutex_unlock(&mu);
	return (0);
}

void
awsapi_tls_stop(void)
{
	struct pair *p, *older;

	pthread_mutex_lock(&mu);
	p = current;
	current = NULL;
	pthread_mutex_unlock(&mu);
	for (; p != NULL; p = older) {
		older = p->older;
		pair_free(p);
	}
}
