"""The one HTTP call every provider adapter makes: a JSON POST with transport retries (SPEC §16.1).

Adapters speak HTTP through the standard library so the core stays free of
provider SDKs. Rate limits (429), server errors (5xx) and dropped connections
are transient, so they are retried with exponential backoff and full jitter,
honouring a (capped) ``Retry-After``; any other 4xx is the caller's mistake
and raises at once with the provider's own message. Whatever finally fails
surfaces as :class:`~soe.llm.ProviderError`, never as a raw ``urllib`` error.

Credentials stay where they were sent: every credential header value (and the
token inside ``Bearer``) is redacted from error messages, which end up in
telemetry, statuses and the CLI, and a redirect to another origin is refused
rather than followed with the ``Authorization`` header (urllib would forward it).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from soe._errors import ProviderError

__all__ = ["HttpOptions", "post_json", "redact"]

REDACTED = "[REDACTED]"
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key")
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words

_ERROR_TEXT_LIMIT = 500
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


@dataclass(frozen=True)
class HttpOptions:
    """Transport settings shared by the adapters.

    ``max_retries`` counts *additional* attempts (like the engine's ``retries``),
    so at most ``max_retries + 1`` requests are sent.
    """

    max_retries: int = 3
    timeout: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt + 1`` (AWS's recommended scheme)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return random.uniform(0, max(ceiling, 0.0))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``[REDACTED]`` (longest first, so no part of one survives)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _secrets(headers: Mapping[str, str]) -> list[str]:
    """The credential values among ``headers``, and the token of an ``Authorization: Bearer`` header."""
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS and value:
            found.append(value)
            found.append(value.partition(" ")[2])
    return found


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port


class _CrossOriginRedirect(Exception):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the origin the credentials were meant for."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            fp.close()
            scheme, host, port = _origin(newurl)
            raise _CrossOriginRedirect(f"{scheme}://{host}" + (f":{port}" if port else ""))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Attempt(Exception):
    """One failed attempt, carrying what the final ``ProviderError`` needs."""

    def __init__(self, message: str, status: int | None, retryable: bool,
                 retry_after: float | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id


def _request_id(headers: Any) -> str | None:
    """The provider's id of the request: OpenAI's ``x-request-id``, Anthropic's ``request-id``."""
    if headers is None:
        return None
    return cast("str | None", headers.get("x-request-id") or headers.get("request-id"))


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: delta-seconds or an HTTP date, else ``None``."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(body: bytes) -> str:
    """The provider's own error text (``error.message`` in OpenAI and Anthropic bodies)."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:_ERROR_TEXT_LIMIT]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return cast("str", error["message"])
        if isinstance(error, str):
            return error
    return text.strip()[:_ERROR_TEXT_LIMIT]


def _http_failure(exc: urllib.error.HTTPError, provider: str) -> _Attempt:
    """Classify an HTTP error status: 429 and 5xx are transient, other 4xx are final."""
    try:
        body = exc.read()
    except Exception:  # the body is only decoration for the message
        body = b""
    finally:
        exc.close()
    detail = error_message(body) or exc.reason or ""
    status = exc.code
    retryable = status == 429 or status >= 500
    message = f"{provider} HTTP {status}: {detail}"
    return _Attempt(message, status, retryable, _retry_after(exc.headers), _request_id(exc.headers))


def _send_once(url: str, data: bytes, headers: Mapping[str, str], provider: str,
               timeout: float) -> dict[str, Any]:
    """One request; raises ``_Attempt`` describing any failure."""
    request = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
    # A fresh opener per call picks up proxy settings from the environment as they are now.
    opener = urllib.request.build_opener(_SameOriginRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except _CrossOriginRedirect as exc:
        raise _Attempt(f"{provider} refused a redirect to another origin ({exc.target}): credentials are "
                       "never sent to a different host", None, False) from None
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc, provider) from exc
    except _CONNECTION_ERRORS as exc:
        raise _Attempt(f"{provider} connection error: {exc}", None, True) from exc
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise _Attempt(f"{provider} returned a non-JSON body (HTTP {status})", status,
                       False) from exc
    if not isinstance(parsed, dict):
        raise _Attempt(f"{provider} returned a non-object JSON body (HTTP {status})", status, False)
    return parsed


def _delay(failure: _Attempt, attempt: int, options: HttpOptions) -> float:
    """How long to wait: the server's ``Retry-After`` (capped) wins over our backoff."""
    if failure.retry_after is not None:
        return min(failure.retry_after, options.retry_after_cap)
    return options.backoff(attempt)


def post_json(url: str, payload: Mapping[str, Any], headers: Mapping[str, str], *,
              provider: str, options: HttpOptions | None = None) -> dict[str, Any]:
    """POST ``payload`` as JSON and return the decoded JSON object the server answered.

    Raises :class:`ProviderError` (chained from the last underlying error) once
    a non-retryable failure occurs or ``options.max_retries`` retries are spent.
    """
    options = options or HttpOptions()
    data = json.dumps(payload).encode("utf-8")
    all_headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    attempt = 0
    while True:
        try:
            return _send_once(url, data, all_headers, provider, options.timeout)
        except _Attempt as failure:
            if not failure.retryable or attempt >= options.max_retries:
                if failure.retryable and options.max_retries:
                    message = f"{failure} (after {attempt + 1} attempts)"
                else:
                    message = str(failure)
                raise ProviderError(redact(message, _secrets(headers)), provider=provider,
                                    status=failure.status, retryable=failure.retryable,
                                    request_id=failure.request_id) from failure.__cause__
            time.sleep(_delay(failure, attempt, options))
            attempt += 1
