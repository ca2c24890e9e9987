"""The unified request of the HTTP contract: one pydantic model per task.

These models own the request's *shape* (names, types, enums, required fields, unknown
fields). Numbers that differ per model (lengths, ranges, sizes) live in ``registry`` and are
checked by ``rules``, so no limit is written twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic.alias_generators import to_camel

from .images import ImageFormatError, ImageInput, OverSizeError, parse_image_value
from .registry import API_BODY_LIMIT_BYTES

Mode = Literal["auto", "sync", "async"]
ResponseFormat = Literal["url", "base64"]
Quality = Literal["standard", "premium"]
ControlMode = Literal["CANNY_EDGE", "SEGMENTATION"]
OutPaintingMode = Literal["DEFAULT", "PRECISE"]
AspectRatio = Literal["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"]
OutputFormat = Literal["png", "jpeg", "webp"]
# Stability's style presets (stability-on-bedrock.txt sec.3).
StylePreset = Literal[
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
    "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic", "pixel-art",
    "tile-texture",
]  # fmt: skip
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


# Documented (OpenAPI) as what a caller sends. ``x-image`` tells clients (the imagegen command,
# the playground) which fields take an image, so they can offer a file for them.
IMAGE_JSON_SCHEMA = {
    "type": "string",
    "description": "An image: base64 PNG, JPEG or WebP, a data: URL, or an s3:// URI from POST /v1/uploads",
    "x-image": True,
}
Image = Annotated[ImageInput, PlainValidator(_image), WithJsonSchema(IMAGE_JSON_SCHEMA)]


# The events a job's webhook may be sent for (core/webhooks.py): the job succeeded, or failed.
WebhookEvent = Literal["completed", "failed"]
WEBHOOK_URL_MAX_LENGTH = 2048


class Webhook(BaseModel):
    """Where to POST the job's outcome when it ends, signed per Standard Webhooks."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    url: str = Field(
        min_length=1,
        max_length=WEBHOOK_URL_MAX_LENGTH,
        description="An https:// URL whose host resolves only to public addresses; redirects are not followed",
    )
    events: list[WebhookEvent] = Field(
        default=["completed", "failed"], min_length=1, max_length=2, description="The ends to be told of"
    )


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

    # None: the deployment's default model for the task.
    model: str | None = None
    mode: Mode = "auto"
    response_format: ResponseFormat = "url"
    webhook: Webhook | None = None


# Contract fields that steer the service, not the model.
SERVICE_FIELDS = frozenset({"model", "mode", "responseFormat", "webhook"})


class Styled(Request):
    """What every Stability request may carry besides its task's own fields."""

    negative_prompt: Text | None = None
    seed: int | None = None
    output_format: OutputFormat | None = None
    style_preset: StylePreset | None = None


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
    style_image: Image | None = None
    fidelity: float | None = None
    aspect_ratio: AspectRatio | None = None
    output_format: OutputFormat | None = None
    style_preset: StylePreset | None = None


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
    output_format: OutputFormat | None = None


class Inpainting(Generation):
    image: Image
    mask_prompt: Text | None = None
    mask_image: Image | None = None
    prompt: Text | None = None
    negative_prompt: Text | None = None
    grow_mask: int | None = None
    output_format: OutputFormat | None = None
    style_preset: StylePreset | None = None


class Outpainting(Inpainting):
    out_painting_mode: OutPaintingMode | None = None
    left: int | None = None
    right: int | None = None
    up: int | None = None
    down: int | None = None
    creativity: float | None = None


class BackgroundRemoval(Request):
    image: Image
    output_format: OutputFormat | None = None


class Upscale(Styled):
    image: Image
    prompt: Text | None = None
    creativity: float | None = None


class SearchReplace(Styled):
    image: Image
    prompt: Text
    search_prompt: Text
    grow_mask: int | None = None


class SearchRecolor(Styled):
    image: Image
    prompt: Text
    select_prompt: Text
    grow_mask: int | None = None


class EraseObject(Request):
    image: Image
    mask_image: Image | None = None
    grow_mask: int | None = None
    seed: int | None = None
    output_format: OutputFormat | None = None


class StyleTransfer(Request):
    image: Image
    style_image: Image
    prompt: Text | None = None
    negative_prompt: Text | None = None
    style_strength: float | None = None
    composition_fidelity: float | None = None
    change_strength: float | None = None
    seed: int | None = None
    output_format: OutputFormat | None = None


TaskRequest = (
    TextToImage | ColorGuided | ImageVariation | Inpainting | Outpainting | BackgroundRemoval | Upscale
    | SearchReplace | SearchRecolor | EraseObject | StyleTransfer
)  # fmt: skip

# The route names the task, so the task picks the model class directly.
TASK_MODELS: dict[str, type[TaskRequest]] = {
    "text-to-image": TextToImage,
    "color-guided": ColorGuided,
    "image-variation": ImageVariation,
    "inpainting": Inpainting,
    "outpainting": Outpainting,
    "background-removal": BackgroundRemoval,
    "upscale": Upscale,
    "search-replace": SearchReplace,
    "search-recolor": SearchRecolor,
    "erase-object": EraseObject,
    "style-transfer": StyleTransfer,
}


def contract_fields(task: str) -> frozenset[str]:
    """The fields a request for ``task`` may carry, as the caller spells them (model facing only)."""
    fields = TASK_MODELS[task].model_fields
    return frozenset(field.alias or name for name, field in fields.items()) - SERVICE_FIELDS


def trigger_field(task: str) -> str:
    """The field an image dropped under ``triggers/<task>/`` fills: the task's first image field."""
    fields = TASK_MODELS[task].model_fields
    return next(field.alias or name for name, field in fields.items() if name in IMAGE_FIELDS)


IMAGE_FIELDS = ("condition_image", "style_image", "reference_image", "images", "image", "mask_image")
