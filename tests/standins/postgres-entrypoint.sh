#!/bin/sh
# STAND-IN for docker-library/postgres's docker-entrypoint.sh, around Debian's real PostgreSQL server:
# the same variables (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA), initdb on an empty
# data directory, a drop from root to the postgres user, password auth over TCP. Not the official script.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown 70:70 "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec su-exec 70:70 "$0" "$@"
fi
password="$(cat "$POSTGRES_PASSWORD_FILE")"
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    printf '%s' "$password" > /tmp/pwfile
    initdb --username="$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    rm -f /tmp/pwfile
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$database" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres -c "CREATE DATABASE \"$database\""
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop
fi
[ "${1:-postgres}" = postgres ] || exec "$@"
[ $# -gt 0 ] && shift
# The official image declares STOPSIGNAL SIGINT (a fast shutdown); `docker import` cannot set it, so
# SIGTERM is turned into the same fast shutdown here.
postgres -c listen_addresses='*' "$@" &
server=$!
trap 'kill -INT "$server"' TERM INT
wait "$server" || wait "$server"
