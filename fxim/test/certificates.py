"""
Test certificates: a throwaway CA and a leaf for 127.0.0.1/localhost signed
by it, written as PEM files, built with C{cryptography}.
"""

import base64
import datetime
import ipaddress
import os
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class TestPKI(NamedTuple):
    """
    @ivar caFile: the CA certificate (PEM), for clients' trust.
    @ivar certFile: the leaf certificate (PEM).
    @ivar keyFile: the leaf's private key (PEM).
    @ivar spki: base64 SHA-256 of the leaf's SubjectPublicKeyInfo (for
        Chromium's C{--ignore-certificate-errors-spki-list}).
    @ivar serial: the leaf's serial number.
    @ivar ca: C{(key, certificate)} of the CA, for L{reissue}.
    """

    caFile: str
    certFile: str
    keyFile: str
    spki: str
    serial: int
    ca: tuple


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def makePKI(directory: str, serial: int = 1000, caKey=None, caCert=None) -> TestPKI:
    """
    Write C{ca.pem}, C{cert.pem} and C{key.pem} into C{directory}; the
    leaf is valid for C{127.0.0.1} and C{localhost} for a day.
    """
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=1)
    if caKey is None:
        caKey = ec.generate_private_key(ec.SECP256R1())
        caCert = (x509.CertificateBuilder().subject_name(_name("fxim test CA"))
                  .issuer_name(_name("fxim test CA")).public_key(caKey.public_key())
                  .serial_number(1).not_valid_before(now).not_valid_after(later)
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                  .add_extension(x509.KeyUsage(True, False, False, False, False, True, True,
                                               False, False), critical=True)
                  .sign(caKey, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(caCert.subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(later)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(caKey, hashes.SHA256()))
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem")]
    with open(paths[0], "wb") as f:
        f.write(caCert.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    spkiDer = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spkiDer)
    spki = base64.b64encode(digest.finalize()).decode("ascii")
    return TestPKI(paths[0], paths[1], paths[2], spki, serial, (caKey, caCert))


def reissue(pki: TestPKI, serial: int) -> TestPKI:
    """
    Write a new leaf (new key, serial C{serial}) from C{pki}'s CA over
    C{pki}'s files.
    """
    return makePKI(os.path.dirname(pki.certFile), serial, *pki.ca)


def sslEndpoint(port: str, pki: TestPKI) -> str:
    """
    An C{ssl:} description on 127.0.0.1 with C{pki}'s leaf.
    """
    return (f"ssl:{port}:interface=127.0.0.1:privateKey={pki.keyFile}"
            f":certKey={pki.certFile}")
