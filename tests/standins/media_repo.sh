#!/bin/sh
# STAND-IN for MMR's media_repo, import_synapse and import_dendrite: not MMR. It checks, as the user
# the container runs as, what MMR needs from its container, then serves /healthz and the few routes
# the smoke test and the transfer call (media_repo_http, one process per connection).
set -eu
me="${0##*/}"
fail() { echo "$me stand-in: $*" >&2; exit 1; }
echo "$me stand-in running as $(id -u):$(id -g)"
config="${REPO_CONFIG:?REPO_CONFIG is not set}"
# A directory, as the program sets it (config_schema/live_config.py): its one file, read anew at each request.
[ ! -d "$config" ] || config=$(find "$config" -maxdepth 1 -type f | sort | head -n 1)
cat "$config" > /dev/null || fail "cannot read $config"
for key in $(sed -n 's/^ *signingKeyPath: *//p' "$config"); do
    cat "$key" > /dev/null || fail "cannot read signing key $key"
done
case "$me" in
import_*)
    [ "$(id -u)" != 0 ] || fail "runs as root"
    password=""
    for argument; do case "$argument" in -dbPassword=?*) password=yes ;; esac; done
    [ -n "$password" ] || fail "no -dbPassword"
    : > /media/.import-probe || fail "cannot write under /media"
    rm -f /media/.import-probe
    echo "import finished"
    exit 0
    ;;
esac
# The file datastore's path, then MMR's temp dir (os.TempDir: $TMPDIR or /tmp) and S3's tempPath,
# which MMR creates with os.Mkdir: one level only (datastores/buffer.go).
for path in $(sed -n 's/^ *path: *//p' "$config"); do
    : > "$path/.standin-probe" || fail "cannot write under $path"
    rm -f "$path/.standin-probe"
done
scratch="$(mktemp -d "${TMPDIR:-/tmp}/mmr.XXXXXX")" || fail "cannot write in ${TMPDIR:-/tmp}"
rmdir "$scratch"
temp_path="$(sed -n 's/^ *tempPath: *//p' "$config" | tr -d "'\"")"
if [ -n "$temp_path" ]; then
    mkdir "$temp_path" 2> /dev/null || [ -d "$temp_path" ] || fail "os.Mkdir($temp_path) fails"
fi
# Postgres (the DSN's host:port) and Redis shards must be reachable on MMR's networks.
for address in $(sed -n 's|^  postgres: *postgres://[^@]*@\([^/?]*\).*|\1|p' "$config") \
    $(sed -n 's/^ *addr: *//p' "$config"); do
    nc -w 5 "${address%:*}" "${address##*:}" < /dev/null || fail "cannot reach $address"
done
port="$(sed -n '/^repo:/,/^[^ ]/s/^  port: *\([0-9][0-9]*\).*/\1/p' "$config")"
[ -n "$port" ] || fail "no repo.port in $config"
# Test hooks, as marker files on the scratch volume: a slow start (migrations after an upgrade) and a
# hang (MMR's process alive, its port open, nothing answered: upstream issue #470).
if [ -f /tmp/.standin-slow-start ]; then
    delay="$(cat /tmp/.standin-slow-start)"
    rm -f /tmp/.standin-slow-start
    echo "slow start: migrating for ${delay}s before listening"
    sleep "$delay"
fi
# A persistent server: -ll in busybox's small nc (Debian's), -lk in nc_bloaty (Alpine's build).
persistent=-ll
if nc --help 2>&1 | grep -q -- '-lk'; then persistent=-lk; fi
nc "$persistent" -p "$port" -e /usr/local/bin/media_repo_http &
server=$!
# MMR shuts its HTTP server down on SIGTERM.
trap 'kill "$server"; exit 0' TERM INT
echo "listening on $port"
while kill -0 "$server" 2> /dev/null; do
    if [ -f /tmp/.standin-hang ]; then
        rm -f /tmp/.standin-hang
        kill "$server"
        wait "$server" 2> /dev/null || true
        echo "hanging: the port stays open and nothing answers"
        # Accepts every connection and never replies; SIGTERM ends it (no trap once exec'd).
        exec nc "$persistent" -p "$port" -e sleep 3600
    fi
    sleep 0.5
done
