"""A throwaway certificate authority for TLS tests: a CA, a server and a client certificate.

Made with ``cryptography`` in the test's temporary directory; the server certificate
names 127.0.0.1, localhost and any other names asked for; everything expires in a day.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _issue(subject: str, ca_key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
           usage: list[x509.ObjectIdentifier], key: ec.EllipticCurvePrivateKey,
           names: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
               .add_extension(x509.SubjectAlternativeName([
                   x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                   *(x509.DNSName(name) for name in names),
               ]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    return builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class TestAuthority:
    """File paths of a test CA and the server and client certificates it signed."""

    __test__ = False  # not a test class, whatever its name

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def create(cls, directory: Path, names: tuple[str, ...] = ()) -> TestAuthority:
        """``names``: more DNS names the server certificate is valid for."""
        ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ca = (x509.CertificateBuilder().subject_name(_name("om test CA"))
              .issuer_name(_name("om test CA")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(
                  digital_signature=True, key_cert_sign=True, crl_sign=True,
                  content_commitment=False, key_encipherment=False, data_encipherment=False,
                  key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        paths = cls(*(directory / name for name in (
            "ca.pem", "server.pem", "server.key", "client.pem", "client.key")))
        paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        # A server's certificate is its client certificate too: cluster bus, replication.
        for cert, key_path, usage in ((paths.server_cert, paths.server_key,
                                       [ExtendedKeyUsageOID.SERVER_AUTH,
                                        ExtendedKeyUsageOID.CLIENT_AUTH]),
                                      (paths.client_cert, paths.client_key,
                                       [ExtendedKeyUsageOID.CLIENT_AUTH])):
            key = ec.generate_private_key(ec.SECP256R1())
            _write_key(key_path, key)
            issued = _issue(cert.stem, ca_key, ca.subject, usage, key, names)
            cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
        return paths
