/*
 * cf_net.c: a listen address as the configuration writes it, for the
 * listeners that bind their own sockets (gRPC parses its own).
 */
#include "cf.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

int
cf_listen_address(const char *listen, const char *what,
    struct sockaddr_storage *ss, struct cf_error *err)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':'), *h = listen;
	size_t hl;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		goto bad;
	hl = (size_t)(colon - listen);
	if (listen[0] == '[') {
		if (hl < 3 || listen[hl - 1] != ']')
			goto bad;
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(*ss))
		goto bad;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return (0);
bad:
	if (res != NULL)
		freeaddrinfo(res);
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "%s \"%s\": not "
	    "HOST:PORT or [V6]:PORT", what, listen);
	return (-1);
}
