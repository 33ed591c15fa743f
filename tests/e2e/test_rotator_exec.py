"""End-to-end tests of how cofferd runs exec: rotators (issue 11, items 4,
5 and part of 15): the time limit holds whatever the program does with its
descriptors, and SIGTERM still stops cofferd promptly; the program runs as
rotator_user, cannot read the PIN, sees no descriptor but 0, 1 and 2 (and,
for a #! script, its own file), and is the very file that was checked;
cofferd refuses to start as root with rotator_dir but no rotator_user; the
example rotator never puts a password on a command line.

They need root (to switch users); the rotator user is "nobody", created as
"coffer-rotator" if the system has no such user.
"""
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

from tests.e2e import harness as h
from tests.e2e.harness import error_type, pb, token

FAST = {"COFFER_ROTATION_INTERVAL": "1"}


def setUpModule():
    pb()


def rotator_user():
    """An unprivileged user for exec: rotators: nobody, or one made here."""
    for name in ("nobody", "coffer-rotator"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", "coffer-rotator"], check=True)
    return "coffer-rotator"


def rotator_dirs(user):
    """(rotator_dir, state): the first root's, 0755; state/ inside it is
    the rotator user's, the one place its programs may write."""
    d = tempfile.mkdtemp(prefix="coffer-rotators-")
    os.chmod(d, 0o755)
    state = os.path.join(d, "state")
    os.mkdir(state, 0o755)
    shutil.chown(state, user)
    return d, state


def write_prog(path, text, mode=0o755):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def rotator_pids(name):
    """The processes that a rotation of secret ${name} started and that
    still run: those whose environment names its ARN in COFFER_SECRET_ID
    (rotator_exec.c sets it; children inherit it).  Not `pgrep -f` on a
    command line such as "sleep 300", which matches anyone's process of
    that name on the machine: a CI run failed on an operator's shell
    waiting with `sleep 300` beside it."""
    mark = f":secret:{name}-".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:             # gone meanwhile, or a kernel thread
            continue
        if any(e.startswith(b"COFFER_SECRET_ID=") and mark in e for e in env):
            found.append(int(pid))
    return found


class ExecCase(unittest.TestCase):
    """One server with rotator_dir, rotator_user and a 3 s time limit."""

    extra = {}
    timeout = "3"

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("switching to rotator_user needs root")
        cls.user = rotator_user()
        cls.dir, cls.state = rotator_dirs(cls.user)
        cls.db = h.fresh_database("rotexec")
        cls.server = cls.make_server()
        cls.server.start()

    @classmethod
    def make_server(cls):
        return h.Server(cls.db, extra_env={
            **FAST, "COFFER_ROTATOR_DIR": cls.dir, "COFFER_ROTATOR_USER": cls.user,
            "COFFER_ROTATOR_TIMEOUT": cls.timeout, **cls.extra})

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.server.stop(timeout=30)
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"cofferd exited {rc}:\n{cls.server.output()}")

    def call(self, op, **fields):
        sm, _ = pb()
        return self.server.call(op, getattr(sm, op + "Request")(**fields))[0]

    def rotate(self, prog, name=None):
        name = name or f"{self._testMethodName}-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="before",
                  client_request_token=token())
        self.call("RotateSecret", secret_id=name, client_request_token=token(),
                  rotation_lambda_arn="exec:" + prog)
        return name

    def row(self, name, col):
        return h.psql(h.admin(self.db), f"SELECT {col} FROM secrets WHERE name = '{name}'")

    def until(self, pred, what, timeout=30):
        h.until(pred, what, timeout)

    def failed_step(self, name, timeout=30):
        """Wait for the first failed attempt; its rotation_error."""
        self.until(lambda: self.row(name, "rotation_attempts") not in ("", "0"),
                   "the step never ended", timeout)
        return self.row(name, "rotation_error")


class TimeLimitTest(ExecCase):
    """Item 4: a program that closes its output and hangs is killed, with
    its process group, at rotator_timeout; the step fails saying so."""

    def test_closed_output_then_hang(self):
        prog = write_prog(os.path.join(self.dir, "closes-and-hangs"),
                          "#!/bin/bash\nexec >&- 2>&-\nsleep 301\n")
        name = self.rotate(prog)
        t0 = time.time()
        err = self.failed_step(name)
        self.assertIn("ran out of time (3 s) at createSecret", err)
        self.assertLess(time.time() - t0, 20)
        time.sleep(0.5)
        self.assertEqual(rotator_pids(name), [], "the rotator was left running")

    def test_child_holds_output_then_lets_go(self):
        # A child keeps the pipe open for a second, then closes it; the
        # program itself closed its own and hangs.
        prog = write_prog(os.path.join(self.dir, "child-holds"),
                          "#!/bin/bash\n(sleep 1; exec sleep 302 >&- 2>&-) &\n"
                          "exec >&- 2>&-\nsleep 303\n")
        name = self.rotate(prog)
        err = self.failed_step(name)
        self.assertIn("ran out of time", err)
        time.sleep(0.5)
        self.assertEqual(rotator_pids(name), [], "its process group was left running")

    def test_child_holds_output(self):
        # The program waits on a child that keeps the pipe open.
        prog = write_prog(os.path.join(self.dir, "child-waits"),
                          "#!/bin/bash\nsleep 304 &\nexec >&- 2>&-\nwait\n")
        name = self.rotate(prog)
        self.assertIn("ran out of time", self.failed_step(name))
        time.sleep(0.5)
        self.assertEqual(rotator_pids(name), [], "its process group was left running")


