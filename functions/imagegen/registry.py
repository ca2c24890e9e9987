"""The one description of every model: ids, tasks, limits, sizes and lifecycle.

Validation, ``/v1/models`` and the README's model table all read this module; a limit that is
not written here is not enforced anywhere. Values come from ``shared/specs``; those marked
(docs) come from the models' public documentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, get_args

Task = Literal[
    "text-to-image",
    "color-guided",
    "image-variation",
    "inpainting",
    "outpainting",
    "background-removal",
]
TASKS: tuple[Task, ...] = get_args(Task)
EDITING_TASKS: frozenset[Task] = frozenset({"inpainting", "outpainting"})

Family = Literal["nova", "titan", "stability", "imagen"]


@dataclass(frozen=True)
class Range:
    """An inclusive range; for strings and lists it bounds the length."""

    min: float
    max: float
    default: float | None = None
    unit: str = ""

    def __contains__(self, value: float) -> bool:
        # Written so that NaN (which json.loads accepts) falls outside every range.
        return self.min <= value <= self.max

    def describe(self) -> str:
        text = f"{_number(self.min)}–{_number(self.max)}"
        return f"{text} {self.unit}" if self.unit else text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"min": self.min, "max": self.max}
        if self.default is not None:
            out["default"] = self.default
        if self.unit:
            out["unit"] = self.unit
        return out


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else str(value)


def _chars(low: int, high: int) -> Range:
    return Range(low, high, unit="characters")


def _items(low: int, high: int) -> Range:
    return Range(low, high, unit="items")


@dataclass(frozen=True)
class Lifecycle:
    status: Literal["active", "legacy", "deprecated"]
    launched: date | None = None
    end_of_life: date | None = None
    note: str = ""

    def past_end_of_life(self, today: date) -> bool:
        return self.end_of_life is not None and today >= self.end_of_life

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "status": self.status,
            "launched": self.launched and self.launched.isoformat(),
            "endOfLife": self.end_of_life and self.end_of_life.isoformat(),
            "pastEndOfLife": self.past_end_of_life(today),
            "note": self.note or None,
        }


class SizeRule(Protocol):
    default: tuple[int, int]

    def output_error(self, width: int, height: int) -> str | None: ...

    def input_error(self, width: int, height: int) -> str | None: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FreeSizes:
    """Nova Canvas: any size within bounds (docs)."""

    min_side: int = 320
    max_side: int = 4096
    multiple: int = 16
    max_ratio: int = 4
    max_pixels: int = 4_194_304  # exclusive: the total must be *less than* this
    default: tuple[int, int] = (1024, 1024)

    def input_error(self, width: int, height: int) -> str | None:
        # Inputs need not be multiples of 16; the model pads them itself (docs).
        if not (self.min_side <= width <= self.max_side and self.min_side <= height <= self.max_side):
            return f"each side must be {self.min_side}–{self.max_side} px (got {width}x{height})"
        if max(width, height) > self.max_ratio * min(width, height):
            return f"aspect ratio must be between 1:{self.max_ratio} and {self.max_ratio}:1 (got {width}x{height})"
        if width * height >= self.max_pixels:
            return f"total pixels must be less than {self.max_pixels:,} (got {width * height:,})"
        return None

    def output_error(self, width: int, height: int) -> str | None:
        if width % self.multiple or height % self.multiple:
            return f"width and height must be multiples of {self.multiple} (got {width}x{height})"
        return self.input_error(width, height)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "free",
            "minSide": self.min_side,
            "maxSide": self.max_side,
            "multipleOf": self.multiple,
            "maxAspectRatio": f"{self.max_ratio}:1",
            "maxPixelsExclusive": self.max_pixels,
            "default": list(self.default),
        }


@dataclass(frozen=True)
class TableSizes:
    """Titan Image Generator G1: only the sizes of the spec's resolution table."""

    sizes: tuple[tuple[int, int], ...]
    max_input_side: int
    default: tuple[int, int]

    def output_error(self, width: int, height: int) -> str | None:
        if (width, height) in self.sizes:
            return None
        return f"{width}x{height} is not a supported size; supported: " + ", ".join(f"{w}x{h}" for w, h in self.sizes)

    def input_error(self, width: int, height: int) -> str | None:
        if max(width, height) > self.max_input_side:
            return f"the longer side must be at most {self.max_input_side} px (got {width}x{height})"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "table",
            "sizes": [[w, h] for w, h in self.sizes],
            "maxInputSide": self.max_input_side,
            "default": list(self.default),
        }


