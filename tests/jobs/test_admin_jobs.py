"""/admin/jobs: exhausted jobs are visible with their error, and an admin can retry them."""

import pytest

from cases.enums import OutboxStatus, Role
from cases.jobs.outbox import enqueue_job
from tests.factories import make_user
from tests.helpers import csrf_token, login
from tests.jobs.conftest import fail_until_exhausted, reloaded


def test_admin_sees_a_failed_job_with_its_error_and_retries_it(client, session, effects):
    failed = fail_until_exhausted(session, failures=3)
    done = enqueue_job(session, job="test_record", args={"label": "fine"})
    admin = make_user(session, role=Role.admin)
    session.commit()
    login(client, admin.email)

    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "test_flaky" in page and "RuntimeError: boom on attempt 3" in page
    assert "3 / 3" in page and f"/admin/jobs/{failed.id}/retry" in page
    assert f"/admin/jobs/{done.id}/retry" not in page, "only failed jobs offer a retry"
    assert 'href="/admin/jobs"' in page, "admins get the Jobs navigation link"

    token = csrf_token(client, "/admin/jobs")
    response = client.post(f"/admin/jobs/{failed.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    reloaded(session, failed)
    assert (failed.status, failed.attempts) == (OutboxStatus.done, 3)
    assert effects() == [(done.id, "fine"), (failed.id, "f")]
    assert "was sent again" in client.get("/admin/jobs").get_data(as_text=True)

    response = client.post(f"/admin/jobs/{failed.id}/retry", data={"csrf_token": token})
    assert "only failed jobs can be retried" in client.get(response.location).get_data(as_text=True)
    assert client.post("/admin/jobs/999/retry", data={"csrf_token": token}).status_code == 404


def test_retry_needs_the_csrf_token(client, session):
    failed = fail_until_exhausted(session)
    admin = make_user(session, role=Role.admin)
    session.commit()
    login(client, admin.email)
    assert client.post(f"/admin/jobs/{failed.id}/retry").status_code == 400
    assert reloaded(session, failed).status == OutboxStatus.failed


@pytest.mark.parametrize("role", [role for role in Role if role != Role.admin])
def test_other_roles_may_not_see_or_retry_jobs(client, session, role):
    failed = fail_until_exhausted(session)
    user = make_user(session, role=role)
    session.commit()
    login(client, user.email)
    assert client.get("/admin/jobs").status_code == 403
    token = csrf_token(client, "/")
    retry = client.post(f"/admin/jobs/{failed.id}/retry", data={"csrf_token": token})
    assert retry.status_code == 403
    assert reloaded(session, failed).status == OutboxStatus.failed
    assert client.get("/admin/users").status_code == 403
