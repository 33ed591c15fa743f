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
 * runs out of time, whatever the program did with its descriptors (closing
 * its output does not end the wait); a non-zero exit or a signal fails the
 * step.  When cofferd stops (the engine sets *cfg->cancel:
 * engine_cancel_rotators), a running program is killed at once.
 *
 * Only programs inside the configured rotator_dir may run: without it,
 * exec: rotators are refused, since RotateSecret would otherwise let any
 * caller with that permission run any program as cofferd.  The program
 * file and its directory must belong to root or cofferd's user and be
 * writable by nobody else; cofferd opens the file, checks it on the open
 * descriptor and executes that descriptor (fexecve), so a path swapped
 * after the check cannot run.  The program runs as rotator_user and
 * rotator_group (never as cofferd, who can read the PIN, the token and the
 * TLS key) with descriptors 0, 1 and 2 only: nothing cofferd holds or
 * inherited reaches it (a #! script also sees 3, its own file, which its
 * interpreter reads as /dev/fd/3).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "rotator_internal.h"
#include "cf_log.h"

#define EXEC_LOG_MAX 4096

/* Why a program may not run: the messages of exec_open. */
static const char *const check_why[] = {
	"is not an executable file given by its absolute path",
	"is not inside rotator_dir",
	"is not owned by root or by cofferd's user",
	"is writable by its group or by others",
	"is in a directory writable by its group or by others",
	"is in a directory not owned by root or by cofferd's user",
};

/* 0 if root or cofferd's user owns ${st} and no one else may write it. */
static int
untrusted(const struct stat *st, int owner_why, int mode_why)
{

	if (st->st_uid != 0 && st->st_uid != geteuid())
		return (owner_why);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return (mode_why);
	return (0);
}

/*
 * Open the program exec:${path} for reading and check it: given by its
 * absolute path, inside ${dir} once symbolic links are resolved, a regular
 * executable file owned by root or cofferd's user and writable by nobody
 * else, in a directory of which the same holds.  The file is opened by its
 * resolved name without following links, and the checks are made on the
 * open descriptor, which is what rotator_exec_step executes: a path swapped
 * after the check cannot run instead.  Sets *${out_fd} (close-on-exec) and
 * returns 0, or -1 with ${err} set.
 */
static int
exec_open(const char *dir, const char *path, int *out_fd,
    struct cf_error *err)
{
	char rdir[PATH_MAX], rpath[PATH_MAX], *slash;
	struct stat st;
	size_t n;
	int dfd = -1, fd = -1, why = 0;

	*out_fd = -1;
	if (dir == NULL || *dir == '\0') {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec: rotators are "
		    "off: the operator must set rotator_dir to the directory "
		    "of allowed rotator programs");
		return (-1);
	}

	/* Resolved, inside rotator_dir. */
	if (path[0] != '/' || realpath(dir, rdir) == NULL ||
	    realpath(path, rpath) == NULL)
		goto refused;
	n = strlen(rdir);
	if (strncmp(rpath, rdir, n) != 0 || rpath[n] != '/') {
		why = 1;
		goto refused;
	}

	/* Its directory, then the file itself, never through a link. */
	slash = strrchr(rpath, '/');
	*slash = '\0';
	dfd = open(rpath[0] != '\0' ? rpath : "/", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	*slash = '/';
	if (dfd == -1 || fstat(dfd, &st) != 0)
		goto refused;
	if ((why = untrusted(&st, 5, 4)) != 0)
		goto refused;
	if ((fd = openat(dfd, slash + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0)
		goto refused;
	if ((why = untrusted(&st, 2, 3)) != 0)
		goto refused;
	close(dfd);
	*out_fd = fd;

	/* Success! */
	return (0);

refused:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "exec:%.256s %s", path,
	    check_why[why]);
	return (-1);
}

int
rotator_exec_check(const char *dir, const char *path, struct cf_error *err)
{
	int fd;

	if (exec_open(dir, path, &fd, err))
		return (-1);
	close(fd);
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
		cf_log(CF_LOG_INFO, "rotator %s %s: %.*s", arn, step,
		    (int)((nl != NULL ? nl : end) - p), p);
		p = nl != NULL ? nl + 1 : end;
	}
	if (cut)
		cf_log(CF_LOG_INFO, "rotator %s %s: (output cut at %d "
		    "bytes)", arn, step, EXEC_LOG_MAX);
}

/*
 * In the child, after the switch of user: no capability left in any set,
 * ambient ones included, and none to be gained by executing a set-user-ID
 * program (no_new_privs).  A switch from root to another user clears the
 * permitted set by itself, but one between two users does not: a cofferd
 * given CAP_SETUID and CAP_SETGID as ambient capabilities (a unit's
 * AmbientCapabilities=) would pass them to the rotator, which could then
 * become cofferd's user and read the PIN (found by running the packaged
 * unit with that drop-in).  Checked after, not assumed.
 */
