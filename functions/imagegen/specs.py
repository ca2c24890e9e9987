"""The vocabulary of model descriptions: ranges, sizes, input bounds, native bodies, lifecycle.

Pure data types; the descriptions themselves are in ``registry`` (and one module per family).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

Family = Literal["nova", "titan", "stability", "imagen", "gemini"]


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
        text = f"{format_number(self.min)}–{format_number(self.max)}"
        return f"{text} {self.unit}" if self.unit else text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"min": self.min, "max": self.max}
        if self.default is not None:
            out["default"] = self.default
        if self.unit:
            out["unit"] = self.unit
        return out


def format_number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else str(value)


def chars(low: int, high: int) -> Range:
    return Range(low, high, unit="characters")


def count(low: int, high: int) -> Range:
    return Range(low, high, unit="items")


LifecycleStatus = Literal["active", "legacy", "end-of-life", "deprecated", "shut-down"]


@dataclass(frozen=True)
class Lifecycle:
    """What the provider publishes about a model's life (shared/specs/model-lifecycle.txt)."""

    status: LifecycleStatus
    launched: date | None = None
    legacy_from: date | None = None
    end_of_life: date | None = None
    # The registry name of the model to move to.
    successor: str | None = None
    source: str = ""
    note: str = ""

    def past_end_of_life(self, today: date) -> bool:
        if self.status in ("end-of-life", "shut-down"):
            return True
        return self.end_of_life is not None and today >= self.end_of_life

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "status": self.status,
            "launched": self.launched and self.launched.isoformat(),
            "legacyFrom": self.legacy_from and self.legacy_from.isoformat(),
            "endOfLife": self.end_of_life and self.end_of_life.isoformat(),
            "pastEndOfLife": self.past_end_of_life(today),
            "successor": self.successor,
            "source": self.source or None,
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

    def nearest(self, width: int, height: int) -> tuple[int, int]:
        """The valid output size closest to ``width`` x ``height``: its aspect ratio within the
        bounds, its area within them, each side a multiple (for a size another API accepts)."""
        ratio = min(max(width / height, 1 / self.max_ratio), self.max_ratio)
        area = min(max(width * height, self.min_side**2), self.max_pixels - 1)
        side = math.sqrt(area / ratio)
        fitted = [
            min(max(self.multiple * round(value / self.multiple), self.min_side), self.max_side)
            for value in (side * ratio, side)
        ]
        while fitted[0] * fitted[1] >= self.max_pixels:  # rounding up crossed the pixel bound
            larger = 0 if fitted[0] >= fitted[1] else 1
            fitted[larger] -= self.multiple
        return fitted[0], fitted[1]

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

    def nearest(self, width: int, height: int) -> tuple[int, int]:
        """The table's size closest to ``width`` x ``height`` in shape first, then in area."""

        def distance(size: tuple[int, int]) -> tuple[float, float]:
            shape = abs(math.log((size[0] / size[1]) / (width / height)))
            return round(shape, 2), abs(math.log((size[0] * size[1]) / (width * height)))

        return min(self.sizes, key=distance)

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
        }


@dataclass(frozen=True)
class RatioChoices:
    """Gemini image models: the caller may pick an aspect ratio from a list; the pixels follow."""

    ratios: tuple[str, ...]
    default: tuple[int, int] = (1024, 1024)

    def output_error(self, width: int, height: int) -> str | None:
        return None

    def input_error(self, width: int, height: int) -> str | None:
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "aspectRatio", "aspectRatios": list(self.ratios)}


@dataclass(frozen=True)
class PixelBounds:
    """Bounds on an input image's pixel dimensions, checked from its header before anything
    decodes it or sends it on: a small file can declare a huge image."""

    max_side: int
    max_pixels: int
    min_side: int = 1
    min_pixels: int = 0
    # Longest side / shortest side, e.g. 2.5 for 1:2.5 .. 2.5:1.
    max_ratio: float | None = None

    def input_error(self, width: int, height: int) -> str | None:
        if min(width, height) < self.min_side or max(width, height) > self.max_side:
            return f"each side must be {self.min_side:,}–{self.max_side:,} px (got {width}x{height})"
        if not self.min_pixels <= width * height <= self.max_pixels:
            return f"must have {self.min_pixels:,}–{self.max_pixels:,} pixels (got {width * height:,})"
        if self.max_ratio is not None and max(width, height) > self.max_ratio * min(width, height):
            ratio = f"{self.max_ratio:g}"
            return f"aspect ratio must be between 1:{ratio} and {ratio}:1 (got {width}x{height})"
        return None

    def describe(self) -> str:
        text = f"each side {self.min_side:,}–{self.max_side:,} px, {self.min_pixels:,}–{self.max_pixels:,} pixels"
        return text + (f", aspect ratio 1:{self.max_ratio:g}–{self.max_ratio:g}:1" if self.max_ratio else "")


