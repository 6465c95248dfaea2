"""The CyberTipline XML: a `<report>` from a case's draft, and one `<fileDetails>` per uploaded
file, each checked against NCMEC's schema before it is sent.

The schema checks structure and vocabularies. NCMEC also validates what the schema cannot say (an
incident time in the past and with an offset, the reporting person's email, field lengths), so the
builder refuses those itself: a specialist hears about them on the draft page, not from a 4100
answer after the report was opened.
"""

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import xmlschema
from email_validator import EmailNotValidError, validate_email

# The 8 incident types NCMEC accepts, exactly as its schema spells them.
INCIDENT_TYPES = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
REPORT_ANNOTATIONS = {
    "sextortion": "Sextortion",
    "csamSolicitation": "Solicitation of child sexual abuse material",
    "minorToMinorInteraction": "Interaction between minors",
    "spam": "Spam",
    "sadisticOnlineExploitation": "Sadistic online exploitation",
}
FILE_ANNOTATIONS = {
    "generativeAi": "Generative AI content",
    "animeDrawingVirtualHentai": "Anime, drawing, cartoon, virtual or hentai",
    "potentialMeme": "Potential meme (shared out of mimicry, not malice)",
    "viral": "Viral (circulating rapidly)",
    "possibleSelfProduction": "Possibly self-produced",
    "physicalHarm": "Physical harm",
    "violenceGore": "Violence or gore",
    "bestiality": "Involves an animal",
    "liveStreaming": "Live streamed",
    "infant": "Depicts an infant",
}
REPORTED, SUPPLEMENTAL = "Reported", "Supplemental Reported"
FILE_RELEVANCE = (REPORTED, SUPPLEMENTAL)
# The industry categorization scale NCMEC's schema names (fileClassification).
INDUSTRY_CLASSIFICATIONS = {
    "A1": "A1: prepubescent minor, sex act",
    "A2": "A2: prepubescent minor, lascivious exhibition",
    "B1": "B1: pubescent minor, sex act",
    "B2": "B2: pubescent minor, lascivious exhibition",
}
# Only a file that motivated the report may carry these (NCMEC's fileRelevance rules).
REPORTED_ONLY_ANNOTATIONS = frozenset({"potentialMeme"})

# Maximum lengths from NCMEC's API documentation (the schema itself leaves strings unbounded).
MAX_URL = 2083
MAX_PLATFORM = 256
MAX_CHAT_CLIENT = 255
MAX_ESP_IDENTIFIER = 255
MAX_ESP_SERVICE = 100
MAX_DISPLAY_NAME = 255
MAX_NAME = 100
MAX_PHONE = 50
MAX_FILE_NAME = 2056
MAX_EMAIL_LOCAL = 64
MAX_EMAIL = 255

# XML 1.0 cannot carry most C0 controls, whatever the escaping; text from outside may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ReportInvalid(ValueError):
    """The report or file details cannot be sent as they are; `problems` says why, each fit to
    show the specialist."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Reporter:
    """The reporting person and company, from the NCMEC_REPORTER_* and NCMEC_ESP_NAME settings."""

    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class ReportedPerson:
    """The user the report is about, as the operator's platform knows them."""

    esp_identifier: str
    display_name: str | None = None
    email: str | None = None
    service: str | None = None
    additional_info: str | None = None


@dataclass(frozen=True)
class WebPage:
    """Where the reported content was seen on the web."""

    urls: tuple[str, ...]
    additional_info: str | None = None


@dataclass(frozen=True)
class Chat:
    """A conversation with the AI product (NCMEC's chat/IM incident)."""

    client: str | None
    content: str | None
    additional_info: str | None = None


@dataclass(frozen=True)
class IncidentReport:
    incident_type: str
    incident_at: datetime | None
    reporter: Reporter
    platform: str | None = None
    annotations: tuple[str, ...] = ()
    internet: tuple[WebPage | Chat, ...] = ()
    person: ReportedPerson | None = None
    additional_info: str | None = None


@dataclass(frozen=True)
class FileReport:
    report_id: str
    file_id: str
    original_name: str | None
    viewed_by_esp: bool
    relevance: str = REPORTED
    annotations: tuple[str, ...] = ()
    classification: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # hashType → lower-case hex
    additional_info: str | None = None


