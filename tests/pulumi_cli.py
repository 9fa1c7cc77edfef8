"""A stand-in for the `pulumi config` commands, storing values exactly as the Pulumi CLI does.

Read from pulumi/pulumi at 1b59498 (2026-08-21):
- ``pkg/cmd/pulumi/config/config.go`` lines 846-900: ``--secret`` encrypts the text as it is; otherwise
  ``--type`` types it; without ``--secret``/``--plaintext``, a value for a key whose name matches
  ``passwd|pass|password|pwd|secret|token`` that "looks like a secret" is refused (``looksLikeSecret``,
  lines 1446-1460, zxcvbn entropy; approximated below by character classes). At pkg/v3 v3.274.0, the
  CLI the real-engine tier builds, the refusal applies to a typed value too (lines 942-947).
- ``sdk/go/common/resource/config/map.go`` ``Set`` (lines 225-268): without ``--path`` the key is stored
  whole, dots and all; with ``--path`` and one segment the text is stored untyped; deeper, it is coerced.
- ``sdk/go/common/resource/config/object.go`` ``coerce`` (lines 565-590): "true"/"false" become booleans,
  base-10 integers not starting with "0" (unless just "0") become numbers; a secure value never is.
  ``Set`` (lines 280-345): a missing container is made from the next segment, a list as ``[null] * (i + 1)``
  (``newContainer``); an existing list takes an index up to its length (append), beyond it
  "array index out of range"; a scalar in the way is replaced at the top level only, deeper it is an error.
  ``Delete``: an index or key that is not there is no error.
- ``sdk/go/common/resource/properties_path.go`` ``parsePropertyPath`` (lines 68-140): ``a.b[0]["c.d"]``;
  an index that is not an integer (``[N]``) is an error.

- ``pkg/cmd/pulumi/config/config.go`` lines 870-896 (pkg/v3 v3.274.0): ``config set KEY`` without a value
  asks for it on a terminal (one line; without echo with ``--secret``) and reads standard input whole, less
  a trailing newline, when that is not a terminal.

Run as ``pulumi`` (tests/bin/pulumi) with ``FAKE_PULUMI_STATE`` naming a JSON file; other commands
(``stack init``, ``up``, ``login``) succeed and do nothing. A value asked for is the operator's answer for
that key in the JSON file ``FAKE_PULUMI_ANSWERS`` names, as typed at the prompt; without one, standard input.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

PROJECT = "matrix-media-repo"
_SECRET_KEY_NAME = re.compile(r"(?i)passwd|pass|password|pwd|secret|token")
_MISSING = object()


class CliError(Exception):
    """What the CLI would print before exiting non-zero."""


def parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    if path.startswith("."):
        raise CliError("expected property path to start with a name or index")
    while path:
        if path[0] == ".":
            path = path[1:]
            if not path:
                raise CliError("expected property path to end with a name or index")
        elif path[0] == "[":
            if path[1:2] == '"':
                match = re.match(r'\["((?:[^"\\]|\\")*)"\]', path)
                if not match:
                    raise CliError("missing closing quote or bracket in property name")
                parts.append(match.group(1).replace('\\"', '"'))
                path = path[match.end() :]
            else:
                end = path.find("]")
                if end < 0:
                    raise CliError("missing closing bracket in array index")
                if not re.fullmatch(r"[+-]?\d+", path[1:end]):
                    raise CliError(f"invalid array index: parsing {path[1:end]!r}: invalid syntax")
                parts.append(int(path[1:end]))
                path = path[end + 1 :]
        else:
            match = re.match(r"[^.\[]+", path)
            assert match
            parts.append(match.group(0))
            path = path[match.end() :]
    return parts


def coerce(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == "0":
        return text
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return text


def looks_like_secret(key_name: str, value: str) -> bool:
    if not _SECRET_KEY_NAME.search(key_name):
        return False
    value = value[:16]
    classes = [r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"]
    alphabet = sum(size for pattern, size in zip(classes, (26, 26, 10, 33), strict=True) if re.search(pattern, value))
    entropy = len(value) * math.log2(alphabet) if alphabet else 0.0
    return entropy >= 80 or (entropy >= 40 and entropy / max(len(value), 1) >= 3)


def _set_in(node: Any, prefix_len: int, path: list[str | int], new: Any) -> Any:
    """object.go Set: returns the container with ``new`` at ``path``."""
    if not path:
        return new
    head = path[0]
    if node is None or not isinstance(node, list | dict):
        if node is not None and prefix_len > 1:
            raise CliError(f"expected {'an array' if isinstance(head, int) else 'a map'}")
        node = [None] * (head + 1) if isinstance(head, int) else {}
    if isinstance(node, list):
        if not isinstance(head, int):
            raise CliError("key for an array must be an int")
        if head < 0 or head > len(node):
            raise CliError("array index out of range")
        if head == len(node):
            node.append(None)
        node[head] = _set_in(node[head], prefix_len + 1, path[1:], new)
        return node
    if not isinstance(head, str):
        raise CliError("key for a map must be a string")
    node[head] = _set_in(node.get(head), prefix_len + 1, path[1:], new)
    return node


def _delete_in(node: Any, path: list[str | int]) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        if rest:
            _delete_in(node[head], rest)
        else:
            node.pop(head)
    elif isinstance(node, dict) and isinstance(head, str) and head in node:
        if rest:
            _delete_in(node[head], rest)
        else:
            del node[head]


class Stack:
    """A stack's config: ``values`` maps full keys to plain text or to objects; ``{"secure": text}`` marks a secret."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = values or {}

    @staticmethod
    def full_key(key: str) -> str:
        return key if ":" in key.split(".")[0].split("[")[0] else f"{PROJECT}:{key}"

    def set(
        self, key: str, text: str, *, path: bool, secret: bool = False, type_: str = "", plaintext: bool = False
    ) -> None:
        full = self.full_key(key)
        namespace, name = full.split(":", 1)
        if not secret and not plaintext and looks_like_secret(name, text):
            raise CliError(f"config value for '{key}' looks like a secret; rerun with --secret to encrypt it")
        value: Any = {"secure": text} if secret else _typed(text, type_)
        if not path:
            self.values[full] = value if (secret or type_) else text
            return
        parts = parse_path(name)
        root = f"{namespace}:{parts[0]}"
        if len(parts) == 1:
            self.values[root] = value if (secret or type_) else text
            return
        if not secret and not type_:
            value = coerce(text)
        self.values[root] = _set_in(self.values.get(root), 1, parts[1:], value)

    def get(self, key: str, *, path: bool) -> str:
        full = self.full_key(key)
        namespace, name = full.split(":", 1)
        parts = parse_path(name) if path else [name]
        node: Any = self.values.get(f"{namespace}:{parts[0]}", _MISSING)
        for part in parts[1:]:
            if (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)) or (
                isinstance(node, dict) and isinstance(part, str) and part in node
            ):
                node = node[part]
            else:
                node = _MISSING
                break
        if node is _MISSING:
            raise CliError(f"configuration key '{key}' not found for stack 'dev'")
        return _shown(_decrypted(node))

    def rm(self, key: str, *, path: bool) -> None:
        full = self.full_key(key)
        namespace, name = full.split(":", 1)
        parts = parse_path(name) if path else [name]
        root = f"{namespace}:{parts[0]}"
        if len(parts) == 1:
            self.values.pop(root, None)
        elif root in self.values:
            _delete_in(self.values[root], parts[1:])

    def program_view(self) -> tuple[dict[str, Any], list[str]]:
        """What the program reads (``__main__.read_stack_config``): each key's JSON decoded, and the secret keys."""
        raw: dict[str, Any] = {}
        secret: list[str] = []
        for full, value in self.values.items():
            namespace, name = full.split(":", 1)
            if namespace != PROJECT:
                continue
            if _has_secure(value):
                secret.append(name)
            text = _shown(_decrypted(value))
            raw[name] = _json_or_text(text)
        return raw, secret