class SigtermTest(ExecCase):
    """Item 4: SIGTERM while a program hangs with its output closed stops
    cofferd at once (the program is killed), not when its minute is up,
    nor never."""

    timeout = "60"

    def test_sigterm_during_a_hung_step(self):
        prog = write_prog(os.path.join(self.dir, "hangs"),
                          "#!/bin/bash\nexec >&- 2>&-\nexec sleep 305\n")
        name = self.rotate(prog)
        self.until(lambda: rotator_pids(name) != [], "the rotator never ran")
        t0 = time.time()
        srv = self.server
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
            for pid in rotator_pids(name):      # the orphaned rotator
                os.kill(pid, signal.SIGKILL)
            self.fail("cofferd did not stop within 20 s of SIGTERM")
        self.assertEqual(rc, 0, srv.output())
        self.assertLess(time.time() - t0, 10)
        self.assertEqual(rotator_pids(name), [])
        self.assertIn("cofferd is shutting down", srv.output())


class IdentityTest(ExecCase):
    """Item 5: the program runs as rotator_user in rotator_group with no
    other groups, cannot read the PIN file, and inherits no descriptor,
    not even one cofferd itself inherited."""

    extra = {"COFFER_ROTATOR_GROUP": "daemon"}

    @classmethod
    def make_server(cls):
        # cofferd inherits an open descriptor, as a careless parent may
        # hand it one; it must not reach the rotator.
        cls.leak = open(os.path.join(cls.dir, "inherited"), "w")
        server = super().make_server()
        fd = cls.leak.fileno()
        os.set_inheritable(fd, True)
        start = server.start

        def start_with_fd(wait=True):
            popen = subprocess.Popen
            subprocess.Popen = lambda *a, **k: popen(*a, pass_fds=(fd,), **k)
            try:
                return start(wait)
            finally:
                subprocess.Popen = popen
        server.start = start_with_fd
        return server

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pin = h.env("COFFER_TEST_PIN_FILE")
        cls.probe = write_prog(os.path.join(cls.dir, "probe"), f"""#!/bin/bash
s={cls.state}
id -u >$s/uid
id -g >$s/gid
id -G >$s/groups
if cat {pin} >/dev/null 2>&1; then echo readable; else echo unreadable; fi >$s/pin
find /proc/$$/fd -mindepth 1 -printf '%f %l\\n' >$s/fds
grep -E '^Sig(Blk|Ign):' /proc/$$/status >$s/signals
grep -E '^(Cap(Inh|Prm|Eff|Amb)|NoNewPrivs):' /proc/$$/status >$s/caps
echo done >$s/done
exit 3
""")
        cls.name = f"identity-{token()[:8]}"
        cls.call(cls, "CreateSecret", name=cls.name, secret_string="before",
                 client_request_token=token())
        cls.call(cls, "RotateSecret", secret_id=cls.name, client_request_token=token(),
                 rotation_lambda_arn="exec:" + cls.probe)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(cls.state, "done")) and time.time() < deadline:
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.leak.close()
        super().tearDownClass()

    def read(self, what):
        with open(os.path.join(self.state, what)) as f:
            return f.read().strip()

    def test_runs_as_rotator_user(self):
        self.assertEqual(int(self.read("uid")), pwd.getpwnam(self.user).pw_uid)

    def test_runs_in_rotator_group_only(self):
        gid = grp.getgrnam("daemon").gr_gid
        self.assertEqual(int(self.read("gid")), gid)
        self.assertEqual(self.read("groups").split(), [str(gid)])

    def test_cannot_read_the_pin_file(self):
        self.assertEqual(self.read("pin"), "unreadable")

    def test_signals_as_a_fresh_process(self):
        # cofferd blocks SIGTERM and SIGINT for sigwait: not the rotator.
        sig = dict(line.split(":") for line in self.read("signals").splitlines())
        # (bash itself blocks SIGCHLD while it forks the grep)
        blocked = int(sig["SigBlk"], 16)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self.assertFalse(blocked & (1 << (signum - 1)), signum)

    def test_no_capabilities_and_no_new_privileges(self):
        # No capability in any set, and none to gain from a set-user-ID
        # program (rotator_exec.c drop_caps).
        caps = dict((k, v.strip()) for k, v in
                    (line.split(":") for line in self.read("caps").splitlines()))
        for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(caps[k], 16), 0, caps)
        self.assertEqual(caps["NoNewPrivs"], "1", caps)

    def test_only_standard_descriptors(self):
        fds = dict(line.split(" ", 1) for line in self.read("fds").splitlines())
        self.assertEqual(fds.get("0"), "/dev/null")
        self.assertTrue(fds.get("1", "").startswith("pipe:"), fds)
        self.assertEqual(fds.get("1"), fds.get("2"))
        # Beyond those, only the script itself (the kernel hands bash
        # /dev/fd/3, and bash keeps its own copy).
        other = {fd: t for fd, t in fds.items()
                 if fd not in ("0", "1", "2") and t != self.probe}
        self.assertEqual(other, {}, "descriptors leaked into the rotator")


