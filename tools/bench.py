"""The hot path's cost against its floor: `make bench`.

A sync text-to-image request through the real handler, with Bedrock and S3 answered at
botocore's ``before-send`` hook (after the real clients serialized and signed each request; they
parse the answers), compared with the floor: the bare work of turning Bedrock's answer into
images, in the same process: the real client's InvokeModel (serialized, signed, parsed), then
``json.loads`` and ``b64decode`` of the same bytes. The first request's floor adds what any
function pays once: ``import boto3`` and its three clients. Everything else the handler does
(validation, the S3 writes with their checksums, presigned URLs, the manifest, the answer) is
its excess over the floor. Each line prints the ratio handler / floor (best of several runs,
the two sides interleaved, so that the machine's noise weighs on both alike) and its goal.

Not a timed test: the ratios depend on the machine, and `make bench` prints them to compare
(tests/functions/test_hot_path.py holds generous bounds on the same ratios).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PATH = [str(ROOT / "functions" / "handlers"), str(ROOT / "functions")]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "functions" / "handlers")]

from imagegen import samples  # noqa: E402 (the layer package, found through the path above)

OUTPUT_BUCKET = "bench-outputs"
REGION = "us-west-2"
MODEL_ID = "amazon.nova-canvas-v1:0"
# The images' side in pixels (BENCH_SIDE=512 make bench: smaller images, more weight on overheads).
SIDE = int(os.environ.get("BENCH_SIDE", "1024"))
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "IMAGEGEN_OUTPUT_BUCKET": OUTPUT_BUCKET,
    "IMAGEGEN_INPUT_BUCKET": "bench-inputs",
    "IMAGEGEN_BEDROCK_REGION": REGION,
    "IMAGEGEN_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:123456789012:stateMachine:bench",
}
GOALS = {"first request": 1.25, "warm, 1 image, url": 1.5, "warm, 4 images, url": 1.5, "warm, 1 image, base64": 1.5}


# --- the stand-in for AWS ------------------------------------------------------------------


def bedrock_answer(count: int) -> bytes:
    images = [base64.b64encode(samples.noise(SIDE, SIDE, seed)).decode("ascii") for seed in range(count)]
    return json.dumps({"images": images, "error": None}).encode()


class Raw(io.BytesIO):
    def stream(self, **kwargs: Any):
        yield self.getvalue()


def install_stub(answers: dict[int, bytes]) -> None:
    """Answer Bedrock's InvokeModel and S3's PutObject for every client made from now on."""
    import botocore.handlers
    from botocore.awsrequest import AWSResponse

    def send(request: Any, **kwargs: Any) -> AWSResponse:
        # Read the body as the HTTP layer sends it: a streamed one (an aws-chunked S3 upload
        # with its checksum trailer) does its work only when read.
        if hasattr(request.body, "read"):
            while request.body.read(1 << 20):
                pass
        if "/model/" in request.url:
            count = json.loads(request.body)["imageGenerationConfig"].get("numberOfImages", 1)
            body, headers = answers[count], {"content-type": "application/json"}
        else:
            body, headers = b"", {"ETag": '"bench"'}
        return AWSResponse(request.url, 200, headers, Raw(body))

    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", send))


# --- the two sides -----------------------------------------------------------------------


def request_body(count: int, response_format: str) -> dict[str, Any]:
    return {"model": "nova-canvas", "prompt": "a lighthouse at dusk", "numberOfImages": count, "width": SIDE,
            "height": SIDE, "mode": "sync", "responseFormat": response_format}  # fmt: skip


class Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def handler_call(count: int, response_format: str) -> dict[str, Any]:
    import text_to_image

    event = {
        "httpMethod": "POST",
        "path": "/v1/text-to-image",
        "headers": {"Host": "bench.execute-api.us-west-2.amazonaws.com"},
        "requestContext": {"domainName": "bench.execute-api.us-west-2.amazonaws.com", "path": "/prod/v1/text-to-image"},
        "body": json.dumps(request_body(count, response_format)),
    }
    response = text_to_image.handler(event, Context())
    assert response["statusCode"] == 200, response["body"][:300]
    return response


_FLOOR_CLIENTS: list[Any] = []


def floor_call(count: int, response_format: str) -> list[bytes]:
    """The bare work: the model's answer as images (the answer's format does not change it)."""
    import boto3

    if not _FLOOR_CLIENTS:
        _FLOOR_CLIENTS.extend(boto3.client(name) for name in ("bedrock-runtime", "s3", "stepfunctions"))
    bedrock = _FLOOR_CLIENTS[0]
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse at dusk"},
            "imageGenerationConfig": {"numberOfImages": count, "width": SIDE, "height": SIDE}}  # fmt: skip
    native = json.loads(bedrock.invoke_model(modelId=MODEL_ID, body=json.dumps(body))["body"].read())
    return [base64.b64decode(image) for image in native["images"]]


# --- measuring ---------------------------------------------------------------------------


def first_request(side: str, runs: int) -> float:
    """ms from the first import to the first answer, in a fresh interpreter (best of ``runs``)."""
    code = f"""
