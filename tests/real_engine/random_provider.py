"""The ``random`` provider plugin the real engine runs in this tier.

Any changed input makes a new value (the program changes these resources only through ``keepers``, which
exist to do that); the values come from the operating system's generator.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from tests.pulumi_harness import unwrap_secrets
from tests.real_engine.provider_server import Provider, ProviderError, serve

# The version pulumi_random's pulumi-plugin.json names.
VERSION = "4.21.4"
PASSWORD = "random:index/randomPassword:RandomPassword"
BYTES = "random:index/randomBytes:RandomBytes"
IDENTIFIER = "random:index/randomId:RandomId"
# Special characters when `overrideSpecial` is unset; the program always sets it or `special=False`, so this
# set is never used by it and was not checked against terraform-provider-random.
DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def _password(inputs: dict[str, Any]) -> str:
    classes = []
    for flag, alphabet, minimum in (
        ("lower", string.ascii_lowercase, "minLower"),
        ("upper", string.ascii_uppercase, "minUpper"),
        ("numeric", string.digits, "minNumeric"),
        ("special", inputs.get("overrideSpecial", DEFAULT_SPECIAL), "minSpecial"),
    ):
        if inputs.get(flag, True):
            classes.append((alphabet, int(inputs.get(minimum, 0))))
    length = int(inputs["length"])
    chosen = [secrets.choice(alphabet) for alphabet, minimum in classes for _ in range(minimum)]
    everything = "".join(alphabet for alphabet, _ in classes)
    chosen += [secrets.choice(everything) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


class RandomProvider(Provider):
    name = "random"
    version = VERSION

    def diff(self, type_token: str, old_inputs: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], bool]:
        olds, new = unwrap_secrets(old_inputs), unwrap_secrets(news)
        changed = sorted(key for key in olds.keys() | new.keys() if olds.get(key) != new.get(key))
        return changed, bool(changed)

    def create(self, type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plain = unwrap_secrets(inputs)
        if type_token == PASSWORD:
            return "none", {**inputs, "result": _password(plain)}
        if type_token == BYTES:
            value = secrets.token_bytes(int(plain["length"]))
            encoded = base64.b64encode(value).decode()
            return encoded, {**inputs, "base64": encoded, "hex": value.hex()}
        if type_token == IDENTIFIER:
            value = secrets.token_bytes(int(plain["byteLength"]))
            prefix = plain.get("prefix", "")
            url = base64.urlsafe_b64encode(value).decode().rstrip("=")
            return url, {
                **inputs,
                "hex": prefix + value.hex(),
                "b64Url": prefix + url,
                "b64Std": prefix + base64.b64encode(value).decode(),
                "dec": prefix + str(int.from_bytes(value, "big")),
            }
        raise ProviderError(f"{type_token}: not a resource this program uses")


if __name__ == "__main__":
    serve(RandomProvider())
