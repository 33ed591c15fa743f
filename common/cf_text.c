/*
 * cf_text.c: the text forms of bytes that more than one module writes or
 * reads: random UUIDs in RFC 4122 canonical form (request ids, secret ids,
 * audit chain ids, client request tokens) and hex (hashes in the database
 * and in token labels, cursors).  One copy of each, so that every module
 * writes exactly the same form and refuses exactly the same garbage.
 */
#include "cf.h"

#include <sys/random.h>
#include <sys/types.h>

static const char hex_digits[] = "0123456789abcdef";

void
cf_uuid_format(const uint8_t rnd[16], char out[CF_UUID_LEN + 1])
{
	uint8_t b[16];
	size_t i, o = 0;

	/* The random bytes, then the version and variant bits. */
	for (i = 0; i < sizeof(b); i++)
		b[i] = rnd[i];
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);	/* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);	/* RFC 4122 variant */

	/* 8-4-4-4-12 lower-case hex digits. */
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex_digits[b[i] >> 4];
		out[o++] = hex_digits[b[i] & 0x0F];
	}
	out[o] = '\0';
}

enum cf_code
cf_uuid_random(char out[CF_UUID_LEN + 1])
{
	uint8_t b[16];

	/* getrandom blocks only until the kernel's generator is seeded. */
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return (CF_ERR_UNAVAILABLE);
	cf_uuid_format(b, out);
	return (CF_OK);
}

void
cf_hex_encode(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex_digits[p[i] >> 4];
		out[2 * i + 1] = hex_digits[p[i] & 0x0F];
	}
	out[2 * n] = '\0';
}

/* The value of hex digit ${c} in case ${accept}, or -1. */
static int
hex_value(char c, enum cf_hex_case accept)
{

	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (accept == CF_HEX_ANY_CASE && c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

enum cf_hex_result
cf_hex_decode(const char *s, size_t len, enum cf_hex_case accept,
    uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	/* Exactly two digits per byte: no sign, space, prefix or rest. */
	if (n > SIZE_MAX / 2 || len != 2 * n)
		return (CF_HEX_BAD_LENGTH);
	for (i = 0; i < n; i++) {
		if ((hi = hex_value(s[2 * i], accept)) < 0 ||
		    (lo = hex_value(s[2 * i + 1], accept)) < 0)
			return (CF_HEX_BAD_DIGIT);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (CF_HEX_OK);
}
