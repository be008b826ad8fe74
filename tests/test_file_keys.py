"""Signing keys from files (oauth_middleware.keyring.from_files): PEM, DER or JWK."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from oauth_middleware.keyring import PRIVATE_MEMBERS, FileKeys, from_files
from oauth_middleware.settings_checks import ConfigurationError


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def rsa_pem(tmp_path: Path) -> Path:
    return write(tmp_path, "rsa.pem", pem(rsa.generate_private_key(65537, 2048)))


async def test_pem_and_jwk_files_sign_and_publish_with_their_kids(
    tmp_path: Path, rsa_pem: Path
) -> None:
    ec_jwk = ECKey.generate_key("P-256", parameters={"kid": "ec-2026"}).as_dict(private=True)
    ring = from_files(rsa_pem, write(tmp_path, "ec.json", json.dumps(ec_jwk)))
    assert ring.algorithms == ("RS256", "ES256")
    rs, es = await ring.signing_key("RS256"), await ring.signing_key("ES256")
    assert es.kid == "ec-2026"
    assert rs.kid == RSAKey.import_key(rsa_pem.read_bytes()).thumbprint()  # RFC 7638
    jwks = await ring.public_jwks()
    assert [(k["kid"], k["alg"], k["use"]) for k in jwks["keys"]] == [
        (rs.kid, "RS256", "sig"), ("ec-2026", "ES256", "sig")]
    assert all(not PRIVATE_MEMBERS & set(k) for k in jwks["keys"])
    token = jwt.encode({"alg": "ES256", "kid": es.kid}, {"sub": "a"}, es, algorithms=["ES256"])
    checked = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])  # type: ignore[arg-type]
    assert checked.claims == {"sub": "a"}


async def test_the_first_key_of_an_algorithm_signs_and_later_ones_stay_published(
    tmp_path: Path, rsa_pem: Path
) -> None:
    older = write(tmp_path, "old.pem", pem(rsa.generate_private_key(65537, 2048)))
    ring = from_files(rsa_pem, older)
    assert (await ring.signing_key("RS256")).kid == RSAKey.import_key(
        rsa_pem.read_bytes()).thumbprint()
    assert len((await ring.public_jwks())["keys"]) == 2
    with pytest.raises(LookupError, match="no signing key for 'ES256': one of RS256"):
        await ring.signing_key("ES256")


def test_files_that_cannot_sign_are_refused_naming_the_fix(tmp_path: Path, rsa_pem: Path
                                                            ) -> None:
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key refused here
    public = rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    p384 = ec.generate_private_key(ec.SECP384R1())
    cases: dict[str, tuple[bytes | str, str]] = {
        "small.pem": (pem(small), "an RSA key of at least 2048 bits is needed"),
        "public.pem": (public, "not a private key"),
        "p384.pem": (pem(p384), "an EC key must be on the P-256 curve"),
        "oct.json": (json.dumps({"kty": "oct", "k": "c2VjcmV0"}), "cannot sign RS256 or ES256"),
        "list.json": ('{"keys": 1} [', "not a JSON Web Key (invalid JSON)"),
        "array.json": ("[1, 2]", "not a private key (PEM, DER or JWK)"),
        "broken.json": ("{nope", "not a JSON Web Key (invalid JSON)"),
    }
    for name, (data, reason) in cases.items():
        with pytest.raises(ConfigurationError, match=re.escape(reason)):
            from_files(rsa_pem, write(tmp_path, name, data))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        from_files(tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="needs at least one"):
        from_files()


def test_a_garbage_key_file_is_refused_without_quoting_it(tmp_path: Path) -> None:
    secret_looking = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigurationError) as refused:
        from_files(write(tmp_path, "garbage.pem", secret_looking))
    assert "TOPSECRETMATERIAL" not in str(refused.value)
    assert str(refused.value) == f"{tmp_path / 'garbage.pem'}: not a private key (PEM, DER or JWK)"


def test_kid_collisions_and_a_ring_without_rsa_are_refused(tmp_path: Path, rsa_pem: Path
                                                          ) -> None:
    one = RSAKey.generate_key(2048, parameters={"kid": "same"}).as_dict(private=True)
    two = ECKey.generate_key("P-256", parameters={"kid": "same"}).as_dict(private=True)
    with pytest.raises(ConfigurationError, match="two signing keys share the kid 'same'"):
        from_files(write(tmp_path, "a.json", json.dumps(one)),
                   write(tmp_path, "b.json", json.dumps(two)))
    with pytest.raises(ConfigurationError, match="two signing keys share the kid"):
        from_files(rsa_pem, rsa_pem)  # one key given twice: its thumbprint twice
    with pytest.raises(ConfigurationError, match="need an RSA key \\(RS256"):
        from_files(write(tmp_path, "b.json", json.dumps(two)))
    assert "same" in repr(FileKeys([("RS256", RSAKey.import_key(one))]))
