#!/bin/sh
# mmr-admin: the deploy-time smoke test and the file-to-S3 transfer, run in MMR's own image (busybox ash).
#
#   mmr-admin smoke TOKEN_FILE HOST PORT SERVER...
#   mmr-admin transfer TOKEN_FILE HOST PORT SERVER SOURCE_ID TARGET_ID
#
# HTTP/1.0 over busybox nc: busybox wget hides the body of an error answer, and the point is to show MMR's.
# nc reads the request from a FIFO whose write end stays open until MMR has answered: on EOF both of
# busybox's nc builds half-close the socket (nc_bloaty.c readwrite, shutdown(SHUT_WR)), and Go's server
# then cancels the request's context (net/http connReader.handleReadError), which MMR's handlers use
# (api/_routers/98-use-rcontext.go line 46 at 84bcb70): an upload or a query would be cut short.
# The answer is complete when its Content-Length is in, which MMR always sends (same file, lines
# 229-256); Alpine's nc (nc_bloaty, NC_110_COMPAT) would otherwise wait on its open stdin.
# The token is read from a file and written by printf, a shell builtin: it is in no process's arguments.
set -eu

fail() {
    echo "mmr-admin: $*" >&2
    exit 1
}

[ $# -ge 4 ] || fail "usage: mmr-admin smoke|transfer TOKEN_FILE HOST PORT ..."
mode=$1 token_file=$2 mmr_host=$3 mmr_port=$4
shift 4
token=$(cat "$token_file") || fail "cannot read the token file $token_file"
[ -n "$token" ] || fail "the token file $token_file is empty"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Seconds nc waits to connect, and for an idle answer: MMR estimates a datastore's size before it answers.
NET_TIMEOUT=${MMR_ADMIN_NET_TIMEOUT:-120}
# Far in the future: every piece of media, whenever it was last read (MMR selects by last access).
BEFORE_TS=32503680000000

# request METHOD PATH SERVER [BODY_FILE CONTENT_TYPE]: sets $status, leaves the body in $work/body.
# Retries what is worth retrying: a GET without an answer, MMR's rate limit, 503.
request() {
    method=$1 path=$2 server=$3 body_file=${4:-} content_type=${5:-text/plain}
    attempt=1
    while :; do
        rm -f "$work/in" "$work/response"
        mkfifo "$work/in"
        # timeout: a hung MMR must not hang `pulumi up`. -w is the small nc's connect timeout, and in
        # nc_bloaty also an idle limit (twice it, with stdin open): never shorter than MMR's slowest answer.
        timeout "$NET_TIMEOUT" nc -w "$NET_TIMEOUT" "$mmr_host" "$mmr_port" < "$work/in" > "$work/response" \
            2> "$work/nc.err" &
        client=$!
        exec 3> "$work/in"
        # In a subshell: when nc could not connect, the write ends in SIGPIPE, which must not end this shell.
        (
            printf '%s %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n' "$method" "$path" "$server" "$token"
            if [ -n "$body_file" ]; then
                printf 'Content-Type: %s\r\nContent-Length: %s\r\n\r\n' "$content_type" "$(($(wc -c < "$body_file")))"
                cat "$body_file"
            else
                printf 'Content-Length: 0\r\n\r\n'
            fi
        ) >&3 2> /dev/null || true
        while kill -0 "$client" 2> /dev/null; do
            if answer_complete; then
                kill "$client" 2> /dev/null || true
                break
            fi
            sleep 0.1
        done
        wait "$client" 2> /dev/null || true
        exec 3>&-
        split_response
        # A POST without an answer is not sent again: MMR may have acted on it (a second transfer task over
        # the same media). nc_bloaty does not say whether it connected, so MMR is first waited for (wait_for_mmr).
        if [ -z "$status" ] && [ "$method" = POST ]; then
            fail "no answer from $mmr_host:$mmr_port to $method $path within ${NET_TIMEOUT}s; not sent again"
        fi
        case "$status" in
        '' | 429 | 503)
            if [ "$attempt" -ge 6 ]; then
                [ -n "$status" ] || fail "no answer from $mmr_host:$mmr_port to $method $path: $(cat "$work/nc.err")"
                answer_failed
            fi
            attempt=$((attempt + 1))
            sleep $((attempt * ${MMR_ADMIN_RETRY_SECONDS:-2}))
            ;;
        *) return 0 ;;
        esac
    done
}