@dataclass(frozen=True)
class PriceTier:
    """A price for outputs up to ``max_pixels`` (None: any size) of ``quality`` (None: any)."""

    usd: float
    max_pixels: int | None = None
    quality: str | None = None


@dataclass(frozen=True)
class Price:
    """What the provider bills: per output image, or per call of an image service (one image).

    ``tiers`` refine ``usd`` by output size and quality (Nova Canvas's premium 2048 px costs twice
    its standard 1024 px); the first tier an image fits in applies.
    """

    usd: float
    per: Literal["image", "call"] = "image"
    tiers: tuple[PriceTier, ...] = ()
    source: str = ""
    as_of: date | None = None
    note: str = ""

    def of_image(self, pixels: int | None = None, quality: str | None = None) -> float:
        for tier in self.tiers:
            if (tier.quality is None or tier.quality == quality) and (
                tier.max_pixels is None or pixels is None or pixels <= tier.max_pixels
            ):
                return tier.usd
        return self.usd

    def describe(self) -> str:
        """``0.04–0.08 USD per image``, ``0.07 USD per call``."""
        values = sorted({self.usd, *(tier.usd for tier in self.tiers)})
        amount = f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g}–{values[-1]:g}"
        return f"{amount} USD per {self.per}"

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"usd": self.usd, "per": self.per}
        if self.tiers:
            shown["tiers"] = [
                {"usd": tier.usd, "maxPixels": tier.max_pixels, "quality": tier.quality} for tier in self.tiers
            ]
        shown |= {"source": self.source, "asOf": self.as_of.isoformat() if self.as_of else None}
        if self.note:
            shown["note"] = self.note
        return shown


@dataclass(frozen=True)
class NativeBody:
    """A Stability body: the contract fields a model takes for a task and their native names.

    Bedrock rejects any key a Stability model does not know, so this whitelist is also what
    the model supports: every other contract field is ``unsupported`` for it.
    """

    # Contract field (camelCase) -> native field (snake_case).
    fields: Mapping[str, str]
    # Contract field -> the converter (builders.CONVERTERS) its value goes through.
    convert: Mapping[str, str] = field(default_factory=dict)
    # Native fields sent with every call (SD3.5's ``mode``).
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Contract fields sent with the model's documented default when the caller leaves them out.
    always: tuple[str, ...] = ()


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
    # (A Stability model's are the contract fields its native body does not list.)
    unsupported: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Fields this model requires beyond what the task itself requires.
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)
    other_ids: tuple[str, ...] = ()
    input_rules: tuple[str, ...] = ()
    # Nova refuses PNG inputs with any transparency (docs).
    requires_opaque_inputs: bool = False
    # Input pixel bounds, for models whose size rules (``sizes``) say nothing about inputs.
    input_bounds: PixelBounds | None = None
    input_formats: tuple[str, ...] = ("png", "jpeg")
    output_formats: tuple[str, ...] = ("png",)
    # Stability: the native body per task.
    native: Mapping[str, NativeBody] = field(default_factory=dict)
    # Output pixels per input pixel per side, when the model scales its input (Fast Upscale: 4).
    output_scale: int | None = None
    # Outputs so large that ``mode: auto`` runs the request as a job (the 4K upscalers).
    long_running: bool = False
    # Where Bedrock serves the model (shown in /v1/models; the deployment's region must be one).
    regions: tuple[str, ...] = ()
    # The provider's published price (None: not published).
    price: Price | None = None

    @property
    def provider(self) -> str:
        return "vertex" if self.family in ("imagen", "gemini") else "bedrock"

    def unsupported_fields(self, task: str) -> frozenset[str]:
        if task in self.native:
            from .schema import contract_fields

            return contract_fields(task) - self.accepted_fields(task)
        return self.unsupported.get("*", frozenset()) | self.unsupported.get(task, frozenset())

    def accepted_fields(self, task: str) -> frozenset[str]:
        """The contract fields a Stability model takes for ``task`` (its native body's)."""
        body = self.native[task]
        return frozenset(body.fields) | ({"numberOfImages"} if "numberOfImages" in self.limits else set())

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
            "outputFormats": list(self.output_formats),
            "unsupportedFields": {
                task: sorted(self.unsupported_fields(task)) for task in self.tasks if self.unsupported_fields(task)
            },
            "requiredFields": {task: sorted(fields) for task, fields in self.required.items() if fields},
            "inputImages": {
                "maxBytes": self.max_input_bytes,
                "formats": list(self.input_formats),
                "rules": [*self.input_rules, *([self.input_bounds.describe()] if self.input_bounds else [])],
            },
            "regions": list(self.regions),
            "price": self.price.as_dict() if self.price else None,
            "lifecycle": self.lifecycle.as_dict(today),
        }
