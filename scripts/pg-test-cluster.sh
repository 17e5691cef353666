#!/usr/bin/env bash
# pg-test-cluster.sh start|stop|env — a throwaway PostgreSQL cluster for the
# pgstore tests, on a free loopback port, owned by the postgres user (initdb
# refuses to run as root).
#
#   start  create and start the cluster (installs postgresql and
#          postgresql-contrib with apt-get when pg_ctl is missing), create
#          the database jitdesk_test with pg_trgm, print the DSN line
#   env    print `export JITDESK_TEST_POSTGRES=…` for the running cluster
#   stop   stop the cluster and remove its files
#
# The cluster lives in $PG_TEST_DIR (default /tmp/jitdesk-pg-test). Trust
# authentication on 127.0.0.1 only: it is for tests, never for data.
#
# Typical use:
#   eval "$(scripts/pg-test-cluster.sh start)"
#   go test -race ./pgstore/ ./storetest/
#   scripts/pg-test-cluster.sh stop
set -euo pipefail

D=${PG_TEST_DIR:-/tmp/jitdesk-pg-test}
DB=jitdesk_test

pgbin() {
	local ctl
	ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1 || true)
	if [ -z "$ctl" ]; then
		echo "pg_ctl not found: installing postgresql postgresql-contrib" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib >&2; }
		ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)
	fi
	dirname "$ctl"
}

# as_postgres runs a command as the postgres user (directly when we are it).
as_postgres() {
	if [ "$(id -un)" = postgres ]; then
		"$@"
	else
		runuser -u postgres -- "$@"
	fi
}

free_port() {
	# Ask the kernel for a free port: bind to port 0 and read what it chose.
	python3 - <<'EOF' 2>/dev/null ||
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
		{
			# No python3: probe a bounded range for a port nobody listens on.
			for p in $(seq 55432 55532); do
				if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
					echo "$p"
					return 0
				fi
			done
			echo "no free port in 55432-55532" >&2
			return 1
		}
}

dsn() {
	echo "postgres://postgres@127.0.0.1:$(cat "$D/port")/$DB?sslmode=disable"
}

start() {
	if [ -f "$D/port" ] && as_postgres "$PGBIN/pg_ctl" -D "$D/data" status >/dev/null 2>&1; then
		echo "export JITDESK_TEST_POSTGRES='$(dsn)'"
		return 0
	fi
	rm -rf "$D"
	mkdir -p "$D"
	chown postgres:postgres "$D" 2>/dev/null || true
	chmod 0700 "$D"
	local port
	port=$(free_port)
	echo "$port" >"$D/port"
	as_postgres "$PGBIN/initdb" -D "$D/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$D/initdb.log" 2>&1 ||
		{ cat "$D/initdb.log" >&2; exit 1; }
	as_postgres "$PGBIN/pg_ctl" -D "$D/data" -l "$D/log" -w \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $D -c max_connections=300" \
		start >&2 || { cat "$D/log" >&2; exit 1; }
	"$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE $DB" >&2
	"$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$DB" -v ON_ERROR_STOP=1 \
		-c "CREATE EXTENSION IF NOT EXISTS pg_trgm" >&2
	echo "export JITDESK_TEST_POSTGRES='$(dsn)'"
}

stop() {
	if [ -d "$D/data" ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$D/data" -m fast -w stop >&2 || true
	fi
	rm -rf "$D"
}

case "${1:-}" in
start)
	PGBIN=$(pgbin)
	start
	;;
env)
	[ -f "$D/port" ] || { echo "no test cluster in $D; run $0 start" >&2; exit 1; }
	echo "export JITDESK_TEST_POSTGRES='$(dsn)'"
	;;
stop)
	PGBIN=$(pgbin)
	stop
	;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
