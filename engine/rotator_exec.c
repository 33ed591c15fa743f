/*
 * rotator_exec.c: exec:/path rotators, an operator's own program run once
 * per step, with AWS's rotation-Lambda contract.
 *
 * The program gets a clean environment (PATH, and nothing of cofferd's:
 * no database conninfo, no PIN): COFFER_ROTATION_STEP (createSecret,
 * setSecret, testSecret, finishSecret), COFFER_SECRET_ID (the ARN),
 * COFFER_CLIENT_REQUEST_TOKEN and COFFER_ROTATION_TOKEN (the pending
 * version), COFFER_ROTATION_EVENT (the Lambda event as JSON), and how to
 * call cofferd back: COFFER_ENDPOINT and, when configured, COFFER_CA_BUNDLE,
 * COFFER_CERT, COFFER_KEY (what `coffer` reads).  Like a Lambda it does the
 * work through the API: createSecret puts the pending value with
 * PutSecretValue, finishSecret moves AWSCURRENT.  Its standard output and
 * error go to cofferd's log (4 KiB per step at most), never to the audit
 * trail.  It runs in its own process group, which is killed when the step
 * runs out of time; a non-zero exit or a signal fails the step.
 *
 * Only programs inside the configured rotator_dir may run: without it,
 * exec: rotators are refused, since RotateSecret would otherwise let any
 * caller with that permission run any program as cofferd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_internal.h"

#define EXEC_LOG_MAX 4096

int
engine_exec_check(const char *dir, const char *path, struct cf_error *err)
{
	char rdir[PATH_MAX], rpath[PATH_MAX];
	struct stat st;
	size_t n;

	if (dir == NULL || *dir == '\0') {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec: rotators are "
		    "off: the operator must set rotator_dir to the directory "
		    "of allowed rotator programs");
		return (-1);
	}
	if (path[0] != '/' || realpath(dir, rdir) == NULL ||
	    realpath(path, rpath) == NULL || stat(rpath, &st) != 0 ||
	    !S_ISREG(st.st_mode) || access(rpath, X_OK) != 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec:%.256s is not "
		    "an executable file given by its absolute path", path);
		return (-1);
	}
	n = strlen(rdir);
	if (strncmp(rpath, rdir, n) != 0 || rpath[n] != '/') {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec:%.256s is not "
		    "inside rotator_dir", path);
		return (-1);
	}
	return (0);
}

/* Append "NAME=value" to ${env}, a NULL-terminated list of ${cap}. */
static int
env_add(char **env, size_t *n, size_t cap, const char *name,
    const char *value)
{
	size_t len;

	if (value == NULL)
		return (0);
	if (*n + 1 >= cap)
		return (-1);
	len = strlen(name) + strlen(value) + 2;
	if ((env[*n] = malloc(len)) == NULL)
		return (-1);
	snprintf(env[*n], len, "%s=%s", name, value);
	env[++*n] = NULL;
	return (0);
}

/* Log what the program printed, line by line, prefixed. */
static void
log_output(const char *arn, const char *step, const char *buf, size_t n,
    int cut)
{
	const char *p = buf, *end = buf + n, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		fprintf(stderr, "cofferd: rotator %s %s: %.*s\n", arn, step,
		    (int)((nl != NULL ? nl : end) - p), p);
		p = nl != NULL ? nl + 1 : end;
	}
	if (cut)
		fprintf(stderr, "cofferd: rotator %s %s: (output cut at %d "
		    "bytes)\n", arn, step, EXEC_LOG_MAX);
}

int
engine_exec_step(const struct engine_exec_config *cfg, const char *path,
    const char *step, const char *arn, const char *token,
    struct cf_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *env[16] = { NULL }, event[1024], buf[EXEC_LOG_MAX];
	char *argv[2] = { (char *)(uintptr_t)path, NULL };
	struct pollfd pfd;
	size_t ne = 0, got = 0, i;
	int64_t deadline;
	int fds[2] = { -1, -1 }, status = 0, rc = -1, cut = 0, timed_out = 0;
	int exited = 0;
	ssize_t r;
	pid_t pid;
	char sink[512];

	if (engine_exec_check(cfg->dir, path, err))
		return (-1);
	snprintf(event, sizeof(event), "{\"Step\":\"%s\",\"SecretId\":\"%s\","
	    "\"ClientRequestToken\":\"%s\",\"RotationToken\":\"%s\"}", step,
	    arn, token, token);
	if (env_add(env, &ne, 16, "PATH", "/usr/local/bin:/usr/bin:/bin") ||
	    env_add(env, &ne, 16, "COFFER_ROTATION_STEP", step) ||
	    env_add(env, &ne, 16, "COFFER_SECRET_ID", arn) ||
	    env_add(env, &ne, 16, "COFFER_CLIENT_REQUEST_TOKEN", token) ||
	    env_add(env, &ne, 16, "COFFER_ROTATION_TOKEN", token) ||
	    env_add(env, &ne, 16, "COFFER_ROTATION_EVENT", event) ||
	    env_add(env, &ne, 16, "COFFER_ENDPOINT", cfg->endpoint) ||
	    env_add(env, &ne, 16, "COFFER_CA_BUNDLE", cfg->ca_bundle) ||
	    env_add(env, &ne, 16, "COFFER_CERT", cfg->cert) ||
	    env_add(env, &ne, 16, "COFFER_KEY", cfg->key)) {
		(void)engine_oom(err);
		goto done;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "pipe: %s", strerror(errno));
		goto done;
	}

	/* stdin from /dev/null, stdout and stderr to us; its own group. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	fds[1] = -1;
	if (rc != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not run %.256s: %s",
		    path, strerror(rc));
		rc = -1;
		goto done;
	}

	/* Its output until it closes it, or until time runs out. */
	deadline = cf_mono_ms() + (int64_t)cfg->timeout_s * 1000;
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		int64_t left = deadline - cf_mono_ms();

		/* Exited (its children may hold the pipe open: not waited). */
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			left = left < 200 ? left : 200;
		}
		if (left <= 0 && exited)
			break;
		if (left <= 0) {
			timed_out = 1;
			(void)kill(-pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)(left < 100 ? left : 100)) < 0 &&
		    errno != EINTR)
			break;
		if (pfd.revents == 0) {
			if (exited)
				break;
			continue;
		}
		if (got < sizeof(buf))
			r = read(fds[0], buf + got, sizeof(buf) - got);
		else {
			r = read(fds[0], sink, sizeof(sink));
			cut |= r > 0;
		}
		if (r <= 0 && !(r < 0 && errno == EINTR))
			break;
		if (r > 0 && got < sizeof(buf))
			got += (size_t)r;
	}
	while (!exited && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		continue;
	/* Anything it left behind in its group goes too. */
	(void)kill(-pid, SIGKILL);
	log_output(arn, step, buf, got, cut);

	if (timed_out) {
		cf_error_set(err, CF_ERR_INTERNAL, "the rotator %.256s ran out "
		    "of time (%d s) at %s", path, cfg->timeout_s, step);
		rc = -1;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else {
		cf_error_set(err, CF_ERR_INTERNAL, "the rotator %.256s failed "
		    "at %s (%s %d)", path, step, WIFEXITED(status) ? "exit" :
		    "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
		    WTERMSIG(status));
		rc = -1;
	}
done:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	for (i = 0; i < ne; i++)
		free(env[i]);
	return (rc);
}
