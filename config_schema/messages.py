"""One line for a config that does not validate: each key, its problem, and commands that fix it as typed.

Never shows an input: pydantic's messages may hold a credential.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from config_schema.errors import (
    PROJECT,
    SECRET_KEYS,
    SECRET_LOOKING_NAME,
    ConfigError,
    ask_command,
    config_path,
    move_commands,
    pattern,
    quoted,
    rm_command,
    set_value,
)
from config_schema.fixes import accepts_none, ask_for, choice_command, nearest, reshape

# Keys of earlier versions: what replaced them, and the commands that move a stack over.
REPLACED_KEYS: dict[str, tuple[str, str]] = {
    "proxy.traefik.host": (
        "homeservers[].publicHost, which nginx, Caddy and Traefik all match on",
        "pulumi config set --path 'homeservers[0].publicHost' -- \"$(pulumi config get --path 'proxy.traefik.host')\" "
        "&& pulumi config rm --path 'proxy.traefik.host'",
    ),
}


def _describe(error: ErrorDetails, model: type[BaseModel]) -> tuple[str, str, str]:
    """Returns (key, problem, fix) for one pydantic error. Never the input: it may be a credential."""
    loc = [part for part in error["loc"] if part not in ("function-after", "function-before")]
    key = config_path(loc)
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    typed = error.get("input")
    if isinstance(cause, ConfigError):
        if cause.key:
            if cause.key.startswith("["):  # an item of the list the field validator checks
                key += cause.key
            else:
                key = f"{key}.{cause.key}" if key and not cause.key.startswith(key) else cause.key
        if cause.fix:
            fix = cause.fix
        elif cause.corrected is not None:
            fix = set_value(key, cause.corrected)
        else:
            fix = ask_command(key)
        parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", key)
        return key, cause.message, fix.replace("{key}", key).replace("{parent}", parent)

    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, typed, model)
    if kind == "missing":
        return key, "is required", ask_for(model, loc)
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        meant = nearest(typed, re.findall(r"'([^']*)'", expected))
        if meant is not None:
            return key, f"must be one of {expected}; the nearest is {meant}", set_value(key, meant)
        allowed = re.findall(r"'([^']*)'", expected)
        unset = accepts_none(model, loc)
        problem = f"must be one of {expected}{' or unset' if unset else ''}"
        return key, problem, choice_command(key, allowed, unset_valid=unset)
    if kind.startswith("bool"):
        meant = nearest(typed, ["true", "false"])
        if meant is not None:
            return key, f"must be true or false; the nearest is {meant}", set_value(key, meant == "true")
        return key, "must be true or false", choice_command(key, [True, False], unset_valid=accepts_none(model, loc))
    if (
        kind == "string_type"
        and isinstance(typed, int | float | bool)
        and not isinstance(typed, float)
        and len(loc) > 1
    ):
        # `pulumi config set --path` made a number or a boolean of text: the text is what was meant.
        text = str(typed).lower() if isinstance(typed, bool) else str(typed)
        return key, "must be text", set_value(key, text)
    if kind == "string_type":
        # A top-level key is read back as JSON (__main__.read_stack_config): "0" is a number however it was set.
        return key, "must be text", ask_command(key)
    if kind in ("list_type", "tuple_type"):
        return key, "must be a list", reshape(model, loc, typed)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return key, "must be an object with named fields", reshape(model, loc, typed)
    problem = error["msg"].lower() if kind.startswith(("int", "greater_than", "less_than")) else error["msg"]
    return key, problem, ask_command(key)


# What other tools call the S3 credentials and bucket (the AWS CLI and SDKs, boto3, MinIO's mc): the key meant is
# certain. Folded: lower case, without "_" and "-".
OTHER_TOOLS_NAMES: dict[str, dict[str, str]] = {
    "s3": {
        "secretaccesskey": "accessSecret",
        "awssecretaccesskey": "accessSecret",
        "secretkey": "accessSecret",
        "secret": "accessSecret",
        "accesskey": "accessKeyId",
        "awsaccesskeyid": "accessKeyId",
        "bucket": "bucketName",
        "endpointurl": "endpoint",
    },
}


def _unknown_key(loc: list[str | int], value: Any, model: type[BaseModel]) -> tuple[str, str, str]:
    key = config_path(loc)
    if key in REPLACED_KEYS:
        replacement, fix = REPLACED_KEYS[key]
        return key, f"was replaced by {replacement}", fix
    name = str(loc[-1])
    if len(loc) == 1 and re.search(r"[.\[]", name) and (head := re.split(r"[.\[]", name)[0]) in known_keys(model, []):
        # `pulumi config set s3.provider aws` without --path stores a key named "s3.provider" (map.go Set).
        stored = quoted(name)
        fix = f'pulumi config set --path {stored} -- "$(pulumi config get {stored})" && pulumi config rm {stored}'
        if pattern(name) in SECRET_KEYS:
            fix = fix.replace("set --path", "set --secret --path", 1)
        return key, f"was set without --path, so Pulumi stored one key of that name instead of a value in {head}", fix
    known = known_keys(model, loc[:-1])
    folded = re.sub(r"[_-]", "", name).lower()
    meant = OTHER_TOOLS_NAMES.get(pattern(config_path(loc[:-1])), {}).get(folded)
    meant = meant or next((k for k in known if k.lower() == folded), None)
    meant = meant or next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None)
    parent = config_path(loc[:-1])
    if meant is not None and SECRET_LOOKING_NAME.search(name) and pattern(f"{parent}.{meant}") not in SECRET_KEYS:
        # A credential moved by the fix into a key kept in plain text would be written into the stack file as it is.
        meant = None
    if meant is None:
        return key, "is not a setting this program knows", rm_command(key)
    camel = " (keys are camelCase, as the README lists them)" if "_" in name else ""
    return (
        key,
        f"is not a setting this program knows: did you mean {meant}{camel}",
        move_commands(key, config_path([*loc[:-1], meant]), value),
    )


def known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the stack file may hold at ``loc`` inside ``model``; [] where ``loc`` leads nowhere known."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        current = _model_in(field.annotation) if field else None
    return [field.alias or name for name, field in current.model_fields.items()] if current else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        return next(filter(None, (_model_in(arg) for arg in typing.get_args(annotation))), None)
    return None


def format_validation_error(
    exc: ValidationError, model: type[BaseModel], secret_top_level_keys: Sequence[str] = ()
) -> str:
    """All problems of one config, on one line, each with its fix.

    A value below a top-level key that holds anything set with ``--secret`` (the finest grain
    Pulumi shows a program) is never shown, even where the message would name a plain value.
    """
    parts = []
    for error in exc.errors(include_url=False):
        key, problem, fix = _describe(error, model)
        top = re.split(r"[.\[]", key, maxsplit=1)[0]
        # A credential's own validator shows nothing of it (tests/test_secrets_never_shown.py); any other
        # value below a secret key is masked here, words and all.
        if top in secret_top_level_keys and pattern(key) not in SECRET_KEYS:
            failing = _value_at(error.get("input"), key, config_path(error["loc"]))
            masked = fix
            for text in sorted(_strings_in(failing), key=len, reverse=True):
                problem, masked = problem.replace(text, "***"), masked.replace(text, "***")
            # A fix that would carry a hidden value asks for the value instead.
            fix = fix if masked == fix else ask_command(key)
        parts.append(f"{PROJECT}:{key} {problem}. Fix: {fix}")
    return "Invalid stack config: " + "; ".join(parts)


def _strings_in(value: Any) -> set[str]:
    """The texts inside a failing input long enough to be told apart from the words around them."""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if isinstance(value, dict):
        return {text for item in value.values() for text in _strings_in(item)}
    if isinstance(value, list | tuple):
        return {text for item in value for text in _strings_in(item)}
    if not isinstance(value, str):
        return set()
    # Its words too: a message may quote a part of the value, or an example made from it.
    return {text for text in (value, repr(value)[1:-1], *re.findall(r"[^\s'\"/:@?#&=]+", value)) if len(text) >= 4}


def _value_at(failing: Any, key: str, loc_path: str, *, whole: bool = True) -> Any:
    """The part of a validator's input that the reported key names; where it cannot be told, the whole input
    (or, with ``whole=False``, None: a fix must never show another key's value as this one's)."""
    relative = key.removeprefix(loc_path)
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", relative):
        if isinstance(failing, dict) and part in failing:
            failing = failing[part]
        elif isinstance(failing, list) and part.startswith("[") and int(part[1:-1]) < len(failing):
            failing = failing[int(part[1:-1])]
        else:
            return failing if whole else None
    return failing
