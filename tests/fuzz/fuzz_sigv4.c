/*
 * fuzz_sigv4.c: libFuzzer target for awsapi/sigv4.c, which reads the
 * Authorization header, the date, the query and the path of every
 * request to the AWS endpoint before anything else has looked at them.
 * The input is split at newlines into those fields (and the rest is the
 * body).  Nothing may crash, and a signature the fuzzer made up must never
 * be accepted: sigv4_check() of any input the parser lets through must
 * say no (the fuzzer does not know the secret).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char secret[] = "not-known-to-the-fuzzer-0123456789abcdef";
	struct sigv4_header h[5];
	struct sigv4_request req;
	struct sigv4_auth auth;
	static char empty[1];
	char *buf, *field[5], *p, msg[512];
	size_t i;

	if ((buf = malloc(size + 1)) == NULL)
		return (0);
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0, p = buf; i < 5; i++) {
		field[i] = p;
		if (p != NULL && (p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
		if (field[i] == NULL)
			field[i] = empty;
	}
	h[0] = (struct sigv4_header){ "Authorization", field[0] };
	h[1] = (struct sigv4_header){ "X-Amz-Date", field[1] };
	h[2] = (struct sigv4_header){ "Host", "127.0.0.1:50052" };
	h[3] = (struct sigv4_header){ "X-Amz-Target",
	    "secretsmanager.GetSecretValue" };
	h[4] = (struct sigv4_header){ "Date", field[1] };
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.query = field[2];
	req.path = field[3][0] != '\0' ? field[3] : "/";
	req.headers = h;
	req.nheaders = 5;
	req.body = p != NULL ? (const uint8_t *)p : NULL;
	req.body_len = p != NULL ? strlen(p) : 0;
	/* The clock at the fuzzer's favourite date: any YYYYMMDD parses. */
	if (sigv4_parse(&req, "us-east-1", "secretsmanager", (time_t)1440938160,
	    &auth, msg, sizeof(msg)) == SIGV4_OK &&
	    sigv4_check(&req, &auth, (const uint8_t *)secret,
	    sizeof(secret) - 1, msg, sizeof(msg)) == SIGV4_OK)
		abort();
	free(buf);
	return (0);
}
