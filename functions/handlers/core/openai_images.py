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
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagegen.errors import ImageGenError, InvalidRequestError, PayloadTooLargeError
from imagegen.images import ImageFormatError, ImageInfo, OverSizeError, inline_image, inspect_image, mask_from_alpha
from imagegen.specs import AspectRatioSizes, ModelSpec

from . import callers, http
from .api import execute, stored_hint
from .config import TASK_DEFAULT, Settings, settings
from .idempotency import answered_once
from .multipart import parse_form

if TYPE_CHECKING:
    from imagegen.images import Conversion

# OpenAI's error types by status (the SDK picks its exception class from the status alone).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    # A team's monthly budget is spent (OpenAI names a spent balance insufficient_quota).
    402: "insufficient_quota",
    404: "not_found_error",
    # Idempotency-Key: the first request with the key is still running.
    409: "invalid_request_error",
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
    # The fields by the names the caller sent: n, size, image, mask (not numberOfImages...).
    message = "; ".join(f"{_param(d['field'])}: {d['message']}" for d in error.details) or error.message
    body = {
        "error": {
            "message": message,
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
    def answer(event: http.Event, context: Any) -> http.Response:
        return answered_once(event, context, lambda: handle(event, context))

    answer.__name__, answer.__doc__ = handle.__name__, handle.__doc__
    return http.api(answer, render_error=openai_error)


@_api
def generations(event: http.Event, context: Any) -> http.Response:
    body = http.json_body(event)
    # Strict as JSON is typed: "n": "2" is a schema violation, as OpenAI treats it.
    request = _Request(_validate("ImagesGeneration", body, strict=True), "image_generation")
    return request.run("text-to-image", {"prompt": request.body.prompt}, event, context)


@_api
def edits(event: http.Event, context: Any) -> http.Response:
    request = _Request(_validate("ImagesEdit", _form(event)), "image_edit")
    body = request.body
    images = [body.image] if isinstance(body.image, bytes) else body.image
    if not images:
        raise InvalidRequestError.for_field("image", "send at least one image file")
    if body.mask is not None:
        # A mask names the region: inpainting, of the first image.
        spec = request.model("inpainting")
        request.first_only(images, "inpainting edits one image")
        mask = _contract_mask(body.mask, images[0], spec)
        native = {"image": _b64(images[0]), "maskImage": mask, "prompt": body.prompt}
        return request.run("inpainting", native, event, context)
    # Without a mask, the nearest task is a variation of the images, guided by the prompt; a
    # model takes as many as its limit allows.
    spec = request.model("image-variation")
    most = int(spec.limits["images"].max) if "images" in spec.limits else 1
    taken = images[:most]
    if len(images) > most:
        request.warnings.append(f"{spec.name} takes {most} image(s): the first {most} of {len(images)} were used")
    return request.run("image-variation", {"images": [_b64(image) for image in taken], "prompt": body.prompt},
                       event, context)  # fmt: skip


@_api
def variations(event: http.Event, context: Any) -> http.Response:
    request = _Request(_validate("ImagesVariation", _form(event)), "image_variation")
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
    """One OpenAI request: its body validated, its model resolved, its answer rendered.

    Every parameter OpenAI accepts is accepted here: mapped where the model can honour it, done
    by the service where it can (a format conversion, a transparent background), otherwise
    ignored with a warning in the answer.
    """

    def __init__(self, body: Any, kind: str):
        self.body = body
        # OpenAI's name for the operation, which its stream events carry ("image_edit.completed").
        self.kind = kind
        self.config = settings()
        from .openai_schema import COSMETIC

        self.warnings = [f"{name} is ignored by this service" for name in sorted(COSMETIC & body.model_fields_set)]
        # Jobs whose images were made into the answer's by a second step (background removal).
        self.made_by: list[str] = []

    def model(self, task: str) -> ModelSpec:
        """The registry model that serves this request's ``task``."""
        from imagegen.registry import MODELS

        return MODELS[resolve_model(self.body.model, task, self.config)]

    @property
    def inline(self) -> bool:
        """Whether the images go back as base64. OpenAI's gpt-image models always answer so, and
        clients of them read only ``b64_json`` (LibreChat, Open WebUI); dall-e models answer
        with URLs unless asked. A stream carries the bytes."""
        if getattr(self.body, "stream", None):
            return True
        if self.body.response_format is not None:
            return self.body.response_format == "b64_json"
        return str(self.body.model or "").startswith("gpt-image")

    def first_only(self, images: list[bytes], why: str) -> None:
        if len(images) > 1:
            self.warnings.append(f"{why}: the first of {len(images)} images was used")

    def run(self, task: str, native: dict[str, Any], event: http.Event, context: Any) -> http.Response:
        spec = self.model(task)
        payload = {**native, **self._generation_options(task, spec), "model": spec.name, "mode": "sync"}
        if self.body.webhook is not None:
            payload["webhook"] = self.body.webhook.model_dump()
        if task == "image-variation" and "prompt" not in payload and "prompt" in spec.required_fields(task):
            payload["prompt"] = "a variation of this image"
            self.warnings.append(f"{spec.name} needs a prompt for a variation: 'a variation of this image' was used")
        arrived = http.arrival(event, self.config.sync_timeout_seconds)
        # The caller's team owns the job and pays for it, as on the native routes.
        caller = callers.of_event(event)
        payload = {name: value for name, value in payload.items() if value is not None}
        remover = self._background_model()
        if remover is None:
            conversion = self._conversion(spec)
            payload |= self._native_format(task, spec, conversion)
            views = [execute(task, payload, context, http.base_url(event), arrived, conversion, caller).view]
        else:
            views = self._without_background(task, payload, remover, context, event, arrived, caller)
        return self._answer(views, event)

    # --- what the model is asked -----------------------------------------------------------

    def _generation_options(self, task: str, spec: ModelSpec) -> dict[str, Any]:
        body = self.body
        if getattr(body, "partial_images", None):
            self.warnings.append(f"partial_images: {spec.name} makes no partial images; the final ones are sent")
        options: dict[str, Any] = {
            "responseFormat": "base64" if self.inline else "url",
            # 1 is every model's default; leaving it out keeps models without a count working.
            "numberOfImages": self._count(task, spec),
        }
        return options | self._quality(spec) | self._size(task, spec)

    def _count(self, task: str, spec: ModelSpec) -> int | None:
        n = self.body.n
        if n is None or n == 1:
            return None
        limit = spec.limits.get("numberOfImages")
        if limit is None or "numberOfImages" in spec.unsupported_fields(task):
            self.warnings.append(f"n={n} is more than {spec.name} makes for one request: 1 image was made")
            return None
        if n > limit.max:
            self.warnings.append(f"n={n} is more than {spec.name} makes at once: {int(limit.max)} images were made")
            return int(limit.max)
        return n

    def _quality(self, spec: ModelSpec) -> dict[str, Any]:
        quality = getattr(self.body, "quality", None)
        if quality is None or quality == "auto":
            return {}
        if spec.family != "nova":  # the one model with a quality setting
            self.warnings.append(f"quality is ignored by {spec.name}")
            return {}
        return {"quality": "premium" if quality in ("hd", "high") else "standard"}

    def _size(self, task: str, spec: ModelSpec) -> dict[str, Any]:
        from imagegen.schema import contract_fields

        size = self.body.size
        if size is None or size == "auto":
            return {}
        width, height = (int(side) for side in size.split("x"))  # the pattern checked it
        accepted = contract_fields(task) - spec.unsupported_fields(task)
        if "width" in accepted and spec.sizes is not None and hasattr(spec.sizes, "nearest"):
            served = spec.sizes.nearest(width, height) if spec.sizes.output_error(width, height) else (width, height)
            if served != (width, height):
                self.warnings.append(f"size {size} is served as {served[0]}x{served[1]} by {spec.name}")
            return {"width": served[0], "height": served[1]}
        if "aspectRatio" in accepted and isinstance(spec.sizes, AspectRatioSizes):
            ratio = nearest_ratio(width, height, spec.sizes.ratios)
            pixels = spec.sizes.ratios[ratio]
            if tuple(pixels) != (width, height):
                self.warnings.append(f"size {size} is served as {ratio} ({pixels[0]}x{pixels[1]}) by {spec.name}")
            return {"aspectRatio": ratio}
        self.warnings.append(f"size is ignored by {spec.name}: the output follows its input")
        return {}

    # --- what the service does to the images ---------------------------------------------------

    def _conversion(self, final: ModelSpec) -> Conversion | None:
        """The format asked for, where ``final`` (the model that makes the final images) does not
        write it, or a compression that only the service applies."""
        from imagegen.images import Conversion

        wanted = getattr(self.body, "output_format", None)
        compression = getattr(self.body, "output_compression", None)
        if compression is not None and wanted not in ("jpeg", "webp"):
            self.warnings.append("output_compression applies to jpeg and webp output only")
            compression = None
        if wanted is None or (wanted in final.output_formats and compression is None):
            return None
        return Conversion(wanted, compression)

    def _native_format(self, task: str, spec: ModelSpec, conversion: Conversion | None) -> dict[str, Any]:
        """``outputFormat`` for a model that writes the asked format itself and takes the field."""
        wanted = getattr(self.body, "output_format", None)
        if conversion is not None or wanted is None or "outputFormat" in spec.unsupported_fields(task):
            return {}
        return {"outputFormat": wanted} if wanted in spec.output_formats else {}

    def _background_model(self) -> ModelSpec | None:
        """The background-removal model that makes a transparent background, when one was asked
        for and the deployment serves one; else None (with a warning when it was asked for)."""
        from imagegen.registry import MODELS

        if getattr(self.body, "background", None) != "transparent":
            return None
        if self.body.output_format == "jpeg":
            # As OpenAI requires: "the output format needs to support transparency".
            raise InvalidRequestError.for_field("background", "transparent needs output_format png or webp")
        if "background-removal" not in self.config.served_tasks:
            self.warnings.append("background=transparent: this deployment serves no background removal")
            return None
        return MODELS[resolve_model(None, "background-removal", self.config)]

    def _without_background(
        self,
        task: str,
        payload: dict[str, Any],
        remover: ModelSpec,
        context: Any,
        event: http.Event,
        arrived: float,
        caller: callers.Caller,
    ) -> list[dict[str, Any]]:
        """The images made, then each one's background removed by ``remover`` (a second paid call
        per image), within the same time budget."""
        # The images made on the way are no job the caller asked to be told of: the webhook goes
        # with the removals, the answer's jobs.
        made_payload = {**{k: v for k, v in payload.items() if k != "webhook"}, "responseFormat": "base64"}
        made = execute(task, made_payload, context, http.base_url(event), arrived, caller=caller).view
        self.made_by.append(made["id"])
        conversion = self._conversion(remover)
        native = self._native_format("background-removal", remover, conversion)
        views = []
        for image in made["images"]:
            removal = {
                "image": image["base64"],
                "model": remover.name,
                "mode": "sync",
                "responseFormat": payload["responseFormat"],
                **native,
            }
            if "webhook" in payload:
                removal["webhook"] = payload["webhook"]
            views.append(
                execute("background-removal", removal, context, http.base_url(event), arrived, conversion, caller).view
            )
        self.warnings.append(f"background=transparent: {remover.name} removed the background of each image")
        return views

    # --- the answer ------------------------------------------------------------------------

    def _answer(self, views: list[dict[str, Any]], event: http.Event) -> http.Response:
        images = [image for view in views for image in view.get("images", [])]
        key = "b64_json" if self.inline else "url"
        data = [{key: image["base64" if self.inline else "url"]} for image in images]
        job_ids = [*self.made_by, *(view["id"] for view in views)]
        warnings = [*self.warnings, *(w for view in views for w in view.get("warnings", []))]
        if getattr(self.body, "stream", None):
            return _event_stream(self.kind, images, self.body, job_ids[-1])
        answer = {
            "created": int(time.time()),
            "data": data,
            "job_id": job_ids[-1],
            "model": views[0].get("model"),
            "warnings": warnings,
            **self._echo(images),
        }
        if len(job_ids) > 1:
            answer["job_ids"] = job_ids
        headers = {"X-ImageGen-Job-Id": job_ids[-1]}
        if self.inline:
            return http.sized_answer(200, answer, stored_hint(job_ids[-1]), headers)
        return http.response(200, answer, headers)

    def _echo(self, images: list[dict[str, Any]]) -> dict[str, Any]:
        """What OpenAI's gpt-image answers also say of the images: their size and format."""
        if not images:
            return {}
        first = images[0]
        return {
            "size": f"{first['width']}x{first['height']}",
            "output_format": _FORMATS.get(first["contentType"], "png"),
            "background": getattr(self.body, "background", None) or "auto",
        }


_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def _event_stream(kind: str, images: list[dict[str, Any]], body: Any, job_id: str) -> http.Response:
    """OpenAI's image stream: one ``<kind>.completed`` event per image, as server-sent events.

    Lambda's Python runtime cannot stream a response, so the events arrive together once the
    images are made; a streaming client reads them as it would read OpenAI's.
    """
    lines = []
    for image in images:
        event = {
            "type": f"{kind}.completed",
            "b64_json": image["base64"],
            "created_at": int(time.time()),
            "size": f"{image['width']}x{image['height']}",
            "quality": getattr(body, "quality", None) or "auto",
            "background": getattr(body, "background", None) or "auto",
            "output_format": _FORMATS.get(image["contentType"], "png"),
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                      "input_tokens_details": {"image_tokens": 0, "text_tokens": 0}},
        }  # fmt: skip
        lines.append(f"event: {kind}.completed\ndata: {json.dumps(event, separators=(',', ':'))}\n\n")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-ImageGen-Job-Id": job_id},
        "body": "".join(lines),
    }


def resolve_model(name: Any, task: str, config: Settings) -> str:
    """An OpenAI model name (or none) -> the registry model that serves the request."""
    from imagegen.registry import default_model

    if not isinstance(name, str | None):
        raise InvalidRequestError.for_field("model", "must be a string")
    aliases = config.openai_aliases
    # An empty name is no name: Open WebUI's default edit settings send model="".
    target = aliases.get(name, name) if name else TASK_DEFAULT
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
    body = http.raw_body(event)
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