# Whether $work/response holds the headers and as many body bytes as Content-Length says.
answer_complete() {
    header_lines=$(awk '{ sub(/\r$/, "") } $0 == "" { print NR; exit }' "$work/response")
    [ -n "$header_lines" ] || return 1
    expected=$(head -n "$header_lines" "$work/response" | tr -d '\r' |
        sed -n 's/^[Cc]ontent-[Ll]ength: *\([0-9][0-9]*\)$/\1/p')
    [ -n "$expected" ] || return 1
    have=$(($(wc -c < "$work/response") - $(head -n "$header_lines" "$work/response" | wc -c)))
    [ "$have" -ge "$expected" ]
}

# The status code, the headers and the body of $work/response (HTTP/1.0: the body ends where the connection did).
split_response() {
    status=$(sed -n '1s|^HTTP/[0-9.]* \([0-9][0-9][0-9]\).*|\1|p' "$work/response")
    : > "$work/headers"
    : > "$work/body"
    [ -n "$status" ] || return 0
    header_lines=$(awk '{ sub(/\r$/, "") } $0 == "" { print NR; exit }' "$work/response")
    [ -n "$header_lines" ] || return 0
    head -n "$header_lines" "$work/response" | tr -d '\r' > "$work/headers"
    header_bytes=$(($(head -n "$header_lines" "$work/response" | wc -c)))
    tail -c +$((header_bytes + 1)) "$work/response" > "$work/body"
}

answer_failed() {
    fail "MMR answered $method $path for $server with HTTP $status: $(head -c 1000 "$work/body")"
}

expect_ok() {
    [ "$status" = 200 ] || answer_failed
}

# json_string KEY / json_number KEY: a top-level field of MMR's compact JSON answer in $work/body.
json_string() {
    sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$work/body" | head -n 1
}
json_number() {
    sed -n "s/.*\"$1\":\\([0-9-][0-9]*\\).*/\\1/p" "$work/body" | head -n 1
}

smoke_one() {
    server=$1
    payload="$work/payload"
    printf 'mmr smoke test for %s at %s, %s\n' "$server" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$payload"
    # MMR refuses bodies under uploads.minBytes, 100 by default, with HTTP 500 M_MEDIA_TOO_SMALL
    # (api/r0/upload_sync.go; seen on the real v1.3.8 binary): the line above is 89 bytes for example.org.
    # 256 bytes in all clears that default and stays far below any upload limit.
    padding=$((256 - $(wc -c < "$payload")))
    [ "$padding" -le 0 ] || head -c "$padding" /dev/zero | tr '\0' '.' >> "$payload"
    sent=$(sha256sum < "$payload" | cut -d ' ' -f 1)
    # api/routes.go line 35 at 84bcb70: the upload, as any client makes it.
    request POST "/_matrix/media/v3/upload?filename=mmr-smoke-test.txt" "$server" "$payload" text/plain
    expect_ok
    uri=$(json_string content_uri)
    case "$uri" in
    "mxc://$server/"?*) media_id=${uri#"mxc://$server/"} ;;
    *) fail "MMR stored the smoke upload for $server as '$uri', not as mxc://$server/<id>: $(cat "$work/body")" ;;
    esac
    # Lines 52-53: the authenticated client download, with the Host header set to the server name.
    request GET "/_matrix/client/v1/media/download/$server/$media_id" "$server"
    returned=""
    case "$status" in
    200) returned=$(sha256sum < "$work/body" | cut -d ' ' -f 1) ;;
    301 | 302 | 307 | 308)
        # s3.publicBaseUrl with redirectWhenCached: the bytes come from the bucket's public address.
        location=$(sed -n 's/^[Ll]ocation: *//p' "$work/headers")
        if wget -q -O "$work/redirected" "$location"; then
            returned=$(sha256sum < "$work/redirected" | cut -d ' ' -f 1)
        else
            purge_quietly
            fail "MMR sent the download for $server to $location, which this container could not fetch"
        fi
        ;;
    *)
        download_status=$status
        cp "$work/body" "$work/download-body"
        purge_quietly
        status=$download_status
        cp "$work/download-body" "$work/body"
        answer_failed
        ;;
    esac
    if [ "$returned" != "$sent" ]; then
        purge_quietly
        fail "MMR returned other bytes for mxc://$server/$media_id than were uploaded (sha256 $returned, not $sent)"
    fi
    # Lines 61 and 84-86: the admin purge of one record; it answers {"purged":true}.
    request POST "/_matrix/media/unstable/admin/purge/$server/$media_id" "$server"
    expect_ok
    grep -q '"purged":true' "$work/body" || fail "MMR did not purge mxc://$server/$media_id: $(cat "$work/body")"
    echo "smoke test passed for $server: uploaded, downloaded (sha256 $sent) and purged mxc://$server/$media_id"
}

