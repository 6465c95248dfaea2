"""A case carrying distinctive personal values in every place one can live, built through the
services that write them in production, and readers that look for those values everywhere."""

import hashlib
import io
import json
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cases.appeals.service import file_appeal
from cases.core.sqltypes import utcnow
from cases.core.uploads import Attachment
from cases.decisions.service import fire_transition
from cases.enums import AppealChannel, AppellantKind, ReportSource
from cases.evidence.viewing import open_evidence
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case
from cases.review.claims import claim_case, release_case
from cases.review.notes import add_note
from tests.casework import DECISION_FIELDS, detection
from tests.helpers import fresh

SYSTEM = Actor.system("test")

# Each with a word no real text contains (every word of nine letters or more is one), so finding
# it anywhere means it was left behind.
SEEDS = {
    "reporter_name": "Quenby Zarkhovitch",
    "reporter_email": "quenby.zarkhovitch@yxmail.example",
    "subject_id": "acct-zqvelmorth",
    "display": "Xanthippe Vorbludova",
    "contact": "xanthippe.vorbludova@yxmail.example",
    "explanation": "Zephyrqualm keeps at it",
    "location": "https://social.example/posts/zorblequist",
    "content_ref": "post-zindrabaxel",
    "raw_payload": "quibblezonkery",
    "note": "Phoned Wuzzlethorpe about it",
    "view_reason": "checking Jubbernaxian detail",
    "facts": "Zumwaltinski was menaced",
    "grounds": "Yzerblattovic was only joking",
    "appeal_reasons": "Kravenhoofer agreed",
    "evidence_name": "zebrafinchcapture.png",
    "evidence_bytes": "qoxwelundrip evidence",
    "shared_name": "zanzibarshared.png",
    "attachment_name": "zygomorphproof.png",
    "attachment_bytes": "vexquarnel file",
    "restricted_bytes": "murgatroydex media",
}
SHARED_BYTES = b"a screenshot both cases hold"


def words(value: str) -> list[str]:
    """What to look for: the value, and each distinctive word of it in lower case (the search
    index keeps words stemmed and lower-cased)."""
    found = [value.lower()]
    for word in value.replace("@", " ").replace(".", " ").replace("/", " ").split():
        if len(word) >= 9:
            found.append(word.lower()[:9])
    return found


@dataclass
class Seeded:
    case: Case
    other: Case  # about someone else; holds the shared file too
    evidence: str  # SHA-256 of the case's own file
    attachment: str  # SHA-256 of the appeal's attachment
    shared: str  # SHA-256 of the file both cases hold
    restricted: str  # SHA-256 of a file kept in the restricted area


def _item() -> IntakeItem:
    raw = {key: SEEDS[key] for key in ("reporter_name", "reporter_email", "explanation")}
    return IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef(
            "account",
            SEEDS["subject_id"],
            display=SEEDS["display"],
            contact_email=SEEDS["contact"],
            contact_locale="en-GB",
        ),
        raw_payload=json.dumps({**raw, "extra": SEEDS["raw_payload"]}),
        clause_id="protect.threats",
        location=SEEDS["location"],
        explanation=SEEDS["explanation"],
        reporter_name=SEEDS["reporter_name"],
        reporter_email=SEEDS["reporter_email"],
        good_faith=True,
        content_ref=SEEDS["content_ref"],
    )


