"""The OpenAI Images API's request bodies as this service accepts them: the routes validate with
these models and the OpenAPI document is generated from them, so the two cannot disagree.

Every parameter of OpenAI's reference is named and every value OpenAI accepts is accepted: the
route maps it to the model, does it itself (a format conversion, a transparent background, a
fan-out), or ignores it with a warning; the cosmetic ones (``COSMETIC``) are always ignored with
a warning. Anything else is an unknown parameter.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegen.schema import Webhook

# Optional and cosmetic in OpenAI's reference: nothing here depends on them.
COSMETIC = frozenset({"style", "user", "safety_identifier", "moderation", "input_fidelity"})

_SIZE = re.compile(r"^(auto|[1-9][0-9]{0,4}x[1-9][0-9]{0,4})$")
# A file part of the form (pydantic documents bytes as a binary string).
ImageFile = bytes


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="An OpenAI name (dall-e-3, gpt-image-1, ...) or a model of /v1/models")
    n: int | None = Field(None, ge=1, le=10, description="Images to make; each model has its own maximum")
    size: str | None = Field(
        None,
        json_schema_extra={"pattern": _SIZE.pattern},
        description="WIDTHxHEIGHT or auto; the model makes the nearest size (or aspect ratio) it can, and says so",
        examples=["1024x1024", "auto"],
    )
    response_format: Literal["url", "b64_json"] | None = Field(
        None, description="Default: b64_json for gpt-image-* model names (as OpenAI answers them), else url"
    )
    user: str | None = None
    webhook: Webhook | None = Field(
        None,
        description="This service's extension: {url, events}, POSTed when the job ends, signed per Standard "
        "Webhooks (webhook-id, webhook-timestamp, webhook-signature); in a multipart form, the same as a JSON string",
    )

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook(cls, webhook: object) -> object:
        # A form's fields are text: the webhook comes as its JSON.
        if isinstance(webhook, str | bytes):
            try:
                return json.loads(webhook)
            except ValueError:
                raise ValueError('must be a JSON object: {"url": "https://..."}') from None
        return webhook

    @field_validator("size")
    @classmethod
    def _size(cls, size: str | None) -> str | None:
        if size is not None and not _SIZE.fullmatch(size):
            raise ValueError("must be auto or WIDTHxHEIGHT, e.g. 1024x1024")
        return size


class _Creative(_Common):
    prompt: str = Field(min_length=1)
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] | None = Field(
        None, description="Nova Canvas: high/hd = premium, else standard; ignored by other models"
    )
    output_format: Literal["png", "jpeg", "webp"] | None = Field(
        None, description="A format the model does not write is converted by the service"
    )
    background: Literal["transparent", "opaque", "auto"] | None = Field(
        None, description="transparent: the deployment's background-removal model cuts each image out (png or webp)"
    )
    stream: bool | None = Field(
        None, description="true: OpenAI's server-sent events, one <kind>.completed per image, sent when all are made"
    )
    partial_images: int | None = Field(None, ge=0, le=3, description="No model makes partial images: none are sent")
    output_compression: int | None = Field(None, ge=0, le=100, description="JPEG/WebP quality; the service encodes")
    moderation: Literal["low", "auto"] | None = None
    safety_identifier: str | None = None


class ImagesGeneration(_Creative):
    """``POST /v1/images/generations``, as JSON."""

    style: Literal["vivid", "natural"] | None = None


class ImagesEdit(_Creative):
    """``POST /v1/images/edits``, as a multipart form: with a mask, inpainting; without one, a
    variation of the images guided by the prompt."""

    image: ImageFile | list[ImageFile] = Field(description="PNG, JPEG or WebP; several as image[]")
    mask: ImageFile | None = Field(None, description="A PNG the image's size: transparent pixels mark the edit")
    input_fidelity: Literal["high", "low"] | None = None


class ImagesVariation(_Common):
    """``POST /v1/images/variations``, as a multipart form."""

    image: ImageFile = Field(description="PNG, JPEG or WebP")