static int
drop_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3,
	    0 };
	struct __user_cap_data_struct d[2];

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		return (-1);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &hdr, d) == -1)
		return (-1);
	memset(d, 0xff, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) == -1)
		return (-1);
	if (d[0].effective || d[1].effective || d[0].permitted ||
	    d[1].permitted || d[0].inheritable || d[1].inheritable) {
		errno = EPERM;
		return (-1);
	}
	return (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/* Where the child got stuck before its program ran, with errno. */
enum child_stage {
	CHILD_FDS, CHILD_GROUPS, CHILD_GID, CHILD_UID, CHILD_CAPS, CHILD_EXEC
};

static const char *const child_what[] = {
	"set up its descriptors", "drop its supplementary groups",
	"switch to rotator_group", "switch to rotator_user",
	"drop every capability", "execute it",
};

struct child_fail {
	int stage;
	int err;
};

/* In the child: tell the parent where it failed, and exit. */
static void __attribute__((noreturn))
child_fail(int efd, enum child_stage stage)
{
	struct child_fail f = { (int)stage, errno };

	if (write(efd, &f, sizeof(f)) != (ssize_t)sizeof(f))
		_exit(126);
	_exit(127);
}

/*
 * In the child, between fork and exec, so async-signal-safe calls only:
 * its own process group; 0 /dev/null, 1 and 2 the output pipe, 3 the
 * checked program (left open only for a #! script, whose interpreter the
 * kernel hands /dev/fd/3), 4 the error pipe (closed by a successful exec),
 * and no other descriptor; default signal handling with nothing blocked;
 * the rotator's user and group, set with raw system calls (glibc's wrappers
 * would signal threads the child does not have); then the file itself.
 * ${fds}: /dev/null, the output pipe, the program, the error pipe.
 */
static void __attribute__((noreturn))
child_run(const struct rotator_exec_config *cfg, const int fds[4],
    int script, char **argv, char **env)
{
	struct sigaction sa;
	sigset_t none;
	gid_t gid = cfg->gid;
	int hi[4], efd = fds[3], i;

	(void)setpgid(0, 0);

	/* Copies above 4 first, so that no dup2 below clobbers a source. */
	for (i = 0; i < 4; i++)
		if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 5)) == -1)
			child_fail(efd, CHILD_FDS);
	efd = hi[3];
	if (dup2(hi[3], 4) == -1)
		child_fail(efd, CHILD_FDS);
	efd = 4;
	if (dup2(hi[0], 0) == -1 || dup2(hi[1], 1) == -1 ||
	    dup2(hi[1], 2) == -1 || dup2(hi[2], 3) == -1 ||
	    fcntl(4, F_SETFD, FD_CLOEXEC) == -1 ||
	    (!script && fcntl(3, F_SETFD, FD_CLOEXEC) == -1))
		child_fail(efd, CHILD_FDS);
	if (close_range(5, ~0U, 0) == -1)
		child_fail(efd, CHILD_FDS);

	/* Signals as a fresh process has them (cofferd blocks SIGTERM). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		(void)sigaction(i, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	/* The rotator's own user and group, for good. */
	if (cfg->run_as_user) {
		if (syscall(SYS_setgroups, 1, &gid) == -1)
			child_fail(efd, CHILD_GROUPS);
		if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) == -1)
			child_fail(efd, CHILD_GID);
		if (syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) == -1)
			child_fail(efd, CHILD_UID);
		if (getuid() != cfg->uid || geteuid() != cfg->uid) {
			errno = EPERM;
			child_fail(efd, CHILD_UID);
		}
	}
	if (chdir("/") == -1)
		child_fail(efd, CHILD_FDS);
	if (drop_caps() == -1)
		child_fail(efd, CHILD_CAPS);

	/* The very file that was checked. */
	fexecve(3, argv, env);
	child_fail(efd, CHILD_EXEC);
}

/*
 * Start the checked program ${prog} in the child; its output goes to the
 * write end ${out_w}.  Returns the child's pid, or -1 with ${err} set (the
 * child, if any, reaped).
 */
