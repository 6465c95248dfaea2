"""The CyberTipline reporting API over HTTPS with basic auth (NCMEC's documented endpoints).

Every answer is a `<reportResponse>` (or, from /finish, a `<reportDoneResponse>`) whose
`responseCode` 0 means success; anything else is an error, raised as `NcmecError` with the code,
NCMEC's description and the `Request-ID` header NCMEC asks for when it helps troubleshoot. The
HTTP status is not relied on: NCMEC's body is the answer.

The test endpoint is the default. Real reports go out only when `NCMEC_ENVIRONMENT` is
"production", and then only over HTTPS to a host other than the test endpoint's; in test mode any
URL is accepted (a local fake server included) except NCMEC's production host, so a test
configuration can never file a real report.
"""

import base64
import http.client
import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

PRODUCTION_HOST = "report.cybertip.org"
TEST_HOST = "exttest.cybertip.org"
ENVIRONMENTS = ("test", "production")
# NCMEC's documented codes for a report that no longer accepts changes.
REPORT_NOT_FOUND = 5001
ALREADY_RETRACTED = 5101
ALREADY_FINISHED = 5102
UPLOAD_CHUNK = 1 << 16


class NcmecConfigError(ValueError):
    """The NCMEC_* settings cannot be used as they are; the message says what to set."""


class NcmecError(Exception):
    """A call that did not succeed: NCMEC's code and description, or why no answer came.

    `uncertain` is true when the request may have reached NCMEC even though no answer did (a
    timeout or a dropped connection after sending): the step may have taken effect."""

    def __init__(
        self,
        endpoint: str,
        message: str,
        *,
        code: int | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        uncertain: bool = False,
        raw: str | None = None,
    ):
        super().__init__(message)
        self.endpoint = endpoint
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.uncertain = uncertain
        self.raw = raw

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        request = f" (Request-ID {self.request_id})" if self.request_id else ""
        return f"/{self.endpoint}:{code} {self.message}{request}"


@dataclass(frozen=True)
class Answer:
    """A successful (responseCode 0) answer, with the exact body NCMEC sent."""

    endpoint: str
    code: int
    description: str
    request_id: str | None
    http_status: int
    raw: str
    report_id: str | None = None
    file_id: str | None = None
    md5: str | None = None
    file_ids: tuple[str, ...] = field(default=())


