#!/bin/sh
# STAND-IN for MMR's HTTP API, one connection per run under `nc -ll -e`: not MMR. It serves /healthz, and
# what the smoke test and the transfer call, after MMR's own first checks: a configured server name in
# Host, and the shared-secret token. Media goes where the config's datastores say, as files:
# the file datastore's path when it takes local_media, else a directory standing in for the bucket.
# Test hooks, as marker files on the media volume: /media/.standin-refuse-upload fails each upload as
# MMR does when its datastore refuses the write; /media/.standin-fail-transfer fails the transfer task;
# /media/.standin-database-down (below).
cr=$(printf '\r')
config="$REPO_CONFIG"
# A directory, as the program sets it (config_schema/live_config.py): its one file, read anew at each request.
[ ! -d "$config" ] || config=$(find "$config" -maxdepth 1 -type f | sort | head -n 1)
file_store=/media/.standin-store
bucket=/tmp/.standin-bucket
tasks=/tmp/.standin-tasks

respond() {
    body=$2
    printf 'HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n%s' \
        "$1" "${3:-application/json}" "${#body}" "$body"
    exit 0
}

# A file's bytes as they are: $(cat) would drop its final newline.
respond_file() {
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\n\r\n' "$(($(wc -c < "$1")))"
    cat "$1"
    exit 0
}

read -r method target _
host="" auth="" length=0
while IFS= read -r line; do
    line=${line%"$cr"}
    [ -n "$line" ] || break
    case "$line" in
    [Hh]ost:*) host=$(echo "${line#*:}" | tr -d ' ') host=${host%%:*} ;;
    [Aa]uthorization:*) auth=${line#*: } ;;
    [Cc]ontent-[Ll]ength:*) length=$(echo "${line#*:}" | tr -d ' ') ;;
    esac
done
path=${target%%\?*}
[ "$path" != /healthz ] || respond "200 OK" "ok" text/plain

servers=$(sed -n '/^homeservers:/,/^[^ -]/s/^- name: *//p' "$config")
echo "$servers" | grep -qx "$host" || respond "404 Not Found" '{"errcode":"M_UNKNOWN","error":"Unknown host"}'
# MMR's unauthenticated download of media it has no record of: 404 while its database answers, 500 when not
# (the test hook /media/.standin-database-down stands for a database that does not answer).
case "$method $path" in
"GET /_matrix/media/v3/download/"*)
    [ ! -f /media/.standin-database-down ] ||
        respond "500 Internal Server Error" '{"errcode":"M_UNKNOWN","error":"Unexpected Error"}'
    respond "404 Not Found" '{"errcode":"M_NOT_FOUND","error":"Media not found"}'
    ;;
esac
token=$(sed -n '/^sharedSecretAuth:/,/^[^ ]/s/^  token: *//p' "$config")
[ -n "$token" ] && [ "$auth" = "Bearer $token" ] ||
    respond "401 Unauthorized" '{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}'

# The file datastore's id, and whether it takes local media, from the rendered datastores list.
file_id=$(awk '/^datastores:/ { d = 1; next } d && /^[^ -]/ { d = 0 } d && /^- id: / { id = $3 }
    d && /^  type: file/ { print id; exit }' "$config")
local_on_file=$(awk '/^datastores:/ { d = 1; next } d && /^[^ -]/ { d = 0 } d && /^- / { t = "" }
    d && /^  type: / { t = $2 } d && t == "file" && /^  - local_media/ { print "yes" }' "$config")
mkdir -p "$file_store" "$bucket" "$tasks"

count_json() {
    set -- "$1"/*
    [ -e "$1" ] || set --
    bytes=0
    for item; do bytes=$((bytes + $(wc -c < "$item"))); done
    echo "\"media_affected\":$#,\"thumbnails_affected\":0,\"total_bytes\":$bytes"
}

case "$method $path" in
"POST /_matrix/media/v3/upload")
    [ ! -f /media/.standin-refuse-upload ] ||
        respond "500 Internal Server Error" '{"errcode":"M_UNKNOWN","error":"Unexpected Error"}'
    media_id=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    store=$bucket
    [ "$local_on_file" != yes ] || store=$file_store
    head -c "$length" > "$store/$media_id"
    respond "200 OK" "{\"content_uri\":\"mxc://$host/$media_id\"}"
    ;;
"GET /_matrix/client/v1/media/download/"*)
    media_id=${path##*/}
    for store in "$file_store" "$bucket"; do
        [ ! -f "$store/$media_id" ] || respond_file "$store/$media_id"
    done
    respond "404 Not Found" '{"errcode":"M_NOT_FOUND","error":"Media not found"}'
    ;;
"POST /_matrix/media/unstable/admin/purge/"*)
    rm -f "$file_store/${path##*/}" "$bucket/${path##*/}"
    respond "200 OK" '{"purged":true}'
    ;;
"GET /_matrix/media/unstable/admin/datastores/"*/size_estimate)
    datastore=${path#/_matrix/media/unstable/admin/datastores/}
    datastore=${datastore%/size_estimate}
    store=$bucket
    [ "$datastore" != "$file_id" ] || store=$file_store
    respond "200 OK" "{$(count_json "$store")}"
    ;;
"POST /_matrix/media/unstable/admin/datastores/"*/transfer_to/*)
    task_id=$(($(ls "$tasks" | wc -l) + 1))
    echo running > "$tasks/$task_id"
    estimate=$(count_json "$file_store")
    # In the background, as MMR's task runner: detached from this connection, or nc would wait for it.
    (
        sleep 1
        for item in "$file_store"/*; do
            [ -e "$item" ] || continue
            mv "$item" "$bucket/"
            sleep 0.2
        done
        if [ -f /media/.standin-fail-transfer ]; then
            echo "error:error in locate: stand-in failed on purpose" > "$tasks/$task_id"
        else
            echo done > "$tasks/$task_id"
        fi
    ) < /dev/null > /dev/null 2>&1 &
    respond "200 OK" "{$estimate,\"task_id\":$task_id}"
    ;;
"GET /_matrix/media/unstable/admin/tasks/"*)
    task_id=${path##*/}
    [ -f "$tasks/$task_id" ] || respond "404 Not Found" '{"errcode":"M_NOT_FOUND","error":"Not found"}'
    task_state=$(cat "$tasks/$task_id")
    finished=true error=""
    case "$task_state" in
    running) finished=false ;;
    error:*) error=${task_state#error:} ;;
    esac
    respond "200 OK" "{\"task_id\":$task_id,\"task_name\":\"storage_migration\",\"is_finished\":$finished,\"error_message\":\"$error\"}"
    ;;
esac
respond "404 Not Found" '{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}'
