"""The registry is the one source of model facts: the README and /v1/models come from it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from imagegen import describe_models
from imagegen.registry import markdown_table, readme_with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_model_table_is_generated_from_the_registry():
    text = README.read_text()
    assert markdown_table() in text
    assert readme_with_table(text) == text, "run `make docs`"


def test_models_description_is_json_and_shows_lifecycle():
    models = {m["name"]: m for m in describe_models(today=date(2026, 11, 22))}
    json.dumps(models)  # served as-is by GET /v1/models
    assert set(models) == {"nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core",
                           "imagen-3-customization"}  # fmt: skip
    assert models["titan-image-v2"]["lifecycle"]["pastEndOfLife"] is True
    assert models["nova-canvas"]["lifecycle"]["status"] == "active"
    assert models["nova-canvas"]["limits"]["cfgScale"] == {"min": 1.1, "max": 10.0, "default": 6.5}
    assert models["stable-image-core"]["tasks"] == ["text-to-image"]
    assert models["titan-image-v1"]["unsupportedFields"]["text-to-image"] == [
        "aspectRatio", "conditionImage", "controlMode", "controlStrength", "outputFormat", "quality",
    ]  # fmt: skip


def test_model_id_overrides_show_in_the_description():
    models = {m["name"]: m for m in describe_models({"nova-canvas": "us.amazon.nova-canvas-v1:0"})}
    assert models["nova-canvas"]["modelId"] == "us.amazon.nova-canvas-v1:0"
