from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_google import LOCATION, PROJECT, FakeGoogle
from google.auth import _regional_access_boundary_utils

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "functions" / "gcp" / "main.py"


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> Iterator[list[str]]:
    """Fail any test that resolves a host other than loopback (google-auth runs background lookups)."""
    attempts: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            attempts.append(str(host))
            raise socket.gaierror(f"tests may not reach {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"network access beyond loopback: {attempts}"


@pytest.fixture(autouse=True)
def default_model(monkeypatch) -> None:
    """The function's own default model (test modules of another backend set theirs after this)."""
    monkeypatch.delenv("VERTEX_MODEL_ID", raising=False)


@pytest.fixture
def google(signing_key, tmp_path, monkeypatch) -> Iterator[FakeGoogle]:
    """Vertex and the token endpoint on loopback; real service-account credentials pointing there."""
    public = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = FakeGoogle(public).start()
    # google-auth looks up a service account's regional access boundary on Google's IAM host.
    monkeypatch.setattr(
        _regional_access_boundary_utils,
        "get_service_account_rab_endpoint",
        lambda email: f"{fake.url}/v1/projects/-/serviceAccounts/{email}/allowedLocations",
    )
    private = signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key",
                "private_key": private,
                "client_email": f"customize@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{fake.url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", LOCATION)
    monkeypatch.setenv("VERTEX_API_ENDPOINT", fake.url)
    monkeypatch.delenv("VERTEX_TIMEOUT_SECONDS", raising=False)
    yield fake
    fake.stop()


@pytest.fixture
def client(google):
    """The function as functions-framework serves it, loaded fresh (one Vertex session per app)."""
    import functions_framework

    app = functions_framework.create_app(target="customize", source=str(SOURCE))
    import vertex

    vertex.client.cache_clear()
    yield app.test_client()
    vertex.client.cache_clear()


@pytest.fixture
def vertex_module(monkeypatch):
    """The function's ``vertex`` module, imported as the function imports it (its folder on the
    path), for tests that need no app: they pass when run alone too."""
    monkeypatch.syspath_prepend(str(SOURCE.parent))
    import vertex

    return vertex
