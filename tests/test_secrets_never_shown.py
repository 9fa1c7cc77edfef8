"""No credential reaches a message: a sentinel in every secret key, driven through every validation failure.

The sentinel goes into each key of ``SECRET_KEYS`` in the forms people get wrong (broken DSNs, keys that
are no PEM, wrong types, misspelt and snake_case keys), on top of every hand-written and generated bad
config the other tests know. Neither the error line, nor any warning the program prints, may hold it.
The credential keys are checked as if set without ``--secret`` (the program cannot tell, and that is when
it matters most); values the operator did set with ``--secret`` are checked separately.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_schema import StackConfigError, load_stack_config, plaintext_secret_warnings
from config_schema.errors import SECRET_KEYS
from config_schema.loading import advisory_warnings
from tests.test_bad_input import CASES
from tests.test_printed_fixes import BASE, KEYS, WRONG_VALUES, _set
from tests.test_validation import INVALID
from tests.variants import HOMESERVER

SENTINEL = "Snt1nel-Q7"

_DSN_FORMS = [
    f"postgres://mmr:{SENTINEL}#x@db.example.org:5432/m?sslmode=require",
    f"postgres://mmr:{SENTINEL}@db.example.org:5432/m?sslmode=prefer",
    f"postgres://mmr:{SENTINEL}@db.example.org:99999/m?sslmode=require",
    f"postgres://mmr@db.example.org/m?password={SENTINEL}&sslmode=bogus",
    f"postgres://mmr:{SENTINEL}@/m?sslmode=require",
    f"postgres://mmr:{SENTINEL}@db.example.org/m%zz?sslmode=require",
    f"postgres://mmr:{SENTINEL}@db.example.org/m?sslmode=require;x=1",
    SENTINEL,
    f"host=db password={SENTINEL}",
]
_KEY_FORMS = [
    SENTINEL,
    f"-----BEGIN MMR PRIVATE KEY-----\nVersion: 1\n\n{SENTINEL}\n-----END MMR PRIVATE KEY-----",
    f"-----BEGIN MMR PRIVATE KEY-----\nKey-ID: ed25519:a\nVersion: 1\n\n{SENTINEL}==\n-----END MMR PRIVATE KEY-----",
]
_WRONG_TYPES = [[SENTINEL], {"value": SENTINEL}]
# (config path, values): every credential key, each in the forms that fail.
SECRET_VALUES: dict[tuple[str | int, ...], list[Any]] = {
    ("database", "dsn"): [*_DSN_FORMS, *_WRONG_TYPES],
    ("s3", "accessSecret"): [SENTINEL, *_WRONG_TYPES],
    ("homeservers", 0, "signingKey"): [*_KEY_FORMS, *_WRONG_TYPES],
    ("import", "dbPassword"): [SENTINEL, *_WRONG_TYPES],
    # The same credentials under the keys people mistype.
    ("database", "dns"): [_DSN_FORMS[0]],
    ("import", "db_password"): [SENTINEL],
    ("s3", "access_secret"): [SENTINEL],
    ("homeservers", 0, "signing_key"): [SENTINEL],
    ("database.dsn",): [_DSN_FORMS[0]],
}
# The settings under which each credential is read at all.
CONTEXTS: dict[str, dict[str, Any]] = {
    "database": {"provider": "external"},
    "s3": {"provider": "external", "endpoint": "minio:9000", "bucketName": "media", "accessKeyId": "k"},
    "import": {"from": "synapse", "dbHost": "h", "dbName": "d", "dbUsername": "u", "serverName": "example.org"},
}


def test_every_secret_key_is_covered() -> None:
    covered = {".".join(str(p) for p in path).replace(".0.", "[]."): 1 for path in SECRET_VALUES}
    assert set(covered) >= SECRET_KEYS


def _with_secret(config: dict[str, Any], path: tuple[str | int, ...], value: Any, context: bool) -> dict[str, Any]:
    config = copy.deepcopy(config)
    if not isinstance(config.get("homeservers"), list) or not config["homeservers"]:
        config["homeservers"] = [dict(HOMESERVER)]
    if not isinstance(config["homeservers"][0], dict):
        config["homeservers"][0] = dict(HOMESERVER)
    top = str(path[0])
    if context and top in CONTEXTS and not isinstance(config.get(top), dict):
        config[top] = dict(CONTEXTS[top])
    elif context and top in CONTEXTS:
        config[top] = {**CONTEXTS[top], **config[top]}
    if not isinstance(config.get(top, {}), dict | list):
        config[top] = {}
    _set(config, list(path), value)
    return config


def assert_no_sentinel(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> None:
    shown = list(plaintext_secret_warnings(config, secret_keys))
    try:
        stack = load_stack_config(config, secret_keys)
    except StackConfigError as error:
        shown.append(str(error))
    else:
        shown.extend(advisory_warnings(stack))
    leaked = [text for text in shown if SENTINEL in text]
    assert not leaked, leaked


BAD_CONFIGS = {f"invalid: {name}": case[0] for name, case in INVALID.items()} | {
    f"bad input: {name}": case[0] for name, case in CASES.items()
}
BAD_CONFIGS["valid"] = {"homeservers": [dict(HOMESERVER)]}


@pytest.mark.parametrize("secret", sorted(SECRET_VALUES, key=str), ids=str)
def test_no_validation_failure_shows_a_credential(secret: tuple[str | int, ...]) -> None:
    for (name, config), value, context in itertools.product(BAD_CONFIGS.items(), SECRET_VALUES[secret], (True, False)):
        try:
            assert_no_sentinel(_with_secret(config, secret, value, context))
        except AssertionError as error:
            raise AssertionError(f"{name} with {secret}={value!r}: {error}") from None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.sampled_from(KEYS),
    wrong=WRONG_VALUES,
    secret=st.sampled_from(sorted(SECRET_VALUES, key=str)),
    data=st.data(),
)
def test_no_generated_failure_shows_a_credential(
    parts: tuple[str | int, ...], wrong: Any, secret: tuple[str | int, ...], data: st.DataObject
) -> None:
    config = copy.deepcopy(BASE)
    _set(config, list(parts), wrong)
    value = data.draw(st.sampled_from(SECRET_VALUES[secret]))
    assert_no_sentinel(_with_secret(config, secret, value, data.draw(st.booleans())))


@pytest.mark.parametrize(
    ("path", "top"),
    [
        (("homeservers", 0, "name"), "homeservers"),
        (("homeservers", 0, "csApi"), "homeservers"),
        (("admins", 0), "admins"),
        (("s3", "endpoint"), "s3"),
        (("s3", "bucketName"), "s3"),
        (("import", "dbHost"), "import"),
        (("docker", "networks", 0), "docker"),
    ],
)
def test_a_value_set_with_secret_is_not_shown_either(path: tuple[str | int, ...], top: str) -> None:
    # Pulumi tells the program only which top-level keys hold a secret (pulumi.runtime.is_config_secret).
    config = _with_secret({"homeservers": [dict(HOMESERVER)]}, path, f"ftp://{SENTINEL} /x", True)
    with pytest.raises(StackConfigError):
        load_stack_config(config, (top,))
    assert_no_sentinel(config, (top,))
