"""`make smoke`, the post-deploy check, against the local stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_smoke(api_url: str, api_key: str) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", "smoke", f"API_URL={api_url}", f"API_KEY={api_key}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_make_smoke_passes_against_a_working_stack(stack):
    run = make_smoke(stack.info["api"], stack.info["apiKey"])

    assert run.returncode == 0, run.stdout + run.stderr
    checked = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("ok ")]
    assert checked == ["models", "sync", "async", "upload"]
    assert "used by background-removal" in run.stdout
    assert run.stdout.rstrip().endswith("smoke test passed")


def test_make_smoke_fails_clearly_on_a_wrong_key(stack):
    run = make_smoke(stack.info["api"], "not-the-key")

    assert run.returncode != 0
    assert "FAIL models: the API refused the key" in run.stderr and "401" in run.stderr
    assert "Traceback" not in run.stderr


def test_make_smoke_fails_clearly_when_the_api_is_not_there(stack):
    run = make_smoke("http://127.0.0.1:9/v1", stack.info["apiKey"])

    assert run.returncode != 0
    assert "cannot be reached" in run.stderr and "Traceback" not in run.stderr