class CheckTest(ExecCase):
    """Item 5: a program, or its directory, that others could rewrite is
    refused, by RotateSecret and at each step."""

    def refused(self, prog, why):
        name = f"chk-{token()[:8]}"
        self.call("CreateSecret", name=name, secret_string="x",
                  client_request_token=token())
        with self.assertRaises(grpc.RpcError) as cm:
            self.call("RotateSecret", secret_id=name, client_request_token=token(),
                      rotation_lambda_arn="exec:" + prog)
        self.assertEqual(error_type(cm.exception), "InvalidParameterException")
        self.assertIn(why, cm.exception.details())

    def test_group_or_world_writable_program(self):
        for mode in (0o775, 0o757):
            with self.subTest(mode=oct(mode)):
                prog = write_prog(os.path.join(self.dir, f"writable-{mode:o}"),
                                  "#!/bin/sh\nexit 0\n", mode)
                os.chmod(prog, mode)
                self.refused(prog, "writable by its group or by others")

    def test_program_in_a_writable_directory(self):
        for mode in (0o775, 0o777, 0o1777):
            with self.subTest(mode=oct(mode)):
                sub = os.path.join(self.dir, f"sub-{mode:o}")
                os.mkdir(sub)
                os.chmod(sub, mode)
                prog = write_prog(os.path.join(sub, "prog"), "#!/bin/sh\nexit 0\n")
                self.refused(prog, "in a directory writable by its group or by others")

    def test_program_owned_by_another_user(self):
        prog = write_prog(os.path.join(self.dir, "not-ours"), "#!/bin/sh\nexit 0\n")
        shutil.chown(prog, self.user)
        self.refused(prog, "not owned by root or by cofferd's user")

    def test_made_writable_after_rotate_secret(self):
        # Accepted and run once (it fails on purpose), then opened to
        # others: the retry refuses it without running it.
        prog = write_prog(os.path.join(self.dir, "opened-later"),
                          f"#!/bin/bash\necho ran >>{self.state}/later-ran\nexit 3\n")
        name = self.rotate(prog)
        self.assertIn("exit 3", self.failed_step(name))
        os.chmod(prog, 0o777)
        h.psql(h.admin(self.db), "UPDATE secrets SET rotation_retry_at = now() "
                                 f"WHERE name = '{name}'")
        self.until(lambda: "writable by its group or by others" in
                   self.row(name, "rotation_error"),
                   "the step did not refuse the program")
        with open(os.path.join(self.state, "later-ran")) as f:
            self.assertEqual(f.read().split(), ["ran"])


class SwapTest(ExecCase):
    """Item 5: the file executed is the file checked.  While rotator_dir's
    program is swapped, as fast as can be, between a link to a good
    program inside and a link to an evil one outside, every step either
    runs the good one or is refused; the evil one never runs."""

    def test_swapped_path_never_runs_another_file(self):
        outside = tempfile.mkdtemp(prefix="coffer-outside-")
        os.chmod(outside, 0o755)
        evil = write_prog(os.path.join(outside, "evil"),
                          f"#!/bin/bash\necho ran >>{self.state}/evil-ran\nexit 3\n")
        good = write_prog(os.path.join(self.dir, "good"),
                          f"#!/bin/bash\necho ran >>{self.state}/good-ran\nexit 3\n")
        prog = os.path.join(self.dir, "swapped")
        os.symlink(good, prog)
        names = [self.rotate(prog, f"swap-{i}-{token()[:8]}") for i in range(6)]
        swapper = subprocess.Popen([sys.executable, "-c", f"""
import os, time
p, t, good, evil = {prog!r}, {prog + '.tmp'!r}, {good!r}, {evil!r}
end = time.time() + 90
while time.time() < end:
    for target in (evil, good):
        os.symlink(target, t)
        os.rename(t, p)
"""])
        try:
            deadline = time.time() + 60
            attempts = 0
            while time.time() < deadline and attempts < 60:
                time.sleep(0.5)
                h.psql(h.admin(self.db), "UPDATE secrets SET rotation_retry_at = now() "
                                         "WHERE name LIKE 'swap-%'")
                attempts = sum(int(self.row(n, "rotation_attempts") or 0) for n in names)
        finally:
            swapper.kill()
            swapper.wait()
            shutil.rmtree(outside, ignore_errors=True)
        self.assertGreaterEqual(attempts, 20, "too few steps ran to tell")
        self.assertFalse(os.path.exists(os.path.join(self.state, "evil-ran")),
                         "a program other than the checked one ran")
        self.assertTrue(os.path.exists(os.path.join(self.state, "good-ran")))


