"""CSRF tokens as pages carry them: a fresh mask each time, the same secret underneath."""

from __future__ import annotations

import secrets

from auth.csrf import accepts, mask, new_secret, unmask


def test_each_mask_of_one_secret_differs_and_unmasks_to_it() -> None:
    secret = new_secret()
    tokens = {mask(secret) for _ in range(50)}
    assert len(tokens) == 50
    assert all(unmask(token) == secret for token in tokens)
    assert all(secret not in token for token in tokens)


def test_a_masked_token_is_accepted_and_a_forged_one_refused() -> None:
    secret = new_secret()
    assert accepts(mask(secret), secret)
    assert not accepts(mask(new_secret()), secret), "another session's token"
    assert not accepts(secrets.token_urlsafe(64), secret), "random bytes of the right size"
    assert not accepts("", secret)
    assert not accepts("not base64 at all!", secret)
    assert not accepts(mask(secret)[:-4], secret), "cut short"
    assert not accepts(None, secret)


def test_the_bare_secret_is_still_accepted() -> None:
    # A page rendered before masking carries it; knowing it already means knowing any mask.
    secret = new_secret()
    assert accepts(secret, secret)
