/*
 * rotators.c: what cofferd tells the engine about exec: rotators: the
 * account they run as (never cofferd's own when it could read the PIN, the
 * token or the TLS key) and the endpoint they call back.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "rpc.h"
#include "server_internal.h"

/*
 * Tell exec: rotators where to call back: this server's port on the
 * listen host, or on 127.0.0.1 when listening on every address.
 */
int
server_rotator_endpoint(const struct config *cfg, const struct rpc_server *srv,
    struct engine *e)
{
	const char *colon = strrchr(cfg->listen, ':');
	char host[256], url[300];
	int n = (int)(colon - cfg->listen);

	snprintf(host, sizeof(host), "%.*s", n, cfg->listen);
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "[::]") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(url, sizeof(url), "%s%s:%d", cfg->plaintext ? "http://" : "",
	    host, rpc_server_port(srv));
	return (engine_set_rotator_endpoint(e, url));
}

/*
 * Who exec: rotators run as, in ${x}: rotator_user (and rotator_group, or
 * its login group), an unprivileged account that is not cofferd's.  Unset,
 * they would run as cofferd, which is refused when cofferd is root or owns
 * pin_file or tls_key: the program could read the PIN, the token and the
 * TLS key.  Returns 0, or -1 with ${err} set.
 */
int
server_rotator_identity(const struct config *cfg, struct rotator_exec_config *x,
    struct cf_error *err)
{
	const char *own[2] = { cfg->pin_file, cfg->tls_key };
	const struct passwd *pw;
	const struct group *gr;
	struct stat st;
	size_t i;

	memset(x, 0, sizeof(*x));
	if (cfg->rotator_dir == NULL)
		return (0);
	if (cfg->rotator_user == NULL) {
		for (i = 0; i < 2 && geteuid() != 0; i++)
			if (own[i] != NULL && stat(own[i], &st) == 0 &&
			    st.st_uid == geteuid())
				break;
		if (geteuid() == 0 || i < 2) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_dir "
			    "is set but rotator_user is not: exec: rotators "
			    "would run as cofferd (%s) and could read its PIN, "
			    "token and TLS key; set rotator_user to an "
			    "unprivileged account of their own", geteuid() == 0 ?
			    "root" : "owner of its secret files");
			return (-1);
		}
		return (0);
	}
	if ((pw = getpwnam(cfg->rotator_user)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_user "
		    "\"%.64s\" is not a user", cfg->rotator_user);
		return (-1);
	}
	if (pw->pw_uid == 0 || pw->pw_uid == geteuid()) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_user "
		    "\"%.64s\" must be an unprivileged user other than cofferd's",
		    cfg->rotator_user);
		return (-1);
	}
	x->uid = pw->pw_uid;
	x->gid = pw->pw_gid;
	if (cfg->rotator_group != NULL) {
		if ((gr = getgrnam(cfg->rotator_group)) == NULL) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "rotator_group "
			    "\"%.64s\" is not a group", cfg->rotator_group);
			return (-1);
		}
		x->gid = gr->gr_gid;
	}
	if (x->gid == 0 || x->gid == getegid()) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec: rotators may "
		    "not run in group root nor in cofferd's group: set "
		    "rotator_group");
		return (-1);
	}
	x->run_as_user = 1;
	return (0);
}
