"""The requests Open WebUI, LibreChat and the openai SDK really send (recorded from their public
source in tests/fixtures/clients/, each entry naming its repository, file and commit), replayed
byte for byte against the local stack; the answer must give each client what it reads to show
an image."""

from __future__ import annotations

import base64
import io
import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_local_stack import scene
from test_openai_clients import transparent_centre

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
CLIENTS = ("open-webui", "librechat", "openai-python")
# What a recorded file part stands for.
_FILES = {"<png>": "PNG", "<jpeg>": "JPEG", "<webp>": "WEBP"}
# Headers the replay's HTTP library sets itself from the body it sends.
_OWN_HEADERS = {"content-length", "accept-encoding", "transfer-encoding", "host", "connection"}


def _recorded() -> list[tuple[str, dict[str, Any]]]:
    requests = []
    for client in CLIENTS:
        for entry in json.loads((FIXTURES / f"{client}.json").read_text()):
            # Requests to this API only: not a client's fetch of a URL it got, not a list it keeps itself.
            if (entry.get("path") or "").startswith("/") and ("json" in entry or "multipart" in entry):
                requests.append((client, entry))
    return requests


RECORDED = _recorded()


def _file(placeholder: str, name: str) -> bytes:
    """A file part's bytes: a scene, or for a mask, OpenAI's kind (transparent where to edit;
    OpenAI refuses a mask without alpha, and so does this API)."""
    image = transparent_centre(512) if name == "mask" else scene(512)
    buffer = io.BytesIO()
    image.save(buffer, _FILES[placeholder])
    return buffer.getvalue()


def _multipart(parts: list[dict[str, Any]], content_type: str) -> tuple[bytes, str]:
    """The form as the client lays it out: its part order, names, filenames and part types."""
    boundary = "----replay" + secrets.token_hex(12)
    content_type = content_type.split("boundary=")[0] + f"boundary={boundary}"
    chunks = []
    for part in parts:
        disposition = f'form-data; name="{part["name"]}"'
        if "filename" in part:
            disposition += f'; filename="{part["filename"].replace("<uuid4>", secrets.token_hex(16))}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.get("content_type"):
            head += f"Content-Type: {part['content_type']}\r\n"
        value = _file(part["file"], part["name"]) if "file" in part else str(part["value"]).encode()
        chunks.append(head.encode() + b"\r\n" + value + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), content_type


def replay(stack, entry: dict[str, Any], key: str) -> tuple[int, dict[str, str], bytes]:
    headers = {
        name: value.replace("<key>", key)
        for name, value in entry.get("headers", {}).items()
        if name.lower() not in _OWN_HEADERS
    }
    if "multipart" in entry:
        name = next(name for name in headers if name.lower() == "content-type")
        body, headers[name] = _multipart(entry["multipart"], headers[name])
    else:
        body = json.dumps(entry["json"]).encode()
    request = urllib.request.Request(stack.info["api"] + entry["path"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _events(body: bytes) -> list[dict[str, Any]]:
    """Server-sent events as the openai SDK reads them: each `data:` line's JSON, by its type."""
    events = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line.removeprefix("data:").strip() for line in block.split("\n") if line.startswith("data:")]
        if data and data[0] != "[DONE]":
            events.append(json.loads("\n".join(data)))
    return events


def shown_images(client: str, entry: dict[str, Any], headers: dict[str, str], body: bytes) -> list[Image.Image]:
    """The images the client would show from this answer, read the way it reads them."""
    if entry["json"].get("stream") if "json" in entry else any(p["name"] == "stream" for p in entry["multipart"]):
        return [_decoded(event["b64_json"]) for event in _events(body) if event["type"].endswith(".completed")]
    # openai-node (LibreChat) parses JSON only under a JSON Content-Type.
    assert "application/json" in headers.get("Content-Type", ""), headers
    answer = json.loads(body)
    items = answer["data"][:1] if entry.get("reads") == "data[0].b64_json" else answer["data"]
    images = []
    for item in items:
        if client in ("librechat",) or entry.get("reads") == "data[0].b64_json":
            assert item.get("b64_json"), f"{client} reads only b64_json: {item}"
        if not item.get("b64_json"):
            # Open WebUI fetches a URL with its Bearer key, which S3 refuses for a presigned URL
            # ("Only one auth mechanism allowed"): it must never get one it did not ask for.
            assert client != "open-webui", f"Open WebUI was handed a URL: {item}"
            assert item.get("url"), item
            with urllib.request.urlopen(item["url"], timeout=10) as response:
                images.append(_opened(response.read()))
            continue
        images.append(_decoded(item["b64_json"]))
    return images


def _decoded(b64: str) -> Image.Image:
    return _opened(base64.b64decode(b64, validate=True))


def _opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _asked_format(entry: dict[str, Any]) -> str:
    asked = entry["json"].get("output_format") if "json" in entry else None
    if "multipart" in entry:
        asked = next((p["value"] for p in entry["multipart"] if p["name"] == "output_format"), None)
    # LibreChat labels what it reads data:image/<output_format>; Open WebUI labels it image/png.
    return {"jpeg": "JPEG", "webp": "WEBP"}.get(asked or "png", "PNG")


@pytest.mark.parametrize(("client", "entry"), RECORDED, ids=[f"{c}: {e['name'][:60]}" for c, e in RECORDED])
def test_a_recorded_client_request_gets_an_answer_its_client_can_show(stack, client, entry):
    status, headers, body = replay(stack, entry, stack.info["apiKey"])

    assert status == 200, body[:500]
    images = shown_images(client, entry, headers, body)
    assert images, f"{client} would show no image: {body[:300]!r}"
    assert {image.format for image in images} == {_asked_format(entry)}


def test_every_client_of_the_issue_is_recorded_with_its_source():
    for client, entry in RECORDED:
        source = entry["source"]
        assert source["repository"] and source["path"] and len(source["commit"]) == 40, (client, entry["name"])
    recorded = {(client, entry["path"]) for client, entry in RECORDED}
    assert {("open-webui", "/images/generations"), ("open-webui", "/images/edits"),
            ("librechat", "/images/generations"), ("librechat", "/images/edits"),
            ("openai-python", "/images/generations"), ("openai-python", "/images/edits"),
            ("openai-python", "/images/variations")} <= recorded  # fmt: skip
