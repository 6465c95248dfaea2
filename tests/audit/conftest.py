"""A case with a custody history, as production makes one: a file a reviewer opened with a reason,
an export by an auditor and an upload of the file to NCMEC."""

from dataclasses import dataclass

import pytest

from cases.audit.signing import signer
from cases.enums import EventType
from cases.evidence.blobs import blob_store
from cases.evidence.viewing import open_evidence
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.trail.export import export_case
from cases.trail.models import Blob
from cases.trail.store import append_event

VIEW_REASON = "Deciding the case"
NCMEC_REPORT_ID = "4242"


@dataclass
class Audited:
    case: Case
    blob: Blob
    viewer: User
    exporter: User


@pytest.fixture
def audited(app, session, open_case, add_evidence, staff, tmp_path) -> Audited:
    case = open_case()
    blob = add_evidence(case, b"the threatening message, as captured", filename="threat.txt")
    viewer, exporter = staff("reviewer"), staff("auditor", "exporter")
    _, stream = open_evidence(
        session, case=case, sha256=blob.sha256, actor=Actor.staff(viewer), reason=VIEW_REASON
    )
    stream.close()
    session.commit()
    export_case(
        session,
        case=case,
        out=tmp_path / "earlier-export.zip",
        signer=signer(),
        origin=app.config["TRAIL_ORIGIN"],
        store=blob_store(),
        actor=f"user:{exporter.id}",
    )
    append_event(
        session,
        case=case,
        type=EventType.ncmec_file_uploaded,
        actor="system:ncmec",
        payload={"ncmec_report_id": NCMEC_REPORT_ID, "file_id": "f-1", "sha256": blob.sha256},
        blobs=[blob.sha256],
    )
    session.commit()
    return Audited(case=case, blob=blob, viewer=viewer, exporter=exporter)
