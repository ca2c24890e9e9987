"""A deterministic preview engine standing in for the image models.

It answers with each model's native response shape and with images that keep the promises
a test can check on real pixels: sizes and counts, palettes, masks left untouched, edges that
follow a condition image, transparent backgrounds. The same request and seed give the same
bytes; another seed or another image index gives another image. It is not a model: the local
stack says so in every response's warnings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from imagegen.images import ImageFormatError, inspect_image, open_pixels
from imagegen.registry import MODELS
from imagegen.specs import AspectRatioSizes, ModelSpec

NOTICE = "local preview engine: these images are deterministic previews, not model output"
MASK_PROMPT_NOTICE = (
    "local preview engine: maskPrompt is approximated as the region that differs from the image's border colour"
)
# What the real models say when their filters block content.
BEDROCK_BLOCKED = "This request has been blocked by our content filters."
BEDROCK_OUTPUT_FILTERED = "{count} of the generated images were blocked by our content filters."
STABILITY_OUTPUT_FILTER = "Filter reason: output image"
VERTEX_BLOCKED = (
    "Image generation failed with the following error: The prompt could not be submitted. This prompt "
    "contains sensitive words that violate Google's Responsible AI practices."
)
VERTEX_OUTPUT_FILTERED = "Unable to show the generated image: it was filtered out by responsible AI filters."
# What Bedrock says of an input image it cannot take (its message names the reason).
BEDROCK_BAD_IMAGE = "The provided image is not valid: {reason}."

Native = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class PreviewEngine:
    # A prompt containing this word is filtered as the real models answer: Nova/Titan and Imagen
    # block a one-image request outright and filter every second image of larger ones; Stable
    # Image Core filters the calls with an odd seed.
    blocked_word: str = "forbidden"

    # --- Bedrock ---------------------------------------------------------------------------

    def bedrock(self, model_id: str, body: dict[str, Any]) -> Native:
        """The native response (status, JSON) of ``InvokeModel`` for ``model_id``."""
        spec = next((spec for spec in MODELS.values() if model_id in (spec.model_id, *spec.other_ids)), None)
        with _inputs_of(spec):
            try:
                if model_id.startswith("stability."):
                    return self._stability(model_id.removeprefix("stability.").rsplit("-v", 1)[0], body)
                family = "nova" if ".nova" in model_id else "titan"
                return self._task_type(family, body)
            except ImageFormatError as error:
                return 400, {"__error__": "ValidationException", "message": BEDROCK_BAD_IMAGE.format(reason=error)}

    def _task_type(self, family: str, body: dict[str, Any]) -> Native:
        task = body.get("taskType", "")
        params = body.get(_PARAMS.get(task, ""), {}) or {}
        config = body.get("imageGenerationConfig", {}) or {}
        prompt = str(params.get("text", ""))
        count = 1 if task == "BACKGROUND_REMOVAL" else int(config.get("numberOfImages", 1))
        blocked = self._blocked(prompt)
        if blocked and count == 1:
            return 400, {"__error__": "ValidationException", "message": BEDROCK_BLOCKED}
        default = MODELS["nova-canvas" if family == "nova" else "titan-image-v2"].sizes.default
        seed = int(config.get("seed", 12 if family == "nova" else 0))
        images = []
        for index in range(count):
            if blocked and index % 2 == 1:
                continue
            rng = _rng(body, seed, index)
            images.append(_png(_render(task, params, config, default, rng)))
        filtered = count - len(images)
        error = BEDROCK_OUTPUT_FILTERED.format(count=filtered) if filtered else None
        return 200, {"images": [_b64(image) for image in images], "error": error}

    def _stability(self, name: str, body: dict[str, Any]) -> Native:
        """Any Stability model (``name`` as in the registry): one image per call."""
        prompt = str(body.get("prompt", ""))
        seed = int(body.get("seed", 0))
        if self._blocked(prompt) and seed % 2 == 1:
            # One call per image, each with its own seed: the output filter takes the odd ones,
            # so a fan-out is partly filtered and a single odd-seeded call entirely.
            return 200, {"seeds": [seed], "finish_reasons": [STABILITY_OUTPUT_FILTER], "images": []}
        image = _stability_image(name, body, _rng(body, seed, 0))
        data = _encode(image, body.get("output_format", "png"))
        return 200, {"seeds": [seed], "finish_reasons": [None], "images": [_b64(data)]}

    # --- Vertex AI -------------------------------------------------------------------------

    def vertex(self, body: dict[str, Any]) -> Native:
        """The native response of Imagen customization's ``:predict``."""
        return _refusing_bad_images(self._vertex, body)

    def _vertex(self, body: dict[str, Any]) -> Native:
        instance = (body.get("instances") or [{}])[0]
        parameters = body.get("parameters") or {}
        prompt = str(instance.get("prompt", ""))
        count = int(parameters.get("sampleCount", 4))
        if self._blocked(prompt) and count == 1:
            return 400, {"error": {"code": 400, "message": VERTEX_BLOCKED, "status": "INVALID_ARGUMENT"}}
        references = [
            _open(ref["referenceImage"]["bytesBase64Encoded"])
            for ref in instance.get("referenceImages", [])
            if ref.get("referenceImage", {}).get("bytesBase64Encoded")
        ]
        seed = int(parameters.get("seed", 0))
        predictions = []
        for index in range(count):
            if self._blocked(prompt) and index % 2 == 1:
                predictions.append({"raiFilteredReason": VERTEX_OUTPUT_FILTERED})
                continue
            rng = _rng(body, seed, index)
            image = _variation(references, 1024, 1024, 0.6, rng) if references else _pattern(1024, 1024, rng)
            predictions.append({"bytesBase64Encoded": _b64(_png(image)), "mimeType": "image/png"})
        return 200, {"predictions": predictions}

    def gemini(self, body: dict[str, Any]) -> Native:
        """The native response of a Gemini image model's ``:generateContent`` (one candidate):
        an image derived from the inline images, at the asked aspect ratio. A prompt with the
        blocked word is blocked outright without a seed, and its odd-seeded calls filtered."""
        return _refusing_bad_images(self._gemini, body)

    def _gemini(self, body: dict[str, Any]) -> Native:
        parts = [part for content in body.get("contents", []) for part in content.get("parts", [])]
        prompt = " ".join(str(part.get("text", "")) for part in parts)
        config = body.get("generationConfig") or {}
        seed = config.get("seed")
        prompt_tokens = 1120 * len(parts)  # Gemini 3.1 Flash Image counts 1,120 tokens per image
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 1120}
        usage["totalTokenCount"] = prompt_tokens + 1120
        if self._blocked(prompt):
            if seed is None:
                return 200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage}
            if seed % 2 == 1:
                candidate = {"content": {"role": "model", "parts": []}, "finishReason": "IMAGE_SAFETY"}
                return 200, {"candidates": [candidate], "usageMetadata": usage}
        references = [_open(part["inlineData"]["data"]) for part in parts if "inlineData" in part]
        width, height = _gemini_size((config.get("imageConfig") or {}).get("aspectRatio", "1:1"))
        rng = _rng(body, seed or 0, 0)
        image = _variation(references, width, height, 0.6, rng) if references else _pattern(width, height, rng)
        answer = [{"text": "Here is the image."}, {"inlineData": {"mimeType": "image/png", "data": _b64(_png(image))}}]
        candidate = {"content": {"role": "model", "parts": answer}, "finishReason": "STOP", "index": 0}
        return 200, {"candidates": [candidate], "usageMetadata": usage}

    def _blocked(self, prompt: str) -> bool:
        return bool(self.blocked_word) and self.blocked_word.lower() in prompt.lower()


