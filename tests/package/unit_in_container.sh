#!/usr/bin/env bash
# tests/package/unit_in_container.sh DEB SRC: install the package DEB in a
# throwaway systemd container and run cofferd through its unit, hardening
# and all, the way debian/README.Debian tells an operator to (ci/test runs
# it after building the package; SRC is the source tree, for ci/mkcert).
#
# The container is this machine's own root file system, read-only, under a
# tmpfs overlay (systemd-nspawn --volatile=overlay), booted with systemd as
# its PID 1 and a private network: dpkg -i, the user it makes, the cluster
# and token set up, everything is gone when it powers off.  Nothing here
# writes to the host but a read-only bind mount of / (removed on exit,
# with rmdir, never rm -r) and nspawn's own state in /run.
#
# What it checks: the package makes the user coffer (in the group softhsm)
# and neither enables nor starts the unit; systemctl start returns once
# cofferd sent READY=1 (Type=notify; status "serving"); the process runs
# as coffer with no capabilities, no_new_privs, a seccomp filter and no
# core files; a secret round trip over mutual TLS and the audit trail
# verifying (so the token, written as SoftHSM's files, is writable through
# ProtectSystem=strict); systemctl stop drains and exits 0; purge works.
set -euo pipefail
deb=$(readlink -f "$1")
src=$(readlink -f "$2")

machine=coffer-ci-$$
root=$(mktemp -d /tmp/coffer-nsroot.XXXXXX)
nspawn_pid=
leader=

cleanup() {
	set +e
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$leader" ] && nsenter -t "$leader" -a systemctl poweroff \
		    >/dev/null 2>&1
		for _ in $(seq 60); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
		wait "$nspawn_pid" 2>/dev/null
	fi
	if mountpoint -q "$root"; then
		umount "$root" 2>/dev/null || umount -l "$root"
	fi
	rmdir "$root"
}
trap cleanup EXIT

# The host's root, read-only, as the overlay's lower layer.
mount --bind / "$root"
mount -o remount,bind,ro "$root"

# Boot it.  CAP_IPC_LOCK: nspawn otherwise filters mlock out, and cofferd
# locks its plaintext pages.
systemd-nspawn -q -D "$root" --volatile=overlay -b -M "$machine" \
    --register=no --keep-unit --private-network \
    --capability=CAP_IPC_LOCK \
    --bind-ro="$(dirname "$deb")":/deb --bind-ro="$src":/src \
    >"$root.log" 2>&1 </dev/null &
nspawn_pid=$!
for _ in $(seq 120); do
	leader=$(pgrep -P "$nspawn_pid" -x systemd | head -1 || true)
	if [ -n "$leader" ]; then
		state=$(nsenter -t "$leader" -a systemctl is-system-running \
		    2>/dev/null || true)
		case $state in running | degraded) break ;; esac
	fi
	kill -0 "$nspawn_pid" 2>/dev/null ||
	    { cat "$root.log" >&2; rm -f "$root.log"; exit 1; }
	sleep 0.5
done
rm -f "$root.log"
[ "${state:-}" = running ] || [ "${state:-}" = degraded ] ||
    { echo "unit_in_container: the container did not boot" >&2; exit 1; }

