"""Keys: ed25519 and P-256 only, PEM text, errors naming the setting and never the key."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from supply.errors import KeyProblem
from supply.keys import signing_key, verify_keys
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair, private_pem, public_pem


def test_several_public_keys_in_one_value() -> None:
    (_, first), (_, second) = ed25519_pair(), p256_pair()
    keys = verify_keys(f"{first}\n{second}", what="PRODUCTION_VERIFY_KEY")
    assert len(keys) == 2
    assert keys[0].fingerprint != keys[1].fingerprint


def test_fingerprint_is_sha256_of_the_der_public_key() -> None:
    _, public = ed25519_pair()
    [key] = verify_keys(public, what="k")
    der = serialization.load_pem_public_key(public.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.fingerprint == "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_fingerprint_matches_openssl() -> None:
    _, public = p256_pair()
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public.encode(),
                         capture_output=True, check=True).stdout
    expected = "sha256:" + hashlib.sha256(der).hexdigest()
    assert verify_keys(public, what="k")[0].fingerprint == expected


def test_the_signing_keys_public_half_matches() -> None:
    private, public = p256_pair()
    assert signing_key(private).public.fingerprint == verify_keys(public, what="k")[0].fingerprint


@pytest.mark.parametrize("key", [rsa.generate_private_key(65537, 2048),
                                 ec.generate_private_key(ec.SECP384R1())])
def test_other_kinds_are_refused(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(KeyProblem, match="SIGNING_KEY"):
        signing_key(private_pem(key))
    with pytest.raises(KeyProblem, match="STAGING_VERIFY_KEY"):
        verify_keys(public_pem(key), what="STAGING_VERIFY_KEY")


def test_errors_never_show_the_key() -> None:
    private, _ = ed25519_pair()
    broken = private.replace("A", "#", 3)
    with pytest.raises(KeyProblem) as caught:
        signing_key(broken)
    assert broken.splitlines()[1] not in str(caught.value)
    with pytest.raises(KeyProblem, match="private key"):
        verify_keys(private, what="PRODUCTION_VERIFY_KEY")
    with pytest.raises(KeyProblem, match="no PEM public key"):
        verify_keys("/etc/nothing.pem", what="PRODUCTION_VERIFY_KEY")
    assert repr(signing_key(private)).startswith("SigningKey(public=VerifyKey(fingerprint=")
