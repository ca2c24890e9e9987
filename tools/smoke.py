"""Smoke test of a deployment (or of `make run`): `make smoke API_URL=... API_KEY=...`.

Calls the public API as a client would: the models, one small sync image, one async job polled
to the end, an upload used by a request. Each step prints what it checked; the first failure
ends the run with exit status 1 and says what failed. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))

from imagegen import samples  # noqa: E402 (the layer package, found through the path above)

PROMPT = "smoke test: a red circle on a white background"
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF")
JOB_TIMEOUT_SECONDS = 300


class SmokeFailure(Exception):
    pass


class Api:
    def __init__(self, url: str, key: str, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = path if path.startswith("http") else f"{self.url}{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"x-api-key": self.key, "content-type": "application/json"}
        return _json(urllib.request.Request(url, data=data, headers=headers, method=method), self.timeout)

    def expect(self, step: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        code, answer = self.call(method, path, body)
        if code == 403:
            raise SmokeFailure(f"{step}: the API refused the key (403): check API_KEY and that it is in the usage plan")
        if code != status:
            raise SmokeFailure(f"{step}: {method} {path} answered {code}, expected {status}: {_message(answer)}")
        return answer


def run(api: Api, out=sys.stdout) -> None:
    def passed(step: str, started: float, detail: str) -> None:
        print(f"ok   {step:<10} {time.monotonic() - started:6.1f} s  {detail}", file=out, flush=True)

    started = time.monotonic()
    models = api.expect("models", "GET", "/models")["models"]
    if not models:
        raise SmokeFailure("models: the deployment serves no model")
    tasks = {task for model in models for task in model.get("tasks", [])}
    passed("models", started, f"{len(models)} models: {', '.join(model['name'] for model in models)}")

    started = time.monotonic()
    job = api.expect("sync", "POST", "/text-to-image", {"prompt": PROMPT, "mode": "sync"})
    _check_images("sync", job)
    passed("sync", started, f"job {job['id']}: {job['model']}, {_describe(job['images'][0])}")

    started = time.monotonic()
    begun = api.expect("async", "POST", "/text-to-image", {"prompt": PROMPT, "mode": "async"}, status=202)
    job = _wait(api, begun["statusUrl"])
    _check_images("async", job)
    passed("async", started, f"job {job['id']} polled to {job['status']}")

    started = time.monotonic()
    upload = api.expect("upload", "POST", "/uploads", {"contentType": "image/png"})
    _post_form(upload["uploadUrl"], upload["fields"], samples.png(512, 512, (200, 40, 40)), api.timeout)
    detail = f"posted to {upload['s3Uri']}"
    if "background-removal" in tasks:
        job = api.expect("upload", "POST", "/background-removal", {"image": upload["s3Uri"], "mode": "sync"})
        _check_images("upload", job)
        detail += f", used by background-removal (job {job['id']})"
    passed("upload", started, detail)


def _wait(api: Api, status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job = api.expect("async", "GET", status_url)
        if job["status"] == "FAILED":
            raise SmokeFailure(f"async: job {job['id']} failed: {_message(job)}")
        if job["status"] == "SUCCEEDED":
            return job
        time.sleep(2)
    raise SmokeFailure(f"async: the job was still running after {JOB_TIMEOUT_SECONDS} s: {status_url}")


def _check_images(step: str, job: dict[str, Any]) -> None:
    if job.get("status") != "SUCCEEDED" or not job.get("images"):
        raise SmokeFailure(f"{step}: job {job.get('id')} has no images: {_message(job)}")
    for image in job["images"]:
        with urllib.request.urlopen(image["url"], timeout=60) as response:  # a presigned GET: no key
            head = response.read(16)
        if not head.startswith(IMAGE_SIGNATURES):
            raise SmokeFailure(f"{step}: {image['s3Uri']} is not an image")


def _post_form(url: str, fields: dict[str, str], data: bytes, timeout: float) -> None:
    """The presigned POST: every field, then the file, as multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]  # fmt: skip
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="smoke.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=b"".join(parts), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass
    except urllib.error.HTTPError as error:
        raise SmokeFailure(f"upload: S3 refused the form ({error.code}): {error.read()[:300]!r}") from None


def _json(request: urllib.request.Request, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body.decode("utf-8", "replace")[:300]
    except (urllib.error.URLError, TimeoutError) as error:
        raise SmokeFailure(f"{request.full_url} cannot be reached: {getattr(error, 'reason', error)}") from None


def _message(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("message", "")
    return str(answer)[:300]


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
        run(Api(url, key))
    except SmokeFailure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    print("smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
