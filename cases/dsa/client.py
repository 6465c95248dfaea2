"""The DSA Transparency Database API: batches of statements, and whether a puid is already there.

    POST {DSA_TRANSPARENCY_URL}/api/v1/statements   {"statements": [...]}, 1 to 100, all or nothing
    GET  {DSA_TRANSPARENCY_URL}/api/v1/statement/existing-puid/{puid}   302 found, 404 not

with `Authorization: Bearer DSA_TRANSPARENCY_TOKEN`. Anything but 201 means nothing was created;
a 422 names the fields at fault, and carries "existing" when a puid was submitted before.
Redirects are never followed: the 302 of the puid check is the answer, and a statement batch goes
to the configured host only.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

USER_AGENT = "Docket-DSA/1"
MAX_BATCH = 100


class TransparencyConfigError(ValueError):
    """The DSA_TRANSPARENCY_* settings cannot be used; the message says what to set."""


class TransparencyUnavailable(Exception):
    """No usable answer came (a network error, a timeout, an unexpected status): a batch may or
    may not have arrived, so it is sent again later (a repeat is recognised by its puids)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    text: str

    @property
    def mentions_existing(self) -> bool:
        return "existing" in self.text.lower()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def check_config(config: Mapping[str, Any]) -> tuple[str, str]:
    """The base URL and token; TransparencyConfigError when submission is not configured."""
    url = (config.get("DSA_TRANSPARENCY_URL") or "").rstrip("/")
    token = config.get("DSA_TRANSPARENCY_TOKEN") or ""
    if not url:
        raise TransparencyConfigError(
            "DSA_TRANSPARENCY_URL is not set: submission to the Transparency Database is off"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransparencyConfigError(f"DSA_TRANSPARENCY_URL must be an http(s) URL, not {url!r}")
    if not token:
        raise TransparencyConfigError(
            "DSA_TRANSPARENCY_TOKEN is not set: the Commission issues one per platform"
        )
    return url, token


class TransparencyClient:
    """One platform's access to the Transparency Database API."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TransparencyClient":
        url, token = check_config(config)
        return cls(url, token, timeout=float(config.get("DSA_TRANSPARENCY_TIMEOUT") or 30))

    def _call(self, method: str, path: str, body: bytes | None = None) -> Answer:
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                return _answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return _answer(exc.code, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransparencyUnavailable(f"no answer from {self.base_url}: {reason}") from None

    def submit(self, statements: Sequence[Mapping[str, Any]]) -> Answer:
        """POST one batch (1 to 100 statements)."""
        if not 1 <= len(statements) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} statements, not {len(statements)}")
        body = json.dumps({"statements": list(statements)}, ensure_ascii=False).encode()
        return self._call("POST", "/api/v1/statements", body)

    def puid_exists(self, puid: str) -> bool:
        """Whether a statement with `puid` is in the database (302), or not (404)."""
        answer = self._call("GET", f"/api/v1/statement/existing-puid/{quote(puid, safe='')}")
        if answer.status == 302:
            return True
        if answer.status == 404:
            return False
        raise TransparencyUnavailable(
            f"the puid check answered HTTP {answer.status}: {answer.text[:200]}"
        )


def _answer(status: int, raw: bytes) -> Answer:
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return Answer(status=status, body=body, text=text)
