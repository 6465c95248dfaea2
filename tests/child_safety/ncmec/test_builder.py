"""The CyberTipline XML: what NCMEC's schema and rules accept, and what the builder refuses
before anything could be sent."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from cases.child_safety.ncmec.builder import (
    INCIDENT_TYPES,
    SUPPLEMENTAL,
    Chat,
    FileReport,
    IncidentReport,
    ReportedPerson,
    Reporter,
    ReportInvalid,
    WebPage,
    file_details_xml,
    load_schema,
    report_xml,
)
from tests.child_safety.fake_cybertipline import SCHEMA_PATH

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
REPORTER = Reporter(email="safety@acme.example", first_name="Sam", last_name="Safety")


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA_PATH)


def incident(**changes) -> IncidentReport:
    fields = {
        "incident_type": "Online Enticement of Children for Sexual Acts",
        "incident_at": NOW - timedelta(days=1),
        "reporter": REPORTER,
        "platform": "Acme Assistant",
        "internet": (
            Chat(client="Acme Assistant", content="user: are you alone?", additional_info=None),
            WebPage(urls=("https://share.acme.example/c/1",)),
        ),
        "person": ReportedPerson(
            esp_identifier="acct-77", display_name="Night Owl", email="owl@example.org"
        ),
        "additional_info": "Grooming in a conversation with the assistant.",
    }
    return IncidentReport(**{**fields, **changes})


def upload(**changes) -> FileReport:
    fields = {
        "report_id": "4564654",
        "file_id": "b0754af766b426f2928a02c651ed4b99",
        "original_name": "mypic.jpg",
        "viewed_by_esp": False,
        "hashes": {"MD5": "0" * 32, "SHA1": "1" * 40, "SHA256": "2" * 64},
    }
    return FileReport(**{**fields, **changes})


@pytest.mark.parametrize("incident_type", INCIDENT_TYPES)
def test_every_incident_type_makes_a_valid_report(schema, incident_type):
    document = report_xml(incident(incident_type=incident_type), now=NOW)
    schema.check(document)
    root = ET.fromstring(document)
    assert root.findtext("incidentSummary/incidentType") == incident_type
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-03-01T12:00:00+00:00"


def test_a_text_only_report_carries_the_conversation_and_the_reported_user(schema):
    root = ET.fromstring(report_xml(incident(), now=NOW))
    chat, page = root.findall("internetDetails")
    assert chat.findtext("chatImIncident/content") == "user: are you alone?"
    assert chat.findtext("chatImIncident/chatClient") == "Acme Assistant"
    assert page.findtext("webPageIncident/url") == "https://share.acme.example/c/1"
    assert root.findtext("reporter/reportingPerson/email") == "safety@acme.example"
    person = root.find("personOrUserReported")
    assert person.findtext("espIdentifier") == "acct-77"
    assert person.findtext("personOrUserReportedPerson/email") == "owl@example.org"
    assert person.findtext("displayName") == "Night Owl"
    assert root.findtext("additionalInfo").startswith("Grooming")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"reporter": Reporter(email=None)}, "set NCMEC_REPORTER_EMAIL"),
        ({"reporter": Reporter(email="not an address")}, "NCMEC_REPORTER_EMAIL is not a valid"),
        ({"incident_at": NOW + timedelta(minutes=5)}, "must be in the past"),
        ({"incident_at": datetime(2026, 3, 1, 9, 0)}, "needs a time zone offset"),
        ({"incident_at": None}, "incident time is required"),
        ({"incident_type": "Child Pornography"}, "one of NCMEC's 8 types"),
    ],
)
def test_what_ncmec_would_refuse_is_refused_before_sending(changes, problem):
    with pytest.raises(ReportInvalid) as refused:
        report_xml(incident(**changes), now=NOW)
    assert any(problem in p for p in refused.value.problems)


def test_hostile_text_is_escaped_and_characters_xml_cannot_carry_are_dropped(schema):
    document = report_xml(
        incident(additional_info="</additionalInfo><script>x</script>\x00\x1b ok"), now=NOW
    )
    schema.check(document)
    assert (
        ET.fromstring(document).findtext("additionalInfo")
        == "</additionalInfo><script>x</script> ok"
    )


def test_an_invalid_subject_email_is_left_out_rather_than_refused(schema):
    person = ReportedPerson(esp_identifier="acct-1", email="no-at-sign")
    document = report_xml(incident(person=person), now=NOW)
    schema.check(document)
    assert ET.fromstring(document).find("personOrUserReported/personOrUserReportedPerson") is None


def test_file_details_say_viewed_only_when_a_person_viewed_the_file(schema):
    for viewed in (False, True):
        document = file_details_xml(upload(viewed_by_esp=viewed))
        schema.check(document)
        assert ET.fromstring(document).findtext("fileViewedByEsp") == str(viewed).lower()


def test_file_details_carry_hashes_annotations_and_classification(schema):
    document = file_details_xml(upload(annotations=("infant", "generativeAi"), classification="A1"))
    schema.check(document)
    root = ET.fromstring(document)
    assert [e.tag for e in root.find("fileAnnotations")] == ["generativeAi", "infant"]
    assert root.findtext("industryClassification") == "A1"
    hashes = {e.get("hashType"): e.text for e in root.iter("originalFileHash")}
    assert hashes == {"MD5": "0" * 32, "SHA1": "1" * 40, "SHA256": "2" * 64}


@pytest.mark.parametrize(
    "changes",
    [
        {"relevance": SUPPLEMENTAL, "classification": "A2"},
        {"relevance": SUPPLEMENTAL, "annotations": ("potentialMeme",)},
        {"relevance": "Important"},
        {"classification": "C9"},
        {"annotations": ("nonsense",)},
    ],
)
def test_file_details_ncmec_would_refuse_are_refused(changes):
    with pytest.raises(ReportInvalid):
        file_details_xml(upload(**changes))


def test_the_schema_check_lists_what_is_wrong(schema):
    document = report_xml(incident(), now=NOW).replace(b"<incidentSummary>", b"<summary>", 1)
    document = document.replace(b"</incidentSummary>", b"</summary>", 1)
    with pytest.raises(ReportInvalid) as refused:
        schema.check(document)
    assert refused.value.problems
    with pytest.raises(ReportInvalid, match="not well-formed"):
        schema.check(b"<report><unclosed></report>")


def test_ncmecs_own_samples_pass_the_check(schema):
    for name in ("sample_report.xml", "sample_filedetails.xml"):
        schema.check((SCHEMA_PATH.parent / name).read_bytes())
