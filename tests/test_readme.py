"""README.md lists every config key the program accepts and every output it exports."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from config_schema.stack import StackConfig
from tests.kubernetes_stacks import VARIANTS as KUBERNETES_VARIANTS
from tests.kubernetes_stacks import run_variant as run_kubernetes_variant
from tests.pulumi_harness import run_program
from tests.variants import PROVIDER_CONFIG, VARIANTS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _models_in(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """(the model inside an annotation, whether it sits in a list)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, in_list = _models_in(arg)
            if model:
                return model, in_list
        return None, False
    if origin is list:
        model, _ = _models_in(typing.get_args(annotation)[0])
        return model, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested, in_list = _models_in(field.annotation)
        if nested is None:
            keys.append(key)
        else:
            keys.extend(config_keys(nested, f"{key}[]." if in_list else f"{key}."))
    return keys


def table_keys(heading: str) -> set[str]:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def test_every_config_key_is_in_the_readme() -> None:
    documented = table_keys("### Every key and its default")
    missing = []
    for key in config_keys(StackConfig):
        # A list of records (trustedSources, shards, quota users) is documented as one row.
        parent = key.split("[]")[0] if "[]" in key and not key.startswith("homeservers[]") else None
        if key not in documented and parent not in documented:
            missing.append(key)
    assert missing == []


def test_readme_documents_no_key_that_does_not_exist() -> None:
    keys = set(config_keys(StackConfig))
    parents = {key.split("[]")[0] for key in keys} | {key.split(".")[0] for key in keys}
    assert table_keys("### Every key and its default") - keys - parents == set()


def test_every_output_is_in_the_readme() -> None:
    exported: set[str] = set()
    for name, variant in VARIANTS.items():
        exported |= set(run_program(variant(), extra_config=PROVIDER_CONFIG.get(name)).outputs)
    for name in KUBERNETES_VARIANTS:
        exported |= set(run_kubernetes_variant(name).outputs)
    assert exported == table_keys("## Stack outputs")