def check_environment(config: Mapping) -> str:
    """The base URL to call, after refusing settings that could misdirect a report."""
    environment = config.get("NCMEC_ENVIRONMENT") or "test"
    url = (config.get("NCMEC_URL") or "").rstrip("/")
    if environment not in ENVIRONMENTS:
        raise NcmecConfigError(
            f"NCMEC_ENVIRONMENT must be 'test' or 'production', not {environment!r}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NcmecConfigError(f"NCMEC_URL must be an http(s) URL ending in /ispws, not {url!r}")
    host = parts.hostname.lower()
    if environment == "test" and host == PRODUCTION_HOST:
        raise NcmecConfigError(
            "NCMEC_URL points at NCMEC's production endpoint while NCMEC_ENVIRONMENT is 'test': "
            "set NCMEC_ENVIRONMENT=production to file real reports"
        )
    # A production report sent to the test endpoint (the default URL) would be silently lost.
    if environment == "production" and (host == TEST_HOST or parts.scheme != "https"):
        raise NcmecConfigError(
            "NCMEC_ENVIRONMENT is 'production' but NCMEC_URL is not a production HTTPS "
            f"endpoint ({url}): set NCMEC_URL=https://{PRODUCTION_HOST}/ispws"
        )
    if not config.get("NCMEC_USERNAME") or not config.get("NCMEC_PASSWORD"):
        raise NcmecConfigError(
            "NCMEC_USERNAME and NCMEC_PASSWORD are required: NCMEC issues them to registered "
            "electronic service providers"
        )
    return url


def client_from_config(config: Mapping) -> "CyberTiplineClient":
    """A client for the configured endpoint; NcmecConfigError when the settings are unusable."""
    return CyberTiplineClient(
        base_url=check_environment(config),
        username=config["NCMEC_USERNAME"],
        password=config["NCMEC_PASSWORD"],
        timeout=float(config.get("NCMEC_TIMEOUT") or 30),
    )


class _MultipartBody:
    """A multipart/form-data body read in chunks, so a large evidence file is never held in
    memory whole."""

    def __init__(self, fields: Mapping[str, str], file: tuple[str, str, BinaryIO, int] | None):
        self.boundary = uuid.uuid4().hex
        head = io.BytesIO()
        for name, value in fields.items():
            head.write(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        self._parts: list[BinaryIO] = []
        self.length = 0
        if file is not None:
            filename, media_type, stream, size = file
            quoted = (
                filename.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
            )
            head.write(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{quoted}"\r\nContent-Type: {media_type}\r\n\r\n'.encode()
            )
            self._parts += [io.BytesIO(head.getvalue()), stream, io.BytesIO(b"\r\n")]
            self.length += len(head.getvalue()) + size + 2
        else:
            self._parts.append(io.BytesIO(head.getvalue()))
            self.length += len(head.getvalue())
        tail = f"--{self.boundary}--\r\n".encode()
        self._parts.append(io.BytesIO(tail))
        self.length += len(tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def read(self, size: int = -1) -> bytes:
        while self._parts:
            chunk = self._parts[0].read(UPLOAD_CHUNK if size is None or size < 0 else size)
            if chunk:
                return chunk
            self._parts.pop(0)
        return b""


class CyberTiplineClient:
    """One method per endpoint; each returns the successful Answer or raises NcmecError."""

    def __init__(self, *, base_url: str, username: str, password: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        self.timeout = timeout
        # No redirects: a redirected POST would be replayed as a GET, and credentials must not
        # follow a redirect to another host.
        self._opener = build_opener(_NoRedirect)

    def status(self) -> Answer:
        """Check that the endpoint answers and accepts the credentials."""
        return self._call("status", method="GET")

    def schema(self) -> bytes:
        """The current report schema (GET /xsd)."""
        status, _headers, body = self._send("xsd", method="GET")
        if status != 200 or not body.lstrip().startswith(b"<"):
            raise NcmecError("xsd", f"the schema could not be downloaded (HTTP {status})")
        return body

    def submit(self, report_xml: bytes) -> Answer:
        """Open a report; the answer carries NCMEC's report id."""
        answer = self._call("submit", body=report_xml, content_type="text/xml; charset=utf-8")
        if not answer.report_id:
            raise NcmecError("submit", "the answer carries no reportId", raw=answer.raw)
        return answer

    def upload(
        self, *, report_id: str, filename: str, media_type: str, stream: BinaryIO, size: int
    ) -> Answer:
        """Upload one file to an open report; the answer carries its file id and MD5."""
        body = _MultipartBody({"id": report_id}, (filename, media_type, stream, size))
        answer = self._call("upload", body=body, content_type=body.content_type)
        if not answer.file_id:
            raise NcmecError("upload", "the answer carries no fileId", raw=answer.raw)
        return answer

    def fileinfo(self, file_details_xml: bytes) -> Answer:
        """Send the details of an uploaded file (once per file)."""
        return self._call("fileinfo", body=file_details_xml, content_type="text/xml; charset=utf-8")

    def finish(self, report_id: str) -> Answer:
        """Finish the report (irreversible); the raw answer is the receipt."""
        return self._form("finish", report_id)

    def retract(self, report_id: str) -> Answer:
        """Cancel an unfinished report."""
        return self._form("retract", report_id)

    def _form(self, endpoint: str, report_id: str) -> Answer:
        # As NCMEC's documented curl example sends it (--form id=…).
        body = _MultipartBody({"id": report_id}, None)
        return self._call(endpoint, body=body, content_type=body.content_type)

    def _call(
        self,
        endpoint: str,
        *,
        method: str = "POST",
        body: bytes | _MultipartBody | None = None,
        content_type: str | None = None,
    ) -> Answer:
        status, headers, raw = self._send(
            endpoint, method=method, body=body, content_type=content_type
        )
        request_id = headers.get("Request-ID")
        text = raw.decode("utf-8", errors="replace")
        try:
            root = ET.fromstring(raw)
            code = int((root.findtext("responseCode") or "").strip())
        except (ET.ParseError, ValueError):
            raise NcmecError(
                endpoint,
                f"the answer is not a CyberTipline response (HTTP {status})",
                request_id=request_id,
                http_status=status,
                raw=text[:2000],
            ) from None
        description = (root.findtext("responseDescription") or "").strip()
        if code != 0:
            raise NcmecError(
                endpoint,
                description or "error",
                code=code,
                request_id=request_id,
                http_status=status,
                raw=text,
            )
        return Answer(
            endpoint=endpoint,
            code=code,
            description=description,
            request_id=request_id,
            http_status=status,
            raw=text,
            report_id=(root.findtext("reportId") or "").strip() or None,
            file_id=(root.findtext("fileId") or "").strip() or None,
            md5=(root.findtext("hash") or "").strip().lower() or None,
            file_ids=tuple((e.text or "").strip() for e in root.iterfind("files/fileId")),
        )

    def _send(
        self,
        endpoint: str,
        *,
        method: str,
        body: bytes | _MultipartBody | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        request = Request(f"{self.base_url}/{endpoint}", data=body, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/xml, text/xml")
        if content_type:
            request.add_header("Content-Type", content_type)
        if isinstance(body, _MultipartBody):
            request.add_header("Content-Length", str(body.length))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except HTTPError as error:
            # NCMEC answers errors with a status code *and* a reportResponse body: read both.
            with error:
                return error.code, error.headers, error.read()
        except (TimeoutError, http.client.HTTPException, ConnectionResetError) as exc:
            raise NcmecError(
                endpoint, f"no answer: {exc or type(exc).__name__}", uncertain=True
            ) from exc
        except URLError as exc:
            # Refused or unresolvable: the request never reached NCMEC.
            raise NcmecError(endpoint, f"could not connect: {exc.reason}") from exc


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None
