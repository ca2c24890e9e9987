"""The one description of every model: ids, tasks, limits, sizes and lifecycle.

Validation, ``/v1/models``, the deployment (routes, IAM, defaults) and the README's model table
all read this module; a limit that is not written here is not enforced anywhere. Values come
from ``shared/specs``; those marked (docs) come from the models' public documentation. The
seed models (Nova Canvas, Titan, Imagen) are described here, Stability's in ``stability``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal, get_args

from .specs import (
    FreeSizes,
    Lifecycle,
    ModelSpec,
    PixelBounds,
    Price,
    PriceTier,
    Range,
    TableSizes,
    chars,
    count,
)

# Every task of the HTTP contract, one route and one Lambda each (core/routes.py).
Task = Literal[
    "text-to-image",
    "color-guided",
    "image-variation",
    "inpainting",
    "outpainting",
    "background-removal",
    "upscale",
    "search-replace",
    "search-recolor",
    "erase-object",
    "style-transfer",
]
TASKS: tuple[Task, ...] = get_args(Task)
# The tasks Nova Canvas (and Titan G1 v2) were specified with.
SEED_TASKS: tuple[Task, ...] = TASKS[:6]

# --- shared facts -----------------------------------------------------------------------

MB = 1_000_000
# Nova and Stability publish no byte limit for an input image; this bounds what a function
# reads from S3 and what an upload may be.
API_BODY_LIMIT_BYTES = 10 * 1024 * 1024
# InvokeModel's body (JSON with base64 images) is at most this many bytes (botocore's model).
INVOKE_BODY_LIMIT_BYTES = 25_000_000

_GENERATION_COUNT = Range(1, 5, default=1)
_SIMILARITY = Range(0.2, 1.0, default=0.7)
_CONTROL_STRENGTH = Range(0.0, 1.0, default=0.7)
_COLORS = count(1, 10)
_VARIATION_IMAGES = count(1, 5)

# Contract fields only Stability models take (Nova and Titan refuse them by name).
STABILITY_ONLY = frozenset({
    "aspectRatio", "outputFormat", "stylePreset", "growMask", "left", "right", "up", "down", "creativity",
    "searchPrompt", "selectPrompt", "styleImage", "fidelity", "styleStrength", "compositionFidelity",
    "changeStrength",
})  # fmt: skip
_CONDITIONING = frozenset({"conditionImage", "controlMode", "controlStrength"})
_OUTPUT_SIZE = frozenset({"width", "height"})

TITAN_SIZES = TableSizes(
    sizes=(
        (1024, 1024),
        (768, 768),
        (512, 512),
        (768, 1152),
        (384, 576),
        (1152, 768),
        (576, 384),
        (768, 1280),
        (384, 640),
        (1280, 768),
        (640, 384),
        (896, 1152),
        (448, 576),
        (1152, 896),
        (576, 448),
        (768, 1408),
        (384, 704),
        (1408, 768),
        (704, 384),
        (640, 1408),
        (320, 704),
        (1408, 640),
        (704, 320),
        (1152, 640),
        (1173, 640),
    ),
    max_input_side=1408,
    # The spec's documented default, although the table does not list it.
    default=(1408, 1408),
)

_TITAN_LIMITS: Mapping[str, Range] = {
    "prompt": chars(1, 512),
    "negativePrompt": chars(1, 512),
    # No separate maskPrompt limit is published; the prompt limit is the safe bound.
    "maskPrompt": chars(1, 512),
    "cfgScale": Range(1.1, 10.0, default=8.0),
    "seed": Range(0, 2_147_483_646, default=0),
    "numberOfImages": _GENERATION_COUNT,
    "similarityStrength": _SIMILARITY,
    "controlStrength": _CONTROL_STRENGTH,
    "colors": _COLORS,
    "images": _VARIATION_IMAGES,
}

_TITAN_INPUT_RULES = ("PNG or JPEG", "longer side at most 1408 px", "at most 5 MB (docs)")
# LiteLLM lists a flat 0.008; the tiers above it (larger and premium images) are UNCONFIRMED and
# taken at their higher value, so that a budget is not overrun by an estimate too low.
_TITAN_PRICE = Price(
    0.012,
    tiers=(PriceTier(0.008, max_pixels=512 * 512, quality="standard"), PriceTier(0.01, quality="standard")),
    source="LiteLLM model_prices (amazon.titan-image-generator-*: 0.008); larger and premium tiers UNCONFIRMED",
    as_of=date(2026, 7, 24),
)

_SEED_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="nova-canvas",
        title="Amazon Nova Canvas",
        model_id="amazon.nova-canvas-v1:0",
        family="nova",
        tasks=SEED_TASKS,
        limits={
            "prompt": chars(1, 1024),
            "negativePrompt": chars(1, 1024),
            "maskPrompt": chars(1, 1024),
            "cfgScale": Range(1.1, 10.0, default=6.5),
            "seed": Range(0, 858_993_459, default=12),
            "numberOfImages": _GENERATION_COUNT,
            "similarityStrength": _SIMILARITY,
            "controlStrength": _CONTROL_STRENGTH,
            "colors": _COLORS,
            "images": _VARIATION_IMAGES,
        },
        sizes=FreeSizes(),
        lifecycle=Lifecycle(
            "legacy",
            launched=date(2024, 12, 3),
            legacy_from=date(2026, 3, 30),
            end_of_life=date(2026, 9, 30),
            source="api-evangelist/amazon-nova lifecycle (citing the Bedrock model-lifecycle page); "
            "NousResearch/hermes-agent PR 30488",
            note="AWS names Amazon Nova 2 Omni (Converse API) as the next image model, which this service "
            "does not call; the Stability models serve every task but color-guided.",
        ),
        max_input_bytes=API_BODY_LIMIT_BYTES,
        unsupported={
            "*": STABILITY_ONLY,
            # Edits keep the input's size, so Nova takes no width/height for them.
            "inpainting": _OUTPUT_SIZE,
            "outpainting": _OUTPUT_SIZE,
        },
        input_rules=(
            "PNG or JPEG",
            "each side 320–4096 px, aspect ratio 1:4–4:1, fewer than 4,194,304 pixels (docs)",
            "PNG alpha must be fully opaque (docs)",
        ),
        requires_opaque_inputs=True,
        # "Supported foundation models in Amazon Bedrock"
        # (https://docs.aws.amazon.com/bedrock/latest/userguide/models-supported.html).
        regions=("us-east-1", "eu-west-1", "ap-northeast-1"),
        price=Price(
            0.08,
            tiers=(
                PriceTier(0.04, max_pixels=1024 * 1024, quality="standard"),
                PriceTier(0.06, quality="standard"),
                PriceTier(0.06, max_pixels=1024 * 1024, quality="premium"),
                PriceTier(0.08, quality="premium"),
            ),
            source="Bedrock pricing as tabulated by third parties (LiteLLM charges a flat 0.06)",
            as_of=date(2025, 10, 15),
            note="standard/premium up to 1024x1024 and up to 2048x2048; extended-access prices may be higher",
        ),
    ),
    ModelSpec(
        name="titan-image-v1",
        title="Amazon Titan Image Generator G1 v1",
        model_id="amazon.titan-image-generator-v1",
        family="titan",
        tasks=("text-to-image", "inpainting", "outpainting", "image-variation"),
        limits=_TITAN_LIMITS,
        sizes=TITAN_SIZES,
        lifecycle=Lifecycle(
            "end-of-life",
            launched=date(2023, 11, 29),
            successor="titan-image-v2",
            source="genkit-ai/genkit PR 6011",
            note='calls answer ResourceNotFoundException "... reached the end of its life" (observed by '
            "2026-08-11; the date is not published)",
        ),
        max_input_bytes=5 * MB,
        unsupported={"*": STABILITY_ONLY | _CONDITIONING | {"quality"}},
        required={"outpainting": frozenset({"prompt"})},
        input_rules=_TITAN_INPUT_RULES,
        price=_TITAN_PRICE,
    ),
    ModelSpec(
        name="titan-image-v2",
        title="Amazon Titan Image Generator G1 v2",
        model_id="amazon.titan-image-generator-v2:0",
        family="titan",
        tasks=SEED_TASKS,
        limits=_TITAN_LIMITS,
        sizes=TITAN_SIZES,
        lifecycle=Lifecycle(
            "legacy",
            launched=date(2024, 8, 6),
            legacy_from=date(2025, 12, 30),
            end_of_life=date(2026, 6, 30),
            successor="nova-canvas",
            source="AWS model card model-card-amazon-titan-image-generator-g1-v2; Bedrock model-lifecycle table",
        ),
        max_input_bytes=5 * MB,
        unsupported={"*": STABILITY_ONLY | {"quality"}},
        required={"outpainting": frozenset({"prompt"})},
        input_rules=_TITAN_INPUT_RULES,
        price=_TITAN_PRICE,
    ),
    ModelSpec(
        name="imagen-3-customization",
        title="Google Imagen 3 customization",
        model_id="imagen-3.0-capability-001",
        family="imagen",
        tasks=("customization",),
        limits={
            "referenceImages": count(1, 4),
            "sampleCount": Range(1, 4, default=4),
            "maskClasses": Range(0, 193),
            "dilation": Range(0.0, 1.0),
        },
        sizes=None,
        lifecycle=Lifecycle(
            "deprecated",
            end_of_life=date(2026, 6, 30),
            successor="gemini-3.1-flash-image",
            source="Vertex Imagen model pages; firebase.google.com/docs/ai-logic/imagen-models-migration",
            note="Vertex: migrate before 2026-06-30 (named replacement gemini-2.5-flash-image); all Imagen "
            "models shut down as early as 2026-08-17 (replacement gemini-3.1-flash-image).",
        ),
        max_input_bytes=API_BODY_LIMIT_BYTES,
        # Google publishes no pixel limit for reference images. This bound is ours: above any
        # camera's default output, and it caps a decoded image at 128 MiB (RGBA).
        input_bounds=PixelBounds(max_side=8192, max_pixels=33_554_432),
        price=Price(
            0.04, source="Vertex AI pricing via LiteLLM (vertex_ai/imagen-3.0-capability-001)", as_of=date(2026, 7, 24)
        ),
    ),
)


def _family_models() -> tuple[ModelSpec, ...]:
    from .gemini import GEMINI_MODELS
    from .stability import STABILITY_MODELS

    return (*STABILITY_MODELS, *GEMINI_MODELS)


MODELS: Mapping[str, ModelSpec] = {spec.name: spec for spec in (*_SEED_MODELS, *_family_models())}
BEDROCK_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.provider == "bedrock")
# What a request that names no model gets, unless the deployment says otherwise (cdk context
# ``default_models``): a live model for every task that has one.
DEFAULT_MODELS: Mapping[str, str] = {
    "text-to-image": "stable-image-core",
    "color-guided": "nova-canvas",  # no live model takes a colour palette
    "image-variation": "sd3-5-large",
    "inpainting": "stable-image-inpaint",
    "outpainting": "stable-outpaint",
    "background-removal": "stable-image-remove-background",
    "upscale": "stable-fast-upscale",
    "search-replace": "stable-image-search-replace",
    "search-recolor": "stable-image-search-recolor",
    "erase-object": "stable-image-erase-object",
    "style-transfer": "stable-style-transfer",
}


def default_model(task: str, default_models: Mapping[str, str] | None = None) -> str:
    """The model of a request for ``task`` that names none: the deployment's, else the registry's."""
    return (default_models or {}).get(task) or DEFAULT_MODELS[task]


# What a deployment serves unless told otherwise (cdk.json's ``models``): the active ones.
LIVE_MODELS: tuple[str, ...] = tuple(name for name in BEDROCK_MODELS if MODELS[name].lifecycle.status == "active")
IMAGEN = MODELS["imagen-3-customization"]
# The Cloud Function's models: Gemini's first (the default), then Imagen's.
VERTEX_MODELS: tuple[str, ...] = (*(name for name, spec in MODELS.items() if spec.family == "gemini"), IMAGEN.name)
DEFAULT_VERTEX_MODEL = "gemini-3.1-flash-image"
IMAGEN_LANGUAGES = ("auto", "en", "es", "hi", "ja", "ko", "pt", "zh-TW", "zh", "zh-CN")


def model_id_for(spec: ModelSpec, model_ids: Mapping[str, str] | None) -> str:
    return (model_ids or {}).get(spec.name) or spec.model_id


def largest_input_bytes(names: Iterable[str] = ()) -> int:
    """The largest input image any of the models ``names`` (every Bedrock model when none) accepts."""
    return max(MODELS[name].max_input_bytes for name in (tuple(names) or BEDROCK_MODELS))


# Cross-Region inference profiles: a model id with one of these prefixes names a profile that
# routes each call to the model in one of several regions (us.stability.stable-image-core-v1:1).
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "global.")


def inference_profile_model(model_id: str) -> str | None:
    """The foundation model behind a cross-Region inference profile, named by id or by ARN
    (``arn:aws:bedrock:us-west-2:<account>:inference-profile/us.stability...``); None for any other."""
    if model_id.startswith("arn:"):
        model_id = model_id.partition(":inference-profile/")[2]
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id.removeprefix(prefix)
    return None


def placed_models(models: Iterable[str], model_ids: Mapping[str, str] | None) -> dict[str, tuple[str, ...]]:
    """The regions Bedrock offers each of ``models`` in, for those whose regions are recorded.
    A model whose id the deployment overrides (a successor, a profile) is the operator's to place."""
    return {
        name: MODELS[name].regions
        for name in models
        if MODELS[name].regions and model_id_for(MODELS[name], model_ids) == MODELS[name].model_id
    }