def _refusing_bad_images(answer: Callable[[dict[str, Any]], Native], body: dict[str, Any]) -> Native:
    """Vertex's answer to an input image it cannot read: 400 INVALID_ARGUMENT."""
    try:
        return answer(body)
    except ImageFormatError as error:
        message = f"Image is not valid: {error}."
        return 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


_PARAMS = {
    "TEXT_IMAGE": "textToImageParams",
    "COLOR_GUIDED_GENERATION": "colorGuidedGenerationParams",
    "IMAGE_VARIATION": "imageVariationParams",
    "INPAINTING": "inPaintingParams",
    "OUTPAINTING": "outPaintingParams",
    "BACKGROUND_REMOVAL": "backgroundRemovalParams",
}


def _render(
    task: str, params: dict[str, Any], config: dict[str, Any], default: tuple[int, int], rng: random.Random
) -> Image.Image:
    if task == "BACKGROUND_REMOVAL":
        return remove_background(_open(params["image"]))
    if task in ("INPAINTING", "OUTPAINTING"):
        return _edit(task, params, rng)
    if task == "IMAGE_VARIATION":
        sources = [_open(image) for image in params.get("images", [])]
        width = int(config.get("width", sources[0].width))
        height = int(config.get("height", sources[0].height))
        return _variation(sources, width, height, float(params.get("similarityStrength", 0.7)), rng)
    width, height = int(config.get("width", default[0])), int(config.get("height", default[1]))
    if task == "COLOR_GUIDED_GENERATION":
        palette = [_hex(color) for color in params.get("colors", [])]
        if params.get("referenceImage"):
            palette += _dominant_colours(_open(params["referenceImage"]), 4)
        return _pattern(width, height, rng, palette=palette)
    image = _pattern(width, height, rng)
    if params.get("conditionImage"):
        image = _follow_edges(image, _open(params["conditionImage"]))
    return image


