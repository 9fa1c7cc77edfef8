"""The command line of the image's import_synapse / import_dendrite, without the password."""

from __future__ import annotations

from config_schema.operations import MediaImport


def import_binary(media_import: MediaImport) -> str:
    return f"import_{media_import.source}"


def import_flags(media_import: MediaImport) -> list[str]:
    """Every flag the importer needs to run unattended; its defaults (localhost) are never right here.

    The password is not among them: it is passed from a file inside the
    container, so that it shows neither in `docker inspect` nor in state.
    """
    return [
        f"-dbHost={media_import.db_host}",
        f"-dbPort={media_import.db_port}",
        f"-dbName={media_import.db_name}",
        f"-dbUsername={media_import.db_username}",
        f"-serverName={media_import.server_name}",
        f"-baseUrl={media_import.base_url}",
        f"-workers={media_import.workers}",
    ]


def manual_import_command(media_import: MediaImport, container: str) -> str:
    """The command that runs the import again by hand in the running MMR container; it asks for the password."""
    flags = " ".join(import_flags(media_import))
    return f"docker exec -it -e MACHINE_ID={media_import.machine_id} {container} {import_binary(media_import)} {flags}"