def _typed(text: str, type_: str) -> Any:
    if type_ == "int":
        return int(text)
    if type_ == "bool":
        return text.lower() == "true"
    if type_ == "float":
        return float(text)
    return text


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(item) for item in value.values())
    return isinstance(value, list) and any(_has_secure(item) for item in value)


def _decrypted(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return value["secure"]
        return {name: _decrypted(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_decrypted(item) for item in value]
    return value


def _shown(value: Any) -> str:
    """map.go Get: text as it is, booleans and numbers as Go prints them, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def stack_from_program_view(raw: dict[str, Any], secret_paths: tuple[tuple[str | int, ...], ...] = ()) -> Stack:
    """A stack whose program view is ``raw``, with the values at ``secret_paths`` stored as secrets."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        values[f"{PROJECT}:{name}"] = value if isinstance(value, dict | list) else _shown(value)
    stack = Stack(json.loads(json.dumps(values)))
    for parts in secret_paths:
        node: Any = stack.values
        keys: list[str | int] = [f"{PROJECT}:{parts[0]}", *parts[1:]]
        for part in keys[:-1]:
            node = node[part]
        node[keys[-1]] = {"secure": node[keys[-1]]}
    return stack


def main(argv: list[str]) -> int:
    state_file = os.environ["FAKE_PULUMI_STATE"]
    with open(state_file) as handle:
        stack = Stack(json.load(handle))
    if argv[:1] != ["config"]:
        return 0  # stack init, up, preview, login: nothing to store
    command, args = argv[1], argv[2:]
    flags = {"--path": False, "--secret": False, "--plaintext": False}
    type_ = ""
    words: list[str] = []
    while args:
        word = args.pop(0)
        if word == "--":
            words.extend(args)
            break
        if word in flags:
            flags[word] = True
        elif word == "--type":
            type_ = args.pop(0)
        elif word.startswith("-"):
            print(f"error: unknown flag: {word}", file=sys.stderr)
            return 255
        else:
            words.append(word)
    try:
        if command == "set":
            if len(words) not in (1, 2):
                raise CliError(f"accepts 1 or 2 arg(s), received {len(words)}")
            value = words[1] if len(words) == 2 else _asked(words[0])
            stack.set(
                words[0],
                value,
                path=flags["--path"],
                secret=flags["--secret"],
                type_=type_,
                plaintext=flags["--plaintext"],
            )
        elif command == "rm":
            # `pulumi config rm` takes the one key (cmdutil.SpecificArgs([]string{"key"}) in config.go).
            if len(words) != 1:
                raise CliError(f"accepts 1 arg(s), received {len(words)}")
            stack.rm(words[0], path=flags["--path"])
        elif command == "get":
            print(stack.get(words[0], path=flags["--path"]))
        else:
            raise CliError(f"unknown command {command!r} for the stand-in")
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 255
    with open(state_file, "w") as handle:
        json.dump(stack.values, handle)
    return 0


def _asked(key: str) -> str:
    """What the operator gives when the CLI asks for ``key``'s value."""
    answers_file = os.environ.get("FAKE_PULUMI_ANSWERS")
    answers = json.loads(Path(answers_file).read_text()) if answers_file else {}
    if key in answers:
        return answers[key]
    return sys.stdin.read().removesuffix("\n")


def run_shell(
    stack: Stack, script: str, files: dict[str, str] | None = None, answers: dict[str, str] | None = None
) -> tuple[Stack, str]:
    """Runs ``script`` in bash, as an operator would type it in the project, with this stand-in as `pulumi`.

    ``answers``: what the operator types when a command asks for a key's value. Returns the stack
    afterwards and what the script printed on stderr; a failing command stops the script (as `&&` does)
    and raises ``CliError`` with that output.
    """
    import subprocess
    import tempfile
    from pathlib import Path

    project = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        (workdir / "config_schema").symlink_to(project / "config_schema")
        for name, content in (files or {}).items():
            (workdir / name).write_text(content)
        state = workdir / "state.json"
        state.write_text(json.dumps(stack.values))
        # The interpreter running the tests is the `python3` a fix may call (the project's virtualenv).
        bin_dir = workdir / "bin"
        bin_dir.mkdir()
        (bin_dir / "python3").symlink_to(sys.executable)
        answers_file = workdir / "answers.json"
        answers_file.write_text(json.dumps(answers or {}))
        env = {
            **os.environ,
            "FAKE_PULUMI_ANSWERS": str(answers_file),
            "FAKE_PULUMI_STATE": str(state),
            "PATH": f"{project / 'tests' / 'bin'}:{bin_dir}:{os.environ.get('PATH', '')}",
        }
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise CliError(f"{script!r} failed: {done.stderr.strip()}")
        return Stack(json.loads(state.read_text())), done.stderr
