"""Ed25519 signatures over canonical proposal messages (keepers sign, governance verifies).

A proposal is signed over a canonical byte string that binds every field governance acts on: the
governance domain (so a signature for one governance instance is worthless at another), the keeper,
the parameter, the value (its exact IEEE-754 bytes), the observation step (which fixes the race
window), the keeper's nonce (replay protection) and the emergency flag. Ed25519 signatures are
deterministic, so a seeded run produces byte-identical signatures.

Keys here are simulation keys: :func:`derive_private_key` derives them from a label with SHA-256 so
that runs are reproducible without drawing from any model random stream. They are not secrets.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "MESSAGE_TAG",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "derive_private_key",
    "proposal_message",
    "public_key_bytes",
    "sign_message",
    "verify_signature",
]

MESSAGE_TAG = b"cascadelab/risk-proposal/v1"
"""Prefix of every proposal message (a type tag, so no other signed object can be replayed as a
proposal)."""

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _field(data: bytes) -> bytes:
    # length-prefixed, so ("ab", "c") and ("a", "bc") never give the same bytes
    return struct.pack(">I", len(data)) + data


def proposal_message(
    *,
    domain: str,
    keeper: str,
    param: str,
    value: float,
    step: int,
    nonce: int,
    emergency: bool,
) -> bytes:
    """Canonical bytes of a proposal.

    Parameters
    ----------
    domain
        The governance instance (its name), so signatures cannot be replayed across instances.
    keeper, param
        Who proposes, and the dotted parameter name.
    value
        The proposed value; encoded as its big-endian IEEE-754 double (exact, NaN included).
    step
        The step of the data the proposal was computed from; fixes the race window.
    nonce
        Strictly increasing per keeper; a repeated or lower nonce is a replay.
    emergency
        Whether the proposal asks for the emergency path (no time-lock).

    Notes
    -----
    ``tag | len+domain | len+keeper | len+param | f64 value | i64 step | i64 nonce | u8 emergency``
    with 4-byte big-endian length prefixes.
    """
    return b"".join(
        (
            _field(MESSAGE_TAG),
            _field(domain.encode()),
            _field(keeper.encode()),
            _field(param.encode()),
            struct.pack(">dqqB", float(value), int(step), int(nonce), 1 if emergency else 0),
        )
    )


def derive_private_key(label: str) -> Ed25519PrivateKey:
    """A reproducible simulation key: the Ed25519 seed is ``SHA-256(label)``."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte raw public key of ``key`` (what governance registers)."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign_message(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message``."""
    return key.sign(message)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``.

    Malformed keys or signatures (wrong length, not a curve point) are invalid, never an error.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
