"""The payload layer: built for python3.12/arm64 without Docker, cached by content."""

from __future__ import annotations

import subprocess

import pytest

from infra import layer


@pytest.fixture(scope="module")
def built(synth):
    # The session's synth built (or reused) it; this is the same folder.
    return layer.build_layer()


def test_layer_holds_imagegen_and_arm64_wheels_but_not_boto3(built):
    folder, key = built
    site = folder / "python"

    assert (site / "imagegen" / "registry.py").is_file()
    assert list(site.glob("pydantic_core/_pydantic_core*aarch64*.so")), "pydantic_core built for arm64"
    assert list(site.glob("PIL/_imaging*aarch64*.so")), "Pillow built for arm64"
    assert not (site / "boto3").exists() and not (site / "botocore").exists()
    assert not list(site.rglob("__pycache__"))
    assert key == layer.layer_hash(layer.layer_requirements())


def test_a_second_build_reuses_the_cached_folder(built, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran again for unchanged content")

    monkeypatch.setattr(subprocess, "run", no_pip)

    assert layer.build_layer() == built


def test_the_key_changes_with_the_package_source(tmp_path, monkeypatch):
    pins = layer.layer_requirements()
    source = tmp_path / "imagegen" / "a.py"
    source.parent.mkdir()
    source.write_text("X = 1\n")
    monkeypatch.setattr(layer, "FUNCTIONS_DIR", tmp_path)
    monkeypatch.setattr(layer, "_sources", lambda: [source])
    before = layer.layer_hash(pins)

    source.write_text("X = 2\n")

    assert layer.layer_hash(pins) != before


def test_layer_pins_come_from_requirements_txt():
    pins = layer.layer_requirements()

    assert sorted(pin.split("==")[0].lower() for pin in pins) == sorted(layer.LAYER_PACKAGES)
    assert all("==" in pin for pin in pins)


def test_the_layer_is_compatible_with_python312_arm64(synth):
    synth.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"]},
    )
