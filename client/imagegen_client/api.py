"""A client of the public HTTP API: tasks, jobs, uploads, models and usage, with the standard library only.

client = Client("https://abc.execute-api.us-west-2.amazonaws.com/prod/v1", "my-key")
job = client.text_to_image(prompt="a fox in the snow", number_of_images=2)
client.download(job, "out/")
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

# A local image up to this size travels inside the request as base64; a larger one is sent to
# POST /v1/uploads first and named by its s3:// URI, which keeps the request far under the
# API's 6 MB body limit (base64 adds a third).
INLINE_IMAGE_LIMIT_BYTES = 1024 * 1024
# An image to verify is sent whole (its bytes are what the signature covers): inline up to this
# size (base64 adds a third: ~5.3 MB of the 6 MB body), uploaded first when larger.
VERIFY_INLINE_LIMIT_BYTES = 4 * 1024 * 1024
POLL_INTERVAL_SECONDS = 1.0
# While a job is polled the API may restart (`make run` again, a redeploy): a poll that gets no
# answer at all (connection refused, reset, closed) is tried again, waiting longer each time,
# for up to this long before the client gives up. Only polls: a GET of a job is safe to repeat,
# a POST that starts paid work is not.
RECONNECT_SECONDS = 30.0
RECONNECT_FIRST_DELAY_SECONDS = 0.5
RECONNECT_MAX_DELAY_SECONDS = 5.0
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# What a file's first bytes say it is; an upload's content type must be one of these.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))

Job = dict[str, Any]
StatusCallback = Callable[[Job, float], None]
DownloadCallback = Callable[[int, int, int, int | None], None]
# (why the poll got no answer, seconds of retrying left)
RetryCallback = Callable[["ApiError", float], None]


class ApiError(Exception):
    """An answer of the API other than success (or no answer at all: ``status`` 0)."""

    def __init__(
        self, status: int, message: str, code: str = "", details: list[dict[str, Any]] | None = None,
        job: Job | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details or []
        # A job that ended FAILED: the job as the API answered it (``status`` is 0: the API
        # answered, the job failed).
        self.job = job

    def __str__(self) -> str:
        if self.status:
            head = f"{self.message} ({self.status} {self.code})".replace(" )", ")")
        else:
            head = f"{self.message} ({self.code})" if self.code else self.message
        lines = [head]
        for detail in self.details:
            line = f"{detail.get('field', '?')}: {detail.get('message', '')}"
            if line != self.message:  # a single field's error is usually the message itself
                lines.append(f"  {line}")
        return "\n".join(lines)

    @classmethod
    def of_job(cls, job: Job) -> ApiError:
        """A job that ended FAILED: "job <id> FAILED: <message> (<code>)", the job in ``job``."""
        error = job.get("error") or {}
        return cls(0, f"job {job.get('id')} FAILED: {error.get('message') or 'no reason given'}",
                   error.get("code", ""), error.get("details"), job=job)  # fmt: skip


class Unreachable(ApiError):
    """No answer at all: the connection was refused, reset or closed before the API answered
    (the API restarting, for one). Worth another try, for a request that is safe to repeat."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class Client:
    """The API at ``api_url`` (the stack's ``ApiUrl`` output, ending in ``/v1``; a URL without
    it gets it) with ``api_key``."""

    def __init__(
        self, api_url: str, api_key: str, timeout: float = 60, *, on_retry: RetryCallback | None = None
    ) -> None:
        """``on_retry(error, seconds_left)`` sees each poll of a job that got no answer and is tried again."""
        self.api_url = base_url(api_url)
        self.api_key = api_key
        self.timeout = timeout
        self.on_retry = on_retry

    # --- the routes ----------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        return self.call("GET", "/models")["models"]

    def verify(self, source: str | Path | bytes) -> dict[str, Any]:
        """What an image's content credentials (C2PA) say (POST /v1/verify): ``valid``, ``trusted``,
        ``manifest``, ``reasons``, ``signer``, ``aiGenerated``, ``model``, ``jobId``, ``created``,
        ``ingredients``... A file larger than VERIFY_INLINE_LIMIT_BYTES is uploaded first; an
        ``s3://`` URI (an upload's) is sent as it is."""
        if isinstance(source, str) and source.startswith("s3://"):
            return self.call("POST", "/verify", {"image": source})
        data = Path(source).read_bytes() if isinstance(source, str | Path) else source
        image = base64.b64encode(data).decode("ascii") if len(data) <= VERIFY_INLINE_LIMIT_BYTES else self.upload(data)
        return self.call("POST", "/verify", {"image": image})

    def openapi(self) -> dict[str, Any]:
        """The deployment's OpenAPI document (served without a key): its tasks and their fields."""
        return self.call("GET", "/openapi.json")

    def job(self, job_id: str) -> Job:
        return self.call("GET", f"/jobs/{job_id}")

    def usage(self, start: date | str | None = None, end: date | str | None = None) -> dict[str, Any]:
        """The key's team's requests, images and USD per day and per model from ``start`` to
        ``end`` (UTC days; the API's default: the last 30 days), and its month against its budget."""
        query = {name: str(day) for name, day in (("from", start), ("to", end)) if day is not None}
        return self.call("GET", "/usage" + (f"?{urllib.parse.urlencode(query)}" if query else ""))

    def run(
        self, task: str, fields: dict[str, Any], *, wait: bool = True, on_status: StatusCallback | None = None
    ) -> Job:
        """POST ``fields`` to the task's route. A job started asynchronously (202) is polled to its
        end when ``wait``; a job that ends FAILED raises ApiError."""
        body = {_camel(name): self.image_value(value) for name, value in fields.items() if value is not None}
        job = self.call("POST", f"/{task}", body)
        if job.get("status") == "RUNNING" and wait:
            job = self.wait(job, on_status)
        if job.get("status") == "FAILED":
            raise ApiError.of_job(job)
        return job

    def wait(self, job: Job | str, on_status: StatusCallback | None = None, timeout: float | None = None) -> Job:
        """Poll a job (or a job id) until it is no longer RUNNING; ``on_status(job, elapsed)`` sees each poll.

        A poll that gets no answer is tried again for up to RECONNECT_SECONDS (see ``poll``)."""
        if isinstance(job, str):
            job = self.poll(f"/jobs/{job}")
        started = time.monotonic()
        location = job.get("statusUrl") or f"/jobs/{job['id']}"
        while True:
            elapsed = time.monotonic() - started
            if on_status is not None:
                on_status(job, elapsed)
            if job.get("status") != "RUNNING":
                return job
            if timeout is not None and elapsed > timeout:
                raise ApiError(0, f"job {job['id']} still running after {timeout:.0f} s")
            time.sleep(POLL_INTERVAL_SECONDS)
            job = self.poll(location)

    def poll(self, path: str) -> Any:
        """GET ``path``, riding out a restart of the API: while it gets no answer at all it is
        tried again, waiting longer each time, for up to RECONNECT_SECONDS. For GETs only: a
        request that starts paid work is never sent twice."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        delay = RECONNECT_FIRST_DELAY_SECONDS
        while True:
            try:
                return self.call("GET", path)
            except Unreachable as error:
                left = deadline - time.monotonic()
                if left <= 0:
                    gave_up = f"no answer after retrying for {RECONNECT_SECONDS:g} s"
                    raise Unreachable(f"{error.message} ({gave_up})") from None
                if self.on_retry is not None:
                    self.on_retry(error, left)
                time.sleep(min(delay, left))
                delay = min(delay * 2, RECONNECT_MAX_DELAY_SECONDS)

    def upload(self, source: str | Path | bytes) -> str:
        """Send an image through a presigned POST (POST /v1/uploads); return its s3:// URI."""
        data = Path(source).read_bytes() if isinstance(source, str | Path) else source
        form = self.call("POST", "/uploads", {"contentType": content_type_of(data)})
        if len(data) > form.get("maxBytes", len(data)):
            raise ApiError(413, f"the image is {len(data):,} bytes, over the {form['maxBytes']:,} an upload may be")
        boundary = uuid.uuid4().hex
        parts = [_form_field(boundary, name, value) for name, value in form["fields"].items()]
        parts.append(_form_file(boundary, data))
        request = urllib.request.Request(
            form["uploadUrl"], data=b"".join(parts), method="POST",
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        status, answer = self._send(request)
        if status >= 300:
            raise ApiError(status, f"the upload was refused by storage: {str(answer)[:300]}")
        return form["s3Uri"]

    def download(self, job: Job, out_dir: str | Path, on_progress: DownloadCallback | None = None) -> list[Path]:
        """Write every image of ``job`` as ``<job id>-<n>.<ext>`` into ``out_dir``; return the paths.

        ``on_progress(index, count, bytes_done, bytes_total)`` sees each chunk."""
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        images = job.get("images") or []
        paths = []
        for index, image in enumerate(images):
            path = folder / f"{job['id']}-{index}.{EXTENSIONS.get(image.get('contentType', ''), 'png')}"
            if "base64" in image:
                path.write_bytes(base64.b64decode(image["base64"]))
            else:
                with path.open("wb") as file:
                    for done, total, chunk in self._stream(image["url"]):
                        file.write(chunk)
                        if on_progress is not None:
                            on_progress(index, len(images), done, total)
            paths.append(path)
        return paths

    # --- one method per task -------------------------------------------------------------
    # Fields are the request's, in snake_case or camelCase; a local image may be a Path or bytes.

    def text_to_image(self, **fields: Any) -> Job:
        return self.run("text-to-image", fields)

    def color_guided(self, **fields: Any) -> Job:
        return self.run("color-guided", fields)

    def image_variation(self, **fields: Any) -> Job:
        return self.run("image-variation", fields)

    def inpainting(self, **fields: Any) -> Job:
        return self.run("inpainting", fields)

    def outpainting(self, **fields: Any) -> Job:
        return self.run("outpainting", fields)

    def background_removal(self, **fields: Any) -> Job:
        return self.run("background-removal", fields)

    def upscale(self, **fields: Any) -> Job:
        return self.run("upscale", fields)

    def search_replace(self, **fields: Any) -> Job:
        return self.run("search-replace", fields)

    def search_recolor(self, **fields: Any) -> Job:
        return self.run("search-recolor", fields)

    def erase_object(self, **fields: Any) -> Job:
        return self.run("erase-object", fields)

    def style_transfer(self, **fields: Any) -> Job:
        return self.run("style-transfer", fields)

    # --- HTTP ----------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; an answer of 400 or more raises ApiError with the API's message and fields."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        headers = {"x-api-key": self.api_key, "accept": "application/json"}
        data = None
        if body is not None:
            data, headers["content-type"] = json.dumps(body).encode(), "application/json"
        status, answer = self._send(urllib.request.Request(url, data=data, headers=headers, method=method))
        if status >= 400:
            raise _api_error(status, answer)
        return answer

    def _send(self, request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            message = f"{request.full_url.split('?')[0]} cannot be reached: {reason}"
            # Refused, reset, or closed mid-answer: the server is (re)starting or went away. A
            # timeout or an unknown host is not that, and is not worth a wait.
            if isinstance(reason, ConnectionError | http.client.HTTPException):
                raise Unreachable(message) from None
            raise ApiError(0, message) from None

    def _stream(self, url: str) -> Iterator[tuple[int, int | None, bytes]]:
        """A presigned GET (no key: the signature is the credential), in chunks."""
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                total = int(response.headers["content-length"]) if response.headers.get("content-length") else None
                done = 0
                while chunk := response.read(64 * 1024):
                    done += len(chunk)
                    yield done, total, chunk
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, f"downloading an image failed: {error.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise ApiError(0, f"downloading an image failed: {getattr(error, 'reason', error)}") from None

    def image_value(self, value: Any) -> Any:
        """A local image (Path or bytes) becomes base64 when small, an uploaded s3:// URI when not."""
        if isinstance(value, list):
            return [self.image_value(item) for item in value]
        if isinstance(value, Path):
            value = value.read_bytes()
        if isinstance(value, bytes):
            if len(value) <= INLINE_IMAGE_LIMIT_BYTES:
                return base64.b64encode(value).decode("ascii")
            return self.upload(value)
        return value


def base_url(api_url: str) -> str:
    """The API's base URL, ending in /v1: the stack's ApiUrl output, or its root (/v1 is added)."""
    url = api_url.strip().rstrip("/")
    path = urllib.parse.urlsplit(url).path
    return url if path == "/v1" or path.endswith("/v1") else url + "/v1"


def content_type_of(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ApiError(400, "not a PNG, JPEG or WebP image")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode("utf-8", "replace")


def _api_error(status: int, answer: Any) -> ApiError:
    error = answer.get("error") if isinstance(answer, dict) else None
    # A missing or wrong key: 401 invalid_api_key (an API deployed before it answered 403 Forbidden).
    if status == 401 or (status == 403 and "Forbidden" in str(answer)):
        return ApiError(status, "the API refused the key: check --api-key or IMAGEGEN_API_KEY", "invalid_api_key")
    if isinstance(error, dict):
        return ApiError(status, error.get("message", ""), error.get("code", ""), error.get("details"))
    if isinstance(answer, dict) and "message" in answer:  # API Gateway's own answers
        return ApiError(status, str(answer["message"]))
    return ApiError(status, re.sub(r"\s+", " ", str(answer))[:300])


def _form_field(boundary: str, name: str, value: str) -> bytes:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def _form_file(boundary: str, data: bytes) -> bytes:
    kind = content_type_of(data)
    filename = f"image.{EXTENSIONS[kind]}"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    return f"{head}Content-Type: {kind}\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
