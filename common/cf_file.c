/*
 * cf_file.c: reading the files an operator hands Coffer: keys and
 * certificates (PEM), PINs, the configuration.  Files that hold a secret
 * are refused when group or others may read them, and what they hold is
 * read straight into secret memory, never into the plain heap.
 */
#include "cf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What cf_read_file reads at first when the size is not known (a pipe). */
#define READ_FIRST 4096

int
cf_open_restricted(const char *path, const char *what,
    enum cf_file_access access, struct cf_error *err)
{
	struct stat st;
	mode_t forbidden = access == CF_FILE_PRIVATE ? (S_IRWXG | S_IRWXO) :
	    access == CF_FILE_NOT_WRITABLE ? (S_IWGRP | S_IWOTH) : 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "could not open %s \"%s\": %s", what, path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "could not stat %s \"%s\": %s", what, path, strerror(errno));
		goto err;
	}
	if (st.st_mode & forbidden) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "%s \"%s\" is %s by "
		    "group or others (mode %03o): chmod %s it", what, path,
		    access == CF_FILE_PRIVATE ? "accessible" : "writable",
		    (unsigned)(st.st_mode & 0777),
		    access == CF_FILE_PRIVATE ? "600" : "go-w");
		goto err;
	}
	return (fd);

err:
	close(fd);
	return (-1);
}

int
cf_read_secret_file(const char *path, struct cf_secret **out,
    struct cf_error *err)
{
	struct cf_secret *s = NULL;
	ssize_t n;
	size_t got = 0;
	int fd;

	/* Open the file and refuse one others could read. */
	if ((fd = cf_open_restricted(path, "PIN file", CF_FILE_PRIVATE,
	    err)) == -1)
		goto err0;

	/* Read at most 255 bytes; PINs are short. */
	if ((s = cf_secret_new(256)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err1;
	}
	while (got < 255 && (n = read(fd, s->data + got, 255 - got)) > 0)
		got += (size_t)n;
	while (got > 0 && (s->data[got - 1] == '\n' || s->data[got - 1] == '\r'))
		got--;
	if (got == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "PIN file \"%s\" is empty",
		    path);
		goto err2;
	}
	s->data[got] = '\0';
	s->len = got;
	close(fd);
	*out = s;

	/* Success! */
	return (0);

err2:
	cf_secret_free(s);
err1:
	close(fd);
err0:
	/* Failure! */
	return (-1);
}

/* Grow ${*s} (holding ${got} bytes) to hold ${len}; -1 if out of memory. */
static int
grow(struct cf_secret **s, size_t got, size_t len)
{
	struct cf_secret *bigger;

	/* A copy, then the old buffer wiped: never a realloc's stray copy. */
	if ((bigger = cf_secret_new(len)) == NULL)
		return (-1);
	memcpy(bigger->data, (*s)->data, got);
	cf_secret_free(*s);
	*s = bigger;
	return (0);
}

enum cf_code
cf_read_file(const char *path, const char *what, enum cf_file_access access,
    struct cf_secret **out, struct cf_error *err)
{
	struct cf_secret *s = NULL;
	struct stat st;
	size_t got = 0, len;
	struct cf_error local;
	ssize_t k;
	int fd;

	/* Open the file, refusing a mode that grants others too much. */
	if (err == NULL)
		err = &local;
	if ((fd = cf_open_restricted(path, what, access, err)) == -1)
		goto err0;

	/*
	 * Room for the whole file and one byte more, to see its end without
	 * growing; a file of unknown size (a pipe) starts small.  The last
	 * byte of the buffer is kept for the NUL.
	 */
	len = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    st.st_size <= CF_FILE_MAX ? (size_t)st.st_size + 2 : READ_FIRST;
	if ((s = cf_secret_new(len)) == NULL)
		goto oom;

	/* Read to the end, or to one byte past the limit. */
	for (;;) {
		if (got == s->len - 1) {
			if (got > CF_FILE_MAX)
				break;
			if (grow(&s, got, s->len > (CF_FILE_MAX + 2) / 2 ?
			    CF_FILE_MAX + 2 : 2 * s->len))
				goto oom;
		}
		if ((k = read(fd, s->data + got, s->len - 1 - got)) == -1) {
			if (errno == EINTR)
				continue;
			cf_error_set(err, CF_ERR_UNAVAILABLE,
			    "could not read %s \"%s\": %s", what, path,
			    strerror(errno));
			goto err1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got == 0 || got > CF_FILE_MAX) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "%s \"%s\" is empty "
		    "or larger than %d MiB", what, path, CF_FILE_MAX >> 20);
		goto err1;
	}
	s->data[got] = '\0';
	s->len = got;
	close(fd);
	*out = s;

	/* Success! */
	return (CF_OK);

oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
err1:
	cf_secret_free(s);
	close(fd);
err0:
	/* Failure! */
	return (err->code);
}