@dataclass(frozen=True)
class AspectRatioSizes:
    """Stable Image Core: the caller picks an aspect ratio, the model picks the pixels."""

    ratios: Mapping[str, tuple[int, int]]
    default_ratio: str
    output_formats: tuple[str, ...]

    @property
    def default(self) -> tuple[int, int]:
        return self.ratios[self.default_ratio]

    def output_error(self, width: int, height: int) -> str | None:
        return None

    def input_error(self, width: int, height: int) -> str | None:
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "aspectRatio",
            "aspectRatios": {ratio: list(size) for ratio, size in self.ratios.items()},
            "defaultAspectRatio": self.default_ratio,
            "outputFormats": list(self.output_formats),
        }


@dataclass(frozen=True)
class PixelBounds:
    """Bounds on an input image's pixel dimensions, checked from its header before anything
    decodes it or sends it on: a small file can declare a huge image."""

    max_side: int
    max_pixels: int

    def input_error(self, width: int, height: int) -> str | None:
        if max(width, height) > self.max_side:
            return f"each side must be at most {self.max_side:,} px (got {width}x{height})"
        if width * height > self.max_pixels:
            return f"must have at most {self.max_pixels:,} pixels (got {width * height:,})"
        return None

    def describe(self) -> str:
        return f"each side at most {self.max_side:,} px, at most {self.max_pixels:,} pixels"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_id: str
    family: Family
    title: str
    tasks: tuple[str, ...]
    limits: Mapping[str, Range]
    sizes: SizeRule | None
    lifecycle: Lifecycle
    max_input_bytes: int
    # Request fields this model does not accept: under "*" for every task, else per task.
    unsupported: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Fields this model requires beyond what the task itself requires.
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)
    other_ids: tuple[str, ...] = ()
    input_rules: tuple[str, ...] = ()
    # Nova refuses PNG inputs with any transparency (docs).
    requires_opaque_inputs: bool = False
    # For models whose size rules (``sizes``) say nothing about inputs.
    input_bounds: PixelBounds | None = None

    @property
    def provider(self) -> str:
        return "vertex" if self.family == "imagen" else "bedrock"

    def unsupported_fields(self, task: str) -> frozenset[str]:
        return self.unsupported.get("*", frozenset()) | self.unsupported.get(task, frozenset())

    def required_fields(self, task: str) -> frozenset[str]:
        return self.required.get(task, frozenset())

    def describe(self, today: date, model_id: str | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "provider": self.provider,
            "modelId": model_id or self.model_id,
            "otherModelIds": list(self.other_ids),
            "tasks": list(self.tasks),
            "limits": {name: rng.as_dict() for name, rng in self.limits.items()},
            "sizes": self.sizes.as_dict() if self.sizes else None,
            "unsupportedFields": {
                task: sorted(self.unsupported_fields(task)) for task in self.tasks if self.unsupported_fields(task)
            },
            "inputImages": {
                "maxBytes": self.max_input_bytes,
                "formats": ["png", "jpeg"],
                "rules": [*self.input_rules, *([self.input_bounds.describe()] if self.input_bounds else [])],
            },
            "lifecycle": self.lifecycle.as_dict(today),
        }


# --- shared facts -----------------------------------------------------------------------

MB = 1_000_000
# Nova publishes no byte limit for inputs; the API Gateway body limit (10 MB) bounds them.
API_BODY_LIMIT_BYTES = 10 * 1024 * 1024

_GENERATION_COUNT = Range(1, 5, default=1)
_SIMILARITY = Range(0.2, 1.0, default=0.7)
_CONTROL_STRENGTH = Range(0.0, 1.0, default=0.7)
_COLORS = _items(1, 10)
_VARIATION_IMAGES = _items(1, 5)

