"""What a printed fix sets: what the operator typed, corrected where that is certain, and never a made-up value.

A fix corrects the operator's value when the correction is certain: the case folded where the rule says so,
a known alias (``k8s``), the one allowed value nearest by edit distance. Otherwise, where the allowed values are
few, it is one whole command per value to choose from; else the command that asks for the value
(``ask_command``), and the message names the forms that work. Run as printed, no fix sets the refused value
again. This module imports only ``errors`` and pydantic.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from config_schema.errors import ask_command, config_path, one_of, rm_command, set_value

# Names that mean exactly one allowed value.
ALIASES = {"k8s": "kubernetes"}
# A choice of more values than this is asked for (the message lists them) rather than printed as commands.
MOST_LISTED = 4


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def nearest(typed: object, allowed: Sequence[str]) -> str | None:
    """The allowed value ``typed`` certainly means: the same but for case or spaces, an alias, or the one value
    closest by edit distance (one edit in four letters at most, and nearer than any other); else None."""
    if not isinstance(typed, str) or not allowed:
        return None
    text = typed.strip().lower()
    folded = {choice.lower(): choice for choice in allowed}
    if text in folded:
        return folded[text]
    if ALIASES.get(text) in allowed:
        return ALIASES[text]
    scored = sorted((edit_distance(text, choice.lower()), choice) for choice in allowed)
    best, choice = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else best + 1
    return choice if best <= max(1, len(choice) // 4) and runner_up > best else None


def choice_command(key: str, allowed: Sequence[str | bool], *, unset_valid: bool) -> str:
    """One whole command per allowed value (and the one that removes the key, where leaving it unset is valid),
    for the operator to run one of; past ``MOST_LISTED`` values, the command that asks for one, the message
    naming them. Never the refused value again: run as printed, that would change nothing."""
    if len(allowed) > MOST_LISTED:
        return ask_command(key)
    commands = [set_value(key, value) for value in allowed]
    return one_of([*commands, rm_command(key)] if unset_valid else commands)


def annotation_at(model: type[BaseModel], loc: Sequence[str | int]) -> Any:
    """The type the stack file's value at ``loc`` must have (None where ``loc`` leads nowhere known)."""
    annotation: Any = model
    for part in loc:
        annotation = bare_annotation(annotation)
        if isinstance(part, int):
            if typing.get_origin(annotation) is not list:
                return None
            annotation = typing.get_args(annotation)[0]
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        field = next((f for name, f in annotation.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        annotation = field.annotation
    return bare_annotation(annotation)


def bare_annotation(annotation: Any) -> Any:
    """Without ``| None`` and ``Annotated[...]``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return bare_annotation(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bare_annotation(rest[0]) if len(rest) == 1 else annotation
    return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def required_fields(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items() if field.is_required()]


def is_required(model: type[BaseModel], loc: Sequence[str | int]) -> bool:
    """Whether the stack must hold a value at ``loc``: a required field, or an item of a list."""
    if not loc:
        return True
    if isinstance(loc[-1], int):
        return True
    parent = _model(annotation_at(model, loc[:-1]))
    field = (
        next((f for name, f in parent.model_fields.items() if (f.alias or name) == loc[-1]), None) if parent else None
    )
    return bool(field and field.is_required())


def accepts_none(model: type[BaseModel], loc: Sequence[str | int]) -> bool:
    """Whether the field at ``loc`` may be left unset with nothing in its place (its default is None)."""
    if not loc or isinstance(loc[-1], int):
        return False
    parent = _model(annotation_at(model, loc[:-1]))
    field = (
        next((f for name, f in parent.model_fields.items() if (f.alias or name) == loc[-1]), None) if parent else None
    )
    return bool(field and not field.is_required() and field.default is None)


def ask_for(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """Commands that ask for what ``loc`` must hold: each required field of an object, a first item of a list."""
    key = config_path(loc)
    annotation = annotation_at(model, loc)
    if typing.get_origin(annotation) is list:
        return ask_for(model, [*loc, 0])
    if (inner := _model(annotation)) is not None:
        fields = required_fields(inner)
        return " && ".join(ask_command(f"{key}.{name}") for name in fields) if fields else rm_command(key)
    return ask_command(key)


def reshape(model: type[BaseModel], loc: Sequence[str | int], typed: object) -> str:
    """A list or object given as something else: a scalar for a list of scalars becomes its first item (and a
    JSON list typed as text its items); anything else goes, and what the stack needs there is asked for."""
    key = config_path(loc)
    annotation = annotation_at(model, loc)
    if typing.get_origin(annotation) is list and _model(typing.get_args(annotation)[0]) is None:
        items = _items(typed)
        if items is not None:
            item_type = bare_annotation(typing.get_args(annotation)[0])
            choices = typing.get_args(item_type) if typing.get_origin(item_type) is Literal else ()
            values = [nearest(item, choices) or item if choices else item for item in items]
            return " && ".join([rm_command(key), *(set_value(f"{key}[{i}]", v) for i, v in enumerate(values))])
    if is_required(model, loc):
        return f"{rm_command(key)} && {ask_for(model, loc)}"
    return rm_command(key)


def _items(typed: object) -> list[str | int | bool] | None:
    """The items a scalar stands for: itself, or those of a JSON list of scalars typed as text."""
    if isinstance(typed, str):
        # Text with a control character (a newline, a NUL) would break the one-line message and the command.
        if not typed.isprintable():
            return None
        try:
            parsed = json.loads(typed)
        except json.JSONDecodeError:
            return [typed] if typed.strip() else None
        scalars = isinstance(parsed, list) and all(isinstance(item, str | int | bool) for item in parsed)
        if scalars and parsed and all(not isinstance(item, str) or item.isprintable() for item in parsed):
            return parsed
        return [typed] if not isinstance(parsed, list | dict) else None
    return [typed] if isinstance(typed, int | bool) else None
