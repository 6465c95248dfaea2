"""Auditors change nothing: every write route of the whole app, posted by a signed-in auditor with
a valid CSRF token and plausible data, is refused and writes nothing; the only exceptions are the
allow-list below, each with its reason.

The routes are read from the app's URL map, so a write route added later is walked too; one whose
URL needs a value this test does not know, or with no plausible data here, fails the test until
it is added.
"""

import io
from collections import Counter
from datetime import timedelta

import pytest
from flask import url_for
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.enums import AccountEventType, AppellantKind, EventType, HoldKind
from cases.lifecycle.actors import Actor
from cases.models import (
    AccessRequest,
    AccountEvent,
    ApiKey,
    Appeal,
    Case,
    Decision,
    DsaStatement,
    EvidenceView,
    Hold,
    KnownHash,
    Message,
    NcmecReport,
    Outbox,
    PendingApproval,
    ProviderInquiry,
    Report,
    StatusLink,
    Subject,
    User,
)
from cases.portal.links import issue_link, status_token
from cases.trail.models import Blob, CaseEvent
from tests.factories import make_api_key
from tests.helpers import count, csrf_token, fresh

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
REFUSED = {
    401,  # the JSON API: a session cookie is no API key
    403,
    404,  # a private page without its holder's link, or what the role may not even see
    405,
}

# Walked, and accepted: reads that leave a record of themselves.
RECORDING_READS = {
    "audit.verify": "verifying is reading; it appends a `verified` event, the record that an "
    "auditor checked the case",
    "audit.export": "exporting is reading; it appends the `exported` event (the files' chain "
    "of custody) and signs a checkpoint",
    "evidence.view": "opening a file the auditor is cleared for (never restricted media) is "
    "reading it; the view is recorded with its reason (`evidence_viewed` and an EvidenceView "
    "row), as custody requires; the evidence form even suggests 'Auditing the case'",
}
# Refused, but not with a 403: the engine offers an auditor nothing to do, and these say so as
# they would to a reviewer whose role an action does not name (nothing written: asserted with
# the rest). By endpoint: the status, and what the page then shows.
REFUSED_AS_UNAVAILABLE = {
    "cases.transition": (303, "is not available to you on this case now"),
    "queues.bulk_apply": (422, "No action that can be taken in bulk is open to you"),
}
# Not walked as writes, each for its reason.
ALLOWED = {
    **RECORDING_READS,
    "auth.logout": "ends the auditor's own session (walked last, below)",
    "auth.login": "signs a person in: a session of their own, not case data; it needs no role",
    "intake.report": "the public notice form (DSA Art. 16): open to anyone without an account, "
    "so a staff session neither helps nor is needed",
    "api.post_report": "the public notice form's JSON twin: open to anyone, as above",
}

