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


def _first_request(idempotency_key: str | None) -> dict:
    """In a fresh interpreter, as a new container: ms to import the text-to-image handler and
    answer its first request (Bedrock, S3 and DynamoDB answered at botocore's before-send hook,
    tools/bench.py), and whether it loaded Powertools."""
    header = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
    code = f"""
import json, sys, time
sys.path[:0] = {[*bench.LAMBDA_PATH, str(ROOT / "tools")]!r}
import bench
bench.install_stub({{1: bench.bedrock_answer(1)}})
started = time.perf_counter()
import text_to_image
event = {{
    "httpMethod": "POST",
    "path": "/v1/text-to-image",
    "headers": {{"Host": "bench.execute-api.us-west-2.amazonaws.com", **{header!r}}},
    "requestContext": {{"domainName": "bench.execute-api.us-west-2.amazonaws.com", "path": "/prod/v1/text-to-image"}},
    "body": json.dumps(bench.request_body(1, "url")),
}}
status = text_to_image.handler(event, bench.Context())["statusCode"]
print(json.dumps({{
    "status": status,
    "ms": (time.perf_counter() - started) * 1000,
    "powertools": sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools")),
}}))
"""
    env = {**os.environ, **bench.ENV, "IMAGEGEN_IDEMPOTENCY_TABLE": "imagegen-idempotency"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_request_without_an_idempotency_key_does_not_import_powertools_and_one_with_it_costs_little():
    # Interleaved, best of 5 each (the suite shares two cores: one slow run must not decide).
    runs = [(_first_request(None), _first_request("retry-1")) for _ in range(5)]
    plain, keyed = runs[0]

    assert plain["status"] == keyed["status"] == 200
    assert plain["powertools"] == [], "a request without the header paid for importing Powertools"
    assert "aws_lambda_powertools.utilities.idempotency" in keyed["powertools"]
    # Measured here: ~20-25 ms more (Powertools' import ~10 ms, the DynamoDB client, its two calls
    # answered locally); a deployed request adds DynamoDB's round trips besides.
    extra = min(run[1]["ms"] for run in runs) - min(run[0]["ms"] for run in runs)
    assert extra <= 100, f"the first request with an Idempotency-Key took {extra:.0f} ms more"
