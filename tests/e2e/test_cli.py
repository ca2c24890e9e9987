"""The `imagegen` command and its Python client against the local stack, as a user runs them."""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from imagegen_client import ApiError, Client
from imagegen_client.api import INLINE_IMAGE_LIMIT_BYTES

ROOT = Path(__file__).resolve().parents[2]
IMAGEGEN = Path(sys.executable).with_name("imagegen")
# The command keeps the last OpenAPI document it fetched under $XDG_CACHE_HOME: the tests' own.
CACHE_HOME = Path(tempfile.mkdtemp(prefix="imagegen-cli-cache-"))
atexit.register(shutil.rmtree, CACHE_HOME, ignore_errors=True)


def imagegen(*args: str, stack=None, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the installed command; the stack is found through IMAGEGEN_LOCAL_DIR, as after `make run`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("IMAGEGEN_")}
    environment["XDG_CACHE_HOME"] = str(CACHE_HOME)
    if stack is not None:
        environment["IMAGEGEN_LOCAL_DIR"] = str(stack.state_dir)
    environment.update(env or {})
    return subprocess.run([str(IMAGEGEN), *args], env=environment, cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def png_file(path: Path, size: tuple[int, int], noise: bool = False) -> Path:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size, "teal")
    image.save(path, "PNG", compress_level=0 if noise else 6)
    return path


def test_text_to_image_writes_every_image_into_the_out_folder(stack, tmp_path):
    run = imagegen("text-to-image", "--prompt", "a fox", "-n", "2", "--out", str(tmp_path / "out"), stack=stack)

    assert run.returncode == 0, run.stderr
    paths = [Path(line) for line in run.stdout.split()]
    assert len(paths) == 2 and all(path.parent == tmp_path / "out" for path in paths)
    job_id = paths[0].name.split("-")[0]
    assert [path.name for path in paths] == [f"{job_id}-0.png", f"{job_id}-1.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (1024, 1024)
    assert "downloaded 2/2" in run.stderr


def test_flags_and_the_environment_come_before_the_local_stack(stack, tmp_path):
    wrong = imagegen("models", "--api-key", "not-the-key", stack=stack)
    from_env = imagegen("models", stack=stack, env={"IMAGEGEN_API_KEY": "not-the-key"})
    with_flags = imagegen("--api-url", stack.info["api"], "--api-key", stack.info["apiKey"], "models", cwd=tmp_path,
                          env={"IMAGEGEN_LOCAL_DIR": str(tmp_path)})  # fmt: skip

    for refused in (wrong, from_env):
        assert refused.returncode == 1
        assert "the API refused the key" in refused.stderr and "Traceback" not in refused.stderr
    assert with_flags.returncode == 0, with_flags.stderr
    assert "nova-canvas" in with_flags.stdout and "stable-image-core" in with_flags.stdout


def test_without_any_api_it_says_how_to_name_one(tmp_path):
    run = imagegen("models", cwd=tmp_path, env={"IMAGEGEN_LOCAL_DIR": str(tmp_path)})

    assert run.returncode == 2
    assert "--api-url" in run.stderr and "IMAGEGEN_API_URL" in run.stderr and "make run" in run.stderr


def test_an_api_error_is_its_message_and_field_with_status_1(stack):
    run = imagegen("text-to-image", "-p", "a fox", "--model", "nova-canvas", "--width", "100", stack=stack)

    assert run.returncode == 1
    assert run.stderr.startswith("imagegen: error: width:")
    assert "(400 " in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["text-to-image", "--width", "512"], "the following arguments are required: -p/--prompt"),
        (["text-to-image", "-p", "x", "--width", "wide"], "invalid int value: 'wide'"),
        (["background-removal", "--image", "missing.png"], "missing.png: no such file"),
        (["no-such-task"], "invalid choice: 'no-such-task'"),
        ([], "give a command"),
    ],
)
def test_usage_errors_exit_2_without_calling_a_task(stack, args, message):
    run = imagegen(*args, stack=stack)

    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_every_task_of_the_api_is_a_subcommand_with_a_flag_per_field(stack):
    document = json.loads(Path(ROOT / "docs" / "openapi.json").read_text())
    tasks = {path.rsplit("/", 1)[-1] for path, item in document["paths"].items() if "202" in item.get("post", {}).get(
        "responses", {})}  # fmt: skip
    run = imagegen("--help", stack=stack)
    outpainting = imagegen("outpainting", "--help", stack=stack)

    assert run.returncode == 0
    assert all(task in run.stdout for task in tasks)
    for flag in ("--image PATH|s3://", "--mask-image PATH|s3://", "--out-painting-mode {DEFAULT,PRECISE}",
                 "-n N, --number-of-images N", "--async", "--out DIR"):  # fmt: skip
        assert flag in outpainting.stdout
    assert "--response-format" not in outpainting.stdout  # the command always downloads


