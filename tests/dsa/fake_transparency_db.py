"""A fake DSA Transparency Database API: the endpoints Docket uses, as a small WSGI app.

    POST /api/v1/statements                      {"statements": [...]}: 1 to 100, all or nothing
    GET  /api/v1/statement/existing-puid/{puid}  302 when the puid is known, 404 when not

It answers as the reference (``shared/reference/dsa/statement-of-reasons.md``) says: a bearer
token (401 without the right one), JSON in and out, 201 when the whole batch is created, 422 with
``{"message", "errors": {"statements.<i>.<field>": [...]}}`` when any statement breaks a rule
(checked with ``cases.dsa.statements.statement_problems``) and nothing is created, and a duplicate
puid refused with a 422 carrying "existing". `fail_next(429, 503, …)` makes the next POSTs answer
those statuses, in order.

Tests drive it in a thread (`serve`) and read what it holds (`statements`) and received
(`posts`, `checks`).
"""

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cases.dsa.statements import statement_problems

MAX_BATCH = 100
STATEMENTS = "/api/v1/statements"
EXISTING = "/api/v1/statement/existing-puid/"


@dataclass(frozen=True)
class Post:
    size: int
    status: int
    puids: tuple[str, ...]


class FakeTransparencyDb:
    """The fake API's state and its WSGI entry point."""

    def __init__(self, *, token: str = "tdb-test-token"):
        self.token = token
        self.statements: dict[str, dict] = {}
        self.posts: list[Post] = []
        self.checks: list[str] = []
        self._forced: list[int] = []
        self._lock = threading.Lock()

    def fail_next(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses (after authentication), in order."""
        self._forced.extend(statuses)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(401, {"message": "Unauthenticated."})
        if request.method == "POST" and request.path == STATEMENTS:
            return self._statements(request)
        if request.method == "GET" and request.path.startswith(EXISTING):
            puid = request.path.removeprefix(EXISTING)
            self.checks.append(puid)
            if puid in self.statements:
                return Response(status=302, headers={"Location": f"/api/v1/statement/{puid}"})
            return _json(404, {"message": "statement not found"})
        return _json(404, {"message": "not found"})

    def _statements(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            body = None
        items = body.get("statements") if isinstance(body, dict) else None
        size = len(items) if isinstance(items, list) else 0
        puids = tuple(str(item.get("puid")) for item in items or () if isinstance(item, dict))
        if self._forced:
            status = self._forced.pop(0)
            self.posts.append(Post(size, status, puids))
            return _json(status, {"message": "Too Many Attempts." if status == 429 else "Error"})
        if request.mimetype != "application/json" or "json" not in request.headers.get(
            "Accept", ""
        ):
            return self._refuse(size, puids, {"body": ["send and accept application/json"]})
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return self._refuse(size, puids, {"statements": [f"1 to {MAX_BATCH} statements"]})
        errors: dict[str, list[str]] = {}
        seen: set[str] = set()
        for index, item in enumerate(items):
            for problem in statement_problems(item):
                field, _, message = problem.partition(": ")
                errors.setdefault(f"statements.{index}.{field}", []).append(message)
            puid = item.get("puid") if isinstance(item, dict) else None
            if puid in self.statements:
                errors.setdefault(f"statements.{index}.puid", []).append(
                    "The identifier given is not unique: an existing statement has it."
                )
            elif puid in seen:
                errors.setdefault(f"statements.{index}.puid", []).append(
                    "The identifier given is not unique within this call."
                )
            if isinstance(puid, str):
                seen.add(puid)
        if errors:
            return self._refuse(size, puids, errors)
        created = []
        for item in items:
            stored = {**item, "uuid": str(uuid.uuid4())}
            self.statements[item["puid"]] = stored
            created.append(stored)
        self.posts.append(Post(size, 201, puids))
        return _json(201, {"statements": created})

    def _refuse(self, size: int, puids: tuple[str, ...], errors: dict) -> Response:
        self.posts.append(Post(size, 422, puids))
        return _json(422, {"message": "The given data was invalid.", "errors": errors})


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@contextmanager
def serve(fake: FakeTransparencyDb) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
