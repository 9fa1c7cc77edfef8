"""MMR's signing key format (``-----BEGIN MMR PRIVATE KEY-----``), checked before it reaches MMR.

MMR reads a PEM block of type ``MMR PRIVATE KEY`` with the headers
``Key-ID: ed25519:<version>`` and ``Version: 1`` whose body is the 32-byte
ed25519 seed; anything else stops it at startup.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys

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


def _pem(block_type: str, headers: dict[str, str], body: bytes) -> str:
    """A PEM block as Go's encoding/pem EncodeToMemory writes it: headers sorted, base64 in lines of 64."""
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    head = "".join(f"{name}: {headers[name]}\n" for name in sorted(headers))
    return f"-----BEGIN {block_type}-----\n{head}\n" + "\n".join(lines) + f"\n-----END {block_type}-----\n"


def key_version(rotation: int) -> str:
    """The version of a generated key: new with each rotation, never one a homeserver makes (Synapse: a_XXXX)."""
    return f"mmr{rotation}"


def mmr_pem(seed: bytes, version: str) -> str:
    """MMR's own format (homeserver_interop/mmr/signing_key.go lines 17-28 at 84bcb70)."""
    return _pem("MMR PRIVATE KEY", {"Key-ID": f"ed25519:{version}", "Version": "1"}, seed)


def synapse_line(seed: bytes, version: str) -> str:
    """A line of Synapse's signing key file (homeserver_interop/synapse/signing_key.go lines 16-19 at 84bcb70:
    ``ed25519 <version> <seed in unpadded standard base64>``, util/unpadded_base64.go line 12)."""
    return f"ed25519 {version} {base64.b64encode(seed).decode().rstrip('=')}"


def dendrite_pem(seed: bytes, version: str) -> str:
    """Dendrite's key file block (homeserver_interop/dendrite/signing_key.go lines 15-27 at 84bcb70)."""
    return _pem("MATRIX PRIVATE KEY", {"Key-ID": f"ed25519:{version}"}, seed)


def seed_of(pem: str) -> tuple[bytes, str]:
    """(seed, version) of an MMR key that ``signing_key_problem`` accepts."""
    text = pem.strip().replace("\r\n", "\n")
    head, _, body = text[len(BEGIN) : -len(END)].strip("\n").partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    return base64.b64decode("".join(body.split())), headers["Key-ID"].removeprefix("ed25519:")


def as_mmr_key(text: str) -> str | None:
    """The MMR key ``text`` certainly is: one key in Synapse's file format or Dendrite's PEM, or MMR's own
    without its Version header, written out in MMR's format; the key itself when MMR reads it; else None."""
    if signing_key_problem(text) is None:
        return text
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0]) == 3 and lines[0][0] == "ed25519":
        _, version, encoded = lines[0]
        seed = _base64(encoded)
        return mmr_pem(seed, version) if seed is not None and _KEY_ID.match(f"ed25519:{version}") else None
    match = re.fullmatch(
        r"-----BEGIN (MMR|MATRIX) PRIVATE KEY-----\n(.*?)\n\n(.*?)\n-----END \1 PRIVATE KEY-----",
        text.strip().replace("\r\n", "\n"),
        re.S,
    )
    if not match:
        return None
    headers = dict(line.split(": ", 1) for line in match.group(2).splitlines() if ": " in line)
    if match.group(1) == "MMR" and "Version" in headers:
        return None  # another version of MMR's format: what it holds is not known here
    seed = _base64("".join(match.group(3).split()))
    key_id = headers.get("Key-ID", "")
    return mmr_pem(seed, key_id.removeprefix("ed25519:")) if seed is not None and _KEY_ID.match(key_id) else None


def _base64(encoded: str) -> bytes | None:
    """A 32-byte seed in standard base64, padded or not (Synapse writes it unpadded)."""
    try:
        seed = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return seed if len(seed) == 32 else None


# Run by a printed fix on the stored key (read back, never shown): MMR's form of it on stdout.
if __name__ == "__main__":
    converted = as_mmr_key(sys.stdin.read())
    if converted is None:
        sys.exit("not a signing key this program can convert")
    sys.stdout.write(converted)
