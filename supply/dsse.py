"""Pure: DSSE envelopes (secure-systems-lab/dsse v1): PAE, sign, and verify against keys."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from supply.errors import ArtifactError
from supply.keys import SigningKey, VerifyKey

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding: `DSSEv1 LEN(type) type LEN(body) body`."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        return json.dumps({
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()}
                           for s in self.signatures],
        }, separators=(",", ":"), sort_keys=True).encode()  # fmt: skip

    def trusted_by(self, keys: tuple[VerifyKey, ...]) -> VerifyKey | None:
        """The first key that verifies one of the signatures over PAE(type, payload)."""
        signed = pae(self.payload_type, self.payload)
        for key in keys:
            if any(key.verifies(signature.sig, signed) for signature in self.signatures):
                return key  # keyid is a hint only (the spec: it is not authenticated)
        return None


def sign(payload: bytes, key: SigningKey, payload_type: str = IN_TOTO_PAYLOAD) -> Envelope:
    signature = Signature(key.public.fingerprint, key.sign(pae(payload_type, payload)))
    return Envelope(payload_type, payload, (signature,))


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ArtifactError(f"DSSE envelope: {what} is not a string.")
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ArtifactError(f"DSSE envelope: {what} is not base64.") from error


def parse(data: bytes) -> Envelope:
    """A JSON envelope (standard or URL-safe base64, both accepted as the spec says)."""
    try:
        raw: Any = json.loads(data)
    except ValueError as error:
        raise ArtifactError("DSSE envelope is not JSON.") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("signatures"), list):
        raise ArtifactError("DSSE envelope has no signatures list.")
    payload_type = raw.get("payloadType")
    if not isinstance(payload_type, str):
        raise ArtifactError("DSSE envelope has no payloadType.")
    signatures = tuple(
        Signature(str(item.get("keyid") or ""), _b64(item.get("sig"), "sig"))
        for item in raw["signatures"] if isinstance(item, dict)
    )  # fmt: skip
    return Envelope(payload_type, _b64(raw.get("payload"), "payload"), signatures)
