"""Imagen 3 customization (``imagen-3.0-capability-001``): the Vertex AI predict body, validated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidRequestError, PayloadTooLargeError, UnsupportedError, from_validation_error
from .images import ImageFormatError, ImageInfo, OverSizeError, decode_base64_image
from .registry import IMAGEN, IMAGEN_LANGUAGES
from .schema import Text
from .specs import ModelSpec, Range

_LIMITS = IMAGEN.limits
RAW, MASK, CONTROL, SUBJECT, STYLE = (
    "REFERENCE_TYPE_RAW",
    "REFERENCE_TYPE_MASK",
    "REFERENCE_TYPE_CONTROL",
    "REFERENCE_TYPE_SUBJECT",
    "REFERENCE_TYPE_STYLE",
)
# The one config object each reference type may carry.
_CONFIG_OF_TYPE = {
    MASK: "mask_image_config",
    CONTROL: "control_image_config",
    SUBJECT: "subject_image_config",
    STYLE: "style_image_config",
}
_COMPUTED_MASK_MODES = ("MASK_MODE_BACKGROUND", "MASK_MODE_FOREGROUND", "MASK_MODE_SEMANTIC")
# The spec bounds neither seed nor referenceId ("Required integer"), so each takes the range of
# the type Vertex reads it as: int32. Vertex's REST reference types Imagen's parameters.seed
# "integer" (int32; reference/rest/Shared.Types/VisionGenerativeModelParams) and Gemini's
# generationConfig.seed is "optional int32 seed" (googleapis aiplatform/v1/content.proto).
# Neither may be negative: no Google page gives a negative seed a meaning, and the prompt
# cites a reference as "[n]".
INT32_MAX = 2**31 - 1
SEED = Range(0, INT32_MAX)
REFERENCE_ID = Range(0, INT32_MAX)
# The spec's class-ID table lists 194 classes (0-193): a longer list can only repeat one.
MAX_MASK_CLASSES = 194
# A surrogate that json.loads let through ("\ud800"): no encoder can write it out again.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(value: str) -> str:
    if _LONE_SURROGATE.search(value):
        raise ValueError("holds a lone UTF-16 surrogate (\\uD800-\\uDFFF): not Unicode text")
    return value


# Whatever parsed the body, text sent on to Vertex must be Unicode: Vertex would refuse it, or an
# encoder fail on it, after a token was fetched.
UnicodeText = Annotated[Text, AfterValidator(_unicode)]
UnicodeStr = Annotated[str, AfterValidator(_unicode)]


def _camel(name: str) -> str:
    return re.sub(r"_(\w)", lambda match: match[1].upper(), name)


class _Native(BaseModel):
    model_config = ConfigDict(alias_generator=_camel, extra="forbid", strict=True, frozen=True, defer_build=True)


class ImageBytes(_Native):
    bytes_base64_encoded: str


MaskClass = Annotated[int, Field(ge=_LIMITS["maskClasses"].min, le=_LIMITS["maskClasses"].max)]


class MaskImageConfig(_Native):
    mask_mode: Literal["MASK_MODE_USER_PROVIDED", *_COMPUTED_MASK_MODES] | None = None  # type: ignore[valid-type]
    dilation: float | None = Field(None, ge=_LIMITS["dilation"].min, le=_LIMITS["dilation"].max)
    mask_classes: list[MaskClass] | None = Field(None, max_length=MAX_MASK_CLASSES)


class ControlImageConfig(_Native):
    control_type: Literal["CONTROL_TYPE_FACE_MESH", "CONTROL_TYPE_CANNY", "CONTROL_TYPE_SCRIBBLE"]
    enable_control_image_computation: bool | None = None


class SubjectImageConfig(_Native):
    subject_description: UnicodeText
    subject_type: Literal["SUBJECT_TYPE_PERSON", "SUBJECT_TYPE_ANIMAL", "SUBJECT_TYPE_PRODUCT", "SUBJECT_TYPE_DEFAULT"]


class StyleImageConfig(_Native):
    style_description: UnicodeText | None = None


class ReferenceImage(_Native):
    reference_type: Literal[RAW, MASK, CONTROL, SUBJECT, STYLE]  # type: ignore[valid-type]
    reference_id: int = Field(ge=REFERENCE_ID.min, le=REFERENCE_ID.max)
    reference_image: ImageBytes | None = None
    mask_image_config: MaskImageConfig | None = None
    control_image_config: ControlImageConfig | None = None
    subject_image_config: SubjectImageConfig | None = None
    style_image_config: StyleImageConfig | None = None


class Instance(_Native):
    prompt: UnicodeText
    reference_images: list[ReferenceImage] = Field(
        min_length=int(_LIMITS["referenceImages"].min), max_length=int(_LIMITS["referenceImages"].max)
    )


class Parameters(_Native):
    negative_prompt: UnicodeText | None = None
    seed: int | None = Field(None, ge=SEED.min, le=SEED.max)
    # Gemini's imageConfig.aspectRatio; not a parameter of the Imagen capability model.
    aspect_ratio: UnicodeStr | None = None
    language: Literal[IMAGEN_LANGUAGES] | None = None  # type: ignore[valid-type]
    sample_count: int | None = Field(None, ge=_LIMITS["sampleCount"].min, le=_LIMITS["sampleCount"].max)


class CustomizationBody(_Native):
    instances: list[Instance] = Field(min_length=1, max_length=1)
    parameters: Parameters | None = None


class VertexRequest(dict):
    """The predict body (a plain dict, ready for ``json.dumps``) plus what the caller should know."""

    warnings: list[str]
    sample_count: int


def build_customization_request(native: Any, spec: ModelSpec = IMAGEN) -> VertexRequest:
    """Validate an Imagen customization body against every rule of the spec, and the limits of
    ``spec``, the model that will serve it (Imagen itself, or a Gemini image model)."""
    if not isinstance(native, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    try:
        body = CustomizationBody.model_validate(native)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    instance = body.instances[0]
    if spec.family == "imagen" and body.parameters and body.parameters.aspect_ratio is not None:
        raise UnsupportedError.for_field(
            "parameters.aspectRatio", f"{spec.model_id} takes no aspect ratio (the Gemini models do)"
        )
    details = list(_reference_errors(instance, spec))
    if details:
        raise InvalidRequestError.from_details(details)

    result = VertexRequest(body.model_dump(by_alias=True, exclude_unset=True))
    result.warnings = [
        f"the prompt does not mention [{ref_id}]; the model may ignore reference images with referenceId {ref_id}"
        for ref_id in sorted({ref.reference_id for ref in instance.reference_images})
        if f"[{ref_id}]" not in instance.prompt
    ]
    sample_count = body.parameters.sample_count if body.parameters else None
    result.sample_count = sample_count or int(_LIMITS["sampleCount"].default)
    return result


def _reference_errors(instance: Instance, spec: ModelSpec) -> Iterator[dict[str, str]]:
    refs = instance.reference_images
    base = "instances[0].referenceImages"
    most = int(spec.limits["referenceImages"].max)
    if len(refs) > most:
        yield {"field": base, "message": f"{spec.name} takes at most {most} reference images"}
    raws = [index for index, ref in enumerate(refs) if ref.reference_type == RAW]
    if len(raws) > 1:
        yield {
            "field": f"{base}[{raws[1]}].referenceType",
            "message": "at most one REFERENCE_TYPE_RAW image is allowed",
        }

    infos: dict[int, ImageInfo | None] = {}
    for index, ref in enumerate(refs):
        path = f"{base}[{index}]"
        image_field = f"{path}.referenceImage.bytesBase64Encoded"
        yield from _config_errors(path, ref)
        try:
            infos[index] = _image_info(ref, spec, image_field)
        except ImageFormatError as exc:
            yield {"field": image_field, "message": str(exc)}
            continue
        refused = _image_rule_error(infos[index], spec)
        if refused:
            yield {"field": image_field, "message": refused}
            infos[index] = None  # refused already: no size comparison with the RAW image
            continue
        if infos[index] is None:
            if not _may_be_computed(ref):
                yield {
                    "field": image_field,
                    "message": "is required (only a CONTROL image with enableControlImageComputation or a MASK "
                    "with a computed maskMode may be empty)",
                }
            elif not raws:
                yield {"field": f"{path}.referenceImage", "message": "is computed from the RAW image: add one"}

    raw_info = infos.get(raws[0]) if raws else None
    for index, ref in enumerate(refs):
        info = infos.get(index)
        if raw_info and info and ref.reference_type in (MASK, CONTROL) and info.size != raw_info.size:
            yield {
                "field": f"{base}[{index}].referenceImage",
                "message": f"must be the same size as the RAW image ({raw_info.width}x{raw_info.height}), "
                f"got {info.width}x{info.height}",
            }


def _config_errors(path: str, ref: ReferenceImage) -> Iterator[dict[str, str]]:
    expected = _CONFIG_OF_TYPE.get(ref.reference_type)
    for name in _CONFIG_OF_TYPE.values():
        if name != expected and getattr(ref, name) is not None:
            yield {"field": f"{path}.{_camel(name)}", "message": f"does not apply to {ref.reference_type}"}
    if ref.reference_type in (SUBJECT, CONTROL) and getattr(ref, expected) is None:
        yield {"field": f"{path}.{_camel(expected)}", "message": f"is required for {ref.reference_type}"}
    mask = ref.mask_image_config
    if mask is not None:
        semantic = mask.mask_mode == "MASK_MODE_SEMANTIC"
        if semantic and not mask.mask_classes:
            yield {"field": f"{path}.maskImageConfig.maskClasses", "message": "is required for MASK_MODE_SEMANTIC"}
        if mask.mask_classes and not semantic:
            yield {"field": f"{path}.maskImageConfig.maskClasses", "message": "applies only to MASK_MODE_SEMANTIC"}


def _may_be_computed(ref: ReferenceImage) -> bool:
    if ref.reference_type == CONTROL:
        return bool(ref.control_image_config and ref.control_image_config.enable_control_image_computation)
    if ref.reference_type == MASK:
        return bool(ref.mask_image_config and ref.mask_image_config.mask_mode in _COMPUTED_MASK_MODES)
    return False


def _image_rule_error(info: ImageInfo | None, spec: ModelSpec) -> str | None:
    """The model's format and pixel rules, from the header alone."""
    if info is None:
        return None
    if info.format not in spec.input_formats:
        return f"must be {' or '.join(name.upper() for name in spec.input_formats)} for {spec.name}"
    return spec.input_bounds.input_error(info.width, info.height) if spec.input_bounds else None


def _image_info(ref: ReferenceImage, spec: ModelSpec, field: str) -> ImageInfo | None:
    """The header of a reference image, or None when it is absent or empty; one over the model's
    size limit is a 413 naming ``field``, at once (nothing else about the request matters then)."""
    encoded = ref.reference_image.bytes_base64_encoded if ref.reference_image else ""
    if not encoded:
        return None
    try:
        return decode_base64_image(encoded, spec.max_input_bytes).info
    except OverSizeError as exc:
        message = f"{exc} for {spec.name}"
        raise PayloadTooLargeError(f"{field}: {message}", [{"field": field, "message": message}]) from None
