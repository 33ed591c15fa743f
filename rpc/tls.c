/*
 * tls.c: the server's mutual-TLS credentials, with client certificates
 * checked by Coffer so that a refused one is counted and audited.
 *
 * gRPC's own check (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY) fails
 * the handshake inside OpenSSL and tells nobody.  So the handshake asks for
 * a certificate without gRPC verifying it, and an external verifier (gRPC's
 * TLS credentials API) verifies it here, during the handshake, against the
 * client CA bundle (x509.c, with OpenSSL), for the purpose "TLS client":
 * chain, signatures, validity dates, key usage.  Then the
 * identity: a certificate with URI SANs must have exactly one, a valid
 * SPIFFE ID (the principal); one without must have a CN without control
 * characters (the principal "cn:NAME", call.c), so that no CN can pass
 * for a SPIFFE ID.  TLS itself still proves that the client holds the
 * certificate's key (CertificateVerify is checked whatever the mode).
 *
 * A client without a certificate is refused here too, in the verifier
 * rather than by OpenSSL (GRPC_SSL_REQUEST_AND_REQUIRE_...), because
 * OpenSSL's refusal is not seen by anyone and could not be counted; the
 * client sees the same thing: the handshake fails, the call UNAVAILABLE.
 * With health_without_cert = on it gets through, and call.c serves it the
 * health check and refuses everything else with UNAUTHENTICATED.
 *
 * The certificate, key and client CAs change while the server runs
 * (rpc_tls_update, from server/tls_watch.c): see struct rpc_tls for how
 * gRPC is made to take them, and the verifier's CA store is swapped under
 * its lock.
 *
 * A refused handshake is not an audit row of its own: it is counted
 * (refusals.c) and the count audited once per interval, operation
 * TLSHandshake, outcome AccessDeniedException, principal
 * "unverified:<claimed identity>" (or "unverified:(no certificate)"), with
 * control characters escaped as in the stderr line.  gRPC does not give
 * the verifier the peer's address: the peer is "unknown".
 */
#include "rpc_internal.h"
#include "cf_log.h"
#include "rpc_tls.h"
#include "rpc_x509.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>

struct verifier {
	grpc_tls_certificate_verifier_external ext;	/* gRPC points here */
	pthread_mutex_t mu;		/* cas, which rpc_tls_update swaps */
	struct rpc_x509_store *cas;			/* the client CAs */
	struct rpc_refusals *refusals;			/* a reference */
	int health_without_cert;	/* cert-less clients get through */
};

/*
 * What the credentials are read from, so that they can change while the
 * server runs (rpc_tls_update).  gRPC's C API has one certificate
 * provider that reloads: a file watcher, which re-reads fixed paths every
 * second.  Its paths here are /proc/self/fd/N of two memfds, one holding
 * the certificate chain and the key together (read once for each: PEM
 * readers skip the other's blocks), one the client CAs: an update
 * replaces each memfd at once (dup3 onto the same N), so the watcher reads
 * either the old pair or the new one, never a key with another's
 * certificate, and only what Coffer checked; the key never touches a
 * disk.  Each new memfd's mtime is a second later than the last, because
 * the watcher tells a file that changed while it read it (and retries)
 * by mtime, in seconds.
 */
struct rpc_tls {
	struct verifier *v;		/* gRPC's; lives while the server does */
	int identity_fd;		/* chain and key */
	int roots_fd;			/* client CAs */
	char identity_path[32];
	char roots_path[32];
	time_t mtime;			/* of the newest memfds */
};

#define NO_CERT "(no certificate)"

void
rpc_tls_escape(char *out, size_t size, const char *in)
{
	uint8_t c;
	size_t n = 0;

	if (size == 0)
		return;
	for (; *in != '\0'; in++) {
		c = (uint8_t)*in;
		if (c >= 0x20 && c != 0x7f && c != '\\') {
			if (n + 1 >= size)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (n + 4 >= size)
			break;
		out[n++] = '\\';
		out[n++] = 'x';
		cf_hex_encode(&c, 1, out + n);	/* two digits and a NUL */
		n += 2;
	}
	out[n] = '\0';
}

/* Is ${c} one of the characters ${extra} or a letter or digit? */
static int
spiffe_char(char c, int upper)
{

	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_' || (upper && c >= 'A' &&
	    c <= 'Z'));
}