# Plausible input per write endpoint: what a role allowed to use it would send. `{csrf}` is
# replaced by the session's token, `{...}` names by the scene's values.
FORMS: dict[str, dict] = {
    "privacy.open_request": {"kind": "account", "external_id": "acct-1"},
    "privacy.fulfil": {"format": "json"},
    "jobs.retry": {},
    "known_hashes.import_list": {"name": "an auditor's list", "file": "HASH_FILE"},
    "accounts.set_role": {"role": "admin"},
    "accounts.deactivate": {},
    "accounts.reactivate": {},
    "accounts.password": {"password": "a new long passphrase", "confirm": "a new long passphrase"},
    "api_keys.create": {"name": "auditor-integration", "scopes": "cases:read"},
    "api_keys.revoke": {},
    "inquiries.create": {
        "provider_reference": "PRV-1",
        "received_at": "2026-03-01T09:00",
        "deadline_at": "2026-03-15T09:00",
        "period_start": "2026-01-01",
        "period_end": "2026-02-28",
        "clauses": "protect.threats",
        "summary": "The provider asks how threats were handled.",
    },
    "inquiries.answer": {"note": "Answered with the dossier."},
    "inquiries.dossier": {"format": "json"},
    "holds.place": {"kind": HoldKind.legal.value, "reason": "Litigation expected", "days": "30"},
    "holds.extend": {"reason": "The litigation goes on", "days": "30"},
    "portal.revoke": {"reason": "Sent to the wrong address"},
    "portal.appeal": {"grounds": "I was joking; nobody was threatened."},
    "portal.answer": {"answer": "It was a quote from a film."},
    "portal.access": {},
    "ncmec.prepare": {"note": "Reporting the uploaded image."},
    "ncmec.edit": {
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "description": "An uploaded image matched a known hash.",
    },
    "ncmec.submit": {"confirm": "y"},
    "cases.note": {"note-csrf_token": "{csrf}", "note-text": "An auditor's note."},
    "cases.transition": {"transition": "escalate", "escalate-note": "Needs a lead's eye."},
    "evidence.view": {"reason": "Auditing the case", "deliver": "bytes"},
    "queues.bulk_apply": {
        "case": "{reference}",
        "transition": "escalate",
        "note": "Needs a lead's eye.",
    },
    "queues.claim_next_case": {},
    "queues.claim": {},
    "queues.release": {},
    "queues.reassign": {"assignee": "{reviewer}"},
    "audit.verify": {"verify-csrf_token": "{csrf}", "verify-reference": "{reference}"},
    "audit.export": {"export-csrf_token": "{csrf}", "export-reference": "{reference}"},
}
JSON: dict[str, dict] = {
    "api.post_detection": {
        "subject": {"kind": "account", "id": "acct-77"},
        "moderation": {
            "id": "modr-1",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": True,
                    "categories": {"harassment": True},
                    "category_scores": {"harassment": 0.97},
                }
            ],
        },
    },
    "api.post_detection_batch": {"items": []},
    "api.fire": {"transition": "escalate", "fields": {"note": "Needs a lead's eye."}},
    "api.post_appeal": {"appellant": "affected_user", "grounds": "I was joking."},
}
# Who, by endpoint, a route's case is: NCMEC reports and holds are for restricted cases.
RESTRICTED_CASE_ENDPOINTS = {"ncmec.prepare", "ncmec.edit", "ncmec.submit"}
# What the whole app may not have written after the walk.
WATCHED = (
    AccessRequest,
    ApiKey,
    Appeal,
    Blob,
    Case,
    Decision,
    DsaStatement,
    EvidenceView,
    Hold,
    KnownHash,
    Message,
    NcmecReport,
    Outbox,
    PendingApproval,
    ProviderInquiry,
    Report,
    StatusLink,
    Subject,
    User,
)


@pytest.fixture
def scene(app, session, open_case, walk, add_evidence, staff):
    """A real value for every URL variable a write route takes."""
    case = walk(open_case(), "triage")
    blob = add_evidence(case, b"a screenshot of the threat")
    restricted = open_case("sexual/minors", subject="acct-cs")
    assert restricted.restricted
    admin = staff("admin", "scene")
    hold = Hold(
        case_id=case.id,
        kind=HoldKind.legal,
        reason="Litigation expected",
        placed_by_id=admin.id,
        until=utcnow() + timedelta(days=30),
    )
    session.add(hold)
    holder = AppellantKind.affected_user
    link = issue_link(session, case=case, holder=holder, actor=Actor.staff(admin))
    outbox = Outbox(job="sign_checkpoint", args={}, status="failed", attempts=5, max_attempts=5)
    session.add(outbox)
    key, _ = make_api_key(session)
    inquiry = ProviderInquiry(
        case_id=open_case(subject="acct-inquiry").id,
        provider_reference="PRV-0",
        received_at=utcnow(),
        deadline_at=utcnow() + timedelta(days=14),
        period_start=utcnow() - timedelta(days=60),
        period_end=utcnow(),
    )
    session.add(inquiry)
    request = AccessRequest(
        subject_id=case.subject_id,
        channel="staff",
        requested_by=f"user:{admin.id}",
        due_at=utcnow() + timedelta(days=30),
    )
    session.add(request)
    session.commit()
    return {
        "reference": case.reference,
        "restricted": restricted.reference,
        "sha256": blob.sha256,
        "hold_id": hold.id,
        "link_id": link.id,
        "outbox_id": outbox.id,
        "user_id": staff("reviewer").id,
        "key_id": key.id,
        "inquiry_id": inquiry.id,
        "reviewer": staff("reviewer").id,
        "request_id": request.id,
        "name": case.queue,
        # A genuine signature over a link that does not exist: the staff session is no
        # credential on the private pages, so without a holder's link nothing opens.
        "token": status_token(StatusLink(id=999_999)),
    }


