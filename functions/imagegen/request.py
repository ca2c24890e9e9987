"""``build_request``: a user's request -> validated native bodies for one model call (or a fan-out)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from .builders import native_bodies
from .errors import InvalidRequestError, PayloadTooLargeError, from_validation_error
from .images import ImageFormatError, InlineImage, OverSizeError, S3Image, inline_image
from .registry import INVOKE_BODY_LIMIT_BYTES, MODELS, TASKS, default_model, lifecycle_warning, model_id_for
from .rules import check_request, check_supported, image_errors, iter_images
from .schema import IMAGE_FIELDS, TASK_MODELS, ImageTooLarge, TaskRequest
from .specs import AspectRatioSizes, ModelSpec


@dataclass(frozen=True)
class BuiltRequest:
    task: str
    model: str
    model_id: str
    # One native body per InvokeModel call (several for a Stable Image Core fan-out).
    # Empty until every s3:// reference is resolved.
    bodies: list[dict[str, Any]]
    requested: int
    mode: str
    response_format: str
    warnings: list[str]
    s3_refs: list[tuple[str, S3Image]]
    request: TaskRequest = field(repr=False)
    spec: ModelSpec = field(repr=False)

    @property
    def resolved(self) -> bool:
        return not self.s3_refs

    @property
    def output_format(self) -> str:
        return getattr(self.request, "output_format", None) or "png"

    @property
    def premium(self) -> bool:
        return getattr(self.request, "quality", None) == "premium"

    @property
    def seeds(self) -> list[int | None]:
        """The seed of each body as the model will use it (None: the model picks one)."""
        if self.spec.family == "stability":
            return [body.get("seed") or None for body in self.bodies]
        default = self.spec.limits["seed"].default if "seed" in self.spec.limits else None
        seed = getattr(self.request, "seed", None)
        return [int(seed if seed is not None else default)] if default is not None else [None]

    @property
    def output_size(self) -> tuple[int, int] | None:
        """Width and height of each output image, when known before the call."""
        request, spec = self.request, self.spec
        if isinstance(spec.sizes, AspectRatioSizes):
            return spec.sizes.ratios[getattr(request, "aspect_ratio", None) or spec.sizes.default_ratio]
        width, height = getattr(request, "width", None), getattr(request, "height", None)
        source = getattr(request, "image", None)
        if width is None and height is None and isinstance(source, InlineImage):
            # Edits keep the input's size; an upscaler multiplies it, an outpaint extends it.
            source_width, source_height = source.info.size
            scale = spec.output_scale or 1
            extend = [getattr(request, side, None) or 0 for side in ("left", "right", "up", "down")]
            return source_width * scale + extend[0] + extend[1], source_height * scale + extend[2] + extend[3]
        if spec.sizes is None:
            return None
        default = spec.sizes.default
        return (default[0] if width is None else width, default[1] if height is None else height)

    @property
    def cost_pixels(self) -> int | None:
        """numberOfImages x width x height, doubled for premium: what ``mode: auto`` weighs."""
        size = self.output_size
        if size is None:
            return None
        return self.requested * size[0] * size[1] * (2 if self.premium else 1)

    @property
    def long_running(self) -> bool:
        """Whether ``mode: auto`` runs this request as a job whatever its size."""
        return self.spec.long_running

    def parameters(self) -> dict[str, Any]:
        """The request as the manifest records it: images described, never embedded."""
        params: dict[str, Any] = {"task": self.task, "model": self.model, "modelId": self.model_id}
        dumped = self.request.model_dump(by_alias=True, exclude_none=True, exclude=set(IMAGE_FIELDS))
        params.update(dumped)
        for path, image in iter_images(self.request):
            params[path] = image.describe()
        return params

    def resolve(self, fetched: Mapping[str, bytes]) -> BuiltRequest:
        """Substitute the bytes of every s3:// reference and finish the checks and bodies.

        ``fetched`` maps each reference's URI to its bytes.
        """
        images: dict[str, InlineImage] = {}
        for path, ref in self.s3_refs:
            try:
                images[ref.uri] = inline_image(fetched[ref.uri], self.spec.max_input_bytes)
            except OverSizeError as exc:
                raise PayloadTooLargeError(f"{path}: {exc}", [{"field": path, "message": str(exc)}]) from None
            except ImageFormatError as exc:
                raise InvalidRequestError.for_field(path, f"{ref.uri} {exc}") from None

        def swap(value: Any) -> Any:
            if isinstance(value, S3Image):
                return images[value.uri]
            if isinstance(value, list):
                return [swap(item) for item in value]
            return value

        updates = {name: swap(getattr(self.request, name)) for name in IMAGE_FIELDS if hasattr(self.request, name)}
        request = self.request.model_copy(update=updates)
        errors = image_errors(request, self.spec)
        if errors:
            raise InvalidRequestError.from_details(errors)
        return replace(self, request=request, s3_refs=[], bodies=_bodies(self.task, request, self.spec))


def build_request(
    task: str,
    payload: Any,
    model_ids: Mapping[str, str] | None = None,
    *,
    input_bucket: str | None = None,
    default_models: Mapping[str, str] | None = None,
    today: date | None = None,
) -> BuiltRequest:
    """Validate ``payload`` (the unified request) for ``task`` and build the native bodies.

    ``model_ids`` overrides Bedrock model ids by model name. ``input_bucket``, when given, is
    the only bucket s3:// references may name. A request that names no model gets
    ``default_models[task]``, else the registry's default for the task.
    """
    if task not in TASKS:
        raise InvalidRequestError.for_field("task", f"must be one of {', '.join(TASKS)}")
    if not isinstance(payload, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    model = payload.get("model")
    if model is None:
        model = default_model(task, default_models)
    spec = MODELS.get(model) if isinstance(model, str) else None
    if spec is None or spec.provider != "bedrock":
        names = ", ".join(name for name, s in MODELS.items() if s.provider == "bedrock")
        raise InvalidRequestError.for_field("model", f"must be one of {names}")
    check_supported(task, payload, spec)
    try:
        request = TASK_MODELS[task].model_validate(payload, context={"max_input_bytes": spec.max_input_bytes})
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    except ImageTooLarge as exc:
        raise PayloadTooLargeError(str(exc), [{"field": exc.field, "message": str(exc.error)}]) from None
    check_request(task, request, spec)

    refs = [(path, image) for path, image in iter_images(request) if isinstance(image, S3Image)]
    if input_bucket is not None:
        foreign = [(path, ref) for path, ref in refs if ref.bucket != input_bucket]
        if foreign:
            details = [
                {"field": path, "message": f"must be in the input bucket s3://{input_bucket}/ (got {ref.uri})"}
                for path, ref in foreign
            ]
            raise InvalidRequestError.from_details(details)

    warning = lifecycle_warning(spec, model_ids, today or date.today())
    return BuiltRequest(
        task=task,
        model=spec.name,
        model_id=model_id_for(spec, model_ids),
        bodies=[] if refs else _bodies(task, request, spec),
        requested=getattr(request, "number_of_images", None) or 1,
        mode=request.mode,
        response_format=request.response_format,
        warnings=[warning] if warning else [],
        s3_refs=refs,
        request=request,
        spec=spec,
    )


def _bodies(task: str, request: TaskRequest, spec: ModelSpec) -> list[dict[str, Any]]:
    """The native bodies, each within InvokeModel's body limit."""
    bodies = native_bodies(task, request, spec)
    for body in bodies:
        size = len(json.dumps(body, separators=(",", ":")))
        if size > INVOKE_BODY_LIMIT_BYTES:
            message = (
                f"the request for {spec.name} would be {size:,} bytes; InvokeModel takes at most "
                f"{INVOKE_BODY_LIMIT_BYTES:,} (images travel base64-encoded): send smaller images"
            )
            raise PayloadTooLargeError(message, [{"field": "body", "message": message}])
    return bodies
