"""The `imagegen` command without a server: flags' help from the OpenAPI schema, `--help` with the
API down (the last document fetched, else the one bundled), and the client's plain parts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from imagegen_client import ApiError, Client, cli

ROOT = Path(__file__).resolve().parents[2]
DOWN = ["--api-url", "http://127.0.0.1:9/v1", "--api-key", "any"]  # port 9 (discard): nothing listens


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEGEN_LOCAL_DIR", str(tmp_path))  # no `make run` stack either
    return tmp_path / "cache" / "imagegen" / "openapi.json"


def help_of(argv: list[str], capsys) -> tuple[str, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0
    out = capsys.readouterr()
    return out.out, out.err


def test_a_flags_help_gives_its_description_range_choices_and_default():
    count = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 10}, {"type": "null"}], "default": None,
             "description": "How many images to make"}  # fmt: skip
    strength = {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.7}
    mode = {"enum": ["auto", "sync", "async"], "type": "string", "default": "auto"}
    prompt = {"type": "string", "minLength": 1, "maxLength": 1024, "description": "What to draw"}
    colors = {"type": "array", "items": {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$"}, "minItems": 1,
              "maxItems": 10}  # fmt: skip

    assert cli.field_help("numberOfImages", count, False) == "how many images to make; range 1–10; default: the model's"
    assert cli.field_help("strength", strength, False) == "range > 0, ≤ 1; default 0.7"
    assert cli.field_help("mode", mode, False) == "one of auto, sync, async; default auto"
    assert cli.field_help("prompt", prompt, True) == "what to draw; 1–1,024 characters; required"
    assert cli.field_help("colors", colors, True) == "1–10 items; colors as #RRGGBB; required"
    # A number the schema leaves to each model says where its range is.
    assert "imagegen models --json" in cli.field_help("seed", {"type": "integer"}, False)


def test_every_flag_of_every_task_has_help():
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    parser = cli.build_parser(cli.task_fields(document))
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    assert {"text-to-image", "outpainting", "verify"} <= set(subcommands.choices)
    for name, command in subcommands.choices.items():
        for action in command._actions:
            if action.help is not argparse.SUPPRESS and action.dest != "help" and name != "admin":
                assert action.help, f"imagegen {name} {'/'.join(action.option_strings) or action.dest}"
    webhook = next(a for a in subcommands.choices["text-to-image"]._actions if a.dest == "webhook")
    assert webhook.type("https://example.com/hook") == {"url": "https://example.com/hook"}
    assert webhook.type('{"url": "https://example.com/hook", "events": ["failed"]}')["events"] == ["failed"]


def test_task_help_with_the_api_down_and_no_cache_uses_the_bundled_document(cache, capsys):
    out, err = help_of([*DOWN, "outpainting", "--help"], capsys)

    assert "--out-painting-mode {DEFAULT,PRECISE}" in out and "one of DEFAULT, PRECISE" in out
    assert "cannot be reached" in err and "built-in list" in err
    assert not cache.exists()


def test_help_with_the_api_down_uses_the_last_document_fetched(cache, capsys):
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    mode = document["components"]["schemas"]["Outpainting"]["properties"]["outPaintingMode"]["anyOf"][0]
    mode["enum"] = [*mode["enum"], "CACHED"]
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(document))

    out, err = help_of([*DOWN, "outpainting", "--help"], capsys)
    overview, _ = help_of(["--help"], capsys)  # no API named at all

    assert "--out-painting-mode {DEFAULT,PRECISE,CACHED}" in out
    assert f"offered last ({cache})" in err
    assert "outpainting" in overview and "verify" in overview


def test_a_task_run_with_the_api_down_is_still_an_error(cache, capsys):
    assert cli.main([*DOWN, "text-to-image", "-p", "a fox"]) == 1
    assert "cannot be reached" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787/v1"),
        ("http://127.0.0.1:8787/v1/", "http://127.0.0.1:8787/v1"),
        ("https://abc.execute-api.us-west-2.amazonaws.com/prod/", "https://abc.execute-api.us-west-2.amazonaws.com/prod/v1"),
        ("https://abc.execute-api.us-west-2.amazonaws.com/prod/v1", "https://abc.execute-api.us-west-2.amazonaws.com/prod/v1"),
    ],
)  # fmt: skip
def test_a_base_url_without_v1_gets_it(given, used):
    assert Client(given, "key").api_url == used


def test_a_failed_job_says_failed_with_its_message_and_code():
    job = {"id": "abc", "status": "FAILED", "error": {"code": "content_filtered", "message": "blocked"}}

    error = ApiError.of_job(job)

    assert str(error) == "job abc FAILED: blocked (content_filtered)"
    assert error.job is job and error.code == "content_filtered"


def test_a_verification_reads_as_a_summary():
    none = {"valid": False, "manifest": False, "reasons": ["the image carries no C2PA manifest (content credentials)"]}
    signed = {
        "valid": True, "trusted": True, "manifest": True, "state": "Trusted", "reasons": [],
        "signer": {"name": "imagegen local", "organization": "serverless-imagegen", "algorithm": "Es256"},
        "aiGenerated": True, "model": "nova-canvas", "modelId": "amazon.nova-canvas-v1:0", "jobId": "j1",
        "task": "inpainting", "created": "2026-11-29T08:00:00Z", "timestamped": False,
        "claimGenerator": "serverless-imagegen 1.0.0", "actions": ["c2pa.edited"],
        "ingredients": [{"title": "input.png", "relationship": "parentOf", "format": "image/png", "manifest": False,
                         "aiGenerated": False}],
    }  # fmt: skip

    assert cli.verification_text(none) == (
        "no content credentials: the image carries no C2PA manifest (content credentials)"
    )
    text = cli.verification_text(signed)
    assert text.startswith("content credentials: valid and trusted")
    for line in ("signer:       imagegen local, serverless-imagegen [Es256]", "AI-generated: yes",
                 "model:        nova-canvas (amazon.nova-canvas-v1:0)", "job:          j1",
                 "created:      2026-11-29T08:00:00Z", "  input.png (parentOf, image/png)"):  # fmt: skip
        assert line in text.splitlines()
    broken = cli.verification_text(
        {**signed, "valid": False, "trusted": False, "reasons": ["assertion.dataHash.mismatch"]}
    )
    assert broken.startswith("content credentials: NOT VALID\n  assertion.dataHash.mismatch")


def test_each_models_range_and_default_come_from_the_models_answer(cache, capsys):
    models = {
        "defaults": {"text-to-image": "fast"},
        "models": [
            {"name": "fast", "tasks": ["text-to-image"], "limits": {"cfgScale": {"min": 1.1, "max": 10.0,
             "default": 6.5}, "seed": {"min": 0, "max": 2147483646}}, "unsupportedFields": {},
             "sizes": {"kind": "free", "minSide": 320, "maxSide": 4096, "multipleOf": 16, "default": [1024, 1024]}},
            {"name": "slow", "tasks": ["text-to-image", "upscale"], "limits": {"cfgScale": {"min": 1.1, "max": 10.0,
             "default": 6.5}, "seed": {"min": 0, "max": 4294967295}},
             "unsupportedFields": {"text-to-image": ["width", "height"]}, "sizes": {"kind": "aspectRatio"}},
            {"name": "other", "tasks": ["upscale"], "limits": {"seed": {"min": 1, "max": 2}}},
        ],
    }  # fmt: skip

    ranges = cli.model_ranges(models, "text-to-image")

    assert ranges["cfgScale"] == "per model: 1.1–10, default 6.5 (fast, slow)"
    assert ranges["seed"] == "per model: 0–2,147,483,646 (fast); 0–4,294,967,295 (slow)"
    assert ranges["width"] == "per model: 320–4,096 px, a multiple of 16, default 1,024 (fast)"
    assert ranges["model"] == "one of fast, slow; default fast, the deployment's"
    assert cli.field_help("cfgScale", {"type": "number"}, False, ranges["cfgScale"]) == ranges["cfgScale"]

    # With the API down, the models seen last still give each flag its ranges.
    (cache.parent).mkdir(parents=True)
    (cache.parent / "models.json").write_text(json.dumps(models))
    out, _ = help_of([*DOWN, "text-to-image", "--help"], capsys)
    assert "per model: 1.1–10, default 6.5 (fast, slow)" in " ".join(out.split())
