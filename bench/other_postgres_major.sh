#!/usr/bin/env bash
# Runs the PostgreSQL-using tests where only another major is installed, to prove no test names a major.
# As root: `bash bench/other_postgres_major.sh [major]` (default 17). In a mount namespace of its own it
# hides every /usr/lib/postgresql/<major> there is and offers the newest one's programs as <major>
# instead, so /usr/lib/postgresql/15 (Debian 12's) is gone, and so is any link to it on the PATH.
# The server still reads its share files from where it was built (/usr/share/postgresql/<its major>).
set -euo pipefail
offered=${1:-17}
cd "$(dirname "$0")/.."
installed=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
installed=${installed%/bin}
exec unshare -m --propagation private bash -euo pipefail -c '
    stash=$(mktemp -d)
    mount --bind "$1" "$stash"
    mount -t tmpfs tmpfs /usr/lib/postgresql
    mkdir "/usr/lib/postgresql/$2"
    mount --bind "$stash" "/usr/lib/postgresql/$2"
    echo "PostgreSQL directories now: $(ls /usr/lib/postgresql)" >&2
    . venv/bin/activate
    CI=true python -m pytest -q -p no:cacheprovider tests/test_host_tools.py tests/test_postgres_real.py \
        tests/test_postgres_dump.py tests/test_kubernetes_backup.py tests/test_docker_engine.py
' bash "$installed" "$offered"
