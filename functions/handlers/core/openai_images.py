"""The OpenAI Images API over the same core: ``/v1/images/generations`` (JSON), ``/edits`` and
``/variations`` (multipart forms), answered and refused the way OpenAI's clients expect.

Each request becomes a request of the native contract (text-to-image, inpainting or
image-variation) and runs synchronously through ``api.execute``: validation, models, S3
outputs and presigned URLs are the native API's. The bodies are validated by the models of
``openai_schema`` (which the OpenAPI document shows): OpenAI's cosmetic parameters are ignored
with a warning; any other this service cannot honour is a 400 naming it, in OpenAI's error shape.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

from imagegen.errors import ImageGenError, InvalidRequestError, PayloadTooLargeError, UnsupportedError
from imagegen.images import ImageFormatError, ImageInfo, OverSizeError, inline_image, inspect_image, mask_from_alpha
from imagegen.specs import AspectRatioSizes, ModelSpec

from . import http
from .api import execute, stored_hint
from .config import TASK_DEFAULT, Settings, settings
from .multipart import parse_form

# OpenAI's error types by status (the SDK picks its exception class from the status alone).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
# The native contract's field -> the OpenAI parameter a caller sent it as.
_PARAMS = {
    "numberOfImages": "n",
    "width": "size",
    "height": "size",
    "aspectRatio": "size",
    "responseFormat": "response_format",
    "outputFormat": "output_format",
    "images": "image",
    "maskImage": "mask",
}


def openai_error(error: ImageGenError) -> http.Response:
    field = error.details[0]["field"] if error.details else None
    param = _param(field) if field else None
    body = {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(error.status, "api_error"),
            "param": param,
            "code": error.code,
        }
    }
    return http.response(error.status, body, error.headers())


def _param(field: str) -> str:
    """The OpenAI parameter of an error's field: ``images[1]`` -> ``image``, ``image.list[bytes]`` -> ``image``."""
    root = field.split(".")[0].split("[")[0]
    return _PARAMS.get(field) or _PARAMS.get(root) or root


def _api(handle: Callable[[http.Event, Any], http.Response]) -> http.Handler:
    return http.api(handle, render_error=openai_error)


@_api
def generations(event: http.Event, context: Any) -> http.Response:
    body = http.json_body(event)
    # Strict as JSON is typed: "n": "2" is a schema violation, as OpenAI treats it.
    request = _Request(_validate("ImagesGeneration", body, strict=True))
    return request.run("text-to-image", {"prompt": request.body.prompt}, event, context)


@_api
def edits(event: http.Event, context: Any) -> http.Response:
    request = _Request(_validate("ImagesEdit", _form(event)))
    body = request.body
    images = [body.image] if isinstance(body.image, bytes) else body.image
    if not images:
        raise InvalidRequestError.for_field("image", "send at least one image file")
    if body.mask is not None:
        # A mask names the region: inpainting. Without one, the nearest task is a variation
        # guided by the prompt.
        spec = request.model("inpainting")
        mask = _contract_mask(body.mask, images[0], spec)
        native = {"image": _b64(images[0]), "maskImage": mask, "prompt": body.prompt}
        return request.run("inpainting", native, event, context)
    encoded = [_b64(image) for image in images]
    return request.run("image-variation", {"images": encoded, "prompt": body.prompt}, event, context)


@_api
def variations(event: http.Event, context: Any) -> http.Response:
    request = _Request(_validate("ImagesVariation", _form(event)))
    return request.run("image-variation", {"images": [_b64(request.body.image)]}, event, context)