def format_time(moment: datetime) -> str:
    """ISO 8601 with an explicit offset, as NCMEC requires (always UTC here)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def xml_text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("", value)


def is_web_url(value: str) -> bool:
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(value) <= MAX_URL


def email_problem(value: str) -> str | None:
    """Why NCMEC would refuse `value` as an email address, or None."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    local = value.rsplit("@", 1)[0]
    if len(value) > MAX_EMAIL or len(local) > MAX_EMAIL_LOCAL:
        return f"at most {MAX_EMAIL} characters, {MAX_EMAIL_LOCAL} before the @"
    return None


def report_problems(report: IncidentReport, *, now: datetime) -> list[str]:
    """What NCMEC would refuse in `report` beyond the schema."""
    problems = []
    if report.incident_type not in INCIDENT_TYPES:
        problems.append(
            f"the incident type must be one of NCMEC's 8 types, not {report.incident_type!r}"
        )
    if report.incident_at is None:
        problems.append("the incident time is required")
    elif report.incident_at.tzinfo is None:
        problems.append("the incident time needs a time zone offset")
    elif report.incident_at > now:
        problems.append("the incident time must be in the past")
    if not report.reporter.email:
        problems.append(
            "NCMEC requires the reporting person's email: set NCMEC_REPORTER_EMAIL in the "
            "configuration before submitting"
        )
    elif (problem := email_problem(report.reporter.email)) is not None:
        problems.append(f"NCMEC_REPORTER_EMAIL is not a valid email address ({problem})")
    for name, value in (
        ("NCMEC_REPORTER_FIRST_NAME", report.reporter.first_name),
        ("NCMEC_REPORTER_LAST_NAME", report.reporter.last_name),
    ):
        if value and len(value) > MAX_NAME:
            problems.append(f"{name} is longer than {MAX_NAME} characters")
    if report.reporter.phone and len(report.reporter.phone) > MAX_PHONE:
        problems.append(f"NCMEC_REPORTER_PHONE is longer than {MAX_PHONE} characters")
    unknown = set(report.annotations) - set(REPORT_ANNOTATIONS)
    if unknown:
        problems.append(f"unknown report annotations: {', '.join(sorted(unknown))}")
    return problems


def file_problems(file: FileReport) -> list[str]:
    """What NCMEC would refuse in `file`'s details beyond the schema."""
    name = file.original_name or file.file_id
    problems = []
    if file.relevance not in FILE_RELEVANCE:
        problems.append(f"{name}: relevance must be one of {', '.join(FILE_RELEVANCE)}")
    unknown = set(file.annotations) - set(FILE_ANNOTATIONS)
    if unknown:
        problems.append(f"{name}: unknown file annotations: {', '.join(sorted(unknown))}")
    if file.classification is not None and file.classification not in INDUSTRY_CLASSIFICATIONS:
        problems.append(f"{name}: unknown industry classification {file.classification!r}")
    if file.relevance == SUPPLEMENTAL and (
        file.classification or REPORTED_ONLY_ANNOTATIONS & set(file.annotations)
    ):
        problems.append(
            f"{name}: only a file marked Reported may carry an industry classification or the "
            "potential meme annotation"
        )
    return problems


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = xml_text(text)
    return element


