"""Checks that depend on the chosen model: support, required fields, limits, sizes, images."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic.alias_generators import to_camel, to_snake

from .errors import InvalidRequestError, UnsupportedError
from .images import ImageFormatError, ImageInput, InlineImage, is_black_and_white, is_fully_opaque
from .schema import IMAGE_FIELDS, TaskRequest
from .specs import ModelSpec

Detail = dict[str, str]


def check_supported(task: str, payload: Mapping[str, Any], spec: ModelSpec) -> None:
    """Before the schema: a task or field this model does not take is ``unsupported``."""
    if task not in spec.tasks:
        supported = ", ".join(spec.tasks)
        raise UnsupportedError.for_field("model", f"{spec.name} does not support {task} (it supports: {supported})")
    offending = sorted(spec.unsupported_fields(task) & payload.keys())
    if offending:
        details = [{"field": name, "message": f"not supported by {spec.name} for {task}"} for name in offending]
        raise UnsupportedError.from_details(details)


def check_request(task: str, request: TaskRequest, spec: ModelSpec) -> None:
    details = [
        *_required(task, request, spec),
        *_limits(request, spec),
        *_output_format(request, spec),
        *_sizes(request, spec),
        *_combinations(task, request, spec),
    ]
    if not details:
        details = image_errors(request, spec)
    if details:
        raise InvalidRequestError.from_details(details)


def _required(task: str, request: TaskRequest, spec: ModelSpec) -> Iterator[Detail]:
    for name in sorted(spec.required_fields(task)):
        if getattr(request, to_snake(name), None) is None:
            yield {"field": name, "message": f"is required by {spec.name} for {task}"}


def _limits(request: TaskRequest, spec: ModelSpec) -> Iterator[Detail]:
    for name, rng in spec.limits.items():
        value = getattr(request, to_snake(name), None)
        if value is None:
            continue
        measured = len(value) if isinstance(value, (str, list)) else value
        if measured not in rng:
            got = f"{measured} {rng.unit}" if rng.unit else repr(value)
            yield {"field": name, "message": f"must be {rng.describe()} for {spec.name} (got {got})"}


def _output_format(request: TaskRequest, spec: ModelSpec) -> Iterator[Detail]:
    chosen = getattr(request, "output_format", None)
    if chosen is not None and chosen not in spec.output_formats:
        yield {"field": "outputFormat", "message": f"must be one of {', '.join(spec.output_formats)} for {spec.name}"}


def _sizes(request: TaskRequest, spec: ModelSpec) -> Iterator[Detail]:
    width, height = getattr(request, "width", None), getattr(request, "height", None)
    if spec.sizes is None or (width is None and height is None):
        return
    default_width, default_height = spec.sizes.default
    # Zero is a size (an invalid one), not "use the default".
    message = spec.sizes.output_error(
        default_width if width is None else width, default_height if height is None else height
    )
    if message:
        yield {"field": "width" if width is not None else "height", "message": message}


_SIDES = ("left", "right", "up", "down")


def _combinations(task: str, request: TaskRequest, spec: ModelSpec) -> Iterator[Detail]:
    unsupported = spec.unsupported_fields(task)
    # A model that takes a mask prompt takes one way of naming the region: prompt or image.
    takes_mask_prompt = "maskPrompt" not in unsupported and hasattr(request, "mask_prompt")
    if takes_mask_prompt and (request.mask_prompt is None) == (request.mask_image is None):
        both = request.mask_prompt is not None
        yield {
            "field": "maskImage" if both else "maskPrompt",
            "message": "give maskPrompt or maskImage, not both" if both else "give maskPrompt or maskImage",
        }
    extends = "left" not in unsupported and hasattr(request, "left")
    if extends and not any(getattr(request, side) for side in _SIDES):
        yield {"field": "left", "message": "extend at least one side: left, right, up or down above 0"}
    for image, options in (("condition_image", ("control_mode", "control_strength")), ("style_image", ("fidelity",))):
        if getattr(request, image, None) is None:
            for name in options:
                if getattr(request, name, None) is not None:
                    yield {"field": to_camel(name), "message": f"applies only with {to_camel(image)}"}


def iter_images(request: TaskRequest) -> Iterator[tuple[str, ImageInput]]:
    for name in IMAGE_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield f"{to_camel(name)}[{index}]", item
        elif value is not None:
            yield to_camel(name), value


def image_errors(request: TaskRequest, spec: ModelSpec) -> list[Detail]:
    """Rules for every image already in hand; S3 references are checked once resolved."""
    errors: list[Detail] = []
    for path, image in iter_images(request):
        if not isinstance(image, InlineImage):
            continue
        try:
            message = _image_error(path, image, request, spec)
        except ImageFormatError as exc:
            message = str(exc)
        if message:
            errors.append({"field": path, "message": message})
    return errors


_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


def _image_error(path: str, image: InlineImage, request: TaskRequest, spec: ModelSpec) -> str | None:
    if image.info.format not in spec.input_formats:
        names = " or ".join(_FORMAT_NAMES[name] for name in spec.input_formats)
        return f"must be {names} for {spec.name} (got {_FORMAT_NAMES[image.info.format]})"
    width, height = image.info.size
    size_error = spec.sizes.input_error(width, height) if spec.sizes else None
    size_error = size_error or (spec.input_bounds.input_error(width, height) if spec.input_bounds else None)
    if size_error:
        return f"{size_error} for {spec.name}"
    if path == "maskImage":
        base = request.image
        if isinstance(base, InlineImage) and base.info.size != image.info.size:
            return (
                f"must be the same size as image ({base.info.width}x{base.info.height}), "
                f"got {image.info.width}x{image.info.height}"
            )
        if not is_black_and_white(image):
            hint = "; JPEG compression adds grey pixels, send the mask as PNG" if image.info.format == "jpeg" else ""
            return "must contain only pure black (0,0,0, edited) and pure white (255,255,255) pixels" + hint
        return None
    if spec.requires_opaque_inputs and not is_fully_opaque(image):
        return f"has transparent pixels; {spec.name} accepts only fully opaque images"
    return None
