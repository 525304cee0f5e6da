"""Ed25519 proposal signatures: canonical messages, valid, forged, tampered and malformed."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.signing import (
    derive_private_key,
    proposal_message,
    public_key_bytes,
    sign_message,
    verify_signature,
)

BASE = {
    "domain": "gov",
    "keeper": "keeper:1",
    "param": "perp.mm_scale",
    "value": 1.25,
    "step": 42,
    "nonce": 7,
    "emergency": False,
}


def test_signing_valid_signature_verifies_and_is_deterministic() -> None:
    key = derive_private_key("gov/keeper:1")
    msg = proposal_message(**BASE)
    sig = sign_message(key, msg)
    assert len(sig) == 64 and len(public_key_bytes(key)) == 32
    assert verify_signature(public_key_bytes(key), msg, sig)
    assert sign_message(derive_private_key("gov/keeper:1"), msg) == sig  # reproducible runs


def test_signing_forged_tampered_and_malformed_signatures_fail() -> None:
    key, other = derive_private_key("a"), derive_private_key("b")
    msg = proposal_message(**BASE)
    sig = sign_message(key, msg)
    assert not verify_signature(public_key_bytes(other), msg, sig)  # wrong key
    assert not verify_signature(public_key_bytes(key), msg, sign_message(other, msg))  # forged
    assert not verify_signature(public_key_bytes(key), msg, sig[:-1])  # truncated
    assert not verify_signature(public_key_bytes(key), msg, b"\0" * 64)
    assert not verify_signature(b"\x01" * 31, msg, sig)
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_signature(public_key_bytes(key), msg, flipped)


@settings(max_examples=100, deadline=None)
@given(
    field=st.sampled_from(sorted(BASE)),
    text=st.text(max_size=8),
    number=st.integers(-(2**40), 2**40),
    real=st.floats(allow_nan=False),
)
def test_signing_every_field_changes_the_message(field, text, number, real) -> None:
    changed = dict(BASE)
    if field in ("domain", "keeper", "param"):
        changed[field] = BASE[field] + "x" + text
    elif field == "value":
        changed[field] = real if real != BASE["value"] else 2.0
    elif field == "emergency":
        changed[field] = True
    else:
        changed[field] = number if number != BASE[field] else number + 1
    assert proposal_message(**changed) != proposal_message(**BASE)


def test_signing_message_is_unambiguous_and_exact() -> None:
    # length prefixes: moving a character between fields changes the bytes
    a = proposal_message(**{**BASE, "domain": "go", "keeper": "vkeeper:1"})
    b = proposal_message(**{**BASE, "domain": "gov", "keeper": "keeper:1"})
    assert a != b
    # the value is exact: the next representable double is another message
    c = proposal_message(**{**BASE, "value": math.nextafter(1.25, 2.0)})
    assert c != b