def test_an_async_job_shows_its_progress_then_downloads(stack, tmp_path):
    run = imagegen("text-to-image", "-p", "a slow fox", "--async", "--out", str(tmp_path), stack=stack)

    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    job_id = Path(run.stdout.strip()).name.split("-")[0]
    assert lines[0].startswith(f"job {job_id}: RUNNING")
    assert any(line.startswith(f"job {job_id}: SUCCEEDED") for line in lines)
    assert lines[-1].startswith("downloaded 1/1")


def test_jobs_reads_a_job_and_waits_for_it(stack):
    started = imagegen("text-to-image", "-p", "a fox", "--async", "--no-wait", stack=stack)
    job_id = started.stdout.strip()
    waited = imagegen("jobs", job_id, "--wait", "--json", stack=stack)

    assert started.returncode == 0 and len(job_id) == 32
    assert waited.returncode == 0, waited.stderr
    job = json.loads(waited.stdout)
    assert job["id"] == job_id and job["status"] == "SUCCEEDED" and len(job["images"]) == 1


def test_a_small_image_travels_inline_and_a_large_one_is_uploaded_first(stack, tmp_path):
    small = png_file(tmp_path / "small.png", (512, 512))
    large = png_file(tmp_path / "large.png", (1024, 1024), noise=True)
    assert small.stat().st_size <= INLINE_IMAGE_LIMIT_BYTES < large.stat().st_size

    inline = imagegen("background-removal", "--image", str(small), "--json", stack=stack)
    uploaded = imagegen("background-removal", "--image", str(large), "--json", stack=stack)

    assert inline.returncode == 0 and uploaded.returncode == 0, inline.stderr + uploaded.stderr
    assert "uploaded" not in inline.stderr
    [note] = [line for line in uploaded.stderr.splitlines() if line.startswith("uploaded")]
    uri = note.split(" as ")[1]
    assert uri.startswith(f"s3://{stack.info['inputBucket']}/uploads/")
    assert json.loads(uploaded.stdout)["images"][0]["width"] == 1024


def test_upload_prints_a_uri_an_image_field_takes(stack, tmp_path):
    uploaded = imagegen("upload", str(png_file(tmp_path / "photo.png", (640, 640))), stack=stack)
    uri = uploaded.stdout.strip()
    used = imagegen("background-removal", "--image", uri, "--out", str(tmp_path / "out"), stack=stack)

    assert uploaded.returncode == 0 and uri.startswith("s3://"), uploaded.stderr
    assert used.returncode == 0, used.stderr
    with Image.open(used.stdout.strip()) as image:
        assert image.size == (640, 640)


def test_the_python_client_has_a_method_per_task_and_takes_local_images(stack, tmp_path):
    client = Client(stack.info["api"], stack.info["apiKey"])
    document = client.openapi()
    tasks = {path.rsplit("/", 1)[-1] for path, item in document["paths"].items() if "202" in item.get("post", {}).get(
        "responses", {})}  # fmt: skip

    assert {task for task in tasks if callable(getattr(client, task.replace("-", "_"), None))} == tasks
    job = client.text_to_image(prompt="a fox in the snow", number_of_images=2, model="nova-canvas")
    assert job["status"] == "SUCCEEDED" and len(job["images"]) == 2
    variation = client.image_variation(images=[png_file(tmp_path / "in.png", (512, 512)).read_bytes()],
                                       model="nova-canvas", prompt="the same, in winter")  # fmt: skip
    assert variation["status"] == "SUCCEEDED"
    paths = client.download(variation, tmp_path / "out")
    assert [path.name for path in paths] == [f"{variation['id']}-0.png"]
    with pytest.raises(ApiError) as refused:
        client.text_to_image(prompt="a fox", model="nova-canvas", width=100)
    assert refused.value.status == 400 and refused.value.details[0]["field"] == "width"


