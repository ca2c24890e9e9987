"""Validated request -> the exact native InvokeModel bodies of each model family.

Only fields the caller set are sent: the model applies its own documented defaults, and the
bodies match the spec examples byte for byte.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic.alias_generators import to_camel

from .images import InlineImage, S3Image
from .registry import ModelSpec
from .schema import TaskRequest

# taskType and the name of its parameter object (Nova Canvas and Titan share the format).
TASK_TYPES = {
    "text-to-image": ("TEXT_IMAGE", "textToImageParams"),
    "color-guided": ("COLOR_GUIDED_GENERATION", "colorGuidedGenerationParams"),
    "image-variation": ("IMAGE_VARIATION", "imageVariationParams"),
    "inpainting": ("INPAINTING", "inPaintingParams"),
    "outpainting": ("OUTPAINTING", "outPaintingParams"),
    "background-removal": ("BACKGROUND_REMOVAL", "backgroundRemovalParams"),
}
_GENERATION_CONFIG = ("number_of_images", "width", "height", "quality", "cfg_scale", "seed")
_SERVICE_FIELDS = ("model", "mode", "response_format")
_TASK_TYPE_NAMES = {"prompt": "text", "negative_prompt": "negativeText"}
_STABILITY_NAMES = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "aspect_ratio": "aspect_ratio",
    "output_format": "output_format",
    "seed": "seed",
}


def _set_fields(request: TaskRequest) -> list[tuple[str, Any]]:
    """(name, value) of the model-facing fields the caller set, in declaration order."""
    return [
        (name, getattr(request, name))
        for name in type(request).model_fields
        if name in request.model_fields_set and name not in _SERVICE_FIELDS and getattr(request, name) is not None
    ]


def _native(value: Any) -> Any:
    if isinstance(value, InlineImage):
        return value.b64
    if isinstance(value, S3Image):
        raise ValueError(f"{value.uri} must be resolved before the body is built")
    if isinstance(value, list):
        return [_native(item) for item in value]
    return value


def task_type_body(task: str, request: TaskRequest) -> dict[str, Any]:
    """Nova Canvas / Titan: ``{"taskType", "<task>Params", "imageGenerationConfig"}``."""
    task_type, params_key = TASK_TYPES[task]
    params: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for name, value in _set_fields(request):
        target = config if name in _GENERATION_CONFIG else params
        target[_TASK_TYPE_NAMES.get(name, to_camel(name))] = _native(value)
    body: dict[str, Any] = {"taskType": task_type, params_key: params}
    if config:
        body["imageGenerationConfig"] = config
    return body


def stability_bodies(request: TaskRequest, seed_max: int) -> list[dict[str, Any]]:
    """Stable Image Core makes one image per call: ``numberOfImages`` fans out into calls."""
    given = dict(_set_fields(request))
    base = {native: _native(given[name]) for name, native in _STABILITY_NAMES.items() if name in given}
    count = request.number_of_images or 1
    if count == 1:
        return [base]
    return [{**base, "seed": seed} for seed in fanout_seeds(request.seed, count, seed_max)]


def fanout_seeds(seed: int | None, count: int, seed_max: int) -> list[int]:
    """``count`` distinct seeds in 1..seed_max, consecutive from ``seed``.

    Seed 0 means "random" to the model, so it is never sent in a fan-out: identical calls
    would not be reproducible, and distinct explicit seeds are.
    """
    start = seed if seed else 1 + secrets.randbelow(seed_max)
    return [(start - 1 + offset) % seed_max + 1 for offset in range(count)]


def native_bodies(task: str, request: TaskRequest, spec: ModelSpec) -> list[dict[str, Any]]:
    if spec.family == "stability":
        return stability_bodies(request, int(spec.limits["seed"].max))
    return [task_type_body(task, request)]