static pid_t
child_start(const struct rotator_exec_config *cfg, const char *path, int prog,
    int out_w, char **argv, char **env, struct cf_error *err)
{
	struct child_fail f;
	char magic[2];
	ssize_t r;
	pid_t pid;
	int ep[2] = { -1, -1 }, fds[4], script, status;

	script = pread(prog, magic, 2, 0) == 2 && memcmp(magic, "#!", 2) == 0;
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = out_w;
	fds[2] = prog;
	if (fds[0] == -1 || pipe2(ep, O_CLOEXEC) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not run %.256s: %s",
		    path, strerror(errno));
		pid = -1;
		goto done;
	}
	fds[3] = ep[1];
	/* _Fork: no atfork handlers (gRPC's, OpenSSL's) run in the child. */
	if ((pid = _Fork()) == -1) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not run %.256s: fork: "
		    "%s", path, strerror(errno));
		goto done;
	}
	if (pid == 0)
		child_run(cfg, fds, script, argv, env);

	/* Nothing on the error pipe: the program runs. */
	close(ep[1]);
	ep[1] = -1;
	while ((r = read(ep[0], &f, sizeof(f))) == -1 && errno == EINTR)
		continue;
	if (r == (ssize_t)sizeof(f)) {
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			continue;
		cf_error_set(err, CF_ERR_INTERNAL, "could not run %.256s: could "
		    "not %s: %s", path, f.stage >= 0 && f.stage <= CHILD_EXEC ?
		    child_what[f.stage] : "start it", strerror(f.err));
		pid = -1;
	}
done:
	if (ep[0] != -1)
		close(ep[0]);
	if (ep[1] != -1)
		close(ep[1]);
	if (fds[0] != -1)
		close(fds[0]);
	return (pid);
}

/* Has the engine asked running rotators to stop? */
static int
cancelled(const struct rotator_exec_config *cfg)
{

	return (cfg->cancel != NULL &&
	    __atomic_load_n(cfg->cancel, __ATOMIC_RELAXED) != 0);
}

int
rotator_exec_step(const struct rotator_exec_config *cfg, const char *path,
    enum rotator_step which, const char *arn, const char *token,
    struct cf_error *err)
{
	const char *step = rotator_step_name(which);
	char *env[16] = { NULL }, event[1024], buf[EXEC_LOG_MAX];
	char *argv[2] = { (char *)(uintptr_t)path, NULL };
	struct pollfd pfd;
	size_t ne = 0, got = 0, i;
	int64_t deadline, now, grace = 0;
	int fds[2] = { -1, -1 }, prog = -1, status = 0, rc = -1, cut = 0;
	int timed_out = 0, stopped = 0, exited = 0, eof = 0;
	ssize_t r;
	pid_t pid;
	char sink[512];

	/* The program, opened and checked: this descriptor is what runs. */
	if (exec_open(cfg->dir, path, &prog, err))
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
		(void)rotator_oom(err);
		goto done;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "pipe: %s", strerror(errno));
		goto done;
	}
	if (cancelled(cfg)) {
		cf_error_set(err, CF_ERR_INTERNAL, "the rotator %.256s was not "
		    "started at %s: cofferd is shutting down", path, step);
		goto done;
	}

	/* Start it; the clock runs from here. */
	deadline = cf_mono_ms() + (int64_t)cfg->timeout_s * 1000;
	pid = child_start(cfg, path, prog, fds[1], argv, env, err);
	close(fds[1]);
	fds[1] = -1;
	if (pid == -1)
		goto done;

	/*
	 * Its output until it closes it, and its exit, until time runs out:
	 * whatever it does with its descriptors, the deadline holds.  Once it
	 * has exited, what it left holding the pipe gets a moment's grace.
	 */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		now = cf_mono_ms();
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			grace = now + 200 < deadline ? now + 200 : deadline;
		}
		if (exited && (eof || now >= grace))
			break;
		if (!exited && (now >= deadline || cancelled(cfg))) {
			timed_out = now >= deadline;
			stopped = !timed_out;
			(void)kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				continue;
			break;
		}
		if (eof) {
			(void)poll(NULL, 0, 20);
			continue;
		}
		pfd.revents = 0;
		if (poll(&pfd, 1, deadline - now < 100 ? (int)(deadline - now) :
		    100) <= 0 || pfd.revents == 0)
			continue;
		if (got < sizeof(buf))
			r = read(fds[0], buf + got, sizeof(buf) - got);
		else {
			r = read(fds[0], sink, sizeof(sink));
			cut |= r > 0;
		}
		if (r > 0 && got < sizeof(buf))
			got += (size_t)r;
		else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			eof = 1;
	}
	/* Anything it left behind in its group goes too. */
	(void)kill(-pid, SIGKILL);
	log_output(arn, step, buf, got, cut);

	if (timed_out) {
		cf_error_set(err, CF_ERR_INTERNAL, "the rotator %.256s ran out "
		    "of time (%d s) at %s: its process group was killed", path,
		    cfg->timeout_s, step);
		rc = -1;
	} else if (stopped) {
		cf_error_set(err, CF_ERR_INTERNAL, "the rotator %.256s was "
		    "stopped at %s: cofferd is shutting down", path, step);
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
	if (prog >= 0)
		close(prog);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	for (i = 0; i < ne; i++)
		free(env[i]);
	return (rc);
}
