"""``import imagegen`` must stay free: no cloud SDK, no web framework, no schema building."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def modules_after(code: str) -> set[str]:
    """The modules ``code`` loads, beyond what the interpreter had at start.

    (Site hooks may preload some: functions-framework's namespace .pth creates ``google``.)
    """
    script = (
        f"import sys, json\nbefore = set(sys.modules)\n{code}\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    )
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout))


def roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


FORBIDDEN = {"boto3", "botocore", "google", "flask", "functions_framework"}


def test_import_imagegen_loads_no_sdk_and_no_pydantic():
    loaded = roots(modules_after("import imagegen"))
    assert not loaded & FORBIDDEN
    assert "pydantic" not in loaded, "schemas should load on first use, not at import"
    assert "PIL" not in loaded


def test_building_a_request_still_loads_no_cloud_sdk_or_pillow():
    code = "import imagegen\nimagegen.build_request('text-to-image', {'prompt': 'x'})"
    loaded = roots(modules_after(code))
    assert not loaded & FORBIDDEN
    assert "PIL" not in loaded  # Pillow is for pixel checks only


def test_only_the_used_task_schema_is_built():
    code = (
        "import imagegen\nimagegen.build_request('text-to-image', {'prompt': 'x'})\n"
        "from imagegen import schema\n"
        "built = [n for n, m in vars(schema).items() if isinstance(m, type) and "
        "issubclass(m, schema.Request) and m.__pydantic_complete__]\n"
        "print(json.dumps(built))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    out = subprocess.run([sys.executable, "-c", f"import json\n{code}"], env=env, check=True, capture_output=True,
                         text=True)  # fmt: skip
    assert json.loads(out.stdout.splitlines()[0]) == ["TextToImage"]