# What each Stability model's preview keeps (the README lists these promises).
PREVIEW_SCALE = {"stable-fast-upscale": 4, "stable-creative-upscale": 2, "stable-conservative-upscale": 2}


def _stability_image(name: str, body: dict[str, Any], rng: random.Random) -> Image.Image:
    source = _open(body["image"]).convert("RGB") if body.get("image") else None
    if name in PREVIEW_SCALE:
        scale = PREVIEW_SCALE[name]
        return source.resize((source.width * scale, source.height * scale), Image.Resampling.LANCZOS)
    if name == "stable-image-remove-background":
        return remove_background(source)
    if name == "stable-outpaint":
        return _outpaint(source, body, rng)
    if name in ("stable-image-inpaint", "stable-image-erase-object"):
        # Stability's masks are white where the image changes.
        change = _open(body["mask"]).convert("L").resize(source.size).point(lambda v: 255 if v >= 128 else 0)
        if name == "stable-image-inpaint":
            fill = _pattern(source.width, source.height, rng)
        else:
            fill = Image.new("RGB", source.size, _mean_colour(source, ImageOps.invert(change)))
        out = source.copy()
        out.paste(fill, mask=change)
        return out
    if name == "stable-image-search-replace":
        out = source.copy()
        out.paste(_pattern(source.width, source.height, rng), mask=_subject_mask(source))
        return out
    if name == "stable-image-search-recolor":
        tinted = ImageOps.colorize(source.convert("L"), (0, 0, 0), _colour(rng))
        return Image.composite(tinted, source, _subject_mask(source))
    if name in ("stable-image-control-sketch", "stable-image-control-structure"):
        return _follow_edges(_pattern(source.width, source.height, rng), source)
    if name == "stable-style-transfer":
        content = _open(body["init_image"]).convert("RGB")
        width, height = _one_megapixel(content.width, content.height)
        palette = _dominant_colours(_open(body["style_image"]), 4)
        styled = _pattern(width, height, rng, palette=palette)
        return Image.blend(styled, content.resize((width, height)), float(body.get("composition_fidelity", 0.9)) / 2)
    sizes = MODELS["stable-image-core"].sizes
    assert isinstance(sizes, AspectRatioSizes)
    if name == "sd3-5-large" and body.get("mode") == "image-to-image":
        return _variation([source], source.width, source.height, 1 - float(body.get("strength", 0.3)), rng)
    width, height = sizes.ratios[body.get("aspect_ratio") or sizes.default_ratio]
    if name == "stable-image-style-guide":
        return _pattern(width, height, rng, palette=_dominant_colours(source, 4))
    return _pattern(width, height, rng)


def _outpaint(source: Image.Image, body: dict[str, Any], rng: random.Random) -> Image.Image:
    """The source pasted unchanged into a canvas grown by left/right/up/down, the rest invented."""
    left, right, up, down = (int(body.get(side, 0)) for side in ("left", "right", "up", "down"))
    canvas = _pattern(source.width + left + right, source.height + up + down, rng)
    canvas.paste(source, (left, up))
    return canvas


def _gemini_size(ratio: str) -> tuple[int, int]:
    """The 1K image of an aspect ratio (about 1 megapixel)."""
    across, down = (int(side) for side in ratio.split(":"))
    return _one_megapixel(across * 256, down * 256)