def describe_models(model_ids: Mapping[str, str] | None = None, today: date | None = None) -> list[dict[str, Any]]:
    """The body of ``GET /v1/models``."""
    today = today or date.today()
    return [spec.describe(today, model_id_for(spec, model_ids)) for spec in MODELS.values()]


def lifecycle_warning(spec: ModelSpec, model_ids: Mapping[str, str] | None, today: date) -> str | None:
    """A warning for requests to a model whose published lifecycle says to move on.

    An operator who overrides the model id has moved on already: no warning then.
    """
    lifecycle = spec.lifecycle
    if model_id_for(spec, model_ids) != spec.model_id or lifecycle.status == "active":
        return None
    move = f"move to {lifecycle.successor}" if lifecycle.successor else "move to a live model (GET /v1/models)"
    if lifecycle.past_end_of_life(today):
        when = f" on {lifecycle.end_of_life}" if lifecycle.end_of_life else ""
        return (
            f"{spec.name} ({spec.model_id}) passed its published end-of-life{when}; calls may fail unless this "
            f"account has extended access: {move} or override the model id."
        )
    return f"{spec.name} ({spec.model_id}) is {lifecycle.status}; {move}. {lifecycle.note}".strip()


def markdown_table() -> str:
    """The README's model table."""
    lines = [
        "| model | Bedrock / Vertex id | tasks | prompt | where | price | lifecycle |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in MODELS.values():
        tasks = ", ".join(spec.tasks)
        if spec.provider == "vertex":
            references = spec.limits["referenceImages"]
            tasks = f"customization through the Cloud Function ({references.describe()})"
        prompt = spec.limits["prompt"].describe() if "prompt" in spec.limits else "—"
        where = ", ".join(spec.regions) or "—"
        lifecycle = spec.lifecycle.status
        if spec.lifecycle.end_of_life:
            lifecycle += f", end of life {spec.lifecycle.end_of_life}"
        price = spec.price.describe() if spec.price else "—"
        lines.append(f"| `{spec.name}` | `{spec.model_id}` | {tasks} | {prompt} | {where} | {price} | {lifecycle} |")
    return "\n".join(lines)


def costs_table() -> str:
    """The README's deploy section: what a request that names no model costs, per task."""
    lines = ["| task | default model | price | source | as of |", "|---|---|---|---|---|"]
    for task, name in DEFAULT_MODELS.items():
        price = MODELS[name].price
        if price is None:
            continue
        as_of = price.as_of.isoformat() if price.as_of else "—"
        lines.append(f"| {task} | `{name}` | {price.describe()} | {price.source} | {as_of} |")
    return "\n".join(lines)


README_START = "<!-- models:start (generated by `make docs` from functions/imagegen/registry.py) -->"
README_END = "<!-- models:end -->"
COSTS_START = "<!-- costs:start (generated by `make docs` from functions/imagegen/registry.py) -->"
COSTS_END = "<!-- costs:end -->"


def readme_with_table(readme: str) -> str:
    """``readme`` with its generated regions (the model table, the default models' costs) redone."""
    for start, end, table in ((README_START, README_END, markdown_table), (COSTS_START, COSTS_END, costs_table)):
        head, found, rest = readme.partition(start)
        if found:
            _, _, tail = rest.partition(end)
            readme = f"{head}{start}\n{table()}\n{end}{tail}"
    return readme


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        with open(sys.argv[2], encoding="utf-8") as file:
            updated = readme_with_table(file.read())
        with open(sys.argv[2], "w", encoding="utf-8") as file:
            file.write(updated)
    else:
        print(markdown_table())
