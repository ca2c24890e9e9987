"""Imagen 3 customization bodies: every rule of the spec, each error naming its field."""

from __future__ import annotations

import copy

import pytest
from imaging import png_b64

from imagegen import ImageGenError, build_customization_request

RAW_IMG = png_b64(512, 512)


def ref(kind: str, ref_id: int = 1, image: str | None = RAW_IMG, **config) -> dict:
    item = {"referenceType": f"REFERENCE_TYPE_{kind}", "referenceId": ref_id}
    if image is not None:
        item["referenceImage"] = {"bytesBase64Encoded": image}
    item.update(config)
    return item


SUBJECT = {"subjectImageConfig": {"subjectDescription": "a red mug", "subjectType": "SUBJECT_TYPE_PRODUCT"}}


def body(*refs: dict, prompt: str = "a red mug [1] on a desk [2]", **parameters) -> dict:
    out: dict = {"instances": [{"prompt": prompt, "referenceImages": list(refs)}]}
    if parameters:
        out["parameters"] = parameters
    return out


def fields_of(request: dict) -> set[str]:
    with pytest.raises(ImageGenError) as caught:
        build_customization_request(request)
    assert caught.value.status == 400
    return {d["field"] for d in caught.value.details}


def test_valid_subject_request_defaults_to_four_samples():
    vertex = build_customization_request(body(ref("SUBJECT", **SUBJECT), prompt="a red mug [1]"))
    assert vertex.sample_count == 4 and vertex.warnings == []


def test_one_to_four_reference_images():
    assert build_customization_request(body(*[ref("SUBJECT", **SUBJECT)] * 4, prompt="[1]"))
    assert fields_of(body(*[ref("SUBJECT", **SUBJECT)] * 5)) == {"instances[0].referenceImages"}
    assert fields_of(body()) == {"instances[0].referenceImages"}


def test_sample_count_1_to_4_and_language_enum():
    one = ref("SUBJECT", **SUBJECT)
    assert build_customization_request(body(one, sampleCount=1)).sample_count == 1
    assert build_customization_request(body(one, sampleCount=4)).sample_count == 4
    assert fields_of(body(one, sampleCount=0)) == {"parameters.sampleCount"}
    assert fields_of(body(one, sampleCount=5)) == {"parameters.sampleCount"}
    for language in ("auto", "en", "es", "hi", "ja", "ko", "pt", "zh-TW", "zh", "zh-CN"):
        assert build_customization_request(body(one, language=language))
    assert fields_of(body(one, language="fr")) == {"parameters.language"}


def test_subject_and_control_configs_are_required_and_configs_match_their_type():
    assert fields_of(body(ref("SUBJECT"))) == {"instances[0].referenceImages[0].subjectImageConfig"}
    assert fields_of(body(ref("CONTROL"))) == {"instances[0].referenceImages[0].controlImageConfig"}
    no_description = {"subjectImageConfig": {"subjectType": "SUBJECT_TYPE_PERSON"}}
    assert fields_of(body(ref("SUBJECT", **no_description))) == {
        "instances[0].referenceImages[0].subjectImageConfig.subjectDescription"
    }
    assert fields_of(body(ref("STYLE", **SUBJECT))) == {"instances[0].referenceImages[0].subjectImageConfig"}
    assert build_customization_request(body(ref("STYLE", styleImageConfig={"styleDescription": "watercolor"})))


def test_at_most_one_raw_image():
    assert fields_of(body(ref("RAW"), ref("RAW", 2))) == {"instances[0].referenceImages[1].referenceType"}


def test_mask_and_control_must_match_the_raw_size():
    raw = ref("RAW")
    mask = ref("MASK", 2, png_b64(256, 256), maskImageConfig={"maskMode": "MASK_MODE_USER_PROVIDED"})
    assert fields_of(body(raw, mask)) == {"instances[0].referenceImages[1].referenceImage"}
    control = ref("CONTROL", 2, png_b64(512, 640), controlImageConfig={"controlType": "CONTROL_TYPE_CANNY"})
    assert fields_of(body(raw, control)) == {"instances[0].referenceImages[1].referenceImage"}
    same = ref("MASK", 2, png_b64(512, 512), maskImageConfig={"maskMode": "MASK_MODE_USER_PROVIDED"})
    assert build_customization_request(body(raw, same))


def test_computed_images_may_be_empty_only_when_computation_is_asked_for():
    raw = ref("RAW")
    computed_mask = ref("MASK", 2, "", maskImageConfig={"maskMode": "MASK_MODE_BACKGROUND", "dilation": 0.03})
    assert build_customization_request(body(raw, computed_mask))
    computed_control = ref(
        "CONTROL", 2, None, controlImageConfig={"controlType": "CONTROL_TYPE_SCRIBBLE",
                                                "enableControlImageComputation": True}
    )  # fmt: skip
    assert build_customization_request(body(raw, computed_control))
    user_mask = ref("MASK", 2, "", maskImageConfig={"maskMode": "MASK_MODE_USER_PROVIDED"})
    assert fields_of(body(raw, user_mask)) == {"instances[0].referenceImages[1].referenceImage.bytesBase64Encoded"}
    assert fields_of(body(computed_mask)) == {
        "instances[0].referenceImages[0].referenceImage"
    }  # no RAW to compute from


def test_mask_dilation_and_classes():
    raw = ref("RAW")

    def mask(**config):
        return ref("MASK", 2, "", maskImageConfig={"maskMode": "MASK_MODE_SEMANTIC", "maskClasses": [8], **config})

    assert build_customization_request(body(raw, mask(dilation=0.0, maskClasses=[0, 193])))
    assert build_customization_request(body(raw, mask(dilation=1.0)))
    assert fields_of(body(raw, mask(dilation=1.01))) == {"instances[0].referenceImages[1].maskImageConfig.dilation"}
    assert fields_of(body(raw, mask(dilation=-0.01))) == {"instances[0].referenceImages[1].maskImageConfig.dilation"}
    assert fields_of(body(raw, mask(maskClasses=[194]))) == {
        "instances[0].referenceImages[1].maskImageConfig.maskClasses[0]"
    }
    assert fields_of(body(raw, mask(maskClasses=[-1]))) == {
        "instances[0].referenceImages[1].maskImageConfig.maskClasses[0]"
    }
    assert fields_of(body(raw, mask(maskClasses=[]))) == {"instances[0].referenceImages[1].maskImageConfig.maskClasses"}


def test_a_prompt_without_a_reference_id_is_a_warning_not_an_error():
    vertex = build_customization_request(body(ref("SUBJECT", **SUBJECT), ref("STYLE", 2), prompt="a mug [1]"))
    assert len(vertex.warnings) == 1 and "[2]" in vertex.warnings[0]


def test_unknown_fields_and_bad_images_are_rejected():
    request = body(ref("SUBJECT", **SUBJECT))
    extra = copy.deepcopy(request)
    extra["parameters"] = {"personGeneration": "allow_all"}
    assert fields_of(extra) == {"parameters.personGeneration"}
    assert fields_of(body(ref("SUBJECT", image="bm90IGFuIGltYWdl", **SUBJECT))) == {
        "instances[0].referenceImages[0].referenceImage.bytesBase64Encoded"
    }
    assert fields_of({"instances": [], "parameters": {}}) == {"instances"}


def test_an_oversized_reference_image_is_413_before_decoding():
    huge = "A" * (14 * 1024 * 1024)  # decodes to ~10.5 MB: over the 10 MiB body limit
    with pytest.raises(ImageGenError) as caught:
        build_customization_request(body(ref("STYLE", image=huge)))
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