def _one_megapixel(width: int, height: int) -> tuple[int, int]:
    scale = (1024 * 1024 / (width * height)) ** 0.5
    return max(int(width * scale) // 8 * 8, 8), max(int(height * scale) // 8 * 8, 8)


def _encode(image: Image.Image, output_format: str) -> bytes:
    if output_format == "jpeg":
        return _jpeg(image)
    if output_format == "webp":
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", lossless=True)
        return buffer.getvalue()
    return _png(image)


# --- images ----------------------------------------------------------------------------------


def _rng(body: dict[str, Any], seed: int, index: int) -> random.Random:
    """Deterministic in the request, its seed and the image's index."""
    digest = hashlib.sha256(json.dumps([body, seed, index], sort_keys=True, default=str).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _pattern(
    width: int, height: int, rng: random.Random, palette: list[tuple[int, int, int]] | None = None
) -> Image.Image:
    """A gradient with shapes; with a palette, flat shapes in exactly those colours (no anti-aliasing)."""
    if palette:
        image = Image.new("RGB", (width, height), rng.choice(palette))
    else:
        gradient = Image.linear_gradient("L").resize((width, height)).rotate(rng.choice((0, 90, 180, 270)))
        image = ImageOps.colorize(gradient, _colour(rng), _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = min(width - 1, x0 + rng.randrange(width // 8 + 1, width // 2 + 2))
        y1 = min(height - 1, y0 + rng.randrange(height // 8 + 1, height // 2 + 2))
        colour = rng.choice(palette) if palette else _colour(rng)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return image


def _follow_edges(image: Image.Image, condition: Image.Image) -> Image.Image:
    """Draw the condition image's edges into the output, so its layout shapes the result."""
    edges = condition.convert("L").resize(image.size).filter(ImageFilter.FIND_EDGES)
    lines = edges.point(lambda value: 255 if value > 40 else 0)
    out = image.copy()
    out.paste((12, 12, 12), mask=lines)
    return out


def _variation(
    sources: list[Image.Image], width: int, height: int, similarity: float, rng: random.Random
) -> Image.Image:
    """The inputs' average, blended with a pattern: the higher ``similarity``, the closer to them."""
    base = sources[0].convert("RGB").resize((width, height))
    for count, source in enumerate(sources[1:], start=2):
        base = Image.blend(base, source.convert("RGB").resize((width, height)), 1 / count)
    return Image.blend(_pattern(width, height, rng), base, max(0.0, min(1.0, similarity)))


def _edit(task: str, params: dict[str, Any], rng: random.Random) -> Image.Image:
    image = _open(params["image"]).convert("RGB")
    # inside: the mask's black region (Titan's convention); inpainting changes it, outpainting the rest.
    if params.get("maskImage"):
        inside = ImageOps.invert(_open(params["maskImage"]).convert("L")).point(lambda v: 255 if v >= 128 else 0)
    else:
        inside = _subject_mask(image)
    change = inside if task == "INPAINTING" else ImageOps.invert(inside)
    if params.get("text"):
        fill = _pattern(image.width, image.height, rng)
    else:
        # No prompt: fill from the surroundings (the average of what is kept).
        keep = ImageOps.invert(change)
        fill = Image.new("RGB", image.size, _mean_colour(image, keep))
    out = image.copy()
    out.paste(fill, mask=change)
    if task == "OUTPAINTING" and params.get("outPaintingMode", "DEFAULT") != "PRECISE":
        # DEFAULT may touch the inside a little; PRECISE leaves it exactly as it was.
        out = Image.composite(Image.blend(out, fill, 0.15), out, inside)
    return out


def _subject_mask(image: Image.Image) -> Image.Image:
    """The approximation of a maskPrompt: pixels far from the border's colour (255 = inside)."""
    background = _border_colour(image)
    distance = ImageChops.difference(image.convert("RGB"), Image.new("RGB", image.size, background)).convert("L")
    return distance.point(lambda v: 255 if v > 24 else 0)


def remove_background(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    rgba.putalpha(_subject_mask(image.convert("RGB")))
    return rgba


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    rgb = image.convert("RGB")
    width, height = rgb.size
    pixels = [rgb.getpixel((x, y)) for x in range(0, width, max(width // 32, 1)) for y in (0, height - 1)]
    pixels += [rgb.getpixel((x, y)) for y in range(0, height, max(height // 32, 1)) for x in (0, width - 1)]
    return tuple(sorted(channel)[len(channel) // 2] for channel in zip(*pixels, strict=True))  # type: ignore[return-value]


def _mean_colour(image: Image.Image, mask: Image.Image) -> tuple[int, int, int]:
    from PIL import ImageStat

    stat = ImageStat.Stat(image.convert("RGB"), mask=mask)
    return tuple(int(v) for v in stat.mean) if stat.count[0] else (128, 128, 128)  # type: ignore[return-value]


def _dominant_colours(image: Image.Image, count: int) -> list[tuple[int, int, int]]:
    quantized = image.convert("RGB").quantize(colors=count)
    palette = quantized.getpalette() or []
    used = sorted(index for _, index in quantized.getcolors() or [])
    return [tuple(palette[3 * index : 3 * index + 3]) for index in used]  # type: ignore[misc]


def _hex(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


# The model being previewed: its bounds on input pixels are checked before any input is decoded.
_MODEL: ContextVar[ModelSpec | None] = ContextVar("previewed_model", default=None)


@contextmanager
def _inputs_of(spec: ModelSpec | None) -> Iterator[None]:
    token = _MODEL.set(spec)
    try:
        yield
    finally:
        _MODEL.reset(token)


def _open(b64: str) -> Image.Image:
    """An input image, decoded once its header shows the model takes its size: the engine is
    reachable on loopback without the handlers' checks, and a small file can declare gigabytes.
    Whatever the model, Pillow allocates no more than imagegen's decode bound."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ImageFormatError("it is not base64") from None
    info = inspect_image(data)
    spec = _MODEL.get()
    if spec is not None:
        error = spec.sizes.input_error(info.width, info.height) if spec.sizes else None
        error = error or (spec.input_bounds.input_error(info.width, info.height) if spec.input_bounds else None)
        if error:
            raise ImageFormatError(error)
    return open_pixels(data, info)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
