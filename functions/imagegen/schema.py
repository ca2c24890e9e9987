"""The unified request of the HTTP contract: one pydantic model per task.

These models own the request's *shape* (names, types, enums, required fields, unknown
fields). Numbers that differ per model (lengths, ranges, sizes) live in ``registry`` and are
checked by ``rules``, so no limit is written twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo
from pydantic.alias_generators import to_camel

from .images import ImageFormatError, ImageInput, OverSizeError, parse_image_value
from .registry import API_BODY_LIMIT_BYTES, DEFAULT_MODEL

Mode = Literal["auto", "sync", "async"]
ResponseFormat = Literal["url", "base64"]
Quality = Literal["standard", "premium"]
ControlMode = Literal["CANNY_EDGE", "SEGMENTATION"]
OutPaintingMode = Literal["DEFAULT", "PRECISE"]
AspectRatio = Literal["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"]
OutputFormat = Literal["png", "jpeg"]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain text, not only whitespace")
    return value


# Prompts and descriptions: a model given only whitespace would invent the content.
Text = Annotated[str, AfterValidator(_not_blank)]


class ImageTooLarge(Exception):
    """Raised through pydantic (it is not a ValueError) so the caller can answer 413."""

    def __init__(self, field: str, error: OverSizeError) -> None:
        super().__init__(f"{field}: {error}")
        self.field = field
        self.error = error


def _image(value: object, info: ValidationInfo) -> ImageInput:
    max_bytes = (info.context or {}).get("max_input_bytes", API_BODY_LIMIT_BYTES)
    try:
        return parse_image_value(value, max_bytes)
    except ImageFormatError as exc:
        raise ValueError(str(exc)) from None
    except OverSizeError as exc:
        raise ImageTooLarge(info.field_name or "image", exc) from None


Image = Annotated[ImageInput, PlainValidator(_image)]


class Request(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        strict=True,
        frozen=True,
        # Schemas are built on first use, not at import: a cold start pays only for the
        # tasks it serves.
        defer_build=True,
        arbitrary_types_allowed=True,
    )

    model: str = DEFAULT_MODEL
    mode: Mode = "auto"
    response_format: ResponseFormat = "url"


class Generation(Request):
    number_of_images: int | None = None
    width: int | None = None
    height: int | None = None
    quality: Quality | None = None
    cfg_scale: float | None = None
    seed: int | None = None


class TextToImage(Generation):
    prompt: Text
    negative_prompt: Text | None = None
    condition_image: Image | None = None
    control_mode: ControlMode | None = None
    control_strength: float | None = None
    aspect_ratio: AspectRatio | None = None
    output_format: OutputFormat | None = None


class ColorGuided(Generation):
    prompt: Text
    negative_prompt: Text | None = None
    colors: list[Color]
    reference_image: Image | None = None


class ImageVariation(Generation):
    images: list[Image]
    similarity_strength: float | None = None
    prompt: Text | None = None
    negative_prompt: Text | None = None


class Inpainting(Generation):
    image: Image
    mask_prompt: Text | None = None
    mask_image: Image | None = None
    prompt: Text | None = None
    negative_prompt: Text | None = None


class Outpainting(Inpainting):
    out_painting_mode: OutPaintingMode | None = None


class BackgroundRemoval(Request):
    image: Image


TaskRequest = TextToImage | ColorGuided | ImageVariation | Inpainting | Outpainting | BackgroundRemoval

# The route names the task, so the task picks the model class directly.
TASK_MODELS: dict[str, type[TaskRequest]] = {
    "text-to-image": TextToImage,
    "color-guided": ColorGuided,
    "image-variation": ImageVariation,
    "inpainting": Inpainting,
    "outpainting": Outpainting,
    "background-removal": BackgroundRemoval,
}

IMAGE_FIELDS = ("condition_image", "reference_image", "images", "image", "mask_image")
