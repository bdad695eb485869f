#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's postgresql package.
#
#   scripts/pg.sh --dir DIR [--port N]   initdb (once) and start; prints the base URL
#   scripts/pg.sh --stop --dir DIR       stop it (nothing to do when it is not running)
#
# Both are idempotent: starting a running server prints its URL again. The cluster lives in
# DIR/data, its Unix socket in DIR, its log in DIR/postgres.log; it listens on 127.0.0.1 only,
# trusts every local connection and runs without fsync: test data, not data to keep.
# PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system
# user (created when missing) and DIR is handed to it.
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

dir="" port="" stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port needs a value"; port=$2; shift 2 ;;
    --stop) stop=1; shift ;;
    *) die "usage: pg.sh --dir DIR [--port N] | --stop --dir DIR" ;;
  esac
done
[ -n "$dir" ] || die "usage: pg.sh --dir DIR [--port N] | --stop --dir DIR"
[ -z "$port" ] || [[ "$port" =~ ^[0-9]+$ && "$port" -gt 0 && "$port" -lt 65536 ]] || die "bad port: $port"

# the newest installed server; PD_PG_BINDIR picks another
bindir=${PD_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bindir/pg_ctl" ] || die "no PostgreSQL server found (install Debian's postgresql package)"

as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /usr/sbin/nologin postgres || die "cannot create the postgres user"
  fi
  as_pg() { runuser -u postgres -- "$@"; }
fi

if [ "$stop" = 1 ]; then
  [ -d "$dir" ] || exit 0
else
  mkdir -p "$dir"
fi
dir=$(cd "$dir" && pwd)  # the socket directory must be absolute
data=$dir/data
cd "$dir"  # the server's user may not be allowed into the caller's working directory

running() { [ -f "$data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

if [ "$stop" = 1 ]; then
  running || exit 0
  as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null || die "server in $dir did not stop"
  exit 0
fi

[ "$(id -u)" != 0 ] || chown postgres: "$dir"
as_pg test -w "$dir" || die "$dir is not writable by $(as_pg id -un) (a parent directory may be closed to it)"

url() { echo "postgresql://postgres@127.0.0.1:$1/postgres"; }

if running; then
  cur=$(sed -n 4p "$data/postmaster.pid")  # the pid file's fourth line is the port
  [ -z "$port" ] || [ "$port" = "$cur" ] || die "already running in $dir on port $cur, not $port"
  url "$cur"
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  # -A trust: local socket and loopback logins need no password; --no-sync: test data
  as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
    || { tail -20 "$dir/initdb.log" >&2; die "initdb failed (log: $dir/initdb.log)"; }
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

# Without --port a random free one; a port taken between the check and the bind makes the
# server exit at once, so a few are tried.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}
tries=1
[ -n "$port" ] || tries=5
for attempt in $(seq "$tries"); do
  p=${port:-$(free_port)}
  rm -f "$dir/postgres.log"  # the log of this attempt only: it is read below
  if as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "-p $p" -w -t 30 start >/dev/null; then
    # pg_ctl waited for the postmaster; this checks that clients really get in, on both ways
    for host in "$dir" 127.0.0.1; do
      pg_isready -q -t 10 -h "$host" -p "$p" \
        || die "server in $dir started but refuses connections on $host (log: $dir/postgres.log)"
    done
    url "$p"
    exit 0
  fi
  grep -q 'Address already in use' "$dir/postgres.log" && [ "$attempt" -lt "$tries" ] && continue
  tail -20 "$dir/postgres.log" >&2
  die "server in $dir did not start (log: $dir/postgres.log)"
done
