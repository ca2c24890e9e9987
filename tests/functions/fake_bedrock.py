"""A stand-in for Bedrock behind the real boto3 client.

It answers ``InvokeModel`` from botocore's ``before-send`` hook, after the request is
serialized and signed and before anything touches the network, so the client's own
response parsing, error codes and retries are the ones under test.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from imaging import b64, jpeg_bytes, png_bytes, webp_bytes

from imagegen.registry import inference_profile_model


class _Raw(io.BytesIO):
    def stream(self, **kwargs: Any):
        yield self.getvalue()


@dataclass
class Call:
    model_id: str
    body: dict[str, Any]
    headers: dict[str, str]


Responder = Callable[[str, dict[str, Any]], tuple[int, Any]]


def images_for(model_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    """The model's documented success shape, with small PNGs of the requested size."""
    if (inference_profile_model(model_id) or model_id).startswith("stability."):
        encode = {"jpeg": jpeg_bytes, "webp": webp_bytes}.get(body.get("output_format"), png_bytes)
        return 200, {"seeds": [body.get("seed") or 4242], "finish_reasons": [None], "images": [b64(encode(64, 64))]}
    config = body.get("imageGenerationConfig", {})
    count = config.get("numberOfImages", 1)
    width, height = config.get("width", 64), config.get("height", 64)
    shades = [(40 * i % 255, 90, 150) for i in range(count)]
    return 200, {"images": [b64(png_bytes(width, height, shade)) for shade in shades], "error": None}


def error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"__error__": code, "message": message}


class FakeBedrock:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responder: Responder = images_for
        self.delay = 0.0
        self._lock = threading.Lock()

    def install(self, client: Any) -> None:
        client.meta.events.register("before-send.bedrock-runtime.InvokeModel", self._send)

    def respond(self, responder: Responder) -> None:
        self.responder = responder

    def always(self, status: int, payload: Any) -> None:
        self.responder = lambda model_id, body: (status, payload)

    def timeout(self) -> None:
        def raise_timeout(model_id: str, body: dict[str, Any]) -> tuple[int, Any]:
            raise ReadTimeoutError(endpoint_url=f"https://bedrock-runtime/model/{model_id}/invoke")

        self.responder = raise_timeout

    def _send(self, request: Any, **kwargs: Any) -> AWSResponse:
        model_id = unquote(request.url.split("/model/", 1)[1].split("/", 1)[0])
        body = json.loads(request.body)
        with self._lock:
            headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
            self.calls.append(Call(model_id, body, headers))
        if self.delay:
            time.sleep(self.delay)
        status, payload = self.responder(model_id, body)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": "fake-request"}
        if isinstance(payload, dict) and "__error__" in payload:
            headers["x-amzn-ErrorType"] = f"{payload['__error__']}:http://internal.amazon.com/coral/"
            payload = {"message": payload["message"]}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers["Content-Length"] = str(len(data))
        return AWSResponse(request.url, status, headers, _Raw(data))