def _validate(model: str, body: Any, *, strict: bool = False) -> Any:
    """``body`` as the ``openai_schema`` model named ``model`` (imported here: pydantic is loaded
    on the first request, not at cold start)."""
    from pydantic import ValidationError

    from imagegen.errors import from_validation_error

    from . import openai_schema

    if not isinstance(body, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    try:
        return getattr(openai_schema, model).model_validate(body, strict=strict)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class _Request:
    """One OpenAI request: its body validated, its model resolved, its answer rendered."""

    def __init__(self, body: Any):
        self.body = body
        self.config = settings()
        from .openai_schema import COSMETIC

        self.warnings = [f"{name} is ignored by this service" for name in sorted(COSMETIC & body.model_fields_set)]

    def model(self, task: str) -> ModelSpec:
        """The registry model that serves this request's ``task``."""
        from imagegen.registry import MODELS

        return MODELS[resolve_model(self.body.model, task, self.config)]

    def run(self, task: str, native: dict[str, Any], event: http.Event, context: Any) -> http.Response:
        spec = self.model(task)
        payload = {**native, **self._generation_options(task, spec), "model": spec.name, "mode": "sync"}
        if task == "image-variation" and "prompt" not in payload and "prompt" in spec.required_fields(task):
            payload["prompt"] = "a variation of this image"
            self.warnings.append(f"{spec.name} needs a prompt for a variation: 'a variation of this image' was used")
        arrived = http.arrival(event, self.config.sync_timeout_seconds)
        payload = {name: value for name, value in payload.items() if value is not None}
        outcome = execute(task, payload, context, http.base_url(event), arrived)
        view = outcome.view
        key = "b64_json" if payload.get("responseFormat") == "base64" else "url"
        data = [{key: image["base64" if key == "b64_json" else "url"]} for image in view.get("images", [])]
        answer = {
            "created": int(time.time()),
            "data": data,
            "job_id": view["id"],
            "model": view.get("model"),
            "warnings": [*self.warnings, *view.get("warnings", [])],
        }
        rendered = http.response(200, answer, {"X-ImageGen-Job-Id": view["id"]})
        if key == "b64_json":
            return http.check_response_size(rendered, stored_hint(view["id"]))
        return rendered

    def _generation_options(self, task: str, spec: ModelSpec) -> dict[str, Any]:
        body = self.body
        if getattr(body, "stream", None):
            raise UnsupportedError.for_field("stream", "streamed images are not produced; send stream=false")
        if getattr(body, "partial_images", None):
            raise UnsupportedError.for_field("partial_images", "partial images are not produced")
        if getattr(body, "background", None) == "transparent":
            raise UnsupportedError.for_field(
                "background", "transparent backgrounds are made by POST /v1/background-removal, not here"
            )
        options: dict[str, Any] = {
            "responseFormat": "base64" if body.response_format == "b64_json" else "url",
            "outputFormat": getattr(body, "output_format", None),
            # 1 is every model's default; leaving it out keeps models without a count working.
            "numberOfImages": body.n if body.n != 1 else None,
        }
        return options | self._quality(spec) | self._size(task, spec)

    def _quality(self, spec: ModelSpec) -> dict[str, Any]:
        quality = getattr(self.body, "quality", None)
        if quality is None or quality == "auto":
            return {}
        if spec.family != "nova":  # the one model with a quality setting
            self.warnings.append(f"quality is ignored by {spec.name}")
            return {}
        return {"quality": "premium" if quality in ("hd", "high") else "standard"}

    def _size(self, task: str, spec: ModelSpec) -> dict[str, Any]:
        size = self.body.size
        if size is None or size == "auto":
            return {}
        width, height = (int(side) for side in size.split("x"))  # the pattern checked it
        unsupported = spec.unsupported_fields(task)
        if "width" not in unsupported:
            return {"width": width, "height": height}
        if "aspectRatio" not in unsupported and isinstance(spec.sizes, AspectRatioSizes):
            ratio = nearest_ratio(width, height, spec.sizes.ratios)
            pixels = spec.sizes.ratios[ratio]
            if tuple(pixels) != (width, height):
                self.warnings.append(f"size {size} is served as {ratio} ({pixels[0]}x{pixels[1]}) by {spec.name}")
            return {"aspectRatio": ratio}
        self.warnings.append(f"size is ignored by {spec.name}: the output follows its input")
        return {}


def resolve_model(name: Any, task: str, config: Settings) -> str:
    """An OpenAI model name (or none) -> the registry model that serves the request."""
    from imagegen.registry import default_model

    if not isinstance(name, str | None):
        raise InvalidRequestError.for_field("model", "must be a string")
    aliases = config.openai_aliases
    target = aliases.get(name, name) if name is not None else TASK_DEFAULT
    if target == TASK_DEFAULT:
        return default_model(task, config.default_models)
    served = config.served_models
    if target in served:
        return target
    names = ", ".join([*served, *aliases])
    raise InvalidRequestError.for_field("model", f"{name} is not served here; use one of: {names}")


def nearest_ratio(width: int, height: int, ratios: Any) -> str:
    """The aspect ratio (``"16:9"``) of ``ratios`` closest to width:height."""

    def value(ratio: str) -> float:
        across, down = ratio.split(":")
        return int(across) / int(down)

    return min(ratios, key=lambda ratio: abs(value(ratio) - width / height))


def _form(event: http.Event) -> dict[str, Any]:
    """A multipart form as a body: text fields as strings, files as bytes (``image[]`` parts
    gathered under ``image``)."""
    body = _raw_body(event)
    if len(body) > http.LAMBDA_PAYLOAD_LIMIT_BYTES:
        # Lambda refuses such an event before this runs; a caller of the function itself is told so too.
        raise http.request_too_large(len(body))
    form: dict[str, Any] = {}
    images: list[bytes] = []
    for part in parse_form(body, http.header(event, "Content-Type") or ""):
        if part.name in ("image", "image[]"):
            images.append(part.data)
        elif part.filename is not None or part.name == "mask":
            form[part.name] = part.data
        else:
            form[part.name] = part.text
    if images:
        form["image"] = images if len(images) > 1 else images[0]
    return form


def _raw_body(event: http.Event) -> bytes:
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise InvalidRequestError.for_field("body", "is not a multipart form")
    try:
        if event.get("isBase64Encoded"):
            return base64.b64decode(raw, validate=True)
        return raw.encode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise InvalidRequestError.for_field("body", "is not a multipart form (not base64 or not UTF-8)") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _contract_mask(data: bytes, image_data: bytes, spec: ModelSpec) -> str:
    """The form's mask as the contract's, once the headers of it and of the image have shown that
    ``spec`` takes their sizes: the mask is decoded for its alpha, and a small file may declare
    a huge image."""
    try:
        image = inspect_image(image_data)
        _check_size(image, spec)
    except ImageFormatError as error:
        raise InvalidRequestError.for_field("image", str(error)) from None
    try:
        mask = inline_image(data, spec.max_input_bytes)
        if mask.info.size != image.size:  # and so, like the image, within the model's bounds
            got = f"{mask.info.width}x{mask.info.height}"
            raise ImageFormatError(f"must be the size of the image ({image.width}x{image.height}), got {got}")
        return mask_from_alpha(mask)
    except OverSizeError as error:
        raise PayloadTooLargeError(f"mask: {error}", [{"field": "mask", "message": str(error)}]) from None
    except ImageFormatError as error:
        raise InvalidRequestError.for_field("mask", str(error)) from None


def _check_size(info: ImageInfo, spec: ModelSpec) -> None:
    """The model's bounds on an input's pixels, as the native routes check them (imagegen.rules)."""
    error = spec.sizes.input_error(info.width, info.height) if spec.sizes else None
    error = error or (spec.input_bounds.input_error(info.width, info.height) if spec.input_bounds else None)
    if error:
        raise ImageFormatError(f"{error} for {spec.name}")