def _document(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _person(parent: ET.Element, tag: str, *, first, last, phone, email) -> None:
    person = _add(parent, tag)
    if first:
        _add(person, "firstName", first)
    if last:
        _add(person, "lastName", last)
    if phone:
        _add(person, "phone", phone)
    if email:
        _add(person, "email", email)


def report_xml(report: IncidentReport, *, now: datetime) -> bytes:
    """The `<report>` document; ReportInvalid when NCMEC would refuse it."""
    problems = report_problems(report, now=now)
    if problems:
        raise ReportInvalid(problems)
    root = ET.Element("report")
    summary = _add(root, "incidentSummary")
    _add(summary, "incidentType", report.incident_type)
    if report.platform:
        _add(summary, "platform", report.platform[:MAX_PLATFORM])
    if report.annotations:
        annotations = _add(summary, "reportAnnotations")
        for name in REPORT_ANNOTATIONS:  # the schema's order, whatever order they were chosen in
            if name in report.annotations:
                _add(annotations, name)
    _add(summary, "incidentDateTime", format_time(report.incident_at))
    for detail in report.internet:
        internet = _add(root, "internetDetails")
        if isinstance(detail, WebPage):
            page = _add(internet, "webPageIncident")
            for url in detail.urls:
                _add(page, "url", url)
            if detail.additional_info:
                _add(page, "additionalInfo", detail.additional_info)
        else:
            chat = _add(internet, "chatImIncident")
            if detail.client:
                _add(chat, "chatClient", detail.client[:MAX_CHAT_CLIENT])
            if detail.content:
                _add(chat, "content", detail.content)
            if detail.additional_info:
                _add(chat, "additionalInfo", detail.additional_info)
    reporter = _add(root, "reporter")
    _person(
        reporter,
        "reportingPerson",
        first=report.reporter.first_name,
        last=report.reporter.last_name,
        phone=report.reporter.phone,
        email=report.reporter.email,
    )
    if report.person is not None:
        _reported_person(root, report.person)
    if report.additional_info:
        _add(root, "additionalInfo", report.additional_info)
    return _document(root)


def _reported_person(root: ET.Element, person: ReportedPerson) -> None:
    reported = _add(root, "personOrUserReported")
    if person.email and email_problem(person.email) is None:
        _person(
            reported,
            "personOrUserReportedPerson",
            first=None,
            last=None,
            phone=None,
            email=person.email,
        )
    _add(reported, "espIdentifier", person.esp_identifier[:MAX_ESP_IDENTIFIER])
    if person.service:
        _add(reported, "espService", person.service[:MAX_ESP_SERVICE])
    if person.display_name:
        _add(reported, "displayName", person.display_name[:MAX_DISPLAY_NAME])
    if person.additional_info:
        _add(reported, "additionalInfo", person.additional_info)


def file_details_xml(file: FileReport) -> bytes:
    """The `<fileDetails>` document of an uploaded file; ReportInvalid when NCMEC would refuse
    it."""
    problems = file_problems(file)
    if problems:
        raise ReportInvalid(problems)
    root = ET.Element("fileDetails")
    _add(root, "reportId", file.report_id)
    _add(root, "fileId", file.file_id)
    if file.original_name:
        _add(root, "originalFileName", file.original_name[:MAX_FILE_NAME])
    # True only when a person at the operator opened the file (an EvidenceView on record).
    _add(root, "fileViewedByEsp", "true" if file.viewed_by_esp else "false")
    _add(root, "fileRelevance", file.relevance)
    if file.annotations:
        annotations = _add(root, "fileAnnotations")
        for name in FILE_ANNOTATIONS:
            if name in file.annotations:
                _add(annotations, name)
    if file.classification:
        _add(root, "industryClassification", file.classification)
    for hash_type, value in file.hashes.items():
        _add(root, "originalFileHash", value, hashType=hash_type)
    if file.additional_info:
        _add(root, "additionalInfo", file.additional_info)
    return _document(root)


class ReportSchema:
    """NCMEC's report schema, compiled once; `check` refuses a document it does not accept."""

    def __init__(self, schema: xmlschema.XMLSchema):
        self._schema = schema

    def check(self, document: bytes) -> None:
        """ReportInvalid listing every schema error of `document` (a report or file details)."""
        try:
            tree = ET.fromstring(document)
        except ET.ParseError as exc:
            raise ReportInvalid([f"not well-formed XML: {exc}"]) from None
        problems = [
            f"{error.path or '/'}: {error.reason or error.message}"
            for error in self._schema.iter_errors(tree)
        ]
        if problems:
            raise ReportInvalid(problems)


def load_schema(path: Path) -> ReportSchema:
    """The schema in `path`, compiled once per version of the file (compiling takes ~0.4 s)."""
    resolved = path.resolve()
    return _compiled(str(resolved), resolved.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _compiled(path: str, _mtime_ns: int) -> ReportSchema:
    return ReportSchema(xmlschema.XMLSchema(path))
