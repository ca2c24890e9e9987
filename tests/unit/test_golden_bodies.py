"""Every example body of the specs, built through the unified request, exactly."""

from __future__ import annotations

import json

import pytest
from imaging import GOLDEN
from imaging import load_golden as load

from imagegen import build_customization_request, build_request

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


def test_every_task_and_every_task_of_every_stability_model_has_a_golden_case():
    from imagegen.registry import MODELS, TASKS

    cases = [load(name) for name in BEDROCK_CASES]
    assert {case["task"] for case in cases} == set(TASKS)
    for spec in MODELS.values():
        if spec.family == "stability":
            tasks = {case["task"] for case in cases if case["request"]["model"] == spec.name}
            assert tasks == set(spec.tasks), spec.name
