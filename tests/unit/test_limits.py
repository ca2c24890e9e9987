"""Every documented limit, just inside and just outside, for every model it applies to.

The numbers here are copied from shared/specs (and DESIGN §5), not read from the registry,
so a wrong registry value fails these tests.
"""

from __future__ import annotations

import pytest
from imaging import mask_b64, png_b64

from imagegen import ImageGenError, build_request

NOVA, TITAN1, TITAN2, SIC = "nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core"
IMG = png_b64(512, 512)


def base(model: str, task: str) -> dict:
    """A minimal valid request for ``task`` on ``model``."""
    request: dict = {"model": model}
    if task in ("text-to-image", "color-guided"):
        request["prompt"] = "a red fox"
    if task == "color-guided":
        request["colors"] = ["#FF0000"]
    if task == "image-variation":
        request["images"] = [IMG]
    if task in ("inpainting", "outpainting"):
        request.update(image=IMG, maskPrompt="the fox")
        if model.startswith("titan") and task == "outpainting":
            request["prompt"] = "a forest"
    if task == "background-removal":
        request["image"] = IMG
    return request


def accepts(model: str, task: str, **fields) -> bool:
    try:
        build_request(task, {**base(model, task), **fields})
    except ImageGenError as exc:
        assert exc.status == 400, exc
        named = {d["field"].split("[")[0] for d in exc.details}
        assert named & set(fields), f"error names {named}, expected one of {set(fields)}"
        return False
    return True


# (models, task, field, lowest valid, just below, highest valid, just above)
NUMERIC = [
    ([NOVA], "text-to-image", "cfgScale", 1.1, 1.09, 10.0, 10.01),
    ([TITAN1, TITAN2], "text-to-image", "cfgScale", 1.1, 1.09, 10.0, 10.01),
    ([NOVA], "text-to-image", "seed", 0, -1, 858_993_459, 858_993_460),
    ([TITAN1, TITAN2], "text-to-image", "seed", 0, -1, 2_147_483_646, 2_147_483_647),
    ([SIC], "text-to-image", "seed", 0, -1, 4_294_967_295, 4_294_967_296),
    ([NOVA, TITAN1, TITAN2, SIC], "text-to-image", "numberOfImages", 1, 0, 5, 6),
    ([NOVA, TITAN1, TITAN2], "image-variation", "similarityStrength", 0.2, 0.19, 1.0, 1.01),
]


@pytest.mark.parametrize(("models", "task", "field", "low", "below", "high", "above"), NUMERIC)
def test_numeric_limits(models, task, field, low, below, high, above):
    for model in models:
        assert accepts(model, task, **{field: low}), (model, field, low)
        assert accepts(model, task, **{field: high}), (model, field, high)
        assert not accepts(model, task, **{field: below}), (model, field, below)
        assert not accepts(model, task, **{field: above}), (model, field, above)


@pytest.mark.parametrize("model", [NOVA, TITAN2])
def test_control_strength_is_0_to_1(model):
    conditioned = {"conditionImage": IMG}
    assert accepts(model, "text-to-image", controlStrength=0.0, **conditioned)
    assert accepts(model, "text-to-image", controlStrength=1.0, **conditioned)
    assert not accepts(model, "text-to-image", controlStrength=-0.01, **conditioned)
    assert not accepts(model, "text-to-image", controlStrength=1.01, **conditioned)


# (models, longest valid prompt)
PROMPTS = [([NOVA], 1024), ([TITAN1, TITAN2], 512), ([SIC], 10_000)]


@pytest.mark.parametrize(("models", "longest"), PROMPTS)
@pytest.mark.parametrize("field", ["prompt", "negativePrompt"])
def test_prompt_lengths(models, longest, field):
    for model in models:
        assert accepts(model, "text-to-image", **{field: "a" * longest})
        assert not accepts(model, "text-to-image", **{field: "a" * (longest + 1)})
        assert not accepts(model, "text-to-image", **{field: ""})


@pytest.mark.parametrize("model", [NOVA, TITAN1, TITAN2])
def test_variation_takes_1_to_5_images(model):
    assert accepts(model, "image-variation", images=[IMG] * 5)
    assert not accepts(model, "image-variation", images=[IMG] * 6)
    assert not accepts(model, "image-variation", images=[])


