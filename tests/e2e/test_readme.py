"""The README's examples, run as written against the local stack.

Every code block the README marks with ``MARK`` runs unchanged, but for the addresses (the
stack under test has its own port), in a folder where ``.venv``, ``docs`` and ``local`` are the
repository's, as a reader's shell at the repository's root would be. A shell block runs under
``set -euo pipefail`` with curl failing on an HTTP error, so any refused request fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARK = "<!-- example: tests/e2e/test_readme.py runs this block as written against make run -->"
BLOCK = re.compile(re.escape(MARK) + r"\n```(\w+)\n(.*?)\n```", re.DOTALL)
# curl as the blocks call it, but an HTTP error status fails the command (and so the block).
STRICT_CURL = 'curl() { command curl --fail-with-body --show-error "$@"; echo; }\n'


def examples() -> list[pytest.param]:
    text = README.read_text(encoding="utf-8")
    params = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        params.append(pytest.param(match.group(1), match.group(2), id=f"README.md:{line}"))
    return params


def test_the_marked_blocks_are_the_readmes_local_examples():
    # The mark must sit right above its block; a mark that matches nothing is a typo.
    text = README.read_text(encoding="utf-8")
    assert text.count(MARK) == len(examples()) >= 7


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reader")
    for name in (".venv", "docs", "local"):
        (folder / name).symlink_to(ROOT / name)
    return folder


@pytest.mark.parametrize(("language", "code"), examples())
def test_the_readme_example_runs_as_written(language, code, default_stack, workspace):
    stack = default_stack
    api = stack.info["api"].removesuffix("/v1")
    code = code.replace("http://127.0.0.1:8787", api).replace("http://127.0.0.1:8788", stack.info["customize"])
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "IMAGEGEN_"))}
    env["IMAGEGEN_LOCAL_DIR"] = str(stack.state_dir)
    env["XDG_CACHE_HOME"] = str(workspace / ".cache")  # the CLI's saved OpenAPI document, not the user's
    # As after `. .venv/bin/activate` (the imagegen section's first line), which the blocks after it assume.
    env["PATH"] = f"{workspace / '.venv/bin'}:{env['PATH']}"
    if language == "sh":
        command = ["bash", "-c", "set -euo pipefail\n" + STRICT_CURL + code]
    else:
        assert language == "python"
        command = [str(ROOT / ".venv/bin/python"), "-c", code]
    run = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    failed = [answer for answer in _answers(run.stdout) if "error" in answer]
    assert not failed, failed


def _answers(output: str) -> list[dict]:
    """The JSON objects printed one after another (curl adds no newline), skipping other text."""
    decoder, found, pos = json.JSONDecoder(), [], 0
    while (pos := output.find("{", pos)) != -1:
        try:
            value, pos = decoder.raw_decode(output, pos)
        except json.JSONDecodeError:
            pos += 1
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def test_the_example_images_fit_what_the_readme_says(workspace):
    # "512x512: fits every model's input rules", and the mask is the same size.
    with Image.open(ROOT / "docs/examples/photo.png") as photo, Image.open(ROOT / "docs/examples/mask.png") as mask:
        assert photo.size == mask.size == (512, 512)