int
rpc_tls_spiffe_id_valid(const char *s)
{
	const char *p, *seg;
	size_t n;

	if (strlen(s) > 2048 || strncmp(s, "spiffe://", 9) != 0)
		return (0);

	/* The trust domain: lower-case letters, digits, '.', '-', '_'. */
	for (p = s + 9; *p != '\0' && *p != '/'; p++)
		if (!spiffe_char(*p, 0))
			return (0);
	if (p == s + 9)
		return (0);

	/* The path: segments of [A-Za-z0-9._-], none empty, "." or "..". */
	while (*p == '/') {
		seg = ++p;
		while (*p != '\0' && *p != '/' && spiffe_char(*p, 1))
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return (0);
	}
	return (*p == '\0');
}

/*
 * The identity a certificate claims, for the record of its refusal: its
 * first spiffe:// URI SAN, else its first URI SAN, else its CN.
 */
static const char *
claimed(const grpc_tls_custom_verification_check_request *req)
{
	const struct san_names *san = &req->peer_info.san_names;
	size_t i;

	for (i = 0; i < san->uri_names_size; i++)
		if (strncmp(san->uri_names[i], "spiffe://", 9) == 0)
			return (san->uri_names[i]);
	if (san->uri_names_size > 0)
		return (san->uri_names[0]);
	if (req->peer_info.common_name != NULL &&
	    *req->peer_info.common_name != '\0')
		return (req->peer_info.common_name);
	return ("(no name)");
}

/*
 * Why the verified certificate of ${req} names no usable principal; NULL
 * if it names one.  With URI SANs, exactly one that is a SPIFFE ID (gRPC
 * then makes it the peer's SPIFFE ID, call.c's principal); without, a CN
 * that call.c can make "cn:NAME" (not empty, no control characters).
 */