def test_progress_on_a_terminal_is_one_line_redrawn():
    from imagegen_client.progress import Progress

    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress.status({"id": "abc", "status": "RUNNING"}, 0.0)
    time.sleep(0.35)  # the spinner turns between polls
    progress.status({"id": "abc", "status": "SUCCEEDED"}, 1.5)
    progress.download(0, 1, 50_000, 100_000)
    progress.download(0, 1, 100_000, 100_000)
    progress.close()

    text = stream.getvalue()
    frames = [frame for frame in text.split("\r") if "RUNNING" in frame]
    assert len(frames) >= 2 and all("job abc: RUNNING" in frame for frame in frames)
    assert "job abc: SUCCEEDED after 1.5 s" in text
    assert "[############------------] 50 kB" in text and "[########################] 100 kB" in text
    assert text.endswith("\n") and text.count("\n") == 2


def test_on_a_terminal_a_sync_request_turns_the_spinner_until_it_is_answered():
    from imagegen_client.progress import Progress

    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress.request("text-to-image")
    time.sleep(0.35)
    progress.answered()
    progress.close()

    text = stream.getvalue()
    frames = [frame for frame in text.split("\r") if frame.strip()]
    assert len(frames) >= 2 and all("text-to-image: waiting for the API" in frame for frame in frames)
    assert text.endswith("\r") and "\n" not in text  # the line is gone, nothing is left behind


# --- warnings, failed jobs, JSON, pipes (issue 25, item 6 and 8) ------------------------------------


def test_a_jobs_warnings_go_to_stderr_and_stay_in_the_json(stack):
    # Every local Nova Canvas image is a preview: the job says so in its warnings.
    human = imagegen("text-to-image", "-p", "a fox", "-m", "nova-canvas", stack=stack)
    as_json = imagegen("text-to-image", "-p", "a fox", "-m", "nova-canvas", "--json", stack=stack)

    assert human.returncode == 0 and as_json.returncode == 0, human.stderr + as_json.stderr
    warnings = [line for line in human.stderr.splitlines() if line.startswith("imagegen: warning: ")]
    assert any("local preview" in line for line in warnings)
    assert human.stdout.startswith("http") and "warning" not in human.stdout
    assert "warning" not in as_json.stderr
    assert any("local preview" in warning for warning in json.loads(as_json.stdout)["warnings"])


def test_a_failed_job_says_failed_with_its_error_and_json_prints_it(stack):
    # A prompt the local models' filter blocks: the job starts, then fails.
    ran = imagegen("text-to-image", "-p", "a forbidden scene", "--async", "--json", stack=stack)
    job_id = json.loads(ran.stdout)["id"]
    human = imagegen("jobs", job_id, stack=stack)
    as_json = imagegen("jobs", job_id, "--json", stack=stack)

    assert ran.returncode == 1 and json.loads(ran.stdout)["status"] == "FAILED"
    assert f"imagegen: error: job {job_id} FAILED: " in ran.stderr
    assert human.returncode == 1 and human.stdout == ""
    [error] = [line for line in human.stderr.splitlines() if line.startswith("imagegen: error: ")]
    assert error.startswith(f"imagegen: error: job {job_id} FAILED: ") and "blocked" in error
    assert error.endswith("(content_filtered)") and "200" not in error
    assert as_json.returncode == 1
    job = json.loads(as_json.stdout)
    assert job["id"] == job_id and job["status"] == "FAILED" and job["error"]["code"] == "content_filtered"
    assert f"job {job_id} FAILED" in as_json.stderr


def test_an_api_url_without_v1_works_and_models_json_is_the_whole_answer(stack, tmp_path):
    root = stack.info["api"].removesuffix("/v1")
    run = imagegen("models", "--json", "--api-url", root, "--api-key", stack.info["apiKey"], cwd=tmp_path,
                   env={"IMAGEGEN_LOCAL_DIR": str(tmp_path)})  # fmt: skip
    human = imagegen("models", stack=stack)

    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert {"models", "defaults"} <= set(answer) and answer["defaults"]["text-to-image"] == "nova-canvas"
    assert any(line.startswith("nova-canvas ") and "text-to-image (default)" in line
               for line in human.stdout.splitlines())  # fmt: skip


