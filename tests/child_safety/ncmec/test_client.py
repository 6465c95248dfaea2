"""The CyberTipline client against the fake server: basic auth, every documented answer code with
its Request-ID, the settings that could misdirect a report, and the fake's own rules (schema,
NCMEC's deletion of unfinished reports on an injectable clock)."""

import hashlib
import io
import socket
from datetime import UTC, datetime, timedelta

import pytest

from cases.child_safety.ncmec.client import (
    CyberTiplineClient,
    NcmecConfigError,
    NcmecError,
    check_environment,
    client_from_config,
)
from tests.child_safety.fake_cybertipline import (
    DESCRIPTIONS,
    SCHEMA_PATH,
    FakeCyberTipline,
    serve,
)

SAMPLE_REPORT = (SCHEMA_PATH.parent / "sample_report.xml").read_bytes()
# Every code NCMEC's documentation lists besides 0.
DOCUMENTED = sorted(code for code in DESCRIPTIONS if code)


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    return FakeCyberTipline(clock=clock)


@pytest.fixture
def url(fake):
    with serve(fake) as base:
        yield base


def client(url, *, password="docket-test") -> CyberTiplineClient:
    return CyberTiplineClient(base_url=url, username="docket", password=password, timeout=5)


def upload_one(api: CyberTiplineClient, report_id: str) -> None:
    api.upload(
        report_id=report_id,
        filename="a.png",
        media_type="image/png",
        stream=io.BytesIO(b"a"),
        size=1,
    )


def settings(**changes) -> dict:
    return {
        "NCMEC_ENVIRONMENT": "test",
        "NCMEC_URL": "https://exttest.cybertip.org/ispws",
        "NCMEC_USERNAME": "user",
        "NCMEC_PASSWORD": "secret",
        **changes,
    }


def test_status_checks_the_credentials(url, fake):
    answer = client(url).status()
    assert answer.code == 0 and "Remote User : docket" in answer.description
    assert answer.request_id == fake.calls[-1].request_id


def test_wrong_credentials_are_answered_2000_with_a_request_id(url, fake):
    with pytest.raises(NcmecError) as refused:
        client(url, password="wrong").status()
    assert refused.value.code == 2000 and refused.value.http_status == 401
    assert refused.value.request_id == fake.calls[-1].request_id
    assert "2000 Authentication required" in str(refused.value)


@pytest.mark.parametrize("code", DOCUMENTED)
def test_every_documented_error_code_is_an_error_with_its_request_id(url, fake, code):
    fake.fail_next("submit", code)
    with pytest.raises(NcmecError) as refused:
        client(url).submit(SAMPLE_REPORT)
    error = refused.value
    assert error.code == code and error.message and not error.uncertain
    assert error.request_id == fake.calls[-1].request_id
    assert f"<responseCode>{code}</responseCode>" in error.raw


def test_a_whole_report_goes_through(url, fake):
    api = client(url)
    report_id = api.submit(SAMPLE_REPORT).report_id
    content = b"\x89PNG" + bytes(range(256)) * 400  # larger than one upload chunk
    uploaded = api.upload(
        report_id=report_id,
        filename='odd "name".png',
        media_type="image/png",
        stream=io.BytesIO(content),
        size=len(content),
    )
    assert uploaded.md5 == hashlib.md5(content).hexdigest()
    details = (SCHEMA_PATH.parent / "sample_filedetails.xml").read_text()
    details = details.replace("4564654", report_id).replace(
        "b0754af766b426f2928a02c651ed4b99", uploaded.file_id
    )
    api.fileinfo(details.encode())
    done = api.finish(report_id)
    assert done.file_ids == (uploaded.file_id,) and "<reportDoneResponse>" in done.raw
    stored = fake.reports[int(report_id)]
    assert stored.status == "finished" and stored.files[uploaded.file_id].content == content
    with pytest.raises(NcmecError) as again:
        api.finish(report_id)
    assert again.value.code == 5102
    with pytest.raises(NcmecError) as late:
        api.retract(report_id)
    assert late.value.code == 5102


