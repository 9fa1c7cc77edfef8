"""MMR's signing key format (``-----BEGIN MMR PRIVATE KEY-----``), checked before it reaches MMR.

MMR reads a PEM block of type ``MMR PRIVATE KEY`` with the headers
``Key-ID: ed25519:<version>`` and ``Version: 1`` whose body is the 32-byte
ed25519 seed; anything else stops it at startup.
"""

from __future__ import annotations

import base64
import binascii
import re

BEGIN = "-----BEGIN MMR PRIVATE KEY-----"
END = "-----END MMR PRIVATE KEY-----"
_KEY_ID = re.compile(r"^ed25519:[A-Za-z0-9_]+$")


def signing_key_problem(pem: str) -> str | None:
    """What is wrong with ``pem`` as an MMR signing key, or None when MMR would accept it."""
    text = pem.strip().replace("\r\n", "\n")
    if not text.startswith(BEGIN) or not text.endswith(END):
        return (
            f"is not an MMR signing key: it must start with {BEGIN} "
            "(convert Synapse's or Dendrite's with the image's combine_signing_keys)"
        )
    inner = text[len(BEGIN) : -len(END)].strip("\n")
    head, _, body = inner.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    if headers.get("Version") != "1":
        return "lacks the header 'Version: 1' that MMR requires"
    if not _KEY_ID.match(headers.get("Key-ID", "")):
        return "lacks a 'Key-ID: ed25519:<version>' header"
    try:
        seed = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return "has a body that is not base64"
    if len(seed) != 32:
        return f"holds {len(seed)} bytes where an ed25519 seed has 32"
    return None