# In a subshell: a failed purge must not hide why the smoke test failed.
purge_quietly() {
    (request POST "/_matrix/media/unstable/admin/purge/$server/$media_id" "$server") > /dev/null 2>&1 || true
}

smoke() {
    [ $# -ge 1 ] || fail "smoke: no server names"
    for name; do
        smoke_one "$name"
        # MMR's default rate limit is 5 requests a second, 10 at once (common/config/conf_main.go line 113).
        sleep 1
    done
    echo "smoke test passed for $# homeserver(s): $*"
}

# remaining: media and thumbnails still recorded on the source datastore, as "MEDIA THUMBNAILS BYTES".
remaining() {
    request GET "/_matrix/media/unstable/admin/datastores/$source/size_estimate?before_ts=$BEFORE_TS" "$server"
    expect_ok
    echo "$(json_number media_affected) $(json_number thumbnails_affected) $(json_number total_bytes)"
}

transfer() {
    [ $# -eq 3 ] || fail "transfer: SERVER SOURCE_ID TARGET_ID"
    server=$1 source=$2 target=$3
    poll_seconds=${MMR_ADMIN_POLL_SECONDS:-10}
    stall_seconds=${MMR_ADMIN_STALL_SECONDS:-1800}
    check_seconds=${MMR_ADMIN_CHECK_SECONDS:-60}
    counts=$(remaining)
    set -- $counts
    if [ "${1:-0}" = 0 ] && [ "${2:-0}" = 0 ]; then
        echo "nothing to move: datastore $source holds no media"
        return 0
    fi
    echo "datastore $source holds $1 media and $2 thumbnails ($3 bytes); moving them to $target"
    # api/routes.go line 99: MMR starts a background task and answers with its id (api/custom/datastores.go).
    request POST "/_matrix/media/unstable/admin/datastores/$source/transfer_to/$target?before_ts=$BEFORE_TS" "$server"
    expect_ok
    task_id=$(json_number task_id)
    [ -n "$task_id" ] || fail "MMR started no task: $(cat "$work/body")"
    echo "MMR started task $task_id"
    last_count="$1 $2" last_change=$(date +%s) checked=$(date +%s)
    while :; do
        sleep "$poll_seconds"
        # Line 106: the task's status (api/custom/tasks.go): is_finished once end_ts is set, error_message.
        request GET "/_matrix/media/unstable/admin/tasks/$task_id" "$server"
        expect_ok
        grep -q '"is_finished":true' "$work/body" && break
        now=$(date +%s)
        if [ $((now - checked)) -ge "$check_seconds" ]; then
            checked=$now
            counts=$(remaining)
            set -- $counts
            echo "task $task_id: $1 media and $2 thumbnails left on $source"
            if [ "$1 $2" != "$last_count" ]; then
                last_count="$1 $2" last_change=$now
            elif [ $((now - last_change)) -ge "$stall_seconds" ]; then
                # MMR resumes an unfinished task at start only within an hour of its start (tasks/exec.go).
                fail "task $task_id moved nothing for ${stall_seconds}s and has not ended; was MMR restarted? Its log says more"
            fi
        fi
    done
    error=$(json_string error_message)
    [ -z "$error" ] || fail "MMR's task $task_id (moving $source to $target) failed: $error"
    # A task ends without an error even when objects failed to move: MMR logs each one and goes on
    # (tasks/task_runner/datastore_migrate.go lines 85-117), so what is left is counted.
    counts=$(remaining)
    set -- $counts
    if [ "${1:-0}" != 0 ] || [ "${2:-0}" != 0 ]; then
        fail "task $task_id ended, but $1 media and $2 thumbnails ($3 bytes) are still on datastore $source: MMR logs 'Failed to upload to target' for each; fix the cause, then run the transfer again"
    fi
    echo "transfer finished: task $task_id moved everything from $source to $target"
}

# Until MMR answers at all (a Service's endpoints may still be catching up): /healthz answers any Host.
wait_for_mmr() {
    request GET /healthz "$1"
}

[ $# -ge 1 ] || fail "$mode: no server name"
wait_for_mmr "$1"
case "$mode" in
smoke) smoke "$@" ;;
transfer) transfer "$@" ;;
*) fail "unknown mode $mode" ;;
esac