@pytest.fixture
def seed(session, staff, add_evidence):
    """Open, work, decide, appeal and close a case full of seeded values (resolved now)."""

    def build() -> Seeded:
        worker = Actor.staff(staff("admin", "worker"))
        reviewer = Actor.staff(staff("lead", "reviewer"))
        case = receive(session, item=_item(), actor=SYSTEM).case
        session.commit()
        other = receive(session, item=detection(subject="acct-other"), actor=SYSTEM).case
        session.commit()
        own = add_evidence(
            case, SEEDS["evidence_bytes"].encode(), filename=SEEDS["evidence_name"]
        ).sha256
        shared = add_evidence(case, SHARED_BYTES, filename=SEEDS["shared_name"]).sha256
        restricted = add_evidence(
            case, SEEDS["restricted_bytes"].encode(), filename="media.bin", restricted=True
        ).sha256
        add_evidence(other, SHARED_BYTES, filename="other.png")
        add_note(session, case=case, actor=worker, text=SEEDS["note"])
        open_evidence(session, case=case, sha256=own, actor=worker, reason=SEEDS["view_reason"])[
            1
        ].close()
        session.commit()
        decision = {
            **DECISION_FIELDS,
            "statement_of_reasons": {
                **DECISION_FIELDS["statement_of_reasons"],
                "facts": SEEDS["facts"],
            },
        }
        for name, fields in (
            ("start_triage", {}),
            ("send_to_enforcement", {"policy_clause": "protect.threats"}),
            ("decide", decision),
        ):
            if name == "send_to_enforcement":
                claim_case(session, case=case, actor=worker)
            fire_transition(session, case=case, transition=name, actor=worker, fields=fields)
        session.commit()
        data = SEEDS["attachment_bytes"].encode()
        file_appeal(
            session,
            case=case,
            appellant=AppellantKind.affected_user,
            grounds=SEEDS["grounds"],
            channel=AppealChannel.portal,
            actor=Actor.system("portal"),
            attachments=[
                Attachment(
                    filename=SEEDS["attachment_name"],
                    media_type="image/png",
                    size=len(data),
                    stream=io.BytesIO(data),
                )
            ],
        )
        session.commit()
        if case.assignee_id is not None:
            release_case(session, case=case, actor=worker)
        fire_transition(
            session, case=case, transition="start_appeal_review", actor=reviewer, fields={}
        )
        claim_case(session, case=case, actor=reviewer)
        fire_transition(
            session,
            case=case,
            transition="uphold",
            actor=reviewer,
            fields={
                "appeal_outcome": SEEDS["appeal_reasons"],
                "statement_of_reasons": decision["statement_of_reasons"],
            },
        )
        session.commit()
        assert case.stage == "resolved"
        attachment = hashlib.sha256(data).hexdigest()
        return Seeded(
            case=case,
            other=other,
            evidence=own,
            attachment=attachment,
            shared=shared,
            restricted=restricted,
        )

    return build


# Far enough ahead that the case's retention (two years) and the appeal window have passed.
AFTER_RETENTION = timedelta(days=731)


def later(delta: timedelta = AFTER_RETENTION):
    return utcnow() + delta


# --- where to look -------------------------------------------------------------------------------


def database_rows(session: Session) -> list[tuple[str, str, object]]:
    """(table, column, value) of every value in every table of the database as it stands:
    reflected, so the search index's own tables and generated columns are read too."""
    fresh(session)
    connection = session.connection()
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    found = []
    for table in metadata.sorted_tables:
        if table.name == "report_fts":
            continue  # it reads the report table (external content); its shadow tables are read
        for row in connection.execute(sa.select(table)):
            for column, value in row._mapping.items():
                found.append((table.name, column, value))
    if connection.dialect.name == "postgresql":
        documents = connection.exec_driver_sql("SELECT id, search_document::text FROM report")
        found += [("report", "search_document", text) for _, text in documents]
    session.rollback()
    return found


def left_in_database(session: Session, seeds: dict[str, str]) -> list[str]:
    """Where any seeded value is still found in the database's rows."""
    left = []
    for table, column, value in database_rows(session):
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        text = text.lower()
        for name, seed in seeds.items():
            if any(word in text for word in words(seed)):
                left.append(f"{name} in {table}.{column}")
    return left


def left_in_files(root: Path, seeds: dict[str, str], *, skip: tuple[Path, ...] = ()) -> list[str]:
    """Where any seeded value is still found in a file under `root`."""
    left = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in skip):
        data = path.read_bytes().lower()
        for name, seed in seeds.items():
            if any(word.encode() in data for word in words(seed)):
                left.append(f"{name} in {path.relative_to(root)}")
    return left


def sqlite_file_bytes(database_url: str) -> bytes:
    """The SQLite database file's bytes, after moving the write-ahead log into it."""
    path = database_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "a reader kept the checkpoint from finishing"
    finally:
        connection.close()
    wal = Path(path + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return Path(path).read_bytes()


def left_in_bytes(data: bytes, seeds: dict[str, str]) -> list[str]:
    data = data.lower()
    return [name for name, seed in seeds.items() if any(w.encode() in data for w in words(seed))]
