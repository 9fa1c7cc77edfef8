"""What the smoke test and the transfer one-shots run: ``mmr_admin.sh`` and its arguments, for either platform.

Both run in MMR's own image (its busybox), so nothing else is pulled, and reach MMR as a client
would, with the shared-secret token, which MMR takes as a repo admin's
(api/_routers/97-require-access-token.go lines 31-37 at 84bcb70).
"""

from __future__ import annotations

from pathlib import Path

from config_schema.stack import StackConfig

ADMIN_SCRIPT_PATH = Path(__file__).with_name("mmr_admin.sh")
ADMIN_SCRIPT = ADMIN_SCRIPT_PATH.read_text()
# Where the one-shots find the script and the token; /run is theirs alone.
SCRIPT_FILE = "/run/mmr-admin/mmr-admin.sh"
TOKEN_FILE = "/run/mmr-admin-token/token"
# A transfer of years of media takes hours: `pulumi up` waits, with room for the largest volume.
TRANSFER_TIMEOUT_SECONDS = 24 * 3600
SMOKE_TIMEOUT_SECONDS = 600


def smoke_command(stack: StackConfig, host: str, port: int, token_file: str = TOKEN_FILE) -> list[str]:
    """Every homeserver in turn: an upload, its download by hash, its purge."""
    return ["/bin/sh", SCRIPT_FILE, "smoke", token_file, host, str(port), *(h.name for h in stack.homeservers)]


def transfer_command(stack: StackConfig, host: str, port: int, token_file: str = TOKEN_FILE) -> list[str]:
    """The file datastore to S3; the admin API answers for any configured server name, so the first."""
    datastores = stack.datastores
    return [
        "/bin/sh",
        SCRIPT_FILE,
        "transfer",
        token_file,
        host,
        str(port),
        stack.homeservers[0].name,
        datastores.file.id,
        datastores.s3.id,
    ]
