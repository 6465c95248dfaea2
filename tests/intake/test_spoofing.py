"""Subjects and reporters cannot be spoofed cheaply: a notice from the public never names a
subject's display name or contact, an integration's change of display name is on the trail, and
distinct reporters are counted by verified identity or by a salted hash of the client, anonymous
ones weighing less with a cap (cases.intake.service, cases.intake.priority)."""

import json
import math
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from cases.enums import EventType, ReportSource, SubjectKind
from cases.intake.moderation import parse_moderation
from cases.intake.priority import REPORTER_WEIGHT, Factor, priority, weighed_reporters
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.intake.service import (
    IntakeItem,
    SubjectRef,
    content_subject,
    count_reporters,
    receive,
    receive_all,
    reporter_key,
)
from cases.lifecycle.actors import Actor
from cases.models import Case, Report, Subject
from cases.portal.service import affected_user_view
from tests.factories import make_api_key
from tests.helpers import event_payloads, fresh, post_report
from tests.intake.conftest import moderation_response

ACTOR = Actor.system("test")
MALLORY = {"display": "Mallory Spoofed", "contact": {"email": "mallory@example.net"}}


def detected(
    subject: str = "acct-1",
    *,
    display: str | None = None,
    email: str | None = None,
    api_key_id: int | None = None,
    source: str = "clf-a",
    score: float = 0.9,
) -> IntakeItem:
    body = moderation_response({"harassment": score})
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef("account", subject, display=display, contact_email=email),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name=source,
        api_key_id=api_key_id,
    )


def notice(account: str = "acct-1", *, email: str = "ada@example.org", **subject) -> PublicReport:
    named = SubjectRef("account", account, **subject) if subject else None
    return PublicReport(
        category="protect.threats",
        explanation="Threats against a named person.",
        url="https://chat.example/c/1",
        account_id=None if named else account,
        reporter_name="Ada",
        reporter_email=email,
        good_faith=True,
        named_subject=named,
    )


def subject_row(session, external_id: str = "acct-1") -> Subject:
    fresh(session)
    return session.exec(select(Subject).where(Subject.external_id == external_id)).one()


def renamings(session, case_id: int) -> list[dict]:
    return [p for _, p in event_payloads(session, case_id, EventType.subject_updated)]


# --- subjects ----------------------------------------------------------------------------------


@pytest.fixture
def known_subject(session, integration):
    """acct-1 as the operator's platform named it: display name and contact."""
    item = detected(
        display="Alice Example", email="alice@example.org", api_key_id=integration[0].id
    )
    case = receive(session, item=item, actor=ACTOR).case
    session.commit()
    return case


def test_a_form_notice_leaves_the_subject_as_the_platform_named_it(client, session, known_subject):
    assert (
        post_report(client, account_id="acct-1", url="https://elsewhere.test/x").status_code == 302
    )

    subject = subject_row(session)
    assert (subject.display, subject.contact_email) == ("Alice Example", "alice@example.org")
    assert renamings(session, known_subject.id) == []


def test_an_api_notice_naming_the_subject_changes_nothing_about_it(client, session, known_subject):
    body = {
        "category": "protect.threats",
        "location": "https://chat.example/c/1",
        "explanation": "Threats.",
        "reporter_name": "Mallory",
        "reporter_email": "mallory@example.net",
        "good_faith": True,
        "subject": {"type": "account", "id": "acct-1", **MALLORY},
    }
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.get_json()

    subject = subject_row(session)
    assert (subject.display, subject.contact_email) == ("Alice Example", "alice@example.org")
    assert renamings(session, known_subject.id) == []
    # The affected user's private page names them as the platform does.
    assert affected_user_view(session, case=session.get(Case, known_subject.id)).subject == (
        "Alice Example"
    )


def test_a_public_notice_gives_a_new_subject_no_display_or_contact(session):
    case = submit_public_report(
        session,
        report=notice("acct-new", display="Someone Else", contact_email="x@evil.test"),
        client="203.0.113.5",
    ).case
    session.commit()

    subject = subject_row(session, "acct-new")
    assert (subject.display, subject.contact_email, subject.contact_locale) == (None, None, None)
    assert affected_user_view(session, case=case).subject == "acct-new"
    # An integration naming it later is a change like any other, on the trail.
    key = make_api_key(session)[0]
    receive(session, item=detected("acct-new", display="Real Name", api_key_id=key.id), actor=ACTOR)
    session.commit()
    assert subject_row(session, "acct-new").display == "Real Name"
    [renamed] = renamings(session, case.id)
    assert renamed["display"] == {"from": None, "to": "Real Name"}