def test_the_fake_validates_what_it_receives(url, fake):
    api = client(url)
    with pytest.raises(NcmecError) as malformed:
        api.submit(b"<report><incidentSummary>")
    assert malformed.value.code == 4110
    with pytest.raises(NcmecError) as invalid:
        api.submit(SAMPLE_REPORT.replace(b"reporter>", b"reporting>"))
    assert invalid.value.code == 4100
    future = SAMPLE_REPORT.replace(b"2012-10-15T08:00:00-07:00", b"2099-01-01T00:00:00Z")
    with pytest.raises(NcmecError) as later:
        api.submit(future)
    assert later.value.code == 4100 and "past" in later.value.message
    assert fake.reports == {}


def test_an_unfinished_report_is_deleted_24_hours_after_opening(url, fake, clock):
    api = client(url)
    report_id = api.submit(SAMPLE_REPORT).report_id
    clock.now += timedelta(hours=23, minutes=59)
    upload_one(api, report_id)
    # The change keeps it for an hour past the 24 hours.
    clock.now += timedelta(minutes=59)
    assert api.finish(report_id).code == 0

    other = api.submit(SAMPLE_REPORT).report_id
    clock.now += timedelta(hours=24)
    with pytest.raises(NcmecError) as gone:
        api.finish(other)
    assert gone.value.code == 5001 and fake.reports[int(other)].status == "deleted"


def test_a_retracted_report_takes_no_more_changes(url):
    api = client(url)
    report_id = api.submit(SAMPLE_REPORT).report_id
    api.retract(report_id)
    with pytest.raises(NcmecError) as refused:
        upload_one(api, report_id)
    assert refused.value.code == 5101


def test_the_schema_is_served(url):
    assert client(url).schema() == SCHEMA_PATH.read_bytes()


def test_an_answer_that_is_not_ncmecs_is_an_error(url):
    with pytest.raises(NcmecError, match="not a CyberTipline response"):
        client(url.replace("/ispws", "/elsewhere")).status()


def test_a_refused_connection_is_an_error_that_reached_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NcmecError) as refused:
        client(f"http://127.0.0.1:{port}/ispws").status()
    assert refused.value.code is None and not refused.value.uncertain


def test_a_timeout_after_sending_is_uncertain():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        api = CyberTiplineClient(
            base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/ispws",
            username="u",
            password="p",
            timeout=0.5,
        )
        with pytest.raises(NcmecError) as timed_out:
            api.finish("4564654")
    assert timed_out.value.uncertain


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"NCMEC_URL": "https://report.cybertip.org/ispws"}, "set NCMEC_ENVIRONMENT=production"),
        ({"NCMEC_ENVIRONMENT": "production"}, "NCMEC_URL=https://report.cybertip.org/ispws"),
        (
            {"NCMEC_ENVIRONMENT": "production", "NCMEC_URL": "http://127.0.0.1:8808/ispws"},
            "not a production HTTPS endpoint",
        ),
        ({"NCMEC_ENVIRONMENT": "staging"}, "must be 'test' or 'production'"),
        ({"NCMEC_URL": "ftp://example.org/ispws"}, "must be an http(s) URL"),
        ({"NCMEC_PASSWORD": None}, "NCMEC_USERNAME and NCMEC_PASSWORD are required"),
    ],
)
def test_settings_that_could_misdirect_a_report_are_refused(changes, problem):
    with pytest.raises(NcmecConfigError) as refused:
        client_from_config(settings(**changes))
    assert problem in str(refused.value)


def test_what_each_environment_accepts():
    assert check_environment(settings()) == "https://exttest.cybertip.org/ispws"
    assert check_environment(settings(NCMEC_URL="http://127.0.0.1:8808/ispws/")) == (
        "http://127.0.0.1:8808/ispws"
    )
    production = settings(
        NCMEC_ENVIRONMENT="production", NCMEC_URL="https://report.cybertip.org/ispws"
    )
    assert check_environment(production) == "https://report.cybertip.org/ispws"
