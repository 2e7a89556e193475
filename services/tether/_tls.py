"""TLS between the control plane and its clients: the certificate and key the control plane
serves HTTPS with, the CA the agent and the CLI verify it against, and what a failed handshake
means in words. One home, so the agent and the CLI check and fail alike."""

from __future__ import annotations

import ssl

from .errors import ConfigError
from .settings import ENV_PREFIX, Settings

_CERT = f"{ENV_PREFIX}TLS_CERT_FILE"
_KEY = f"{ENV_PREFIX}TLS_KEY_FILE"
_CA = f"{ENV_PREFIX}CA_FILE"


def server_certificate(settings: Settings) -> tuple[str, str] | None:
    """The certificate and key files to serve HTTPS with, checked now (readable, and a key
    that fits the certificate) so that a mistake stops the start with its cause; ``None``
    when neither is set (plain HTTP)."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert and not key:
        return None
    if not cert or not key:
        missing = _KEY if cert else _CERT
        raise ConfigError(f"{_CERT} and {_KEY} go together, and {missing} is not set: set "
                          "both to serve HTTPS, or neither to serve plain HTTP (e.g. behind "
                          "a proxy that serves TLS)")
    _check_readable(_CERT, cert)
    _check_readable(_KEY, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # an empty password: for an encrypted key OpenSSL would otherwise ask on the
        # terminal, and the control plane takes no key password
        context.load_cert_chain(cert, key, password="")
    except ssl.SSLError as exc:
        raise ConfigError(f"{_CERT}={cert} and {_KEY}={key} are not a PEM certificate and its "
                          f"unencrypted private key ({_reason(exc)})") from exc
    return cert, key


def client_verify(settings: Settings) -> ssl.SSLContext | bool:
    """What the agent's and the CLI's HTTP clients verify the control plane's certificate
    with: the CA in ``TETHER_CA_FILE`` only, or (unset) the system's trusted CAs."""
    if not settings.ca_file:
        return True
    _check_readable(_CA, settings.ca_file)
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except ssl.SSLError as exc:
        raise ConfigError(f"{_CA}={settings.ca_file} holds no PEM CA certificate "
                          f"({_reason(exc)})") from exc


def handshake_failure(url: str, exc: BaseException) -> str | None:
    """What went wrong, for a user, when ``exc`` (an HTTP client's error) comes from a TLS
    handshake with the control plane at ``url``; ``None`` when it does not."""
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"the control plane at {url} presented a certificate this client does not "
                f"trust ({cause.verify_message}); if your own CA signed it, set {_CA} to that "
                "CA's certificate")
    if cause is not None:
        return (f"no TLS connection to the control plane at {url} ({_reason(cause)}); check "
                "that it serves HTTPS at that address, or use an http:// URL")
    return None


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    # httpx wraps httpcore's error, which wraps the ssl module's
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _check_readable(variable: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{variable}={path} cannot be read: {exc.strerror or exc}") from exc


def _reason(exc: ssl.SSLError) -> str:
    if exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    # OpenSSL's "PEM lib" (no reason) covers every file it cannot parse as PEM
    return "not PEM, or an encrypted key"
