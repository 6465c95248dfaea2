"""A fake CyberTipline reporting API: NCMEC's documented endpoints, as a small WSGI app.

It answers as the API documentation describes: HTTP basic auth, a `<reportResponse>` (or from
/finish a `<reportDoneResponse>`) with a `responseCode` (0 success; 1000, 2000, 4000, 4100, 4110,
4200, 5001, 5002, 5101, 5102 …), a `Request-ID` header on every answer, and the deletion of a
report left unfinished 24 hours after it was opened or 1 hour after its last change, whichever is
later (on an injectable clock). Every XML document it receives is validated against NCMEC's
schema, and the rules the schema cannot express (an incident time in the past with an offset, the
reporting person's email, file details once per file) are enforced as NCMEC does.

Tests drive it in a thread (`serve`) and read what it received (`calls`, `reports`); `fail_next`
makes an endpoint answer an error code once. Run it for a local demo:

    python -m tests.child_safety.fake_cybertipline --port 8808

then point Docket at it with NCMEC_URL=http://127.0.0.1:8808/ispws and the printed credentials.
"""

import argparse
import functools
import hashlib
import itertools
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import xmlschema
from werkzeug.datastructures import Authorization
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SCHEMA_PATH = Path(__file__).parents[3] / "shared/reference/ncmec/cybertipline-report.xsd"
PREFIX = "/ispws"
OPENED_LIFETIME = timedelta(hours=24)
CHANGED_LIFETIME = timedelta(hours=1)
FIRST_REPORT_ID = 4564654

DESCRIPTIONS = {
    0: "Success",
    1000: "Server error",
    1100: "Save failed",
    1110: "Upload failed",
    1111: "File upload failed",
    1210: "Resource not found",
    1300: "Update failed",
    2000: "Authentication required",
    3000: "User is not authorized to perform this action",
    3100: "User does not have authorization to make submissions",
    3300: "User does not have authorization to make updates",
    4000: "Invalid request",
    4100: "Validation failed",
    4110: "Malformed XML submittal",
    4200: "Malformed file submittal",
    5001: "Report does not exist",
    5002: "File does not exist",
    5101: "Report already retracted",
    5102: "Report already finished",
}
HTTP_STATUS = {0: 200, 1000: 500, 2000: 401, 3000: 403, 3100: 403, 3300: 403}


def http_status(code: int) -> int:
    if code in HTTP_STATUS:
        return HTTP_STATUS[code]
    return 500 if code < 2000 else 404 if code in (5001, 5002, 1210) else 400


@functools.lru_cache(maxsize=2)
def _compiled(path: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(path))


@dataclass
class FakeFile:
    file_id: str
    filename: str
    md5: str
    size: int
    content: bytes
    details: str | None = None


@dataclass
class FakeReport:
    report_id: int
    xml: str
    opened_at: datetime
    last_changed_at: datetime
    status: str = "open"  # open | finished | retracted
    files: dict[str, FakeFile] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    endpoint: str
    code: int
    request_id: str
    report_id: int | None = None
    file_id: str | None = None


