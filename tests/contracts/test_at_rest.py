"""contracts.at_rest: secrets wrapped under the master key and data sealed under data keys open
only with their key and their context; erasing a data key erases what it sealed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.at_rest import new_data_key, open_at_rest, seal_at_rest, unwrap_secret, wrap_secret
from contracts.keys import KeyKind, PrivateKey, UnwrapFailed, generate_key

MASTER = bytes(range(32))
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def key(kind: KeyKind) -> PrivateKey:
    return generate_key(kind, nbf=T0, exp=T0 + timedelta(days=365))


@settings(max_examples=50)
@given(secret=st.binary(max_size=256), context=st.binary(max_size=64))
def test_unwrap_returns_what_was_wrapped(secret: bytes, context: bytes) -> None:
    assert unwrap_secret(MASTER, wrap_secret(MASTER, secret, context), context) == secret


def test_wrapping_twice_gives_different_bytes() -> None:
    # A fresh nonce per wrap: equal secrets are not recognisable in the database.
    assert wrap_secret(MASTER, b"k" * 32, b"ctx") != wrap_secret(MASTER, b"k" * 32, b"ctx")


def test_wrapped_secret_does_not_unwrap_under_another_context() -> None:
    wrapped = wrap_secret(MASTER, b"private key bytes", b"accord/key/kid-1")

    with pytest.raises(UnwrapFailed):
        unwrap_secret(MASTER, wrapped, b"accord/key/kid-2")


def test_wrapped_secret_does_not_unwrap_under_another_master_key() -> None:
    wrapped = wrap_secret(MASTER, b"private key bytes", b"ctx")

    with pytest.raises(UnwrapFailed):
        unwrap_secret(bytes(32), wrapped, b"ctx")


@settings(max_examples=50)
@given(data=st.data())
def test_any_changed_byte_of_a_wrapped_secret_is_detected(data: st.DataObject) -> None:
    wrapped = bytearray(wrap_secret(MASTER, b"private key bytes", b"ctx"))
    position = data.draw(st.integers(0, len(wrapped) - 1))
    wrapped[position] ^= data.draw(st.integers(1, 255))

    with pytest.raises(UnwrapFailed):
        unwrap_secret(MASTER, bytes(wrapped), b"ctx")


def test_truncated_wrapped_secret_is_refused() -> None:
    with pytest.raises(UnwrapFailed):
        unwrap_secret(MASTER, b"short", b"ctx")


def test_master_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_secret(b"too short", b"secret", b"ctx")


@pytest.mark.parametrize("kind", list(KeyKind))
def test_private_key_wrapped_under_the_master_key_comes_back(kind: KeyKind) -> None:
    private = key(kind)
    context = b"accord/key/" + private.kid.encode()

    stored = wrap_secret(MASTER, private.to_bytes(), context)

    assert PrivateKey.from_bytes(unwrap_secret(MASTER, stored, context)) == private


def test_data_sealed_at_rest_opens_with_its_data_key_only() -> None:
    data_key, other_key = new_data_key(), new_data_key()
    sealed = seal_at_rest(data_key, b'{"name":"A"}', b"referral/1/identity")

    assert open_at_rest(data_key, sealed, b"referral/1/identity") == b'{"name":"A"}'
    with pytest.raises(UnwrapFailed):
        open_at_rest(other_key, sealed, b"referral/1/identity")
    with pytest.raises(UnwrapFailed):
        open_at_rest(data_key, sealed, b"referral/1/health")


def test_erasing_the_wrapped_data_key_leaves_the_content_unreadable() -> None:
    # Crypto-shredding: with the wrapped data key gone, only the sealed bytes remain, and no
    # key the node still holds opens them.
    data_key = new_data_key()
    wrapped_data_key = wrap_secret(MASTER, data_key, b"referral/1")
    sealed = seal_at_rest(data_key, b"content", b"referral/1/identity")
    del data_key, wrapped_data_key

    for candidate in (MASTER, new_data_key()):
        with pytest.raises(UnwrapFailed):
            open_at_rest(candidate, sealed, b"referral/1/identity")


def test_wrap_format_is_nonce_then_aes_gcm_output() -> None:
    # The layout kit.master_key.wrap already writes, so stored rows stay readable.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    wrapped = wrap_secret(MASTER, b"secret", b"ctx")

    assert AESGCM(MASTER).decrypt(wrapped[:12], wrapped[12:], b"ctx") == b"secret"
