/*
 * cf_password.h: the rules of a random password, GetRandomPassword's
 * parameters.
 *
 * A plain struct and nothing else, so that the two modules that read these
 * rules share one type without depending on each other: engine/ generates
 * passwords by them (GetRandomPassword, and the rotations' new values) and
 * rotator/ reads them from a builtin rotator's RotationLambdaARN query
 * string.  What each member means is AWS's (README, GetRandomPassword).
 */
#ifndef COFFER_CF_PASSWORD_H
#define COFFER_CF_PASSWORD_H

#include <stdint.h>

struct cf_password_rules {
	int has_password_length;
	int64_t password_length;
	const char *exclude_characters;
	int exclude_numbers;
	int exclude_punctuation;
	int exclude_uppercase;
	int exclude_lowercase;
	int include_space;
	int has_require_each_included_type;
	int require_each_included_type;
};

#endif /* !COFFER_CF_PASSWORD_H */