@pytest.mark.parametrize("model", [NOVA, TITAN2])
def test_colors_are_1_to_10_hex_codes(model):
    assert accepts(model, "color-guided", colors=["#00FF00"] * 10)
    assert accepts(model, "color-guided", colors=["#fcf2ab"])
    assert not accepts(model, "color-guided", colors=["#00FF00"] * 11)
    assert not accepts(model, "color-guided", colors=[])
    for bad in ("00FF00", "#0F0", "#00FF0G", "#00FF001"):
        assert not accepts(model, "color-guided", colors=[bad]), bad


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (320, 320, True),
        (304, 320, False),  # below the 320 px minimum side
        (1024, 1000, False),  # not a multiple of 16
        (1280, 320, True),  # exactly 4:1
        (1296, 320, False),  # beyond 4:1
        (320, 1296, False),  # beyond 1:4
        (2048, 2032, True),  # 4,161,536 pixels
        (2048, 2048, False),  # 4,194,304 is not *less than* 4,194,304
        (4096, 1024, False),  # 4:1 but 4,194,304 pixels
        (4112, 1040, False),  # side over 4096
    ],
)
def test_nova_output_sizes(width, height, ok):
    assert accepts(NOVA, "text-to-image", width=width, height=height) is ok


TITAN_TABLE = [
    (1024, 1024), (768, 768), (512, 512), (768, 1152), (384, 576), (1152, 768), (576, 384),
    (768, 1280), (384, 640), (1280, 768), (640, 384), (896, 1152), (448, 576), (1152, 896),
    (576, 448), (768, 1408), (384, 704), (1408, 768), (704, 384), (640, 1408), (320, 704),
    (1408, 640), (704, 320), (1152, 640), (1173, 640),
]  # fmt: skip


@pytest.mark.parametrize("model", [TITAN1, TITAN2])
def test_titan_accepts_exactly_the_resolution_table(model):
    for width, height in TITAN_TABLE:
        assert accepts(model, "text-to-image", width=width, height=height), (width, height)
    for width, height in [(1408, 1408), (1024, 1008), (640, 1152), (1174, 640), (1024, 1040)]:
        assert not accepts(model, "text-to-image", width=width, height=height), (width, height)


def test_stable_image_core_aspect_ratios_and_formats():
    for ratio in ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"):
        assert accepts(SIC, "text-to-image", aspectRatio=ratio)
    assert not accepts(SIC, "text-to-image", aspectRatio="4:3")
    assert accepts(SIC, "text-to-image", outputFormat="png")
    assert accepts(SIC, "text-to-image", outputFormat="jpeg")
    assert not accepts(SIC, "text-to-image", outputFormat="webp")


@pytest.mark.parametrize("model", [TITAN1, TITAN2])
def test_titan_input_images_are_at_most_1408_px(model):
    assert accepts(model, "image-variation", images=[png_b64(1408, 704)])
    assert not accepts(model, "image-variation", images=[png_b64(1409, 704)])


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (320, 320, True),
        (319, 320, False),
        (1280, 320, True),
        (1284, 320, False),
        (2048, 2047, True),
        (2048, 2048, False),
    ],
)
def test_nova_input_images_follow_nova_size_rules(width, height, ok):
    # Inputs need not be multiples of 16 (2048x2047 passes).
    assert accepts(NOVA, "image-variation", images=[png_b64(width, height)]) is ok


def test_enums_name_the_field():
    assert not accepts(NOVA, "text-to-image", quality="ultra")
    assert accepts(NOVA, "text-to-image", conditionImage=IMG, controlMode="CANNY_EDGE")
    assert not accepts(NOVA, "text-to-image", conditionImage=IMG, controlMode="DEPTH")
    assert accepts(NOVA, "outpainting", outPaintingMode="PRECISE")
    assert not accepts(NOVA, "outpainting", outPaintingMode="EXACT")


def test_mask_must_match_image_size():
    request = {"image": IMG, "maskImage": mask_b64(512, 512)}
    assert accepts(NOVA, "inpainting", **request, maskPrompt=None)
    assert not accepts(NOVA, "inpainting", image=IMG, maskImage=mask_b64(512, 640), maskPrompt=None)