def test_content_known_by_a_long_address_is_shown_as_that_address_but_only_so(session):
    address = "https://social.example/posts/" + "7" * 300
    own = content_subject(address)
    assert own.external_id.startswith("sha256:") and own.display == address[:200]
    spoofed = SubjectRef(SubjectKind.content, own.external_id, display="https://evil.test/")
    for subject in (spoofed, own):
        submit_public_report(
            session,
            report=PublicReport(
                category="protect.threats",
                explanation="x",
                url=address,
                good_faith=True,
                named_subject=subject,
            ),
        )
    session.commit()
    # The spoofed display was refused; the subject's own address filled the blank.
    assert subject_row(session, own.external_id).display == address[:200]


def test_an_integration_changing_the_display_is_recorded(session, known_subject, integration):
    key_id = integration[0].id
    again = receive(session, item=detected(display="Alice Example", api_key_id=key_id), actor=ACTOR)
    silent = receive(session, item=detected(api_key_id=key_id), actor=ACTOR)  # names none
    changed = receive(
        session, item=detected(display="Alice B. Example", api_key_id=key_id), actor=ACTOR
    )
    session.commit()

    assert again.case_id == silent.case_id == changed.case_id == known_subject.id
    subject = subject_row(session)
    assert subject.display == "Alice B. Example" and subject.contact_email == "alice@example.org"
    [renamed] = renamings(session, known_subject.id)
    assert renamed == {
        "subject": {"kind": "account", "id": "acct-1"},
        "display": {"from": "Alice Example", "to": "Alice B. Example"},
        "report_id": changed.report_id,
    }


def test_a_batch_renaming_a_subject_twice_records_the_change_once_per_case(session, known_subject):
    key_id = make_api_key(session)[0].id
    outcomes = receive_all(
        session,
        items=[
            detected(display="A. Example", api_key_id=key_id),
            detected(display="Alice Final", api_key_id=key_id, source="clf-b"),
            detected(api_key_id=key_id, source="clf-c"),
        ],
        actor=ACTOR,
    )
    session.commit()

    assert subject_row(session).display == "Alice Final"
    [renamed] = renamings(session, known_subject.id)
    assert renamed["display"] == {"from": "Alice Example", "to": "Alice Final"}
    assert renamed["report_id"] == outcomes[1].report_id


# --- reporters ---------------------------------------------------------------------------------


def public_notices(session, clients: list[str | None], *, emails=None) -> Case:
    for number, client in enumerate(clients):
        email = emails[number] if emails else "ada@example.org"
        outcome = submit_public_report(session, report=notice(email=email), client=client)
    session.commit()
    return fresh(session).get(Case, outcome.case_id)


def test_fifty_notices_from_one_address_are_one_reporter(app, session):
    case = public_notices(session, ["198.51.100.7"] * 50)
    assert (case.report_count, case.reporter_count) == (50, 1)
    single = public_notices(session, ["198.51.100.7"])
    assert single.id == case.id and single.priority == case.priority


def test_one_address_with_many_emails_is_one_reporter(app, session):
    emails = [f"sock{n}@example.org" for n in range(10)]
    case = public_notices(session, ["198.51.100.8"] * 10, emails=emails)
    assert (case.report_count, case.reporter_count) == (10, 1)


def test_an_ipv6_client_is_counted_by_its_network(app, session):
    clients = ["2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:1:ffff::9", "::ffff:192.0.2.1"]
    case = public_notices(session, [*clients, "192.0.2.1", "2001:db8:1:2::1"])
    # One /64, one IPv4 address (also seen IPv4-mapped), and another /64.
    assert case.reporter_count == 3


def reporter_points(reporters: int, anonymous: int) -> Factor:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    result = priority(
        severity=4,
        source=ReportSource.user_report,
        top_score=0,
        reporters=reporters,
        anonymous=anonymous,
        prior_enforced=0,
        opened_at=now,
        now=now,
    )
    return next(f for f in result.factors if f.name == "reporters")


def test_fifty_addresses_raise_priority_only_within_the_cap(session, integration):
    one = public_notices(session, ["192.0.2.200"])
    base = one.priority  # severity 2 (300) + user report (40) + one reporter (60)
    assert base == 400
    many = public_notices(session, [f"192.0.2.{n}" for n in range(50)])
    assert many.id == one.id
    assert count_reporters(session, case_id=many.id) == (many.reporter_count, 51) == (51, 51)
    cap = reporter_points(51, 51).points - REPORTER_WEIGHT
    assert cap == round(REPORTER_WEIGHT * math.log2(4)) - REPORTER_WEIGHT == 60
    assert base < many.priority == base + cap
    # As many verified reporters (an integration's sources) count in full.
    key_id = integration[0].id
    verified = [detected("acct-v", api_key_id=key_id, source=f"clf-{n}") for n in range(51)]
    case = receive_all(session, items=verified, actor=ACTOR)[-1].case
    assert count_reporters(session, case_id=case.id) == (case.reporter_count, 0) == (51, 0)
    assert reporter_points(51, 0).points - REPORTER_WEIGHT == 282 > 3 * cap