static const char *
unusable_identity(const grpc_tls_custom_verification_check_request *req)
{
	const struct san_names *san = &req->peer_info.san_names;
	const char *cn = req->peer_info.common_name, *p;

	if (san->uri_names_size > 1)
		return ("the certificate has more than one URI SAN");
	if (san->uri_names_size == 1)
		return (rpc_tls_spiffe_id_valid(san->uri_names[0]) ? NULL :
		    "its URI SAN is not a valid SPIFFE ID");
	if (cn == NULL || *cn == '\0')
		return ("the certificate has neither a SPIFFE ID nor a CN");
	if (strlen(cn) > RPC_REFUSAL_NAME_MAX - 40)
		return ("its CN is too long");
	for (p = cn; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ("its CN has control characters");
	return (NULL);
}

/*
 * Count a refused handshake of a certificate claiming ${who} (NULL: none
 * was sent); the first of each kind in an interval is said on stderr,
 * escaped.  gRPC does not tell the
 * verifier the peer's address, so the peer is "unknown".
 */
static void
refuse(struct verifier *v, const char *who, const char *why)
{
	char name[RPC_REFUSAL_NAME_MAX - 20], principal[RPC_REFUSAL_NAME_MAX];

	rpc_tls_escape(name, sizeof(name), who != NULL ? who : NO_CERT);
	snprintf(principal, sizeof(principal), "unverified:%s", name);
	if (rpc_refusals_add(v->refusals, NULL, principal, "TLSHandshake",
	    cf_code_name(CF_ERR_ACCESS_DENIED)))
		cf_log(CF_LOG_WARN, "refused a TLS handshake claiming "
		    "\"%.256s\": %s (further ones are counted)", name,
		    why);
}

static int
verify(void *user_data, grpc_tls_custom_verification_check_request *req,
    grpc_tls_on_custom_verification_check_done_cb cb, void *cb_arg,
    grpc_status_code *status, char **details)
{
	struct verifier *v = user_data;
	const char *why;

	(void)cb;
	(void)cb_arg;

	/* No certificate: refused, unless the health check is open to all. */
	if (req->peer_info.peer_cert == NULL ||
	    *req->peer_info.peer_cert == '\0') {
		if (v->health_without_cert) {
			*status = GRPC_STATUS_OK;
			return (1);
		}
		refuse(v, NULL, "no certificate");
		*status = GRPC_STATUS_UNAUTHENTICATED;
		*details = gpr_strdup("a client certificate is required");
		return (1);
	}

	/* A certificate: it must verify and name one usable identity. */
	pthread_mutex_lock(&v->mu);
	why = rpc_x509_verify_client(v->cas, req->peer_info.peer_cert,
	    req->peer_info.peer_cert_full_chain);
	pthread_mutex_unlock(&v->mu);
	if (why == NULL && (why = unusable_identity(req)) == NULL) {
		*status = GRPC_STATUS_OK;
		return (1);
	}
	refuse(v, claimed(req), why);
	*status = GRPC_STATUS_UNAUTHENTICATED;
	*details = gpr_strdup("the client certificate is not acceptable");
	return (1);
}

static void
cancel(void *user_data, grpc_tls_custom_verification_check_request *req)
{

	(void)user_data;
	(void)req;
}

static void
destruct(void *user_data)
{
	struct verifier *v = user_data;

	rpc_x509_store_free(v->cas);
	rpc_refusals_unref(v->refusals);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

/*
 * A new memfd holding ${a} and ${b} (NULL: nothing), its mtime ${mtime}:
 * the descriptor, or -1 with ${err}.
 */
static int
memfd_of(const char *what, const char *a, const char *b, time_t mtime,
    struct cf_error *err)
{
	struct timespec t[2] = { { mtime, 0 }, { mtime, 0 } };
	const char *parts[2] = { a, b };
	size_t i, n, off;
	ssize_t w;
	int fd;

	if ((fd = memfd_create(what, MFD_CLOEXEC)) < 0)
		goto fail;
	for (i = 0; i < 2; i++) {
		if (parts[i] == NULL)
			continue;
		for (n = strlen(parts[i]), off = 0; off < n; off += (size_t)w)
			if ((w = write(fd, parts[i] + off, n - off)) < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				goto fail;
			}
		if (i == 0 && b != NULL && write(fd, "\n", 1) != 1)
			goto fail;
	}
	if (futimens(fd, t) != 0)
		goto fail;
	return (fd);
fail:
	cf_error_set(err, CF_ERR_INTERNAL, "could not hold the TLS %s in "
	    "memory: %s", what, strerror(errno));
	if (fd >= 0)
		(void)close(fd);
	return (-1);
}

/*
 * Put the new memfd ${nfd} in place of the one at ${*fd} (the first time,
 * ${*fd} < 0: it becomes it, and ${path} its /proc path).  ${nfd} is
 * consumed.  dup3 is atomic for whoever opens the path: the old file or
 * the new one.
 */
static int
memfd_put(const char *what, int nfd, int *fd, char path[32],
    struct cf_error *err)
{

	if (*fd < 0) {
		*fd = nfd;
		snprintf(path, 32, "/proc/self/fd/%d", nfd);
		return (0);
	}
	if (dup3(nfd, *fd, O_CLOEXEC) < 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not replace the TLS "
		    "%s: %s", what, strerror(errno));
		(void)close(nfd);
		return (-1);
	}
	(void)close(nfd);
	return (0);
}

/* The checks every set of files passes before it is used. */
static struct rpc_x509_store *
checked(const char *cert_pem, const char *key_pem, const char *client_ca_pem,
    struct cf_error *err)
{
	struct rpc_x509_store *cas;

	if (rpc_x509_key_pair(cert_pem, key_pem) != RPC_X509_PAIR_MATCHES) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "tls_cert and "
		    "tls_key must be a PEM certificate and its private key");
		return (NULL);
	}
	if ((cas = rpc_x509_store_new(client_ca_pem)) == NULL)
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "tls_client_ca "
		    "holds no usable certificate");
	return (cas);
}

