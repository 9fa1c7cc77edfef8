#!/bin/sh
# STAND-IN for prodrigestivill/postgres-backup-local's /backup.sh and /env.sh, for the settings this program
# gives it: the same variables, the same files (last/<db>-<time><suffix>, daily/, weekly/, monthly/, and the
# <db>-latest<suffix> symlinks), hooks run with run-parts after the dump. Not the image's script.
set -eu
: "${BACKUP_DIR:=/backups}" "${POSTGRES_PORT:=5432}" "${BACKUP_SUFFIX:=.sql.gz}" "${POSTGRES_EXTRA_OPTS:=-Z1}"
for name in POSTGRES_HOST POSTGRES_DB POSTGRES_USER POSTGRES_PASSWORD_FILE; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || { echo "You need to set the $name environment variable." >&2; exit 1; }
done
[ -r "$POSTGRES_PASSWORD_FILE" ] || { echo "Missing POSTGRES_PASSWORD_FILE file." >&2; exit 1; }
[ -d "$BACKUP_DIR" ] && [ -w "$BACKUP_DIR" ] || { echo "BACKUP_DIR is not writable." >&2; exit 1; }
[ "${1:-}" = --check ] && exit 0
export PGHOST="$POSTGRES_HOST" PGPORT="$POSTGRES_PORT" PGUSER="$POSTGRES_USER"
PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
export PGPASSWORD
mkdir -p "$BACKUP_DIR/last" "$BACKUP_DIR/daily" "$BACKUP_DIR/weekly" "$BACKUP_DIR/monthly"
for db in $(echo "$POSTGRES_DB" | tr , ' '); do
    last="$db-$(date +%Y%m%d-%H%M%S)$BACKUP_SUFFIX"
    # Word splitting of the extra options is intended, as in the image's script.
    # shellcheck disable=SC2086
    pg_dump -d "$db" -f "$BACKUP_DIR/last/$last" $POSTGRES_EXTRA_OPTS
    ln -f "$BACKUP_DIR/last/$last" "$BACKUP_DIR/daily/$db-$(date +%Y%m%d)$BACKUP_SUFFIX"
    ln -f "$BACKUP_DIR/last/$last" "$BACKUP_DIR/weekly/$db-$(date +%G%V)$BACKUP_SUFFIX"
    ln -f "$BACKUP_DIR/last/$last" "$BACKUP_DIR/monthly/$db-$(date +%Y%m)$BACKUP_SUFFIX"
    ln -sf "$last" "$BACKUP_DIR/last/$db-latest$BACKUP_SUFFIX"
    find "$BACKUP_DIR/daily" -maxdepth 1 -mtime "+${BACKUP_KEEP_DAYS:-7}" -name "$db-*$BACKUP_SUFFIX" -exec rm -f {} \;
done
echo "SQL backup created successfully"
if [ -d /hooks ]; then
    for hook in /hooks/*; do
        if [ -x "$hook" ]; then "$hook" post-backup; fi
    done
fi