class FullRotationTest(ExecCase):
    """The example rotator, as rotator_user over mutual TLS with the
    rotator's own certificate, completes; no password or value ever
    appears on a command line (item 15): coffer is wrapped to record every
    argv it gets."""

    @classmethod
    def make_server(cls):
        cls.tls = h.Certs()
        os.chmod(cls.tls.dir, 0o711)
        cert, key = cls.tls.client("rotator", h.ADMIN)
        # The operator's part: the rotator's files readable by rotator_user.
        for f in (cert, key):
            shutil.chown(f, cls.user)
        os.chmod(cls.tls.ca + ".pem", 0o644)
        wrapper = write_prog(os.path.join(cls.dir, "coffer-wrapper"), f"""#!/bin/bash
printf '%s\\n' "$*" >>{cls.state}/argv
exec {os.path.join(h.BUILD, "coffer")} "$@"
""")
        with open(os.path.join(h.ROOT, "tests/e2e/rotators/shell-rotator.in")) as f:
            text = f.read().replace("@COFFER@", wrapper)
        cls.prog = write_prog(os.path.join(cls.dir, "shell-rotator"), text)
        return h.Server(cls.db, tls=cls.tls, extra_env={
            **FAST, "COFFER_ROTATOR_DIR": cls.dir, "COFFER_ROTATOR_USER": cls.user,
            "COFFER_ROTATOR_TIMEOUT": "30", "COFFER_ROTATOR_CA_BUNDLE": cls.tls.ca + ".pem",
            "COFFER_ROTATOR_CERT": cert, "COFFER_ROTATOR_KEY": key})

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tls.destroy()

    def test_rotation_as_rotator_user_over_mtls(self):
        name = self.rotate(self.prog)
        self.until(lambda: self.row(name, "rotation_token") == "" and
                   self.call("GetSecretValue", secret_id=name).secret_string != "before",
                   "the rotation never finished", 60)
        value = self.call("GetSecretValue", secret_id=name).secret_string
        self.assertTrue(value.startswith("exec-"))
        with open(os.path.join(self.state, "last-env")) as f:
            self.assertIn("COFFER_ENDPOINT=127.0.0.1:", f.read())
        with open(os.path.join(self.state, "argv")) as f:
            argv = f.read()
        self.assertIn("put-secret-value", argv)
        # (assertFalse: the password itself stays out of the test's log)
        self.assertFalse(value[len("exec-"):] in argv, "a password went on a command line")


class StartupTest(unittest.TestCase):
    """Item 5: cofferd as root with rotator_dir but without a usable
    rotator_user does not start, and says why."""

    def start_fails(self, extra, want):
        db = h.fresh_database("rotstart")
        d = tempfile.mkdtemp(prefix="coffer-rotators-")
        try:
            s = h.Server(db, extra_env={"COFFER_ROTATOR_DIR": d, **extra})
            s.start(wait=False)
            try:
                rc = s.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                s.stop(sig=signal.SIGKILL)
                self.fail("cofferd started")
            self.assertNotEqual(rc, 0)
            self.assertIn(want, s.output())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_refuses_root_without_rotator_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        self.start_fails({}, "rotator_dir is set but rotator_user is not")

    def test_refuses_root_as_rotator_user(self):
        self.start_fails({"COFFER_ROTATOR_USER": "root"},
                         "must be an unprivileged user other than cofferd's")

    def test_refuses_unknown_rotator_user(self):
        self.start_fails({"COFFER_ROTATOR_USER": "no-such-user-coffer"}, "is not a user")

    def test_refuses_group_root(self):
        self.start_fails({"COFFER_ROTATOR_USER": rotator_user(),
                          "COFFER_ROTATOR_GROUP": "root"},
                         "may not run in group root nor in cofferd's group")

    def test_refuses_unknown_rotator_group(self):
        self.start_fails({"COFFER_ROTATOR_USER": rotator_user(),
                          "COFFER_ROTATOR_GROUP": "no-such-group-coffer"},
                         "is not a group")


if __name__ == "__main__":
    unittest.main()
