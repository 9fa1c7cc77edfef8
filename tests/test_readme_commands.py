"""Every shell block of the README and docs/ that sets config is run as typed, and the stack it leaves validates.

The blocks run in bash against the stand-in `pulumi` (tests/pulumi_cli.py), which stores values as the
Pulumi CLI does. A block that starts a stack (`pulumi stack init`) starts from nothing; any other block
is applied to the dev stack (Pulumi.dev.yaml). Lines that need a registry image or a server (`docker run`)
are left out; the files they would write are given.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from config_schema import load_stack_config
from config_schema.loading import advisory_warnings, plaintext_secret_warnings
from tests.pulumi_cli import PROJECT, Stack, run_shell
from tests.variants import SIGNING_KEY

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILES = {"example.org.mmr.key": SIGNING_KEY}


def config_blocks() -> dict[str, str]:
    blocks = {}
    for document in DOCUMENTS:
        text = document.read_text()
        for match in re.finditer(r"```(?:sh|bash)\n(.*?)```", text, re.S):
            if "pulumi config" in match.group(1):
                line = text[: match.start()].count("\n") + 1
                blocks[f"{document.name}:{line}"] = match.group(1)
    return blocks


def commands_of(block: str) -> str:
    """The block's pulumi commands, one per line as typed (comments and all); `docker run` lines left out."""
    kept = []
    # A block inside a list item is indented as a whole.
    for line in re.sub(r"\\\n\s*", " ", textwrap.dedent(block)).splitlines():
        if line.startswith("pulumi "):
            kept.append(line)
        else:
            assert line.startswith(("docker run ", "#")) or not line.strip(), f"a line the test cannot run: {line}"
    return "\n".join(kept)


def dev_stack() -> Stack:
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return Stack({key: value if isinstance(value, dict | list) else str(value) for key, value in config.items()})


BLOCKS = config_blocks()


def test_blocks_are_found() -> None:
    assert len(BLOCKS) >= 10


def quickstarted_dev_stack() -> Stack:
    """The dev stack after the README's quickstart, which every later fragment builds on."""
    first = next(iter(BLOCKS.values()))
    assert "stack init" not in first and "homeservers[0].name" in first
    stack, _ = run_shell(dev_stack(), commands_of(first), FILES)
    return stack


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_runs_as_typed_and_validates(name: str) -> None:
    commands = commands_of(BLOCKS[name])
    start = Stack() if "pulumi stack init" in commands else quickstarted_dev_stack()
    if "kubernetes." in commands and "platform" not in commands:
        # A fragment of docs/kubernetes.md, for a stack already on Kubernetes (one process: the dev stack's media
        # is on the file datastore).
        on_kubernetes = "pulumi config set platform kubernetes && pulumi config set --path kubernetes.replicas 1"
        start, _ = run_shell(start, on_kubernetes, FILES)
    stack, _ = run_shell(start, commands, FILES)
    raw, secret = stack.program_view()
    assert raw, "the block set nothing of this program's"
    loaded = load_stack_config(raw, secret)
    # Typed as written, a block leaves a stack `pulumi up` has nothing to warn about.
    assert advisory_warnings(loaded) + plaintext_secret_warnings(raw, secret) == []
    # Every credential a block sets is set with --secret.
    for key in ("database", "s3", "import"):
        if key in raw and any(word in str(raw[key]) for word in ("dsn", "accessSecret", "dbPassword")):
            assert key in secret, f"{name}: {key} holds a credential set without --secret"
    assert all(full.startswith(f"{PROJECT}:") or ":" in full for full in stack.values)


def test_the_digitalocean_block_fits_the_default_node() -> None:
    """The README's DigitalOcean block, as typed, sets the pool its example has, and `pulumi up` stays silent."""
    name = next(name for name, block in BLOCKS.items() if "'database.provider' digitalocean" in block)
    stack, _ = run_shell(Stack(), commands_of(BLOCKS[name]), FILES)
    raw, secret = stack.program_view()
    loaded = load_stack_config(raw, secret)
    example = yaml.safe_load((ROOT / "examples" / "Pulumi.digitalocean.yaml").read_text())["config"]
    assert loaded.database.max_connections == example[f"{PROJECT}:database"]["maxConnections"] == 20
    assert loaded.database.size == example[f"{PROJECT}:database"]["size"]
    assert advisory_warnings(loaded) == []
