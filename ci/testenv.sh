# ci/testenv.sh: start a throwaway PostgreSQL cluster and SoftHSM token.
#
# Source it, then call testenv_up DIR; testenv_down tears everything down.
# It exports the environment the integration and end-to-end tests read:
#   COFFER_TEST_PG         libpq conninfo of an empty database "coffer"
#   COFFER_TEST_PG_ADMIN   conninfo of the "postgres" database (superuser)
#   COFFER_TEST_PGHOST/PORT  the socket directory and port
#   SOFTHSM2_CONF          a SoftHSM config whose token directory is in DIR
#   COFFER_TEST_MODULE     the PKCS#11 module (libsofthsm2.so)
#   COFFER_TEST_TOKEN      the token label ("coffer-test")
#   COFFER_TEST_PIN_FILE   the user PIN, in a file of mode 0600
#   COFFER_TEST_SO_PIN     the security officer PIN (tests only)
# The cluster runs with fsync off (tests need no durability across a
# crash of the machine) unless COFFER_TESTENV_FSYNC=on (bench/run);
# COFFER_TESTENV_PG_OPTIONS adds server options ("-c name=value ...").
# initdb refuses to run as root, so the cluster belongs to "postgres".

testenv_pgbin() {
	local d
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	echo "testenv: no initdb found (apt-get install postgresql-15)" >&2
	return 1
}

testenv_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

testenv_up() {
	local dir=$1 pgbin port tries=0
	pgbin=$(testenv_pgbin) || return 1
	mkdir -p "$dir/pg" "$dir/sock" "$dir/log" "$dir/softhsm/tokens"
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg" "$dir/sock" "$dir/log"

	# PostgreSQL: trust auth on a private socket and loopback only.
	testenv_as_pg "$pgbin/initdb" -D "$dir/pg" -A trust -U postgres \
	    --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2; return 1; }
	while :; do
		port=$((20000 + RANDOM % 20000))
		if testenv_as_pg "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/log/pg.log" -w \
		    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=${COFFER_TESTENV_FSYNC:-off} -c max_connections=200 ${COFFER_TESTENV_PG_OPTIONS:-}" \
		    start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		[ $tries -ge 5 ] && { cat "$dir/log/pg.log" >&2; return 1; }
	done
	export COFFER_TEST_PGHOST=$dir/sock COFFER_TEST_PGPORT=$port
	export COFFER_TEST_PG_ADMIN="host=$dir/sock port=$port user=postgres dbname=postgres"
	export COFFER_TEST_PG="host=$dir/sock port=$port user=postgres dbname=coffer"
	testenv_as_pg "$pgbin/createdb" -h "$dir/sock" -p "$port" -U postgres coffer

	# SoftHSM: a fresh token with random PINs.
	cat >"$dir/softhsm/softhsm2.conf" <<CONF
directories.tokendir = $dir/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	export SOFTHSM2_CONF=$dir/softhsm/softhsm2.conf
	export COFFER_TEST_MODULE=${COFFER_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
	export COFFER_TEST_TOKEN=coffer-test
	export COFFER_TEST_SO_PIN=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	(umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/softhsm/pin")
	export COFFER_TEST_PIN_FILE=$dir/softhsm/pin
	softhsm2-util --init-token --free --label "$COFFER_TEST_TOKEN" \
	    --so-pin "$COFFER_TEST_SO_PIN" --pin "$(cat "$COFFER_TEST_PIN_FILE")" \
	    >/dev/null || return 1
	export COFFER_TESTENV_DIR=$dir
}

testenv_down() {
	local dir=${COFFER_TESTENV_DIR:-} pgbin
	[ -n "$dir" ] || return 0
	pgbin=$(testenv_pgbin) || return 0
	[ -f "$dir/pg/postmaster.pid" ] &&
	    testenv_as_pg "$pgbin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1
	rm -rf "$dir"
	unset COFFER_TESTENV_DIR
}
