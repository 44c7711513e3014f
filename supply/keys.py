"""Pure: signing and verification keys (ed25519, ECDSA P-256) from PEM text, fingerprints."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from supply.errors import KeyProblem

PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z ]+)-----\s.*?-----END \1-----", re.DOTALL
)
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def fingerprint_of(key: PublicKey) -> str:
    """`sha256:<hex>` of the key's DER SubjectPublicKeyInfo (what `openssl pkey -pubin
    -outform DER | sha256sum` prints)."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _check_kind(key: object, what: str) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return
        raise KeyProblem(f"{what} is an ECDSA key on {key.curve.name}: use P-256 (secp256r1) "
                         "or ed25519.")  # fmt: skip
    raise KeyProblem(f"{what} is a {type(key).__name__}: use an ed25519 or ECDSA P-256 key.")


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A public key the verifier trusts."""

    key: PublicKey = field(repr=False)
    fingerprint: str

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                self.key.verify(_as_der(signature), data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def _as_der(signature: bytes) -> bytes:
    """ECDSA signatures are DER; a 64-byte raw r||s (the DSSE spec's vector) is converted."""
    if len(signature) == 64 and signature[0] != 0x30:
        return encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    return signature


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The pipeline's private key (`SIGNING_KEY`); never printed."""

    key: PrivateKey = field(repr=False)
    public: VerifyKey

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as sigstore writes it


def signing_key(pem: str, *, what: str = "SIGNING_KEY") -> SigningKey:
    """A PEM private key (PKCS#8 or traditional, unencrypted) → SigningKey; the error names
    `what`, never the key's text."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode() + b"\n", password=None)
    except (ValueError, TypeError) as error:
        raise KeyProblem(f"{what} is not an unencrypted PEM private key (ed25519 or ECDSA "
                         "P-256): make one with `openssl genpkey -algorithm ed25519`.") from error
    _check_kind(key, what)
    assert isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
    public = key.public_key()
    return SigningKey(key, VerifyKey(public, fingerprint_of(public)))


def verify_keys(text: str, *, what: str) -> tuple[VerifyKey, ...]:
    """Every PEM public key in `text` (one or several blocks) → VerifyKeys; a private key, an
    unsupported kind or no key at all is refused naming `what`."""
    blocks = [match.group(0) for match in PEM_BLOCK.finditer(text)]
    if not blocks:
        raise KeyProblem(f"{what} holds no PEM public key (-----BEGIN PUBLIC KEY-----).")
    keys = []
    for number, block in enumerate(blocks, 1):
        if "PRIVATE KEY" in block.splitlines()[0]:
            raise KeyProblem(f"{what} holds a private key (block {number}): give the public "
                             "key only (`openssl pkey -pubout`).")  # fmt: skip
        try:
            key = serialization.load_pem_public_key(block.encode())
        except (ValueError, TypeError) as error:
            raise KeyProblem(f"{what}: block {number} is not a PEM public key.") from error
        _check_kind(key, f"{what} (block {number})")
        assert isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey)
        keys.append(VerifyKey(key, fingerprint_of(key)))
    return tuple(keys)


def public_pem(key: SigningKey) -> str:
    return key.public.key.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
