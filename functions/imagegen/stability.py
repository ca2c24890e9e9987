"""Stability AI on Amazon Bedrock: Stable Image Core and Ultra, SD3.5 Large and the 13 Image
Services (shared/specs/stability-on-bedrock.txt, sections noted per model).

Each model's native body is a whitelist (``NativeBody``): Bedrock rejects any key a Stability
model does not know, so what is not listed is ``unsupported``. Where the spec marks a fact
UNCONFIRMED the safe side is taken and the model's ``input_rules`` say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from .specs import AspectRatioSizes, Lifecycle, ModelSpec, NativeBody, PixelBounds, Price, Range, chars, count

_MAX_INPUT_BYTES = 10 * 1024 * 1024  # registry.API_BODY_LIMIT_BYTES: what a function reads from S3

# Sec.3: 0 (or omitted) means random. The services and SD3.5 stop at 4,294,967,294; Core's and
# Ultra's pages (and stable-image-core.txt) state 4,294,967,295.
_SEED = Range(0, 4_294_967_294, default=0)
_GENERATOR_SEED = Range(0, 4_294_967_295, default=0)
_PROMPT = chars(1, 10_000)  # AWS lists a minimum of 0; the Stability API requires text
# One image per call: numberOfImages fans out into calls with distinct seeds, for every model and
# task whose request takes a count (generation, inpainting, outpainting).
_FANOUT = Range(1, 5, default=1)
_GROW_MASK = Range(0, 20, default=5, unit="px")
_STRENGTH = Range(0.0, 1.0, default=0.7)

_IMAGE_FORMATS = ("png", "jpeg", "webp")
# webp output is UNCONFIRMED for Ultra, Core and SD3.5: png and jpeg only.
_GENERATOR_OUTPUTS = ("png", "jpeg")
# Sec.6, the services' common input rule.
_SERVICE_INPUT = PixelBounds(min_side=64, max_side=16_384, max_pixels=9_437_184, max_ratio=2.5)

# Sec.8: about 1 megapixel, shaped by the aspect ratio (exact pixels UNCONFIRMED; these are the
# sizes the cost estimate and the local preview use).
_ONE_MEGAPIXEL = AspectRatioSizes(
    ratios={
        "16:9": (1344, 768),
        "1:1": (1024, 1024),
        "21:9": (1536, 640),
        "2:3": (832, 1216),
        "3:2": (1216, 832),
        "4:5": (896, 1088),
        "5:4": (1088, 896),
        "9:16": (768, 1344),
        "9:21": (640, 1536),
    },
    default_ratio="1:1",
)

_TEXT = {"prompt": "prompt", "negativePrompt": "negative_prompt"}
_OUTPUT = {"seed": "seed", "outputFormat": "output_format"}
_STYLE = {"stylePreset": "style_preset"}
_TEXT_LIMITS = {"prompt": _PROMPT, "negativePrompt": _PROMPT, "seed": _SEED}

_US_WEST_2 = ("us-west-2",)
# The Image Services answer only through their us.* cross-Region inference profiles, which are
# called from these regions (stability-on-bedrock.txt sec. 2).
_US_PROFILE = ("us-east-1", "us-east-2", "us-west-2")

# Bedrock's on-demand prices, USD, as LiteLLM's price list (RoCry/llm-api-price mirror, synced
# 2026-07-24) and stdapi.ai's "pricing-page per-generation fallback rates" carry them; AWS's
# pricing page renders its figures client-side, so no stored copy of it holds them.
_PRICES_SOURCE = "Bedrock pricing via LiteLLM model_prices and stdapi.ai pricing_overrides"
_PRICES_AS_OF = date(2026, 7, 24)


def _per_image(usd: float) -> Price:
    return Price(usd, source=_PRICES_SOURCE, as_of=_PRICES_AS_OF)


def _per_call(usd: float) -> Price:
    """An Image Service bills each call, which makes one image."""
    return Price(usd, per="call", source=_PRICES_SOURCE, as_of=_PRICES_AS_OF)


_SERVICE_PRICES = {
    "stable-fast-upscale": 0.03, "stable-creative-upscale": 0.60, "stable-conservative-upscale": 0.40,
    "stable-outpaint": 0.06, "stable-style-transfer": 0.08,
    **dict.fromkeys(("stable-image-inpaint", "stable-image-search-replace", "stable-image-search-recolor",
                     "stable-image-erase-object", "stable-image-remove-background", "stable-image-control-sketch",
                     "stable-image-control-structure", "stable-image-style-guide"), 0.07),
}  # fmt: skip


def _active(source: str, note: str = "") -> Lifecycle:
    return Lifecycle("active", source=source, note=note)


def _service(
    name: str,
    title: str,
    task: str,
    body: NativeBody,
    limits: Mapping[str, Range],
    *,
    input_bounds: PixelBounds = _SERVICE_INPUT,
    output_formats: tuple[str, ...] = _IMAGE_FORMATS,
    required: frozenset[str] = frozenset(),
    input_rules: tuple[str, ...] = (),
    **options: object,
) -> ModelSpec:
    """One of the 13 Image Services: offered only through the us.* inference profiles (sec.2)."""
    return ModelSpec(
        name=name,
        title=title,
        model_id=f"us.stability.{name}-v1:0",
        other_ids=(f"stability.{name}-v1:0",),
        family="stability",
        tasks=(task,),
        limits=limits,
        sizes=None,
        lifecycle=_active("Bedrock model cards (EOL N/A), stability-on-bedrock.txt sec.2"),
        max_input_bytes=_MAX_INPUT_BYTES,
        required={task: required} if required else {},
        input_rules=("PNG, JPEG or WebP", *input_rules),
        input_bounds=input_bounds,
        input_formats=_IMAGE_FORMATS,
        output_formats=output_formats,
        native={task: body},
        regions=_US_PROFILE,
        price=_per_call(_SERVICE_PRICES[name]),
        **options,  # type: ignore[arg-type]
    )


def _generator(name: str, title: str, model_id: str, note: str, usd: float, **options: object) -> ModelSpec:
    """Stable Image Core and Ultra (sec.4a, 4b): text-to-image by aspect ratio, in us-west-2."""
    return ModelSpec(
        name=name,
        title=title,
        model_id=model_id,
        family="stability",
        tasks=("text-to-image",),
        limits={**_TEXT_LIMITS, "seed": _GENERATOR_SEED, "numberOfImages": _FANOUT},
        sizes=_ONE_MEGAPIXEL,
        lifecycle=_active("genkit-ai/genkit PR 6011 (2026-08-11); model-lifecycle.txt", note),
        max_input_bytes=_MAX_INPUT_BYTES,
        input_formats=_IMAGE_FORMATS,
        output_formats=_GENERATOR_OUTPUTS,
        native={
            "text-to-image": NativeBody(
                {**_TEXT, "aspectRatio": "aspect_ratio", **_OUTPUT},
            )
        },
        regions=_US_WEST_2,
        price=_per_image(usd),
        input_rules=("style_preset is not sent: Bedrock's page does not list it (UNCONFIRMED)",),
        **options,  # type: ignore[arg-type]
    )


_CONTROL = NativeBody({**_TEXT, "conditionImage": "image", "controlStrength": "control_strength", **_OUTPUT, **_STYLE})
_MASKED = {"image": "image", "maskImage": "mask", "growMask": "grow_mask"}
# The contract's masks are black where the image changes; Stability's are white there (sec.7).
_INVERTED_MASK = {"maskImage": "invert_mask"}

STABILITY_MODELS: tuple[ModelSpec, ...] = (
    _generator(
        "stable-image-core",
        "Stability AI Stable Image Core",
        "stability.stable-image-core-v1:1",
        "v1:0 is past its end of life.",
        0.04,
        other_ids=("stability.stable-image-core-v1:0",),
    ),
    _generator(
        "stable-image-ultra",
        "Stability AI Stable Image Ultra 1.1",
        "stability.stable-image-ultra-v1:1",
        "v1:0 is past its end of life.",
        0.14,
    ),
    ModelSpec(
        name="sd3-5-large",
        title="Stability AI Stable Diffusion 3.5 Large",
        model_id="stability.sd3-5-large-v1:0",
        family="stability",
        tasks=("text-to-image", "image-variation"),
        limits={
            **_TEXT_LIMITS,
            "numberOfImages": _FANOUT,
            "images": count(1, 1),
            # strength = 1 - similarityStrength (sec.4c: 0 keeps the input, 1 ignores it).
            "similarityStrength": _STRENGTH,
        },
        sizes=_ONE_MEGAPIXEL,
        lifecycle=_active("genkit-ai/genkit PR 6011 (2026-08-11); model-lifecycle.txt"),
        max_input_bytes=_MAX_INPUT_BYTES,
        required={"image-variation": frozenset({"prompt"})},
        input_rules=(
            "PNG, JPEG or WebP",
            "image-to-image: the services' input rule (SD3.5's own pixel limits are not published)",
        ),
        input_bounds=_SERVICE_INPUT,
        input_formats=_IMAGE_FORMATS,
        output_formats=_GENERATOR_OUTPUTS,
        native={
            "text-to-image": NativeBody(
                {**_TEXT, "aspectRatio": "aspect_ratio", **_OUTPUT}, constants={"mode": "text-to-image"}
            ),
            "image-variation": NativeBody(
                {**_TEXT, "images": "image", "similarityStrength": "strength", **_OUTPUT},
                convert={"images": "first", "similarityStrength": "complement"},
                constants={"mode": "image-to-image"},
                always=("similarityStrength",),
            ),
        },
        regions=_US_WEST_2,
        price=_per_image(0.08),
    ),
    _service(
        "stable-fast-upscale",
        "Stability AI Fast Upscale",
        "upscale",
        NativeBody({"image": "image", "outputFormat": "output_format"}),
        {},
        input_bounds=PixelBounds(min_side=32, max_side=1536, min_pixels=1024, max_pixels=1_048_576),
        input_rules=("the output is 4x the input per side",),
        output_scale=4,
    ),
    _service(
        "stable-creative-upscale",
        "Stability AI Creative Upscale",
        "upscale",
        NativeBody({**_TEXT, "image": "image", "creativity": "creativity", **_OUTPUT, **_STYLE}),
        # AWS: 0.1-0.5; the sample notebook and the Stability API: up to 0.35 (UNCONFIRMED).
        {**_TEXT_LIMITS, "creativity": Range(0.1, 0.35, default=0.3)},
        input_bounds=PixelBounds(min_side=64, max_side=16_384, min_pixels=4096, max_pixels=1_048_576),
        required=frozenset({"prompt"}),
        input_rules=("creativity capped at 0.35 where sources disagree (UNCONFIRMED)",),
        long_running=True,
    ),
    _service(
        "stable-conservative-upscale",
        "Stability AI Conservative Upscale",
        "upscale",
        NativeBody({**_TEXT, "image": "image", "creativity": "creativity", **_OUTPUT}),
        # AWS: 0.1-0.5; the Stability API: 0.2-0.5 (UNCONFIRMED: 0.2 is safe).
        {**_TEXT_LIMITS, "creativity": Range(0.2, 0.5, default=0.35)},
        input_bounds=PixelBounds(min_side=64, max_side=16_384, min_pixels=4096, max_pixels=9_437_184, max_ratio=2.5),
        required=frozenset({"prompt"}),
        input_rules=("creativity from 0.2 where sources disagree (UNCONFIRMED)",),
        long_running=True,
    ),
    _service(
        "stable-image-inpaint",
        "Stability AI Inpaint",
        "inpainting",
        NativeBody({**_TEXT, **_MASKED, **_OUTPUT, **_STYLE}, convert=_INVERTED_MASK),
        {**_TEXT_LIMITS, "growMask": _GROW_MASK, "numberOfImages": _FANOUT},
        required=frozenset({"prompt", "maskImage"}),
        input_rules=("the mask is required (an alpha-channel mask is not used)",),
    ),
    _service(
        "stable-outpaint",
        "Stability AI Outpaint",
        "outpainting",
        NativeBody(
            {
                "prompt": "prompt",
                "image": "image",
                "left": "left",
                "right": "right",
                "up": "up",
                "down": "down",
                "creativity": "creativity",
                **_OUTPUT,
                **_STYLE,
            }
        ),
        {
            "prompt": _PROMPT,
            "seed": _SEED,
            "numberOfImages": _FANOUT,
            **{side: Range(0, 2000, default=0, unit="px") for side in ("left", "right", "up", "down")},
            # AWS: 0.1-1.0; mirrors of the Stability API: 0-1 (UNCONFIRMED: 0.1 is safe).
            "creativity": Range(0.1, 1.0, default=0.5),
        },
        input_rules=("at least one of left, right, up, down above 0",),
    ),
    _service(
        "stable-image-search-replace",
        "Stability AI Search and Replace",
        "search-replace",
        NativeBody(
            {**_TEXT, "image": "image", "searchPrompt": "search_prompt", "growMask": "grow_mask", **_OUTPUT, **_STYLE}
        ),
        {**_TEXT_LIMITS, "searchPrompt": _PROMPT, "growMask": _GROW_MASK},
    ),
    _service(
        "stable-image-search-recolor",
        "Stability AI Search and Recolor",
        "search-recolor",
        NativeBody(
            {**_TEXT, "image": "image", "selectPrompt": "select_prompt", "growMask": "grow_mask", **_OUTPUT, **_STYLE}
        ),
        {**_TEXT_LIMITS, "selectPrompt": _PROMPT, "growMask": _GROW_MASK},
    ),
    _service(
        "stable-image-erase-object",
        "Stability AI Erase Object",
        "erase-object",
        NativeBody({**_MASKED, **_OUTPUT}, convert=_INVERTED_MASK),
        {"seed": _SEED, "growMask": _GROW_MASK},
        required=frozenset({"maskImage"}),
        input_rules=("the mask is required (an alpha-channel mask is not used)",),
    ),
    _service(
        "stable-image-remove-background",
        "Stability AI Remove Background",
        "background-removal",
        NativeBody({"image": "image", "outputFormat": "output_format"}),
        {},
        # AWS: 9,437,184 pixels; the Stability API: 4,194,304 (UNCONFIRMED: the lower is safe).
        input_bounds=PixelBounds(min_side=64, max_side=16_384, max_pixels=4_194_304, max_ratio=2.5),
        # JPEG cannot hold the transparency this service produces (UNCONFIRMED on Bedrock).
        output_formats=("png", "webp"),
        input_rules=("at most 4,194,304 pixels where sources disagree (UNCONFIRMED)",),
    ),
    # Sec.5.10 and 5.11: the same fields, a sketch's lines or any image's structure.
    *(
        _service(
            name,
            title,
            "text-to-image",
            _CONTROL,
            {**_TEXT_LIMITS, "controlStrength": _STRENGTH, "numberOfImages": _FANOUT},
            required=frozenset({"conditionImage"}),
        )
        for name, title in (
            ("stable-image-control-sketch", "Stability AI Control Sketch"),
            ("stable-image-control-structure", "Stability AI Control Structure"),
        )
    ),
    _service(
        "stable-image-style-guide",
        "Stability AI Style Guide",
        "text-to-image",
        NativeBody(
            {**_TEXT, "styleImage": "image", "aspectRatio": "aspect_ratio", "fidelity": "fidelity", **_OUTPUT, **_STYLE}
        ),
        {**_TEXT_LIMITS, "fidelity": Range(0.0, 1.0, default=0.5), "numberOfImages": _FANOUT},
        required=frozenset({"styleImage"}),
    ),
    _service(
        "stable-style-transfer",
        "Stability AI Style Transfer",
        "style-transfer",
        NativeBody(
            {
                **_TEXT,
                "image": "init_image",
                "styleImage": "style_image",
                "styleStrength": "style_strength",
                "compositionFidelity": "composition_fidelity",
                "changeStrength": "change_strength",
                **_OUTPUT,
            }
        ),
        {
            **_TEXT_LIMITS,
            "styleStrength": Range(0.0, 1.0, default=1.0),
            "compositionFidelity": Range(0.0, 1.0, default=0.9),
            "changeStrength": Range(0.1, 1.0, default=0.9),
        },
        input_rules=("the output keeps the content image's aspect ratio at about 1 megapixel",),
    ),
)