int
rpc_tls_update(struct rpc_tls *t, const char *cert_pem, const char *key_pem,
    const char *client_ca_pem, struct cf_error *err)
{
	struct rpc_x509_store *cas, *old;
	time_t mtime = time(NULL);
	int id = -1, roots = -1;

	if ((cas = checked(cert_pem, key_pem, client_ca_pem, err)) == NULL)
		return (-1);
	if (mtime <= t->mtime)
		mtime = t->mtime + 1;
	/*
	 * Both made before either is put in place, so a failure to make
	 * one (memory, descriptors) changes nothing; dup3 onto an open
	 * descriptor does not fail for want of either.
	 */
	if ((id = memfd_of("certificate", cert_pem, key_pem, mtime,
	    err)) < 0 || (roots = memfd_of("client CAs", client_ca_pem, NULL,
	    mtime, err)) < 0) {
		if (id >= 0)
			(void)close(id);
		rpc_x509_store_free(cas);
		return (-1);
	}
	if (memfd_put("certificate", id, &t->identity_fd, t->identity_path,
	    err)) {
		(void)close(roots);
		rpc_x509_store_free(cas);
		return (-1);
	}
	if (memfd_put("client CAs", roots, &t->roots_fd, t->roots_path,
	    err)) {
		rpc_x509_store_free(cas);
		return (-1);
	}
	t->mtime = mtime;
	pthread_mutex_lock(&t->v->mu);
	old = t->v->cas;
	t->v->cas = cas;
	pthread_mutex_unlock(&t->v->mu);
	rpc_x509_store_free(old);
	return (0);
}

void
rpc_tls_free(struct rpc_tls *t)
{

	if (t == NULL)
		return;
	if (t->identity_fd >= 0)
		(void)close(t->identity_fd);
	if (t->roots_fd >= 0)
		(void)close(t->roots_fd);
	free(t);
}

grpc_server_credentials *
rpc_tls_server_credentials(const char *cert_pem, const char *key_pem,
    const char *client_ca_pem, int health_without_cert,
    struct rpc_refusals *refusals, struct rpc_tls **out,
    struct cf_error *err)
{
	grpc_tls_credentials_options *opts;
	grpc_tls_certificate_provider *provider;
	grpc_tls_certificate_verifier *gv;
	grpc_server_credentials *creds;
	struct rpc_tls *t;
	struct verifier *v;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (v = calloc(1, sizeof(*v))) == NULL) {
		free(t);
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	t->identity_fd = t->roots_fd = -1;
	t->v = v;
	pthread_mutex_init(&v->mu, NULL);
	/* The first set, checked and put in place as every later one. */
	if (rpc_tls_update(t, cert_pem, key_pem, client_ca_pem, err)) {
		rpc_x509_store_free(v->cas);
		pthread_mutex_destroy(&v->mu);
		free(v);
		t->v = NULL;
		rpc_tls_free(t);
		return (NULL);
	}
	rpc_refusals_ref(refusals);
	v->refusals = refusals;
	v->health_without_cert = health_without_cert;
	v->ext.user_data = v;
	v->ext.verify = verify;
	v->ext.cancel = cancel;
	v->ext.destruct = destruct;

	/*
	 * Our certificate and key, the CAs named to clients (both re-read
	 * every second: rpc_tls_update), the checks.
	 */
	provider = grpc_tls_certificate_provider_file_watcher_create(
	    t->identity_path, t->identity_path, t->roots_path, 1);
	opts = grpc_tls_credentials_options_create();
	grpc_tls_credentials_options_set_certificate_provider(opts, provider);
	grpc_tls_credentials_options_watch_root_certs(opts);
	grpc_tls_credentials_options_watch_identity_key_cert_pairs(opts);
	grpc_tls_credentials_options_set_cert_request_type(opts,
	    GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
	gv = grpc_tls_certificate_verifier_external_create(&v->ext);
	grpc_tls_credentials_options_set_certificate_verifier(opts, gv);
	grpc_tls_certificate_verifier_release(gv);
	grpc_tls_certificate_provider_release(provider);

	/* The credentials take the options over. */
	if ((creds = grpc_tls_server_credentials_create(opts)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the TLS "
		    "certificate, key or client CA was refused");
		rpc_tls_free(t);
		return (NULL);
	}
	*out = t;
	return (creds);
}