class FakeCyberTipline:
    """The fake API's state and its WSGI entry point (`wsgi`)."""

    def __init__(
        self,
        *,
        username: str = "docket",
        password: str = "docket-test",
        clock: Callable[[], datetime] | None = None,
        schema_path: Path = SCHEMA_PATH,
    ):
        self.username = username
        self.password = password
        self.clock = clock or (lambda: datetime.now(UTC))
        self.schema_text = schema_path.read_bytes()
        self.schema = _compiled(schema_path)
        self.reports: dict[int, FakeReport] = {}
        self.calls: list[Call] = []
        self._failures: dict[str, list[int]] = {}
        self._ids = itertools.count(FIRST_REPORT_ID)
        self._lock = threading.Lock()

    # --- what tests use ----------------------------------------------------------------------

    def fail_next(self, endpoint: str, code: int) -> None:
        """Answer the next call to `endpoint` with `code` (after authentication)."""
        self._failures.setdefault(endpoint, []).append(code)

    def count(self, endpoint: str, *, succeeded: bool = True) -> int:
        return sum(1 for c in self.calls if c.endpoint == endpoint and (c.code == 0) == succeeded)

    def finished(self) -> list[FakeReport]:
        return [r for r in self.reports.values() if r.status == "finished"]

    # --- the API -------------------------------------------------------------------------------

    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            response = self._dispatch(request)
        return response(environ, start_response)

    __call__ = wsgi

    def _dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        endpoint = request.path.removeprefix(PREFIX).strip("/")
        handlers = {
            ("GET", "status"): self._status,
            ("GET", "xsd"): self._xsd,
            ("POST", "submit"): self._submit,
            ("POST", "upload"): self._upload,
            ("POST", "fileinfo"): self._fileinfo,
            ("POST", "finish"): self._finish,
            ("POST", "retract"): self._retract,
        }
        if not request.path.startswith(PREFIX + "/"):
            return Response("not found", status=404, headers={"Request-ID": request_id})
        handler = handlers.get((request.method, endpoint))
        if handler is None:
            return Response("not found", status=404, headers={"Request-ID": request_id})
        if not self._authorized(request.authorization):
            self.calls.append(Call(endpoint, 2000, request_id))
            response = self._answer(2000, request_id)
            response.headers["WWW-Authenticate"] = 'Basic realm="CyberTipline"'
            return response
        failures = self._failures.get(endpoint)
        if failures:
            code = failures.pop(0)
            self.calls.append(Call(endpoint, code, request_id))
            return self._answer(code, request_id)
        return handler(request, endpoint, request_id)

    def _authorized(self, authorization: Authorization | None) -> bool:
        return (
            authorization is not None
            and authorization.type == "basic"
            and authorization.username == self.username
            and authorization.password == self.password
        )

    def _answer(self, code: int, request_id: str, description: str | None = None, **elements):
        root = ET.Element("reportResponse")
        ET.SubElement(root, "responseCode").text = str(code)
        ET.SubElement(root, "responseDescription").text = description or DESCRIPTIONS.get(
            code, "Error"
        )
        for name in ("reportId", "fileId", "hash"):
            if elements.get(name) is not None:
                ET.SubElement(root, name).text = str(elements[name])
        body = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + ET.tostring(root)
        return Response(
            body,
            status=http_status(code),
            content_type="application/xml",
            headers={"Request-ID": request_id},
        )

    def _fail(self, endpoint, code, request_id, description=None, report_id=None):
        self.calls.append(Call(endpoint, code, request_id, report_id))
        return self._answer(code, request_id, description, reportId=report_id)

    def _status(self, request, endpoint, request_id):
        self.calls.append(Call(endpoint, 0, request_id))
        description = f"Remote User : {self.username}, Remote Ip : {request.remote_addr}"
        return self._answer(0, request_id, description)

    def _xsd(self, _request, endpoint, request_id):
        self.calls.append(Call(endpoint, 0, request_id))
        return Response(
            self.schema_text, content_type="application/xml", headers={"Request-ID": request_id}
        )

    def _validated(self, body: bytes, root_tag: str) -> tuple[ET.Element | None, int, str]:
        """The parsed document, or the code and reason NCMEC would refuse it with."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return None, 4110, f"Malformed XML submittal: {exc}"
        if root.tag != root_tag:
            return None, 4110, f"Malformed XML submittal: expected <{root_tag}>"
        errors = [f"{e.path}: {e.reason}" for e in self.schema.iter_errors(root)]
        if errors:
            return None, 4100, "Validation failed: " + "; ".join(errors)
        return root, 0, ""

    def _submit(self, request, endpoint, request_id):
        root, code, reason = self._validated(request.get_data(), "report")
        if root is None:
            return self._fail(endpoint, code, request_id, reason)
        now = self.clock()
        problems = []
        incident_at = datetime.fromisoformat(root.findtext("incidentSummary/incidentDateTime"))
        if incident_at.tzinfo is None:
            problems.append("incidentDateTime needs a time zone")
        elif incident_at > now:
            problems.append("incidentDateTime must be in the past")
        if not (root.findtext("reporter/reportingPerson/email") or "").strip():
            problems.append("reporter/reportingPerson/email is required")
        if problems:
            return self._fail(
                endpoint, 4100, request_id, "Validation failed: " + "; ".join(problems)
            )
        report_id = next(self._ids)
        self.reports[report_id] = FakeReport(
            report_id, request.get_data(as_text=True), opened_at=now, last_changed_at=now
        )
        self.calls.append(Call(endpoint, 0, request_id, report_id))
        return self._answer(0, request_id, reportId=report_id)

    def _open_report(self, value: str | None) -> tuple[FakeReport | None, int]:
        """The report `value` names if it still accepts changes, else NCMEC's code why not."""
        try:
            report = self.reports.get(int(value or ""))
        except ValueError:
            return None, 4000
        if report is None:
            return None, 5001
        self._expire(report)
        if report.status == "finished":
            return report, 5102
        if report.status in ("retracted", "deleted"):
            return report, 5101 if report.status == "retracted" else 5001
        return report, 0

    def _expire(self, report: FakeReport) -> None:
        """NCMEC deletes an unfinished report 24 h after opening or 1 h after its last change,
        whichever is later."""
        deadline = max(
            report.opened_at + OPENED_LIFETIME, report.last_changed_at + CHANGED_LIFETIME
        )
        if report.status == "open" and self.clock() >= deadline:
            report.status = "deleted"

    def _upload(self, request, endpoint, request_id):
        report, code = self._open_report(request.form.get("id"))
        if code:
            return self._fail(endpoint, code, request_id, report_id=report and report.report_id)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return self._fail(endpoint, 4200, request_id, report_id=report.report_id)
        content = upload.read()
        file_id = hashlib.md5(f"{report.report_id}:{len(report.files)}".encode()).hexdigest()
        report.files[file_id] = FakeFile(
            file_id, upload.filename, hashlib.md5(content).hexdigest(), len(content), content
        )
        report.last_changed_at = self.clock()
        self.calls.append(Call(endpoint, 0, request_id, report.report_id, file_id))
        return self._answer(
            0,
            request_id,
            reportId=report.report_id,
            fileId=file_id,
            hash=report.files[file_id].md5,
        )

    def _fileinfo(self, request, endpoint, request_id):
        root, code, reason = self._validated(request.get_data(), "fileDetails")
        if root is None:
            return self._fail(endpoint, code, request_id, reason)
        report, code = self._open_report(root.findtext("reportId"))
        if code:
            return self._fail(endpoint, code, request_id, report_id=report and report.report_id)
        file = report.files.get((root.findtext("fileId") or "").strip())
        if file is None:
            return self._fail(endpoint, 5002, request_id, report_id=report.report_id)
        if file.details is not None:
            # File details may be made once per uploaded file.
            return self._fail(
                endpoint, 4000, request_id, "File details already submitted", report.report_id
            )
        file.details = request.get_data(as_text=True)
        report.last_changed_at = self.clock()
        self.calls.append(Call(endpoint, 0, request_id, report.report_id, file.file_id))
        return self._answer(0, request_id, reportId=report.report_id)

    def _finish(self, request, endpoint, request_id):
        report, code = self._open_report(request.form.get("id"))
        if code:
            return self._fail(endpoint, code, request_id, report_id=report and report.report_id)
        report.status = "finished"
        self.calls.append(Call(endpoint, 0, request_id, report.report_id))
        root = ET.Element("reportDoneResponse")
        ET.SubElement(root, "responseCode").text = "0"
        ET.SubElement(root, "reportId").text = str(report.report_id)
        files = ET.SubElement(root, "files")
        for file_id in report.files:
            ET.SubElement(files, "fileId").text = file_id
        body = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + ET.tostring(root)
        return Response(body, content_type="application/xml", headers={"Request-ID": request_id})

    def _retract(self, request, endpoint, request_id):
        report, code = self._open_report(request.form.get("id"))
        if code:
            return self._fail(endpoint, code, request_id, report_id=report and report.report_id)
        report.status = "retracted"
        self.calls.append(Call(endpoint, 0, request_id, report.report_id))
        return self._answer(0, request_id, reportId=report.report_id)


@contextmanager
def serve(fake: FakeCyberTipline, *, port: int = 0) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 in a thread; yields its base URL (…/ispws)."""
    server = make_server("127.0.0.1", port, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{PREFIX}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake CyberTipline API for local demos.")
    parser.add_argument("--port", type=int, default=8808)
    parser.add_argument("--username", default="docket")
    parser.add_argument("--password", default="docket-test")
    options = parser.parse_args()
    fake = FakeCyberTipline(username=options.username, password=options.password)
    server = make_server("127.0.0.1", options.port, fake, threaded=True)
    print(
        f"Fake CyberTipline at http://127.0.0.1:{options.port}{PREFIX} "
        f"(user {options.username!r}, password {options.password!r}); Ctrl-C stops it.",
        flush=True,
    )
    with suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
