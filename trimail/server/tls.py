"""TLS for the listeners: the certificate (configured, or self-signed on first start)
and the server ``ssl.SSLContext`` (RFC 8314 §4: TLS 1.2 or newer).
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trimail.config.model import Config

log = logging.getLogger("trimail.tls")

SELF_SIGNED_DAYS = 825  # the longest validity clients accepted for server certificates


class TlsError(Exception):
    """The certificate or key cannot be used; ``str(err)`` names the file and why."""


def certificate_paths(config: Config) -> tuple[Path, Path]:
    """(certificate chain, private key) PEM files: configured, or the generated pair."""
    if config.tls.cert_file:
        return Path(config.tls.cert_file), Path(config.tls.key_file)
    base = Path(config.data_dir) / "tls"
    return base / "self-signed.crt", base / "self-signed.key"


def ensure_certificate(config: Config, now: datetime.datetime) -> tuple[Path, Path]:
    """Return the certificate and key files, generating a self-signed pair if needed.

    With no ``[tls] cert_file`` configured, a P-256 key and a certificate for
    ``config.hostname`` are written once to ``<data_dir>/tls/`` (key mode 0600) and kept.

    Args:
        config: the validated configuration.
        now: the current time (the certificate's start of validity).

    Raises:
        TlsError: a file cannot be written, or the pair does not load.
    """
    cert_path, key_path = certificate_paths(config)
    if not config.tls.cert_file and not (cert_path.exists() and key_path.exists()):
        try:
            write_self_signed(config.hostname, cert_path, key_path, now)
            log.warning(
                "no [tls] cert_file configured: made a self-signed certificate for %s at %s "
                "(clients will not trust it; configure one from a CA)",
                config.hostname,
                cert_path,
            )
        except OSError as exc:
            raise TlsError(
                f"{cert_path.parent}: cannot write the certificate: {exc.strerror}"
            ) from None
    server_context(cert_path, key_path)  # fails early, with the file named
    return cert_path, key_path


def write_self_signed(
    hostname: str, cert_path: Path, key_path: Path, now: datetime.datetime
) -> None:
    """Write a new P-256 key (mode 0600) and a self-signed certificate for *hostname*.

    Raises:
        OSError: a file cannot be written.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context with the pair loaded: TLS 1.2+, the ssl module's default ciphers.

    Raises:
        TlsError: naming the file and the reason.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    for path in (cert_path, key_path):
        if not path.is_file():
            raise TlsError(f"{path}: no such file")
    try:
        context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"{cert_path} / {key_path}: cannot load the pair: {exc}") from None
    return context
