"""The evidence pack's signing key from configuration (config.env, issue 20): base64 of the
Ed25519 seed or a PEM file; a development key under var/; production refuses to start
without one (tests/test_settings.py); bad values are refused with a message naming the
variable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from config.env import load_evidence_signing_key

NAME = "BAOMI_EVIDENCE_SIGNING_KEY"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.delenv(f"{NAME}_FILE", raising=False)


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def test_a_base64_seed_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv(NAME, base64.b64encode(_seed(key)).decode())
    assert load_evidence_signing_key(environment="production", var_dir=tmp_path) == _seed(key)


def test_a_pem_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "evidence.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv(f"{NAME}_FILE", str(pem))
    assert load_evidence_signing_key(environment="production", var_dir=tmp_path) == _seed(key)


def test_development_makes_a_key_under_var_once(tmp_path: Path) -> None:
    first = load_evidence_signing_key(environment="development", var_dir=tmp_path)
    second = load_evidence_signing_key(environment="development", var_dir=tmp_path)
    assert (first == second, len(first), (tmp_path / "evidence_signing_key").is_file()) == (
        True,
        32,
        True,
    )


def test_production_without_a_key_refuses_to_start_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="No evidence pack signing key is configured"):
        load_evidence_signing_key(environment="production", var_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "BAOMI_EVIDENCE_SIGNING_KEY is not valid base64 nor a PEM key."),
        (
            base64.b64encode(b"x" * 16).decode(),
            "BAOMI_EVIDENCE_SIGNING_KEY must hold an Ed25519 private key: 32 bytes in base64, "
            "got 16.",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----",
            "BAOMI_EVIDENCE_SIGNING_KEY is not a readable unencrypted PEM key.",
        ),
    ],
)
def test_a_bad_key_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, message: str
) -> None:
    monkeypatch.setenv(NAME, value)
    with pytest.raises(ImproperlyConfigured) as refused:
        load_evidence_signing_key(environment="production", var_dir=tmp_path)
    assert str(refused.value) == message


def test_both_the_value_and_the_file_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(NAME, base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv(f"{NAME}_FILE", str(tmp_path / "key.pem"))
    with pytest.raises(ImproperlyConfigured) as refused:
        load_evidence_signing_key(environment="production", var_dir=tmp_path)
    assert str(refused.value) == f"Set either {NAME} or {NAME}_FILE, not both."