def written(session) -> dict:
    """Everything the walk must leave as it was, and the trail's and account history's events
    by type (which may only grow by the allow-list's own records)."""
    fresh(session)
    return {
        "rows": {model.__name__: count(session, model) for model in WATCHED},
        "cases": {
            c.reference: (c.state, c.assignee_id, c.claim_expires_at, c.priority)
            for c in session.exec(select(Case))
        },
        "users": {u.id: (u.role, u.active) for u in session.exec(select(User))},
        "links": {link.id: link.revoked_at for link in session.exec(select(StatusLink))},
        "holds": {hold.id: hold.until for hold in session.exec(select(Hold))},
        "outbox": {o.id: (o.status, o.attempts) for o in session.exec(select(Outbox))},
        "events": Counter(session.exec(select(CaseEvent.type))),
        "account_events": Counter(session.exec(select(AccountEvent.type))),
    }


def write_rules(app):
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods & WRITE_METHODS)
        if methods:
            yield rule, methods


def fill(template: dict, values: dict) -> dict:
    return {
        key: value.format(**values) if isinstance(value, str) and "{" in value else value
        for key, value in template.items()
    }


def test_every_write_route_refuses_an_auditor(app, client, session, scene, signed_in):
    signed_in("auditor")
    values = {**scene, "csrf": csrf_token(client, "/audit/")}
    before = written(session)
    walked = []
    for rule, methods in sorted(write_rules(app), key=lambda pair: pair[0].rule):
        endpoint = rule.endpoint
        if endpoint in ALLOWED and endpoint not in RECORDING_READS:
            continue
        missing = rule.arguments - values.keys()
        assert not missing, f"{rule.rule}: no value for {missing}; add one to the scene"
        arguments = {name: values[name] for name in rule.arguments}
        if endpoint in RESTRICTED_CASE_ENDPOINTS:
            arguments["reference"] = scene["restricted"]
        url = _build(app, endpoint, arguments)
        for method in methods:
            if endpoint in JSON:
                response = client.open(
                    url,
                    method=method,
                    json=JSON[endpoint],
                    headers={"X-CSRFToken": values["csrf"]},
                )
            else:
                # A route added since this list was written gets the token alone: refused by
                # its permission check all the same (if it validates first, give it data here).
                data = {"csrf_token": values["csrf"], **fill(FORMS.get(endpoint, {}), values)}
                if data.get("file") == "HASH_FILE":
                    data["file"] = (io.BytesIO(("ab" * 32 + "\n").encode()), "hashes.txt")
                response = client.open(url, method=method, data=data)
            status = response.status_code
            if endpoint in RECORDING_READS:
                assert status == 200, f"{method} {url}: {status}"
            elif endpoint in REFUSED_AS_UNAVAILABLE:
                expected, message = REFUSED_AS_UNAVAILABLE[endpoint]
                assert status == expected, f"{method} {url}: {status}"
                if response.headers.get("Location"):
                    response = client.get(response.headers["Location"])
                assert message in response.get_data(as_text=True)
            else:
                assert status in REFUSED, f"{method} {url} accepted an auditor: {status}"
            walked.append(endpoint)
    assert set(RECORDING_READS) <= set(walked)
    assert len(walked) >= 25  # not vacuous: the app has that many write routes and more

    after = written(session)
    for part in ("cases", "users", "links", "holds", "outbox", "account_events"):
        assert after[part] == before[part], part
    assert after["rows"] == {**before["rows"], "EvidenceView": before["rows"]["EvidenceView"] + 1}
    grown = after["events"] - before["events"]
    assert grown == Counter(
        {EventType.verified: 1, EventType.exported: 1, EventType.evidence_viewed: 1}
    )

    # Signing out, last: the auditor's own session ends, and nothing else.
    response = client.post("/logout", data={"csrf_token": values["csrf"]})
    assert response.status_code in (302, 303)
    assert client.get("/audit/").status_code == 302
    assert written(session)["rows"] == after["rows"]


def _build(app, endpoint: str, arguments: dict) -> str:
    with app.test_request_context():
        return url_for(endpoint, **arguments)


def test_the_allow_list_names_real_write_routes(app):
    """An allow-list entry for a route that no longer exists, or was never a write, is stale."""
    endpoints = {rule.endpoint for rule, _ in write_rules(app)}
    assert set(ALLOWED) <= endpoints
    assert all(reason.strip() for reason in ALLOWED.values())
    assert AccountEventType.trail_verified  # the whole trail's verification record exists