_STABILITY_ONLY = frozenset({"aspectRatio", "outputFormat"})
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
    "prompt": _chars(1, 512),
    "negativePrompt": _chars(1, 512),
    # No separate maskPrompt limit is published; the prompt limit is the safe bound.
    "maskPrompt": _chars(1, 512),
    "cfgScale": Range(1.1, 10.0, default=8.0),
    "seed": Range(0, 2_147_483_646, default=0),
    "numberOfImages": _GENERATION_COUNT,
    "similarityStrength": _SIMILARITY,
    "controlStrength": _CONTROL_STRENGTH,
    "colors": _COLORS,
    "images": _VARIATION_IMAGES,
}

_TITAN_INPUT_RULES = ("PNG or JPEG", "longer side at most 1408 px", "at most 5 MB (docs)")

MODELS: Mapping[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="nova-canvas",
            title="Amazon Nova Canvas",
            model_id="amazon.nova-canvas-v1:0",
            family="nova",
            tasks=TASKS,
            limits={
                "prompt": _chars(1, 1024),
                "negativePrompt": _chars(1, 1024),
                "maskPrompt": _chars(1, 1024),
                "cfgScale": Range(1.1, 10.0, default=6.5),
                "seed": Range(0, 858_993_459, default=12),
                "numberOfImages": _GENERATION_COUNT,
                "similarityStrength": _SIMILARITY,
                "controlStrength": _CONTROL_STRENGTH,
                "colors": _COLORS,
                "images": _VARIATION_IMAGES,
            },
            sizes=FreeSizes(),
            lifecycle=Lifecycle("active", launched=date(2024, 12, 3)),
            max_input_bytes=API_BODY_LIMIT_BYTES,
            unsupported={
                "*": _STABILITY_ONLY,
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
                "legacy",
                launched=date(2023, 11, 29),
                note="Legacy on Bedrock; check the Bedrock model-lifecycle page for its end-of-life "
                "date and move to nova-canvas.",
            ),
            max_input_bytes=5 * MB,
            unsupported={"*": _STABILITY_ONLY | _CONDITIONING | {"quality"}},
            required={"outpainting": frozenset({"prompt"})},
            input_rules=_TITAN_INPUT_RULES,
        ),
        ModelSpec(
            name="titan-image-v2",
            title="Amazon Titan Image Generator G1 v2",
            model_id="amazon.titan-image-generator-v2:0",
            family="titan",
            tasks=TASKS,
            limits=_TITAN_LIMITS,
            sizes=TITAN_SIZES,
            lifecycle=Lifecycle(
                "legacy",
                launched=date(2024, 8, 6),
                end_of_life=date(2026, 6, 30),
                note="Bedrock model card (docs); successor: nova-canvas.",
            ),
            max_input_bytes=5 * MB,
            unsupported={"*": _STABILITY_ONLY | {"quality"}},
            required={"outpainting": frozenset({"prompt"})},
            input_rules=_TITAN_INPUT_RULES,
        ),
        ModelSpec(
            name="stable-image-core",
            title="Stability AI Stable Image Core",
            model_id="stability.stable-image-core-v1:1",
            other_ids=("stability.stable-image-core-v1:0",),
            family="stability",
            tasks=("text-to-image",),
            limits={
                # The spec's table says 0, but the body needs a prompt and the Stability API
                # reference it links to bounds it to 1–10,000.
                "prompt": _chars(1, 10_000),
                "negativePrompt": _chars(1, 10_000),
                "seed": Range(0, 4_294_967_295, default=0),
                # One image per call; the service fans out up to this many calls.
                "numberOfImages": _GENERATION_COUNT,
            },
            sizes=AspectRatioSizes(
                # Output pixels per aspect ratio (docs), within the spec's 640–1536 px bounds.
                ratios={
                    "16:9": (1344, 768),
                    "1:1": (1024, 1024),
                    "21:9": (1536, 640),
                    "2:3": (832, 1216),
                    "3:2": (1216, 832),
                    "4:5": (896, 1088),
                    "5:4": (1088, 896),
                    "9:16": (768, 1344),
                    "9:21": (640, 1536),
                },
                default_ratio="1:1",
                output_formats=("png", "jpeg"),
            ),
            lifecycle=Lifecycle("active", note="v1:0 is the earlier version of the same model."),
            max_input_bytes=API_BODY_LIMIT_BYTES,
            unsupported={"*": _OUTPUT_SIZE | _CONDITIONING | {"quality", "cfgScale"}},
        ),
        ModelSpec(
            name="imagen-3-customization",
            title="Google Imagen 3 customization",
            model_id="imagen-3.0-capability-001",
            family="imagen",
            tasks=("customization",),
            limits={
                "referenceImages": _items(1, 4),
                "sampleCount": Range(1, 4, default=4),
                "maskClasses": Range(0, 193),
                "dilation": Range(0.0, 1.0),
            },
            sizes=None,
            lifecycle=Lifecycle(
                "deprecated",
                note="Deprecated by Google in favour of newer Imagen models (docs); override the model id to move.",
            ),
            max_input_bytes=API_BODY_LIMIT_BYTES,
            # Google publishes no pixel limit for reference images. This bound is ours: above any
            # camera's default output, and it caps a decoded image at 128 MiB (RGBA).
            input_bounds=PixelBounds(max_side=8192, max_pixels=33_554_432),
        ),
    )
}