import sys
import time
sys.path[:0] = {[*LAMBDA_PATH, str(ROOT / "tools")]!r}
import bench
bench.install_stub({{1: bench.bedrock_answer(1)}})
stubbed = time.perf_counter()
bench.{side}_call(1, "url")
print((time.perf_counter() - stubbed) * 1000)
"""
    timings = []
    for _ in range(runs):
        env = {**os.environ, **ENV}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        timings.append(float(out.stdout.strip().splitlines()[-1]))
    return min(timings)


def warm(count: int, response_format: str, runs: int) -> tuple[float, float, int, int]:
    """Best ms per request of the handler and of the floor, their runs interleaved so that the
    machine's state weighs on both alike, then the peak bytes one request of each allocates."""
    sides = (handler_call, floor_call)
    best = [float("inf"), float("inf")]
    for side in sides:
        side(count, response_format)
    for _ in range(runs):
        for index, side in enumerate(sides):
            started = time.perf_counter()
            side(count, response_format)
            best[index] = min(best[index], (time.perf_counter() - started) * 1000)
    peaks = []
    for side in sides:
        tracemalloc.start()
        side(count, response_format)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best[0], best[1], peaks[0], peaks[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the hot path against its floor")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print {label: ratio} as JSON (for the tests)")
    args = parser.parse_args(argv)
    from core.topology import PROCESS_ENVIRONMENT

    if any(os.environ.get(name) != value for name, value in PROCESS_ENVIRONMENT.items()):
        # Both sides run in a process set up as the functions' are (glibc reads these at start).
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PROCESS_ENVIRONMENT})
    os.environ.update(ENV)
    sys.path[:0] = LAMBDA_PATH
    install_stub({count: bedrock_answer(count) for count in (1, 4)})

    rows = []
    # Interleaved, as the warm runs are: the machine's state weighs on both sides alike.
    firsts = [(first_request("handler", 1), first_request("floor", 1)) for _ in range(args.runs)]
    rows.append(("first request", min(run[0] for run in firsts), min(run[1] for run in firsts), None, None))
    for label, count, response_format in (
        ("warm, 1 image, url", 1, "url"),
        ("warm, 4 images, url", 4, "url"),
        ("warm, 1 image, base64", 1, "base64"),
    ):
        with contextlib.redirect_stdout(open(os.devnull, "w")):  # the handler's EMF lines
            handler_ms, floor_ms, handler_peak, floor_peak = warm(count, response_format, args.runs)
        rows.append((label, handler_ms, floor_ms, handler_peak, floor_peak))

    if args.json:
        print(json.dumps({label: handler_ms / floor_ms for label, handler_ms, floor_ms, _, _ in rows}))
        return 0
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{SIDE}x{SIDE} PNGs of {len(samples.noise(SIDE, SIDE, 0)) / 1e6:.1f} MB; best of {args.runs}")  # fmt: skip
    print(f"{'':24}{'handler':>10}{'floor':>10}{'ratio':>8}{'goal':>7}{'peak memory':>14}")
    for label, handler_ms, floor_ms, handler_peak, floor_peak in rows:
        ratio = handler_ms / floor_ms
        memory = f"{handler_peak / floor_peak:.1f}x" if handler_peak else ""
        mark = "ok" if ratio <= GOALS[label] else "over the goal"
        print(f"{label:24}{handler_ms:8.1f}ms{floor_ms:8.1f}ms{ratio:7.2f}x{GOALS[label]:6.2f}x{memory:>12}  {mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
