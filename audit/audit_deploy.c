/*
 * audit_deploy.c: the deployment id that scopes the token's chain heads.
 *
 * A token may serve several deployments (databases); the heads of one
 * must not be mistaken for the missing chains of another.  The first
 * server draws 16 random bytes from the token into server_keys
 * ("audit-deployment"); every server and every verify reads the same.
 * Someone who changes it in the database only makes every chain's head
 * disappear from view, which verify reports (audit/DESIGN.md).
 */
#include <string.h>

#include "audit.h"
#include "hsm.h"
#include "store.h"

int
audit_deployment(struct store *st, struct hsm_session *hs, char *out,
    struct cf_error *err)
{
	uint8_t candidate[16], id[16];

	if (hsm_random(hs, candidate, sizeof(candidate), err) ||
	    store_server_key(st, "audit-deployment", candidate,
	    sizeof(candidate), id, err))
		return (-1);
	cf_hex_encode(id, sizeof(id), out);
	return (0);
}
