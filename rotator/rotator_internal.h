/*
 * rotator_internal.h: what the rotator's files share and nothing else
 * includes.
 */
#ifndef COFFER_ROTATOR_INTERNAL_H
#define COFFER_ROTATOR_INTERNAL_H

#include "rotator.h"

/* The suffix of the second user of alternating rotation. */
#define ROTATOR_PG_CLONE_SUFFIX "_clone"

/*
 * rotator_pg_base_user(a, user): the base user of alternating rotation,
 * ${user} without "_clone" (copied into ${a}), or ${user} itself when it
 * has no such suffix; NULL when out of memory.
 */
const char *rotator_pg_base_user(struct cf_arena *, const char *);

/* rotator_oom(err): set InternalServiceError "out of memory"; returns -1. */
int rotator_oom(struct cf_error *);

#endif /* !COFFER_ROTATOR_INTERNAL_H */