# Inside: debian/README.Debian's steps, then the checks; with a clean
# environment, not ci/test's (its SOFTHSM2_CONF, PG* and COFFER_* name the
# test cluster and token, which are not in the container).
timeout 300 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    nsenter -t "$leader" -a /bin/bash -s "$(basename "$deb")" <<'INSIDE'
set -euo pipefail
fail() { echo "unit_in_container: $*" >&2; journalctl -u cofferd --no-pager -n 40 >&2 || true; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# The package: a user, no service enabled or started.
dpkg -i "/deb/$1" >/dev/null
id -nG coffer | grep -qw softhsm || fail "coffer is not in the group softhsm"
[ "$(stat -c %U:%a /var/lib/coffer)" = coffer:750 ] || fail "/var/lib/coffer"
[ "$(systemctl is-enabled cofferd || true)" = disabled ] || fail "cofferd enabled on install"
[ "$(systemctl is-active cofferd || true)" = inactive ] || fail "cofferd started on install"

# The token, as coffer; a PIN; a PKI (ci/mkcert).
install -d -o coffer -g coffer -m 0700 /etc/coffer/private
(umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/coffer/private/pin)
chown coffer: /etc/coffer/private/pin
runuser -u coffer -- softhsm2-util --init-token --free --label coffer \
    --so-pin "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    --pin "$(cat /etc/coffer/private/pin)" >/dev/null
pki=$(mktemp -d)
(cd /src && ci/mkcert ca "$pki/ca" && ci/mkcert server "$pki/ca" "$pki/server" &&
    ci/mkcert client "$pki/ca" "$pki/admin" admin spiffe://coffer.ci/admin) >/dev/null
install -o coffer -g coffer -m 0600 "$pki/server.key" /etc/coffer/private/server.key
install -m 0644 "$pki/server.pem" /etc/coffer/server.pem
install -m 0644 "$pki/ca.pem" /etc/coffer/clients-ca.pem

# PostgreSQL: the package's cluster (made if missing), coffer as coffer_app.
[ -d /etc/postgresql/15/main ] || pg_createcluster 15 main >/dev/null
systemctl start postgresql@15-main
runuser -u postgres -- createdb coffer
echo 'coffer coffer coffer_app' >>/etc/postgresql/15/main/pg_ident.conf
sed -i '0,/^local/s//local   coffer   coffer_app   peer map=coffer\nlocal/' \
    /etc/postgresql/15/main/pg_hba.conf
systemctl reload postgresql@15-main

cat >>/etc/coffer/cofferd.conf <<CONF
listen = 127.0.0.1:50051
aws_listen = 127.0.0.1:50052
tls_cert = /etc/coffer/server.pem
tls_key = /etc/coffer/private/server.key
tls_client_ca = /etc/coffer/clients-ca.pem
admin_principal = spiffe://coffer.ci/admin
database = host=/run/postgresql dbname=coffer user=coffer_app
admin_database = host=/run/postgresql dbname=coffer user=postgres
pin_file = /etc/coffer/private/pin
token_label = coffer
CONF
out=$(runuser -u postgres -- cofferd migrate --config /etc/coffer/cofferd.conf 2>&1) ||
    fail "cofferd migrate: $out"
out=$(runuser -u coffer -- cofferd init-token --config /etc/coffer/cofferd.conf 2>&1) ||
    fail "cofferd init-token: $out"

# Type=notify: start returns once READY=1 came.
systemctl start cofferd || fail "systemctl start cofferd failed"
[ "$(systemctl show -p SubState --value cofferd)" = running ] || fail "not running"
[ "$(systemctl show -p StatusText --value cofferd)" = serving ] || fail "no STATUS=serving"
pid=$(systemctl show -p MainPID --value cofferd)
st=/proc/$pid/status
[ "$(awk '/^Uid:/ {print $2}' "$st")" = "$(id -u coffer)" ] || fail "not running as coffer"
grep -q '^CapEff:[[:space:]]*0*$' "$st" || fail "has capabilities: $(grep ^CapEff "$st")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" || fail "no_new_privs unset"
grep -q '^Seccomp:[[:space:]]*2$' "$st" || fail "no seccomp filter"
grep -q '^Max core file size *0 *0 ' "/proc/$pid/limits" || fail "core files allowed"

# A secret round trip, and the audit trail (heads written to the token).
export COFFER_ENDPOINT=127.0.0.1:50051 COFFER_CA_BUNDLE=$pki/ca.pem \
    COFFER_CERT=$pki/admin.pem COFFER_KEY=$pki/admin.key
coffer create-secret --name ci/unit --secret-string in-the-unit >/dev/null ||
    fail "create-secret"
[ "$(coffer get-secret-value --secret-id ci/unit --query SecretString --output text)" = in-the-unit ] ||
    fail "get-secret-value"
coffer audit verify >/dev/null || fail "audit verify"

# Stop: drained, exit 0, systemd told.
systemctl stop cofferd
[ "$(systemctl show -p Result --value cofferd)" = success ] || fail "stop: not success"
[ "$(systemctl show -p ExecMainStatus --value cofferd)" = 0 ] || fail "stop: exit status"
journalctl -u cofferd --no-pager | grep -q 'SIGTERM received, draining' || fail "no drain"
! journalctl -u cofferd --no-pager | grep -q 'could not notify' || fail "sd_notify failed"

dpkg --purge coffer >/dev/null 2>&1 || fail "dpkg --purge"
echo "unit_in_container: installed, served as coffer under the unit, stopped, purged"
INSIDE
