#!/bin/sh
# STAND-IN for prodrigestivill/postgres-backup-local's /init.sh: checks the settings, dumps once when
# BACKUP_ON_START=TRUE, then waits (the real image runs go-cron on $SCHEDULE; no scheduler here).
set -eu
/backup.sh --check
if [ "${BACKUP_ON_START:-FALSE}" = TRUE ]; then
    /backup.sh
fi
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
