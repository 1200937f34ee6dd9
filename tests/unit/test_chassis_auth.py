"""Access tokens: what verifiers accept and reject."""
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from concilia.chassis.auth import Principal, TokenSigner, TokenVerifier
from concilia.chassis.errors import PermissionDenied, Unauthenticated


def make_signer(ttl=900, issuer="concilia"):
    return TokenSigner(Ed25519PrivateKey.generate(), issuer, ttl)


def verifier_for(*signers, issuer="concilia"):
    fetches = []

    def fetch():
        fetches.append(1)
        return {"keys": [s.jwk for s in signers]}
    return TokenVerifier(fetch, issuer=issuer, refetch_interval_seconds=0), fetches


def test_a_valid_token_gives_the_principal_back():
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    principal = Principal("acc-1", "company_agent", company_id="c-1", group_id="g-1")
    assert verifier.verify(signer.issue(principal)) == principal


def test_a_sector_monitors_segments_travel_in_the_token():
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    monitor = Principal("acc-2", "monitor", jurisdiction="BR", segments=("transporte-aereo", "bancos"))
    assert verifier.verify(signer.issue(monitor)).segments == ("transporte-aereo", "bancos")
    assert "segments" not in jwt.decode(signer.issue(Principal("acc-3", "monitor", jurisdiction="BR")),
                                        options={"verify_signature": False})


@pytest.mark.parametrize("segments", ["transporte-aereo", [1, 2], {"a": 1}])
def test_a_token_with_malformed_segments_is_rejected(segments):
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    now = int(time.time())
    token = jwt.encode({"sub": "x", "role": "monitor", "iss": "concilia", "aud": "concilia", "iat": now, "exp": now + 60,
                        "segments": segments}, signer.private_key, algorithm="EdDSA", headers={"kid": signer.jwk["kid"]})
    with pytest.raises(Unauthenticated, match="invalid"):
        verifier.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_malformed_tokens_are_unauthenticated(token):
    verifier, _ = verifier_for(make_signer())
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_an_expired_token_is_rejected_as_expired():
    signer = make_signer(ttl=1)
    verifier, _ = verifier_for(signer)
    token = signer.issue(Principal("acc-1", "consumer"), now=time.time() - 120)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_a_token_signed_by_another_key_with_the_same_kid_is_rejected():
    real, forger = make_signer(), make_signer()
    verifier, _ = verifier_for(real)
    forged = jwt.encode({"sub": "x", "role": "admin", "iss": "concilia", "aud": "concilia",
                         "iat": int(time.time()), "exp": int(time.time()) + 60},
                        forger.private_key, algorithm="EdDSA", headers={"kid": real.jwk["kid"]})
    with pytest.raises(Unauthenticated, match="invalid"):
        verifier.verify(forged)


def test_a_token_from_an_unknown_key_is_rejected_after_one_refetch():
    verifier, fetches = verifier_for(make_signer())
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.verify(make_signer().issue(Principal("a", "consumer")))
    assert len(fetches) == 2  # the initial fetch plus one refresh for the unknown kid


def test_keys_are_fetched_once_for_many_verifications():
    signer = make_signer()
    verifier, fetches = verifier_for(signer)
    for _ in range(50):
        verifier.verify(signer.issue(Principal("a", "consumer")))
    assert len(fetches) == 1


def test_a_rotated_key_is_picked_up_without_restart():
    old, new = make_signer(), make_signer()
    current = [old]
    verifier = TokenVerifier(lambda: {"keys": [s.jwk for s in current]}, issuer="concilia", refetch_interval_seconds=0)
    verifier.verify(old.issue(Principal("a", "consumer")))
    current.append(new)
    assert verifier.verify(new.issue(Principal("b", "consumer"))).account_id == "b"


def test_wrong_issuer_and_unknown_role_are_rejected():
    signer = make_signer(issuer="someone-else")
    verifier, _ = verifier_for(signer)
    with pytest.raises(Unauthenticated):
        verifier.verify(signer.issue(Principal("a", "consumer")))
    good = make_signer()
    verifier, _ = verifier_for(good)
    with pytest.raises(Unauthenticated):
        verifier.verify(good.issue(Principal("a", "superuser")))


def test_alg_none_is_never_accepted():
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    unsigned = jwt.encode({"sub": "a", "role": "admin"}, key=None, algorithm="none", headers={"kid": signer.jwk["kid"]})
    with pytest.raises(Unauthenticated):
        verifier.verify(unsigned)


def test_require_role():
    assert Principal("a", "manager").require_role("manager", "admin").role == "manager"
    with pytest.raises(PermissionDenied):
        Principal("a", "consumer").require_role("manager")


def test_key_file_is_created_private_and_reloaded_with_the_same_kid(tmp_path):
    path = tmp_path / "keys" / "signing.pem"
    first = TokenSigner.from_file(path, "concilia", 900, create=True)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert TokenSigner.from_file(path, "concilia", 900).jwk["kid"] == first.jwk["kid"]
    with pytest.raises(FileNotFoundError):
        TokenSigner.from_file(tmp_path / "missing.pem", "concilia", 900)
