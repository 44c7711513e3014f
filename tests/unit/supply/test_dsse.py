"""DSSE against the spec's own test vector (secure-systems-lab/dsse protocol.md), byte for
byte, and signing/verifying with ed25519 and ECDSA P-256."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from supply import dsse
from supply.errors import ArtifactError
from supply.keys import VerifyKey, fingerprint_of, signing_key, verify_keys
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair

# protocol.md "Test Vectors": ECDSA P-256, SHA-256, deterministic RFC 6979, raw r||s
SPEC_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
SPEC_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
SPEC_D = 97358161215184420915383655311931858321456579547487070936769975997791359926199
SPEC_ENVELOPE = (
    b'{"payload": "aGVsbG8gd29ybGQ=", "payloadType": "http://example.com/HelloWorld", '
    b'"signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHq'
    b'JPcIAriEGAHTVeCUjW2JIZA=="}]}'
)


def spec_key() -> VerifyKey:
    public = ec.EllipticCurvePublicNumbers(SPEC_X, SPEC_Y, ec.SECP256R1()).public_key()
    return VerifyKey(public, fingerprint_of(public))


def test_pae_is_the_specs_vector() -> None:
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


def test_the_specs_envelope_verifies_with_the_specs_key() -> None:
    envelope = dsse.parse(SPEC_ENVELOPE)
    assert envelope.payload == b"hello world"
    assert envelope.trusted_by((spec_key(),)) == spec_key()


def test_deterministic_signing_reproduces_the_specs_signature_byte_for_byte() -> None:
    private = ec.derive_private_key(SPEC_D, ec.SECP256R1())
    der = private.sign(dsse.pae("http://example.com/HelloWorld", b"hello world"),
                       ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32) + s.to_bytes(32)
    assert raw == dsse.parse(SPEC_ENVELOPE).signatures[0].sig


def test_the_specs_envelope_with_another_payload_does_not_verify() -> None:
    tampered = SPEC_ENVELOPE.replace(b"aGVsbG8gd29ybGQ=", base64.b64encode(b"hello World"))
    assert dsse.parse(tampered).trusted_by((spec_key(),)) is None


@pytest.mark.parametrize("pair", [ed25519_pair, p256_pair])
def test_sign_then_verify_and_refuse_others(pair: object) -> None:
    private, public = pair()  # type: ignore[operator]
    other = verify_keys(pair()[1], what="other")  # type: ignore[operator]
    key = signing_key(private)
    envelope = dsse.parse(dsse.sign(b'{"a":1}', key).to_json())
    trusted = verify_keys(public, what="VERIFY")
    assert envelope.trusted_by(trusted) == trusted[0]
    assert envelope.trusted_by(other) is None
    assert envelope.trusted_by((*other, *trusted)) == trusted[0]
    changed = dsse.Envelope(envelope.payload_type, b'{"a":2}', envelope.signatures)
    assert changed.trusted_by(trusted) is None
    other_type = dsse.Envelope("text/plain", envelope.payload, envelope.signatures)
    assert other_type.trusted_by(trusted) is None  # the type is signed too (PAE)


def test_url_safe_base64_is_accepted_as_the_spec_requires() -> None:
    private, public = ed25519_pair()
    envelope = dsse.sign(b"\xfb\xff" * 10, signing_key(private))
    text = envelope.to_json().decode()
    payload = base64.b64encode(envelope.payload).decode()
    urlsafe = text.replace(payload, base64.urlsafe_b64encode(envelope.payload).decode())
    assert "-" in urlsafe or "_" in urlsafe
    assert dsse.parse(urlsafe.encode()).trusted_by(verify_keys(public, what="k")) is not None


@pytest.mark.parametrize("text", [b"nope", b"[]", b'{"signatures": []}',
                                  b'{"payloadType": "x", "payload": "%%%", "signatures": []}'])
def test_unreadable_envelopes_are_refused(text: bytes) -> None:
    with pytest.raises(ArtifactError):
        dsse.parse(text)
