"""The record of staff actions: insert-only in the database (on both engines), shown to admins at
/admin/account-events, job retries included."""

import re

import pytest
import sqlalchemy as sa
from sqlmodel import select

from cases.accounts.service import record_account_event
from cases.enums import AccountEventType, OutboxStatus
from cases.models import AccountEvent, Outbox
from tests.factories import make_user
from tests.helpers import csrf_token, fresh

ROW = re.compile(r"<tr>\s*<td>(\d+)</td>")


@pytest.fixture
def admin_client(client, signed_in):
    signed_in("admin")
    return client


def listed(response) -> list[int]:
    return [int(n) for n in ROW.findall(response.get_data(as_text=True))]


@pytest.mark.parametrize(
    ("operation", "sql"),
    [
        ("UPDATE", "UPDATE account_event SET type = 'created'"),
        ("UPDATE", "UPDATE account_event SET detail = '{}'"),
        ("DELETE", "DELETE FROM account_event"),
    ],
)
def test_the_database_refuses_to_change_account_events(session, operation, sql):
    make_user(session)  # its creation is an account event
    session.commit()
    before = session.connection().exec_driver_sql("SELECT * FROM account_event").all()
    assert before
    session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match=f"account_event is append-only: {operation}"):
        session.connection().exec_driver_sql(sql)
    session.rollback()
    assert session.connection().exec_driver_sql("SELECT * FROM account_event").all() == before


def test_the_page_pages_newest_first_and_filters(admin_client, session):
    admin = session.exec(select(AccountEvent)).first()  # the signed-in admin's creation
    rita = make_user(session, email="rita@example.org")
    for _ in range(55):
        record_account_event(
            session, type=AccountEventType.login_failed, user=rita, actor=None, detail={}
        )
    session.commit()
    ids = [e.id for e in session.exec(select(AccountEvent).order_by(AccountEvent.id.desc()))]
    first = admin_client.get("/admin/account-events")
    assert first.status_code == 200 and listed(first) == ids[:50]
    page = first.get_data(as_text=True)
    assert f'href="/admin/account-events?before={ids[49]}"' in page
    second = admin_client.get(f"/admin/account-events?before={ids[49]}")
    assert listed(second) == ids[50:] and 'rel="next"' not in second.get_data(as_text=True)

    only_rita = admin_client.get(f"/admin/account-events?user={rita.id}&type=created")
    assert listed(only_rita) == [
        e.id
        for e in session.exec(
            select(AccountEvent).where(
                AccountEvent.user_id == rita.id, AccountEvent.type == "created"
            )
        )
    ]
    failures = admin_client.get("/admin/account-events?type=login_failed")
    assert len(listed(failures)) == 50 and "login failed" in failures.get_data(as_text=True)
    assert admin.id not in listed(failures)


@pytest.mark.parametrize(
    "query",
    [
        "before=abc",
        "before=-1",
        "before=0",
        "before=" + "9" * 40,
        "user=999999",
        "user=%3Cscript%3E",
        "type=not_a_type",
        "type=login_failed%00",
        "type=" + "x" * 10_000,
        "before=%ff%fe",
    ],
)
def test_hostile_filters_are_400_not_500(admin_client, query):
    response = admin_client.get(f"/admin/account-events?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing is listed until the filters above are corrected." in page
    assert "<script>" not in page.split("<main", 1)[1]


def test_repeated_filters_take_the_first(admin_client, session):
    record_account_event(session, type=AccountEventType.login_failed, user=None, actor=None)
    session.commit()
    response = admin_client.get("/admin/account-events?type=created&type=login_failed&user=")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "created</span>" in page and "login failed</span>" not in page


def test_unknown_email_attempts_are_shown_with_the_typed_email(admin_client, client, session):
    from tests.helpers import login

    other = client.application.test_client()
    login(other, "someone@example.org", "guessing the password")
    page = admin_client.get("/admin/account-events?type=login_failed").get_data(as_text=True)
    assert "someone@example.org" in page and "no such account" in page


def test_a_job_retry_is_recorded_with_who_did_it(admin_client, session):
    outbox = Outbox(
        job="sign_checkpoint",
        args={},
        status=OutboxStatus.failed,
        attempts=5,
        max_attempts=5,
        last_error="RuntimeError: boom",
    )
    session.add(outbox)
    session.commit()
    token = csrf_token(admin_client, "/admin/jobs")
    response = admin_client.post(f"/admin/jobs/{outbox.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    (event,) = (
        fresh(session).exec(select(AccountEvent).where(AccountEvent.type == "job_retried")).all()
    )
    assert event.actor_id is not None and event.user_id is None
    assert event.detail == {"outbox": outbox.id, "job": "sign_checkpoint"}
    page = admin_client.get("/admin/account-events?type=job_retried").get_data(as_text=True)
    assert "job retried" in page and "sign_checkpoint" in page


def test_a_refused_retry_records_nothing(admin_client, session):
    outbox = Outbox(job="sign_checkpoint", args={}, status=OutboxStatus.done)
    session.add(outbox)
    session.commit()
    token = csrf_token(admin_client, "/admin/jobs")
    admin_client.post(f"/admin/jobs/{outbox.id}/retry", data={"csrf_token": token})
    query = select(AccountEvent).where(AccountEvent.type == "job_retried")
    assert fresh(session).exec(query).all() == []