def test_a_closed_pipe_ends_the_command_quietly(stack):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("IMAGEGEN_")}
    environment["IMAGEGEN_LOCAL_DIR"] = str(stack.state_dir)
    # `imagegen models --json | head -c 10`, with the reader gone before the command writes.
    process = subprocess.Popen([str(IMAGEGEN), "models", "--json"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    assert stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"


# --- the OpenAPI document for --help (issue 25, item 7) --------------------------------------------


def test_task_help_comes_from_the_api_and_from_its_last_document_when_it_is_down(stack, tmp_path):
    cache = {"XDG_CACHE_HOME": str(tmp_path)}
    live = imagegen("outpainting", "--help", stack=stack, env=cache)
    down = imagegen("--api-url", "http://127.0.0.1:9/v1", "--api-key", "any", "outpainting", "--help", env=cache)

    assert live.returncode == 0 and down.returncode == 0, live.stderr + down.stderr
    _, served = stack.call("GET", "/v1/openapi.json", key=False)
    assert json.loads((tmp_path / "imagegen" / "openapi.json").read_text()) == served
    assert down.stdout == live.stdout and "offered last" in down.stderr
    text = " ".join(live.stdout.split())
    assert "--out-painting-mode {DEFAULT,PRECISE} one of DEFAULT, PRECISE; default: the model's" in text
    # Each model's published range and default, from GET /v1/models (kept too).
    assert "--left N per model: 0–2,000 px, default 0 (stable-outpaint)" in text
    assert "--cfg-scale N per model: 1.1–10, default 6.5 (nova-canvas)" in text
    assert (tmp_path / "imagegen" / "models.json").is_file()


# --- imagegen verify (issue 24, item 3) ------------------------------------------------------------


def _has_manifest(path: Path) -> bool:
    import c2pa

    reader = c2pa.Reader.try_create("image/png", io.BytesIO(path.read_bytes()))
    if reader is None:
        return False
    reader.close()
    return True


def test_verify_says_an_image_without_content_credentials_has_none(stack, tmp_path):
    plain = png_file(tmp_path / "plain.png", (64, 64))
    human = imagegen("verify", str(plain), stack=stack)
    as_json = imagegen("verify", str(plain), "--json", stack=stack)

    assert human.returncode == 1 and human.stdout.startswith("no content credentials"), human.stderr
    assert as_json.returncode == 1
    answer = json.loads(as_json.stdout)
    assert answer["manifest"] is False and answer["valid"] is False and answer["reasons"]


def test_verify_reads_the_content_credentials_of_an_output(stack, tmp_path):
    made = imagegen("text-to-image", "-p", "a signed fox", "-m", "nova-canvas", "--out", str(tmp_path), stack=stack)
    assert made.returncode == 0, made.stderr
    output = Path(made.stdout.strip())
    job_id = output.name.split("-")[0]

    human = imagegen("verify", str(output), stack=stack)
    as_json = imagegen("verify", str(output), "--json", stack=stack)

    answer = json.loads(as_json.stdout)
    if not _has_manifest(output):  # the stack signs nothing (provenance off): nothing to read
        assert human.returncode == as_json.returncode == 1 and answer["manifest"] is False
        assert human.stdout.startswith("no content credentials")
        return
    assert human.returncode == 0 and as_json.returncode == 0, human.stdout + human.stderr
    assert answer["valid"] is True and answer["aiGenerated"] is True and answer["jobId"] == job_id
    lines = human.stdout.splitlines()
    assert lines[0].startswith("content credentials: valid")
    assert "AI-generated: yes" in lines and f"job:          {job_id}" in lines
    assert any(line.startswith("model:        nova-canvas") for line in lines)


def test_verify_uploads_an_image_too_large_to_send_inline(stack, tmp_path, monkeypatch):
    from imagegen_client import api

    monkeypatch.setattr(api, "VERIFY_INLINE_LIMIT_BYTES", 1024)  # instead of a 5 MB file
    client = Client(stack.info["api"], stack.info["apiKey"])
    sent = []
    monkeypatch.setattr(client, "upload", lambda data: sent.append(len(data)) or Client.upload(client, data))

    answer = client.verify(png_file(tmp_path / "large.png", (64, 64), noise=True))

    assert sent and sent[0] > 1024
    assert answer["manifest"] is False and answer["valid"] is False
    uploaded = imagegen("upload", str(tmp_path / "large.png"), stack=stack).stdout.strip()
    by_uri = imagegen("verify", uploaded, "--json", stack=stack)
    assert by_uri.returncode == 1 and json.loads(by_uri.stdout)["manifest"] is False, by_uri.stderr
