"""The registry is the one source of model facts: the README and /v1/models come from it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from imagegen import describe_models
from imagegen.registry import costs_table, markdown_table, readme_with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_model_table_is_generated_from_the_registry():
    text = README.read_text()
    assert markdown_table() in text and costs_table() in text
    assert readme_with_table(text) == text, "run `make docs`"


STABILITY = {
    "stable-image-core", "stable-image-ultra", "sd3-5-large", "stable-fast-upscale", "stable-creative-upscale",
    "stable-conservative-upscale", "stable-image-inpaint", "stable-outpaint", "stable-image-search-replace",
    "stable-image-search-recolor", "stable-image-erase-object", "stable-image-remove-background",
    "stable-image-control-sketch", "stable-image-control-structure", "stable-image-style-guide",
    "stable-style-transfer",
}  # fmt: skip


def test_models_description_is_json_and_shows_lifecycle():
    models = {m["name"]: m for m in describe_models(today=date(2026, 11, 22))}
    json.dumps(models)  # served as-is by GET /v1/models
    seed = {"nova-canvas", "titan-image-v1", "titan-image-v2", "imagen-3-customization"}
    gemini = {"gemini-3.1-flash-image", "gemini-3-pro-image", "gemini-2.5-flash-image"}
    assert set(models) == seed | gemini | STABILITY
    assert models["imagen-3-customization"]["lifecycle"]["successor"] == "gemini-3.1-flash-image"
    assert models["gemini-3.1-flash-image"]["regions"] == ["global"]
    # model-lifecycle.txt: Titan v2 and Nova Canvas past their end of life, Titan v1 retired.
    assert models["titan-image-v2"]["lifecycle"]["pastEndOfLife"] is True
    assert models["titan-image-v2"]["lifecycle"]["successor"] == "nova-canvas"
    assert models["nova-canvas"]["lifecycle"] | {"note": None, "source": None} == {
        "status": "legacy", "launched": "2024-12-03", "legacyFrom": "2026-03-30", "endOfLife": "2026-09-30",
        "pastEndOfLife": True, "successor": None, "note": None, "source": None,
    }  # fmt: skip
    assert models["titan-image-v1"]["lifecycle"]["status"] == "end-of-life"
    assert all(models[name]["lifecycle"]["status"] == "active" for name in STABILITY)
    assert models["nova-canvas"]["limits"]["cfgScale"] == {"min": 1.1, "max": 10.0, "default": 6.5}
    assert models["stable-image-core"]["tasks"] == ["text-to-image"]
    titan_lacks = {"aspectRatio", "conditionImage", "controlMode", "controlStrength", "outputFormat", "quality",
                   "styleImage", "stylePreset"}  # fmt: skip
    assert titan_lacks <= set(models["titan-image-v1"]["unsupportedFields"]["text-to-image"])
    # A Stability model takes exactly its native body's fields: everything else is unsupported.
    sketch = models["stable-image-control-sketch"]
    assert {"width", "height", "cfgScale", "controlMode", "styleImage"} <= set(
        sketch["unsupportedFields"]["text-to-image"]
    )
    # One image per call, and a count fans out.
    assert "numberOfImages" not in sketch["unsupportedFields"]["text-to-image"]
    assert sketch["limits"]["numberOfImages"]["max"] == 5
    assert sketch["requiredFields"] == {"text-to-image": ["conditionImage"]}
    assert sketch["modelId"] == "us.stability.stable-image-control-sketch-v1:0"


def test_model_id_overrides_show_in_the_description():
    models = {m["name"]: m for m in describe_models({"nova-canvas": "us.amazon.nova-canvas-v1:0"})}
    assert models["nova-canvas"]["modelId"] == "us.amazon.nova-canvas-v1:0"
