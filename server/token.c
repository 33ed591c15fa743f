/*
 * token.c: cofferd and its token: the PIN (read into secret memory, wiped
 * once the login is done), core dumps kept off while secrets are in
 * memory, and the init-token command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "hsm.h"
#include "cf_log.h"
#include "server_internal.h"

/* Keep secrets out of core files and away from ptrace by other users. */
int
server_no_core_dumps(struct cf_error *err)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		cf_error_set(err, CF_ERR_INTERNAL,
		    "could not disable core dumps: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Read the PIN into secret memory: from pin_file, or from COFFER_PIN, whose
 * value is then wiped from the environment block and unset.
 */
static int
pin_read(const struct config *cfg, struct cf_secret **out,
    struct cf_error *err)
{
	struct cf_secret *pin;
	char *env = getenv("COFFER_PIN");
	size_t len;

	if (cfg->pin_file != NULL && env != NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "both pin_file and COFFER_PIN are set; use one");
		return (-1);
	}
	if (cfg->pin_file != NULL)
		return (cf_read_secret_file(cfg->pin_file, out, err));
	if (env == NULL || env[0] == '\0') {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "no token PIN: set pin_file (a file of mode 0600) or "
		    "COFFER_PIN");
		return (-1);
	}
	len = strlen(env);
	if ((pin = cf_secret_new(len + 1)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	memcpy(pin->data, env, len + 1);
	pin->len = len;
	explicit_bzero(env, len);
	unsetenv("COFFER_PIN");
	*out = pin;
	return (0);
}

/* The token's settings; ${pin} may be NULL where no login is needed. */
static void
hsm_config_of(const struct config *cfg, const struct cf_secret *pin,
    struct hsm_config *hc)
{

	memset(hc, 0, sizeof(*hc));
	hc->module_path = cfg->pkcs11_module;
	hc->token_label = cfg->token_label;
	hc->pin = pin != NULL ? (const char *)pin->data : NULL;
	hc->kek_label = cfg->kek_label;
	hc->no_dek_cache = !cfg->dek_cache;
	hc->audit_key_recipients = cfg->audit_key_recipients;
}

/* Log in to the token; the PIN is wiped as soon as the login is done. */
struct hsm *
server_hsm_open(const struct config *cfg, struct cf_error *err)
{
	struct cf_secret *pin = NULL;
	struct hsm_config hc;
	struct hsm *h;

	if (pin_read(cfg, &pin, err))
		return (NULL);
	hsm_config_of(cfg, pin, &hc);
	h = hsm_new(&hc, err);
	cf_secret_free(pin);
	return (h);
}

/* Create the KEK named by kek_label unless it exists. */
int
server_init_token(const struct config *cfg, struct cf_error *err)
{
	struct cf_secret *pin = NULL;
	struct hsm_config hc;
	enum hsm_made rc;

	if (server_no_core_dumps(err) || pin_read(cfg, &pin, err))
		return (-1);
	hsm_config_of(cfg, pin, &hc);
	rc = hsm_create_kek(&hc, cfg->kek_label, err);
	if (rc != HSM_MADE_ERROR) {
		cf_log(CF_LOG_INFO, "key \"%s\" %s in token \"%s\"",
		    cfg->kek_label, rc == HSM_CREATED ? "created" :
		    "already exists", cfg->token_label);
		rc = hsm_create_audit_key(&hc, err);
	}
	cf_secret_free(pin);
	if (rc == HSM_MADE_ERROR)
		return (-1);
	cf_log(CF_LOG_INFO, "key \"%s\" %s in token \"%s\"",
	    HSM_AUDIT_KEY_LABEL, rc == HSM_CREATED ? "created" :
	    "already exists", cfg->token_label);
	return (0);
}
