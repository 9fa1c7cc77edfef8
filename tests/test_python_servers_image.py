"""The servers image copies the virtualenv's interpreter links whichever python3 made the virtualenv.

A fresh machine's `bash tests/run` builds the servers' virtualenv with its own venv active, so its python3 links
to python3.11 inside the virtualenv before it leaves; the copy already holds that link (a fresh run failed with
FileExistsError there before it was handled).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.python_servers_image import copy_interpreter_links


@pytest.mark.parametrize("from_a_virtualenv", [False, True])
def test_the_chain_to_the_interpreter_is_copied(tmp_path: Path, from_a_virtualenv: bool) -> None:
    interpreter = Path(sys.executable).resolve()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    if from_a_virtualenv:
        (venv / "bin/python3.11").symlink_to(interpreter)
        (venv / "bin/python3").symlink_to("python3.11")
    else:
        (venv / "bin/python3").symlink_to(interpreter)
    root = tmp_path / "root"
    # The virtualenv is copied first, links as they are (cp -a), as build_python_servers does.
    (root / venv.parent.relative_to("/")).mkdir(parents=True)
    subprocess.run(["cp", "-a", str(venv), str(root / venv.relative_to("/"))], check=True)
    copy_interpreter_links(venv, root)
    copied = root / venv.relative_to("/") / "bin/python3"
    assert copied.is_symlink()
    # Followed inside the image root, the chain ends at the interpreter's own path (copied there afterwards).
    hop = copied
    while hop.is_symlink():
        target = hop.readlink()
        hop = root / target.relative_to("/") if target.is_absolute() else hop.parent / target
    assert hop == root / interpreter.relative_to("/")
