"""c2pa-python (a 21 MB native library) is loaded only where images are signed or read, and only
then: the functions outside core.topology's PROVENANCE_FUNCTIONS do not carry its layer
(tests/infra/test_stack.py), and none pays for it at a cold start before it signs or reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.routes import ROUTES, WORKERS

ROOT = Path(__file__).resolve().parents[2]
# Lambda's layout: the handler folder is the code root, the payload layer's python/ is on the path.
LAMBDA_PATH = os.pathsep.join([str(ROOT / "functions" / "handlers"), str(ROOT / "functions")])
MODULES = sorted({route.module for route in ROUTES} | set(WORKERS))


def test_importing_any_handler_never_tries_to_import_c2pa():
    # As in a function without the layer, and noting every attempt (one an `except ImportError` hid too).
    code = f"""
import importlib, json, sys

class NoC2pa:
    attempts = []

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] == "c2pa":
            cls.attempts.append(name)
            raise ImportError("no c2pa layer")
        return None

sys.meta_path.insert(0, NoC2pa)
for name in {MODULES!r}:
    importlib.import_module(name)
print(json.dumps(NoC2pa.attempts))
"""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": LAMBDA_PATH, "AWS_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
