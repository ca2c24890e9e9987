"""Smoke test of a deployment (or of `make run`): `make smoke API_URL=... API_KEY=...`.

Calls the public API through the imagegen client: the models, one small sync image, one async
job polled to the end, an upload used by a request; each image is downloaded and checked. Each
step prints what it checked; the first failure ends the run with exit status 1 and says what
failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imagegen_client import ApiError, Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))

from imagegen import samples  # noqa: E402 (the layer package, found through the path above)

PROMPT = "smoke test: a red circle on a white background"
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF")
JOB_TIMEOUT_SECONDS = 300


class SmokeFailure(Exception):
    pass


def run(api: Client, out=sys.stdout) -> None:
    def passed(step: str, started: float, detail: str) -> None:
        print(f"ok   {step:<10} {time.monotonic() - started:6.1f} s  {detail}", file=out, flush=True)

    started = time.monotonic()
    models = _step("models", api.models)
    if not models:
        raise SmokeFailure("models: the deployment serves no model")
    tasks = {task for model in models for task in model.get("tasks", [])}
    passed("models", started, f"{len(models)} models: {', '.join(model['name'] for model in models)}")

    started = time.monotonic()
    job = _step("sync", api.text_to_image, prompt=PROMPT, mode="sync")
    _check_images("sync", api, job)
    passed("sync", started, f"job {job['id']}: {job['model']}, {_describe(job['images'][0])}")

    started = time.monotonic()
    begun = _step("async", api.run, "text-to-image", {"prompt": PROMPT, "mode": "async"}, wait=False)
    if begun.get("status") != "RUNNING":
        raise SmokeFailure(f"async: the job was not started as a job: {begun}")
    job = _step("async", api.wait, begun, timeout=JOB_TIMEOUT_SECONDS)
    if job.get("status") == "FAILED":
        raise SmokeFailure(f"async: job {job['id']} failed: {(job.get('error') or {}).get('message')}")
    _check_images("async", api, job)
    passed("async", started, f"job {job['id']} polled to {job['status']}")

    started = time.monotonic()
    uri = _step("upload", api.upload, samples.png(512, 512, (200, 40, 40)))
    detail = f"posted to {uri}"
    if "background-removal" in tasks:
        job = _step("upload", api.background_removal, image=uri, mode="sync")
        _check_images("upload", api, job)
        detail += f", used by background-removal (job {job['id']})"
    passed("upload", started, detail)


def _step(step: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ApiError as error:
        raise SmokeFailure(f"{step}: {error}") from None


def _check_images(step: str, api: Client, job: dict[str, Any]) -> None:
    if job.get("status") != "SUCCEEDED" or not job.get("images"):
        raise SmokeFailure(f"{step}: job {job.get('id')} has no images: {job}")
    with tempfile.TemporaryDirectory() as folder:
        for path in _step(step, api.download, job, folder):
            if not path.read_bytes()[:16].startswith(IMAGE_SIGNATURES):
                raise SmokeFailure(f"{step}: {path.name} of job {job['id']} is not an image")


def _describe(image: dict[str, Any]) -> str:
    return f"{image['width']}x{image['height']} {image['contentType']}"


def _local_stack() -> tuple[str, str] | None:
    info = ROOT / ".local" / "stack.json"
    if not info.exists():
        return None
    stack = json.loads(info.read_text())
    return stack["api"], stack["apiKey"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default="", help="the ApiUrl output (…/prod/v1); default: a running `make run`")
    parser.add_argument("--api-key", default="", help="the API key; default: the running `make run`'s")
    args = parser.parse_args(argv)
    url, key = args.api_url, args.api_key
    if not url:
        local = _local_stack()
        if local is None:
            print("smoke: give API_URL and API_KEY, or start `make run` first", file=sys.stderr)
            return 2
        url, key = url or local[0], key or local[1]
    print(f"smoke test of {url}", flush=True)
    try:
        run(Client(url, key))
    except SmokeFailure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    print("smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
