"""Every example body of the specs, built through the unified request, exactly."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from imaging import b64, jpeg_bytes, mask_b64, png_b64

from imagegen import build_customization_request, build_request

GOLDEN = Path(__file__).parent.parent / "golden"
_PLACEHOLDER = re.compile(r"<(png|jpeg|mask):(\d+)x(\d+)>")


@cache
def _image(kind: str, width: int, height: int) -> str:
    if kind == "mask":
        return mask_b64(width, height)
    if kind == "jpeg":
        return b64(jpeg_bytes(width, height))
    return png_b64(width, height)


def load(name: str) -> dict:
    """A golden file with its image placeholders replaced by real images of that size."""
    text = (GOLDEN / name).read_text()
    return json.loads(_PLACEHOLDER.sub(lambda m: _image(m[1], int(m[2]), int(m[3])), text))


BEDROCK_CASES = sorted(p.name for p in GOLDEN.glob("*.json") if not p.name.startswith("imagen"))
IMAGEN_CASES = sorted(p.name for p in GOLDEN.glob("imagen*.json"))


@pytest.mark.parametrize("name", BEDROCK_CASES)
def test_unified_request_builds_the_documented_body(name):
    case = load(name)
    built = build_request(case["task"], case["request"])
    assert built.model_id == case["modelId"]
    assert built.bodies == case["bodies"]
    # What InvokeModel receives is JSON: the serialized body must match too.
    assert [json.loads(json.dumps(body)) for body in built.bodies] == case["bodies"]


@pytest.mark.parametrize("name", IMAGEN_CASES)
def test_imagen_documented_body_validates_unchanged(name):
    case = load(name)
    vertex = build_customization_request(case["body"])
    assert vertex == case["body"]
    assert len(vertex.warnings) == case["warnings"]


def test_every_task_of_every_family_has_a_golden_case():
    covered = {(load(n)["task"], load(n)["modelId"].split(".")[1].split("-")[0]) for n in BEDROCK_CASES}
    for task in ("text-to-image", "color-guided", "image-variation", "inpainting", "outpainting", "background-removal"):
        assert (task, "nova") in covered
    for task in ("text-to-image", "image-variation", "inpainting", "outpainting"):
        assert (task, "titan") in covered
    assert ("text-to-image", "stable") in covered