def test_the_reporter_key_keeps_no_address_and_depends_on_the_secret(app, session):
    item = IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef("account", "acct-1"),
        raw_payload="{}",
        public=True,
        client="203.0.113.9",
    )
    key = reporter_key(item)
    assert key.startswith("client:") and "203.0.113" not in key
    assert reporter_key(item) == key
    app.config["SECRET_KEY"] = "another-secret"
    assert reporter_key(item) != key


@pytest.mark.parametrize(
    "client", [None, "", "not an address", "<script>alert(1)</script>", "9" * 10_000, "\udcff"]
)
def test_odd_client_addresses_are_taken_in(session, client):
    case = public_notices(session, [client, client])
    assert case.report_count == 2
    # An unknown client counts each notice on its own; any other string is one client.
    assert case.reporter_count == (2 if client is None else 1)


def test_a_form_notice_is_counted_by_the_client_address(app):
    first, second = app.test_client(), app.test_client()
    first.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    second.environ_base["REMOTE_ADDR"] = "192.0.2.11"
    for client, email, forwarded in (
        (first, "a@example.org", "192.0.2.99"),
        (first, "b@example.org", "192.0.2.98"),  # X-Forwarded-For is not trusted by default
        (second, "a@example.org", "192.0.2.10"),
    ):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
        assert post_report(client, reporter_email=email).status_code == 302
    with app.extensions["docket.db"].connect() as connection:
        case = connection.execute(select(Case.report_count, Case.reporter_count)).one()
    assert tuple(case) == (3, 2)


def test_count_reporters_explains_the_stored_score(session, integration):
    case = public_notices(session, ["192.0.2.1", "192.0.2.2", "192.0.2.2", None])
    item = detected(api_key_id=integration[0].id)
    outcome = receive(session, item=item, actor=ACTOR, now=case.opened_at)
    session.commit()
    case = fresh(session).get(Case, case.id)
    assert outcome.case_id == case.id
    reporters, anonymous = count_reporters(session, case_id=case.id)
    assert (reporters, anonymous) == (case.reporter_count, 3) == (4, 3)
    latest = session.exec(select(Report).order_by(Report.id.desc())).first()
    score = priority(
        severity=case.severity,
        source=latest.source,
        top_score=max(latest.moderation_scores.values()),
        reporters=reporters,
        anonymous=anonymous,
        prior_enforced=0,
        opened_at=case.opened_at,
        now=case.opened_at,
    )
    assert score.score == case.priority


# --- the weighing itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reporters", "anonymous", "weighed"),
    [
        (0, 0, 0),
        (1, 0, 1),
        (1, 1, 1),  # a case's reporters weigh at least one, whoever they are
        (3, 3, 1),
        (4, 4, 4 / 3),
        (2, 1, 1 + 1 / 3),
        (3, 0, 3),
        (9, 9, 3),  # the cap reached
        (1000, 1000, 3),
        (1003, 1000, 6),  # three verified, and a thousand anonymous count as three
    ],
)
def test_anonymous_reporters_weigh_a_third_and_at_most_three(reporters, anonymous, weighed):
    assert float(weighed_reporters(reporters, anonymous)) == pytest.approx(weighed)


def test_every_verified_reporter_adds_and_no_anonymous_one_takes_away():
    for anonymous in range(30):
        for verified in range(5):
            weighed = weighed_reporters(verified + anonymous, anonymous)
            gain = weighed_reporters(verified + 1 + anonymous, anonymous) - weighed
            # A full reporter's worth, once the floor of one no longer holds the score up.
            assert gain == 1 if verified else gain > 0
            assert weighed_reporters(verified + anonymous + 1, anonymous + 1) >= weighed


def test_no_number_of_anonymous_reporters_passes_the_cap():
    steps = [reporter_points(n, n).points for n in range(1, 2000, 37)]
    assert steps == sorted(steps) and max(steps) == round(REPORTER_WEIGHT * math.log2(4)) == 120
    assert reporter_points(5, 4).why == "5 distinct reporters (4 anonymous), counted as 2.3"
    assert reporter_points(3, 0).why == "3 distinct reporters"


def test_an_api_notice_is_counted_by_the_client_address(app):
    first, second = app.test_client(), app.test_client()
    first.environ_base["REMOTE_ADDR"] = "192.0.2.20"
    second.environ_base["REMOTE_ADDR"] = "192.0.2.21"
    for client, email in ((first, "a@example.org"), (first, "b@example.org"), (second, "a@x.org")):
        body = {
            "category": "protect.threats",
            "location": "https://chat.example/c/1",
            "explanation": "Threats.",
            "reporter_email": email,
            "good_faith": True,
            "subject": {"type": "account", "id": "acct-api-counted"},
        }
        assert client.post("/api/v1/reports", json=body).status_code == 201
    with app.extensions["docket.db"].connect() as connection:
        case = connection.execute(select(Case.report_count, Case.reporter_count)).one()
    assert tuple(case) == (3, 2)