DEFAULT_MODEL = "nova-canvas"
BEDROCK_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.provider == "bedrock")
IMAGEN = MODELS["imagen-3-customization"]
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
    """The foundation model behind a cross-Region inference profile id; None for any other id."""
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id.removeprefix(prefix)
    return None


def describe_models(model_ids: Mapping[str, str] | None = None, today: date | None = None) -> list[dict[str, Any]]:
    """The body of ``GET /v1/models``."""
    today = today or date.today()
    return [spec.describe(today, model_id_for(spec, model_ids)) for spec in MODELS.values()]


def lifecycle_warning(spec: ModelSpec, model_ids: Mapping[str, str] | None, today: date) -> str | None:
    """A warning for requests to a model whose published lifecycle says to move on.

    An operator who overrides the model id has moved on already: no warning then.
    """
    if model_id_for(spec, model_ids) != spec.model_id or spec.lifecycle.status == "active":
        return None
    if spec.lifecycle.past_end_of_life(today):
        return (
            f"{spec.name} ({spec.model_id}) passed its published end-of-life on "
            f"{spec.lifecycle.end_of_life}; calls may fail. Move to a successor or override the model id."
        )
    return f"{spec.name} ({spec.model_id}) is {spec.lifecycle.status}. {spec.lifecycle.note}".strip()


def markdown_table() -> str:
    """The README's model table."""
    columns = list(TASKS)
    lines = [
        "| model | Bedrock / Vertex id | " + " | ".join(columns) + " | prompt | lifecycle |",
        "|---|---|" + "---|" * len(columns) + "---|---|",
    ]
    for spec in MODELS.values():
        if spec.family == "imagen":
            continue
        marks = " | ".join("✓" if task in spec.tasks else "—" for task in columns)
        eol = f", end of life {spec.lifecycle.end_of_life}" if spec.lifecycle.end_of_life else ""
        lines.append(
            f"| `{spec.name}` | `{spec.model_id}` | {marks} | {spec.limits['prompt'].describe()} "
            f"| {spec.lifecycle.status}{eol} |"
        )
    lines.append(
        f"| `{IMAGEN.name}` | `{IMAGEN.model_id}` | customization through the Cloud Function "
        f"({_number(IMAGEN.limits['referenceImages'].min)}–{_number(IMAGEN.limits['referenceImages'].max)} "
        "reference images) |" + " |" * (len(columns) - 1) + f" — | {IMAGEN.lifecycle.status} |"
    )
    return "\n".join(lines)


README_START = "<!-- models:start (generated by `make docs` from functions/imagegen/registry.py) -->"
README_END = "<!-- models:end -->"


def readme_with_table(readme: str) -> str:
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{markdown_table()}\n{README_END}{tail}"


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        with open(sys.argv[2], encoding="utf-8") as file:
            updated = readme_with_table(file.read())
        with open(sys.argv[2], "w", encoding="utf-8") as file:
            file.write(updated)
    else:
        print(markdown_table())
