"""Verified access tokens are remembered (the write path checks a token on every call), without
remembering anything a full verification would now refuse."""
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from concilia.chassis.auth import Principal, TokenSigner, TokenVerifier
from concilia.chassis.errors import Unauthenticated


def make_signer(ttl=900):
    return TokenSigner(Ed25519PrivateKey.generate(), "concilia", ttl)


class Keys:
    """The identity service's JWK Set as the verifier sees it, changeable by the test."""

    def __init__(self, *signers):
        self.signers = list(signers)
        self.fetches = 0

    def __call__(self):
        self.fetches += 1
        return {"keys": [s.jwk for s in self.signers]}


def test_each_token_gives_back_its_own_principal_when_remembered():
    signer = make_signer()
    verifier = TokenVerifier(Keys(signer), issuer="concilia")
    alice, bob = Principal("acc-a", "consumer"), Principal("acc-b", "company_agent", company_id="c-1")
    alice_token, bob_token = signer.issue(alice), signer.issue(bob)
    for _ in range(3):
        assert verifier.verify(alice_token) == alice
        assert verifier.verify(bob_token) == bob


def test_a_remembered_token_is_refused_once_it_expires():
    signer = make_signer(ttl=2)
    verifier = TokenVerifier(Keys(signer), issuer="concilia", leeway_seconds=0)
    issued = time.time()
    token = signer.issue(Principal("acc-1", "consumer"), now=issued)
    assert verifier.verify(token).account_id == "acc-1"
    time.sleep(max(0.0, int(issued) + 2 - time.time()) + 0.05)  # just past exp
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_a_remembered_token_is_refused_once_its_key_is_withdrawn():
    old, new = make_signer(), make_signer()
    keys = Keys(old)
    verifier = TokenVerifier(keys, issuer="concilia", refetch_interval_seconds=0)
    token = old.issue(Principal("acc-1", "consumer"))
    assert verifier.verify(token).account_id == "acc-1"
    keys.signers = [new]  # identity rotated the key out (e.g. it leaked)
    verifier.verify(new.issue(Principal("acc-2", "consumer")))  # an unknown kid: the verifier refetches
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.verify(token)


def test_a_tampered_copy_of_a_remembered_token_is_refused():
    signer = make_signer()
    verifier = TokenVerifier(Keys(signer), issuer="concilia")
    token = signer.issue(Principal("acc-1", "consumer"))
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)


def test_the_memory_is_bounded_and_forgets_the_least_recently_used():
    signer = make_signer()
    verifier = TokenVerifier(Keys(signer), issuer="concilia", cache_size=2)
    tokens = [signer.issue(Principal(f"acc-{n}", "consumer")) for n in range(3)]
    verifier.verify(tokens[0])
    verifier.verify(tokens[1])
    verifier.verify(tokens[0])  # used again: now the most recent
    verifier.verify(tokens[2])  # pushes out tokens[1]
    remembered = verifier._verified  # noqa: SLF001 - the bound is what is under test
    assert len(remembered) == 2
    assert [v.principal.account_id for v in remembered.values()] == ["acc-0", "acc-2"]
    assert all(isinstance(key, bytes) and len(key) == 32 for key in remembered)  # hashes, not tokens
