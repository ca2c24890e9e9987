"""A cold start: importing a handler makes no AWS call and loads nothing heavy, and the first
request (import, clients, first call) stays within a bound of the same work done bare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.routes import ROUTES, WORKERS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import bench  # noqa: E402  (tools/ is not a package)

# Lambda's layout: the handler folder is the code root, the layer's python/ is on the path.
LAMBDA_PATH = os.pathsep.join([str(ROOT / "functions" / "handlers"), str(ROOT / "functions")])
MODULES = [route.module for route in ROUTES] + list(WORKERS)


def run_python(code: str) -> str:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": LAMBDA_PATH, "AWS_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_route_and_worker_has_a_handler_module():
    assert {path.stem for path in (ROOT / "functions" / "handlers").glob("*.py")} == set(MODULES)


def test_importing_every_handler_makes_no_network_call_and_loads_nothing_heavy():
    code = f"""
import json, socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("network call at import time")
socket.socket.connect = refuse
socket.create_connection = refuse
import importlib
handlers = [importlib.import_module(name).handler for name in {MODULES!r}]
from core import clients
print(json.dumps({{
    "callable": all(callable(h) for h in handlers),
    "clients": clients._bedrock.cache_info().currsize + clients.s3.cache_info().currsize
        + clients.stepfunctions.cache_info().currsize,
    "heavy": sorted(m for m in ("pydantic", "PIL", "imagegen.schema", "imagegen.request") if m in sys.modules),
}}))
"""
    report = json.loads(run_python(code))

    assert report == {"callable": True, "clients": 0, "heavy": []}


def _import_costs() -> tuple[float, float]:
    """In one fresh interpreter: ms to import boto3, then ms more to import a task handler."""
    code = """
import time
started = time.perf_counter()
import boto3
floor = time.perf_counter()
import text_to_image
print((floor - started) * 1000, (time.perf_counter() - floor) * 1000)
"""
    floor, extra = run_python(code).split()
    return float(floor), float(extra)


def test_task_handler_import_stays_close_to_import_boto3():
    # Both in the same process, moments apart, so the machine's speed affects them alike; best of 5.
    runs = [_import_costs() for _ in range(5)]
    floor, extra = min(run[0] for run in runs), min(run[1] for run in runs)

    # Measured here: boto3 ~270 ms, the handler ~15-40 ms more.
    assert extra <= max(60, 0.25 * floor), f"import text_to_image adds {extra:.0f} ms to import boto3's {floor:.0f} ms"


def test_the_first_request_stays_within_a_bound_of_the_bare_floor():
    """Import + clients + the first text-to-image request, Bedrock and S3 answered at botocore's
    before-send hook, against three bare boto3 clients making the same calls (tools/bench.py)."""
    # Interleaved, best of 5 each: in a parallel run the other workers' load comes and goes, and
    # so weighs on both sides alike.
    runs = [(bench.first_request("handler", runs=1), bench.first_request("floor", runs=1)) for _ in range(5)]
    handler, floor = min(run[0] for run in runs), min(run[1] for run in runs)

    # Measured here at 1.6-1.75x against the bare InvokeModel and decode: pydantic's import and the
    # request model's build (~50-70 ms) are what the floor does not pay. `make bench` reports it
    # against the 1.25x goal.
    assert handler <= 2.25 * floor, f"first request {handler:.0f} ms against a floor of {floor:.0f} ms"


def test_the_warm_hot_path_stays_within_a_bound_of_the_bare_work():
    """`make bench`'s warm ratios (handler / the bare InvokeModel + json.loads + b64decode), as it
    measures them, in a process set up as the functions' are; generous bounds over the 1.5x goals
    (measured here at 1.27-1.34x), since the test suite shares the machine."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench.py"), "--runs", "5", "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BENCH_SIDE": "1024"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    ratios = json.loads(result.stdout.strip().splitlines()[-1])

    for label in ("warm, 1 image, url", "warm, 4 images, url", "warm, 1 image, base64"):
        assert ratios[label] <= 2.0, f"{label}: {ratios[label]:.2f}x the bare work (goal 1.5x)"
