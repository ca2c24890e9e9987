"""End to end over real HTTP: every route, the images fetched from their URLs and checked on pixels."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from local_client import fetch_image
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, ImageStat

from imagegen.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]


def b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def scene(size: int = 512) -> Image.Image:
    """A red square on a white background."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(200, 30, 30))
    return image


def centre_mask(size: int = 512) -> Image.Image:
    """Black (the mask's inside) in the centre, white around."""
    mask = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=(0, 0, 0))
    return mask


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def region_identical(a: Image.Image, b: Image.Image, mask: Image.Image) -> bool:
    """True when a and b agree on every pixel where ``mask`` is white."""
    difference = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return ImageChops.multiply(difference.point(lambda v: 255 if v else 0), mask.convert("L")).getbbox() is None


# --- the stack itself --------------------------------------------------------------------


def test_the_stack_starts_within_30_seconds_and_answers_the_first_request_fast(stack):
    assert stack.started_in < 30
    assert stack.first_request_in < 1.0, f"first 1024x1024 request took {stack.first_request_in:.2f} s"


def _second_run(*, port: int, state_dir: Path) -> subprocess.CompletedProcess:
    """`make run` again, beside the running stack."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "IMAGEGEN_"))}
    env.update(PORT=str(port), IMAGEGEN_LOCAL_DIR=str(state_dir))
    return subprocess.run(
        [sys.executable, "-m", "local"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_second_stack_on_a_taken_port_or_folder_says_whose_and_leaves_the_first_alone(stack, tmp_path):
    stack_file = stack.state_dir / "stack.json"
    before = stack_file.read_text()
    port = int(stack.info["api"].split(":")[2].split("/")[0])
    pid = stack.process.pid

    same = _second_run(port=port, state_dir=stack.state_dir)
    assert same.returncode == 1
    assert f"port {port} is taken by the local stack already running there (pid {pid}" in same.stderr
    elsewhere = _second_run(port=port + 1, state_dir=tmp_path / "other")  # the Cloud Function's
    assert elsewhere.returncode == 1 and f"port {port + 1} is taken by another program" in elsewhere.stderr
    folder = _second_run(port=0, state_dir=stack.state_dir)
    assert folder.returncode == 1
    assert f"a local stack is already running from {stack.state_dir} (pid {pid}" in folder.stderr

    assert stack_file.read_text() == before
    status, _ = stack.call("GET", "/v1/models")
    assert status == 200


def test_a_request_over_lambdas_6_mb_is_413_naming_the_upload_route(stack):
    """Lambda refuses a synchronous invocation over 6 MB (API Gateway would take 10 MB): so does
    the local gateway, so that what fails deployed fails here too."""
    status, body = stack.call("POST", "/v1/background-removal", raw=b'{"image": "' + b"A" * 7_000_000 + b'"}')

    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert "POST /v1/uploads" in body["error"]["message"]
    status, body = stack.call("POST", "/v1/background-removal", raw=b'{"image": "' + b"A" * 5_000_000 + b'"}')
    assert status == 400, "under the limit the function itself answers"


def test_deeply_nested_json_is_400(stack):
    status, body = stack.call("POST", "/v1/text-to-image", raw=b"[" * 100_000)

    assert status == 400 and body["error"]["details"][0]["field"] == "body"


def test_configured_origins_get_preflight_answers_and_cors_headers(stack):
    import urllib.request

    origin = stack.cors_origin
    preflight = urllib.request.Request(
        stack.info["api"] + "/text-to-image",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    with urllib.request.urlopen(preflight, timeout=10) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "X-Api-Key" in response.headers["Access-Control-Allow-Headers"]
    for key in (True, False):  # the function's answer, and the gateway's own 401
        request = urllib.request.Request(
            stack.info["api"] + "/models",
            headers={"Origin": origin, **({"x-api-key": stack.info["apiKey"]} if key else {})},
        )
        try:
            response = urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        assert response.headers["Access-Control-Allow-Origin"] == origin, key


def test_without_the_api_key_it_is_401_and_unknown_routes_404(stack):
    status, body = stack.call("POST", "/v1/text-to-image", {"prompt": "x"}, key=False)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = stack.call("GET", "/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_bad_input_is_4xx_with_details(stack):
    status, body = stack.call("POST", "/v1/text-to-image", {"prompt": "x", "width": 333, "cfgScale": 50})
    assert status == 400
    assert {d["field"] for d in body["error"]["details"]} >= {"cfgScale"}
    status, body = stack.call("POST", "/v1/text-to-image", raw=b"{not json")
    assert status == 400 and body["error"]["details"][0]["field"] == "body"


def test_models_route_lists_the_bedrock_models(stack):
    status, body = stack.call("GET", "/v1/models")
    assert status == 200
    assert [m["name"] for m in body["models"]] == [n for n, s in MODELS.items() if s.provider == "bedrock"]


# --- text-to-image -------------------------------------------------------------------------


def test_text_to_image_has_the_requested_size_and_count_and_distinct_images(stack):
    status, body = stack.call(
        "POST", "/v1/text-to-image", {"prompt": "harbour", "width": 640, "height": 384, "numberOfImages": 3, "seed": 7}
    )
    assert status == 200, body
    images = [fetch_image(image["url"]) for image in body["images"]]
    assert [image.size for image in images] == [(640, 384)] * 3
    assert len({image.tobytes() for image in images}) == 3
    assert any("local preview" in warning for warning in body["warnings"])


def test_same_request_and_seed_give_the_same_pixels_another_seed_another_image(stack):
    # The pixels, not the file: each image's content credentials name its own job and time.
    def pixels(request: dict) -> bytes:
        return fetch_image(stack.call("POST", "/v1/text-to-image", request)[1]["images"][0]["url"]).tobytes()

    request = {"prompt": "harbour", "width": 512, "height": 512, "seed": 42}
    first, again, other = pixels(request), pixels(request), pixels({**request, "seed": 43})
    assert first == again and first != other


def test_stable_image_core_size_follows_the_aspect_ratio(stack):
    status, body = stack.call(
        "POST",
        "/v1/text-to-image",
        {"model": "stable-image-core", "prompt": "x", "aspectRatio": "16:9", "numberOfImages": 2},
    )
    assert status == 200, body
    expected = MODELS["stable-image-core"].sizes.ratios["16:9"]
    assert [fetch_image(i["url"]).size for i in body["images"]] == [expected, expected]


def test_a_condition_image_shapes_the_output_along_its_edges(stack):
    condition = scene()
    status, body = stack.call(
        "POST", "/v1/text-to-image", {"prompt": "x", "width": 512, "height": 512, "conditionImage": b64_png(condition)}
    )
    assert status == 200, body
    output = fetch_image(body["images"][0]["url"]).convert("L")
    edges = condition.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    on_edges = ImageStat.Stat(output, mask=edges).mean[0]
    elsewhere = ImageStat.Stat(output, mask=edges.point(lambda v: 255 - v)).mean[0]
    assert on_edges < 20 < elsewhere, (on_edges, elsewhere)


# --- the other tasks --------------------------------------------------------------------------


def test_color_guided_pixels_come_from_the_palette_and_the_reference(stack):
    palette = {(255, 0, 0), (0, 170, 0), (0, 0, 255)}
    reference = Image.new("RGB", (512, 512), (250, 250, 0))
    ImageDraw.Draw(reference).rectangle((0, 0, 255, 511), fill=(0, 250, 250))
    status, body = stack.call(
        "POST",
        "/v1/color-guided",
        {
            "prompt": "x",
            "colors": ["#FF0000", "#00AA00", "#0000FF"],
            "referenceImage": b64_png(reference),
            "width": 512,
            "height": 512,
        },
    )
    assert status == 200, body
    output = fetch_image(body["images"][0]["url"]).convert("RGB")
    colours = {colour for _, colour in output.getcolors(maxcolors=1 << 16)}
    assert colours <= palette | {(250, 250, 0), (0, 250, 250)}
    assert colours & palette


def test_variation_resembles_its_input_more_as_similarity_rises(stack):
    source = scene()
    distances = []
    for similarity in (0.3, 0.9):
        status, body = stack.call(
            "POST", "/v1/image-variation", {"images": [b64_png(source)], "similarityStrength": similarity, "seed": 5}
        )
        assert status == 200, body
        distances.append(mean_difference(fetch_image(body["images"][0]["url"]), source))
    assert distances[1] < distances[0]


def test_inpainting_keeps_the_outside_and_changes_the_inside(stack):
    source, mask = scene(), centre_mask()
    status, body = stack.call(
        "POST", "/v1/inpainting", {"image": b64_png(source), "maskImage": b64_png(mask), "prompt": "a blue door"}
    )
    assert status == 200, body
    output = fetch_image(body["images"][0]["url"])
    assert region_identical(output, source, mask)  # mask white = outside
    inside = mask.convert("L").point(lambda v: 255 - v)
    assert not region_identical(output, source, inside)


def test_inpainting_without_a_prompt_fills_from_the_surroundings(stack):
    source, mask = scene(), centre_mask()
    status, body = stack.call("POST", "/v1/inpainting", {"image": b64_png(source), "maskImage": b64_png(mask)})
    output = fetch_image(body["images"][0]["url"]).convert("RGB")
    inside = mask.convert("L").point(lambda v: 255 - v)
    filled = ImageStat.Stat(output, mask=inside)
    surroundings = ImageStat.Stat(source, mask=mask.convert("L"))
    assert status == 200
    assert max(filled.stddev) < 1  # one flat colour
    assert all(abs(a - b) <= 1 for a, b in zip(filled.mean, surroundings.mean, strict=True))


def test_precise_outpainting_keeps_the_inside_and_changes_the_outside(stack):
    source, mask = scene(), centre_mask()
    status, body = stack.call(
        "POST",
        "/v1/outpainting",
        {"image": b64_png(source), "maskImage": b64_png(mask), "prompt": "a garden", "outPaintingMode": "PRECISE"},
    )
    assert status == 200, body
    output = fetch_image(body["images"][0]["url"])
    inside = mask.convert("L").point(lambda v: 255 - v)
    assert region_identical(output, source, inside)
    assert not region_identical(output, source, mask)


def test_a_mask_prompt_is_approximated_and_says_so(stack):
    status, body = stack.call(
        "POST", "/v1/outpainting", {"image": b64_png(scene()), "maskPrompt": "the red box", "prompt": "a garden"}
    )
    assert status == 200, body
    assert any("maskPrompt is approximated" in warning for warning in body["warnings"])


def test_background_removal_gives_a_transparent_background_and_an_opaque_subject(stack):
    status, body = stack.call("POST", "/v1/background-removal", {"image": b64_png(scene())})
    assert status == 200, body
    output = fetch_image(body["images"][0]["url"])
    assert output.mode == "RGBA" and body["images"][0]["contentType"] == "image/png"
    alpha = output.getchannel("A")
    assert alpha.getpixel((5, 5)) == 0 and alpha.getpixel((256, 256)) == 255


# --- filtering --------------------------------------------------------------------------------


def test_the_blocked_word_filters_like_the_models_do(stack):
    status, body = stack.call("POST", "/v1/text-to-image", {"prompt": "a forbidden scene"})
    assert status == 422 and body["error"]["code"] == "content_filtered"
    assert "content filters" in body["error"]["message"]

    status, body = stack.call("POST", "/v1/text-to-image", {"prompt": "a forbidden scene", "numberOfImages": 3})
    assert status == 200 and body["filtered"] == 1 and len(body["images"]) == 2
    assert any("blocked by our content filters" in warning for warning in body["warnings"])

    status, body = stack.call(
        "POST",
        "/v1/text-to-image",
        {"model": "stable-image-core", "prompt": "forbidden", "numberOfImages": 2, "seed": 10},
    )
    assert status == 200 and body["filtered"] == 1
    assert "Filter reason: output image" in body["warnings"]
    status, body = stack.call(
        "POST", "/v1/text-to-image", {"model": "stable-image-core", "prompt": "forbidden", "seed": 11}
    )
    assert status == 422 and "Filter reason: output image" in body["error"]["message"]


# --- async, uploads, triggers, the Cloud Function ---------------------------------------------


def test_a_large_request_runs_as_a_job_polled_to_completion(stack):
    status, started = stack.call(
        "POST", "/v1/text-to-image", {"prompt": "x", "width": 1024, "height": 1024, "numberOfImages": 5}
    )
    # Absolute, built from how the caller reached the API: followed as it is.
    assert status == 202 and started["statusUrl"] == f"{stack.info['api']}/jobs/{started['id']}"
    status, running = stack.call("GET", started["statusUrl"])
    assert status == 200 and running["id"] == started["id"]

    job = stack.wait_for_job(started["id"])

    assert job["status"] == "SUCCEEDED" and len(job["images"]) == 5
    assert {fetch_image(image["url"]).size for image in job["images"]} == {(1024, 1024)}


def test_jobs_polled_while_they_finish_never_read_failed(stack):
    body = {"prompt": "x", "width": 1024, "height": 1024, "numberOfImages": 5}
    ids = [stack.call("POST", "/v1/text-to-image", body)[1]["id"] for _ in range(8)]
    seen: dict[str, list[str]] = {job_id: [] for job_id in ids}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(s and s[-1] == "SUCCEEDED" for s in seen.values()):
        for job_id in ids:
            status, job = stack.call("GET", f"/v1/jobs/{job_id}")
            seen[job_id].append(job.get("status") if status == 200 else str(status))

    for job_id, statuses in seen.items():
        assert set(statuses) <= {"RUNNING", "SUCCEEDED"} and statuses[-1] == "SUCCEEDED", (job_id, statuses)


def test_an_upload_is_posted_to_its_form_and_used_by_s3_uri(stack):
    import requests

    status, upload = stack.call("POST", "/v1/uploads", {"contentType": "image/png"})
    assert status == 200 and upload["maxBytes"] == 10 * 1024 * 1024
    data = base64.b64decode(b64_png(scene()))
    posted = requests.post(
        upload["uploadUrl"], data=upload["fields"], files={"file": ("scene.png", data, "image/png")}, timeout=10
    )
    assert posted.status_code == 204, posted.text

    status, body = stack.call("POST", "/v1/background-removal", {"image": upload["s3Uri"]})

    assert status == 200, body
    assert fetch_image(body["images"][0]["url"]).size == (512, 512)


def _drop(stack, tmp_path, name: str, data: bytes, *task: str) -> str:
    """``python -m local.drop``, as the README shows it; returns the job id it prints."""
    import os
    import subprocess
    import sys

    path = tmp_path / name
    path.write_bytes(data)
    env = {**os.environ, "IMAGEGEN_LOCAL_DIR": str(stack.state_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "local.drop", str(path), *task], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("job ", 1)[1].split(":", 1)[0]


def _wait_for_trigger(stack, job_id: str) -> dict:
    deadline = time.monotonic() + 20
    while stack.call("GET", f"/v1/jobs/{job_id}")[0] == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    return stack.wait_for_job(job_id)


def test_an_image_dropped_under_triggers_produces_a_manifest(stack, tmp_path):
    job_id = _drop(stack, tmp_path, "product shot.png", base64.b64decode(b64_png(scene())), "background-removal")

    job = _wait_for_trigger(stack, job_id)

    assert job["status"] == "SUCCEEDED" and job["task"] == "background-removal"
    assert job["source"]["key"] == "triggers/background-removal/product shot.png"
    assert fetch_image(job["images"][0]["url"]).mode == "RGBA"


def test_a_dropped_request_runs_and_a_bad_one_records_its_error(stack, tmp_path):
    good = {"task": "text-to-image", "prompt": "poster", "width": 512, "height": 512, "numberOfImages": 2}
    bad = {"task": "text-to-image", "width": 512}

    done = _wait_for_trigger(stack, _drop(stack, tmp_path, "poster.json", json.dumps(good).encode()))
    failed = _wait_for_trigger(stack, _drop(stack, tmp_path, "bad.json", json.dumps(bad).encode()))

    assert done["status"] == "SUCCEEDED" and len(done["images"]) == 2
    assert failed["status"] == "FAILED" and failed["error"]["code"] == "invalid_request"


def test_imagen_customization_gives_sample_count_images_from_the_references(stack):
    reference = scene()
    body = {
        "instances": [
            {
                "prompt": "a portrait of [1] in pencil",
                "referenceImages": [
                    {
                        "referenceType": "REFERENCE_TYPE_SUBJECT",
                        "referenceId": 1,
                        "referenceImage": {"bytesBase64Encoded": b64_png(reference)},
                        "subjectImageConfig": {
                            "subjectType": "SUBJECT_TYPE_PRODUCT",
                            "subjectDescription": "a red box",
                        },
                    }
                ],
            }
        ],
        "parameters": {"sampleCount": 3, "seed": 1},
    }

    status, result = stack.customize(body)

    assert status == 200, result
    assert result["requested"] == 3 and len(result["images"]) == 3
    images = [Image.open(io.BytesIO(base64.b64decode(i["bytesBase64Encoded"]))) for i in result["images"]]
    assert len({image.tobytes() for image in images}) == 3
    noise = Image.effect_noise((1024, 1024), 64).convert("RGB")
    resized = reference.resize((1024, 1024))
    assert all(mean_difference(image, resized) < mean_difference(noise, resized) for image in images)
    assert any("local preview" in warning for warning in result["warnings"])
    # The default backend: a Gemini image model, one generateContent call per sample.
    assert result["modelId"] == "gemini-3.1-flash-image" and result["usage"]["totalTokenCount"] > 0


def test_gemini_filters_as_the_model_does(stack):
    reference = {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
                 "referenceImage": {"bytesBase64Encoded": b64_png(scene(256))}}  # fmt: skip
    body = {"instances": [{"prompt": "a forbidden [1]", "referenceImages": [reference]}]}

    status, partly = stack.customize({**body, "parameters": {"sampleCount": 2, "seed": 1}})
    assert status == 200 and partly["filtered"] == 1 and len(partly["images"]) == 1
    assert any("IMAGE_SAFETY" in warning for warning in partly["warnings"])

    status, blocked = stack.customize({**body, "parameters": {"sampleCount": 1}})
    assert status == 422 and "PROHIBITED_CONTENT" in blocked["error"]["message"]


# --- today's Stability models (the preview engine's promises for each) -----------------------


def stability(stack, task: str, model: str, **fields):
    status, body = stack.call("POST", f"/v1/{task}", {"model": model, **fields})
    assert status == 200, body
    return body, fetch_image(body["images"][0]["url"])


def test_fast_upscale_outputs_four_times_each_side(stack):
    _, output = stability(stack, "upscale", "stable-fast-upscale", image=b64_png(scene(300)))
    assert output.size == (1200, 1200)


def test_outpaint_grows_the_canvas_and_keeps_the_source_pixels(stack):
    source = scene(400)
    _, output = stability(stack, "outpainting", "stable-outpaint", image=b64_png(source), left=100, down=60)

    assert output.size == (500, 460)
    assert ImageChops.difference(output.crop((100, 0, 500, 400)).convert("RGB"), source).getbbox() is None


def test_erase_and_inpaint_keep_every_pixel_outside_the_mask(stack):
    source, mask = scene(), centre_mask()
    outside = mask.convert("L")  # white: outside the (black) region to change
    for task, model, extra in (
        ("erase-object", "stable-image-erase-object", {}),
        ("inpainting", "stable-image-inpaint", {"prompt": "a blue door"}),
    ):
        _, output = stability(stack, task, model, image=b64_png(source), maskImage=b64_png(mask), **extra)
        assert region_identical(output, source, outside), model
        assert not region_identical(output, source, ImageOps.invert(outside)), model


def test_stability_background_removal_is_transparent_outside_the_subject(stack):
    _, output = stability(stack, "background-removal", "stable-image-remove-background", image=b64_png(scene()))
    alpha = output.getchannel("A")
    assert alpha.getpixel((5, 5)) == 0 and alpha.getpixel((256, 256)) == 255


def test_search_and_recolor_keep_the_size(stack):
    source = b64_png(scene(448))
    _, recolored = stability(
        stack, "search-recolor", "stable-image-search-recolor", image=source, prompt="blue", selectPrompt="the box"
    )
    _, replaced = stability(
        stack, "search-replace", "stable-image-search-replace", image=source, prompt="a cat", searchPrompt="the box"
    )
    assert recolored.size == replaced.size == (448, 448)


def test_style_transfer_keeps_the_content_images_aspect(stack):
    content = Image.new("RGB", (800, 400), (20, 120, 200))
    _, output = stability(stack, "style-transfer", "stable-style-transfer", image=b64_png(content),
                          styleImage=b64_png(scene()))  # fmt: skip
    assert abs(output.width / output.height - 2.0) < 0.05


def test_webp_is_served_when_asked(stack):
    body, output = stability(stack, "upscale", "stable-fast-upscale", image=b64_png(scene(64)), outputFormat="webp")
    assert body["images"][0]["contentType"] == "image/webp" and output.format == "WEBP"
    assert body["images"][0]["s3Uri"].endswith(".webp")


def test_models_lists_every_model_with_its_lifecycle(stack):
    status, body = stack.call("GET", "/v1/models")
    assert status == 200
    models = {model["name"]: model for model in body["models"]}
    assert models["stable-fast-upscale"]["tasks"] == ["upscale"]
    assert models["nova-canvas"]["lifecycle"]["pastEndOfLife"] is True
