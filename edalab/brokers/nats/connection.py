"""Connecting to a NATS server: a fast-failing probe, then a connection that reconnects, and
an error message that says what to do."""

from __future__ import annotations

import ssl
from typing import Any

import nats

__all__ = ["connect", "connect_error"]


async def connect(url: str | list[str], options: dict[str, Any]):
    """Connect to `url` (or the first live one of a cluster's URLs), raising the server's
    own reason (refused, bad credentials) at once rather than after the reconnect attempts
    in `options`."""
    errors: list[BaseException] = []

    async def remember(exc: BaseException) -> None:
        errors.append(exc)

    # A probe without reconnects fails fast with the server's reason (refused, bad
    # credentials); the real connection then reconnects through server restarts.
    try:
        probe = await nats.connect(url, error_cb=remember, allow_reconnect=False,
                                   **{**options, "max_reconnect_attempts": 1,
                                      "reconnect_time_wait": 0.05})
    except Exception as exc:
        raise (errors[-1] if errors else exc) from None
    await probe.close()
    return await nats.connect(url, error_cb=remember, **options)


def connect_error(url: str, exc: BaseException, credentials: bool = False) -> str:
    """A one-line reason why the connection to `url` failed, with what to do about it.

    >>> print(connect_error("nats://h:1", OSError("refused")))  # doctest: +NORMALIZE_WHITESPACE
    cannot connect to NATS at nats://h:1: refused
    (is the server running? `edalab broker start` starts one)
    """
    text = (str(exc) or type(exc).__name__).strip()
    lowered = text.lower()
    if "authorization" in lowered or "authentication" in lowered:
        hint = ("check the user/password or token given to NatsBroker" if credentials
                else "pass user/password or token to NatsBroker")
        return f"NATS server at {url} refused the connection: {text} ({hint})"
    if isinstance(exc, ssl.SSLCertVerificationError) or "certificate_verify_failed" in lowered:
        return (f"TLS to the NATS server at {url} failed: {text} (pass "
                "tls=ssl.create_default_context(cafile=<the server's CA file>) to NatsBroker, "
                "and tls_hostname=<a name in the certificate> if the URL's host is not in it)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS to the NATS server at {url} failed: {text}"
    return (f"cannot connect to NATS at {url}: {text} (is the server running? "
            "`edalab broker start` starts one)")
