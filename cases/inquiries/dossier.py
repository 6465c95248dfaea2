"""The due-diligence dossier: one document the operator hands the AI provider, for a period and the
whole taxonomy or the clauses in question.

Per clause (a clause counts its sub-clauses, which are listed after it too): the transparency
figures (`cases.transparency.service`: cases opened, how they were detected, decisions and
restrictions, median time to action, appeals and their outcomes, CyberTipline reports) and the
holds placed. Then the procedures in force (every workflow with its version, digest, states, SLAs
and who may fire what, as text and as a diagram), and a checkpoint of the evidence log signed for
the dossier, covering every event of every case it counts, with the steps to verify any case's
bundle offline against it. Rendered as JSON, a self-contained HTML page, or a PDF (WeasyPrint).
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from markupsafe import Markup
from sqlmodel import Session, col, func, select

from cases.audit.signing import signer
from cases.core.periods import last_day
from cases.core.sqltypes import utcnow
from cases.enums import PROVIDER_INQUIRY_WORKFLOW
from cases.inquiries.service import (
    check_clauses,
    check_period,
    record_dossier,
    require_inquiry_role,
)
from cases.lifecycle.deployed import definitions
from cases.models import Case, Decision, Hold, ProviderInquiry, Report, User
from cases.trail.canonical import utc_timestamp
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.models import CaseEvent
from cases.transparency.service import transparency_figures
from workflows import Clause, Policy, PriorityBand, Workflow, WorkflowKind
from workflows.graph import to_svg

DOSSIER_VERSION = 1
FORMATS = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
# The HTML and PDF list at most this many case references per clause (a page of them: more would
# slow the PDF down for nobody's benefit); the JSON lists them all.
LISTED_REFERENCES = 200


class UnknownFormat(ValueError):
    """A format other than those of FORMATS."""


def check_format(format: str) -> None:
    if format not in FORMATS:
        raise UnknownFormat(f"unknown format {format!r}: one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class ClauseSection:
    clause: Clause
    group_label: str
    counts: tuple[str, ...]
    """The clause ids its figures count: itself and its sub-clauses."""
    figures: dict[str, Any]
    holds: dict[str, int]
    cases: tuple[str, ...]
    """References of the cases it covers (see `_covered_ids`), oldest first; restricted
    (child-safety) cases only counted, since their very existence is not for every reader."""
    restricted_cases: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.clause.id,
            "label": self.clause.label,
            "title": self.clause.title or self.clause.label,
            "group": self.clause.group,
            "group_label": self.group_label,
            "parent": self.clause.parent,
            "counts_clauses": list(self.counts),
            "figures": self.figures,
            "holds": {"placed": sum(self.holds.values()), "by_kind": self.holds},
            "cases_covered": list(self.cases),
            "restricted_cases_covered": self.restricted_cases,
        }


@dataclass(frozen=True)
class Procedure:
    """A workflow in force, and the versions the period's cases ran on."""

    workflow: Workflow
    versions_in_period: tuple[tuple[int, str, int], ...]
    """(version, digest, number of covered cases) for each version covered cases ran on."""

    def as_dict(self) -> dict[str, Any]:
        wf = self.workflow
        return {
            "workflow": wf.name,
            "label": wf.label,
            "kind": wf.kind.value,
            "version": wf.version,
            "digest": wf.digest,
            "restricted": wf.restricted,
            "appeal_window_days": wf.appeal_window_days,
            "initial": wf.initial,
            "states": [
                {
                    "name": s.name,
                    "label": s.label,
                    "stage": s.stage.value,
                    "queue": s.queue,
                    "sla_hours": {
                        band.value: s.sla[band] for band in PriorityBand if band in s.sla
                    },
                    "terminal": s.terminal,
                    "waits_on_user": s.waits_on_user,
                }
                for s in wf.states.values()
            ],
            "transitions": [
                {
                    "name": t.name,
                    "label": t.label,
                    "from": list(t.sources),
                    "to": t.to,
                    "roles": sorted(r.value for r in t.roles) or ["system"],
                    "requires": [f.value for f in t.requires],
                    "guards": list(t.guards),
                    "jobs": list(t.jobs),
                    "second_approval": t.second_approval,
                }
                for t in wf.transitions
            ],
            "versions_in_period": [
                {"version": version, "digest": digest, "cases": cases}
                for version, digest, cases in self.versions_in_period
            ],
        }


@dataclass(frozen=True)
class SignedCheckpoint:
    origin: str
    size: int
    root: str
    note: str
    public_key: str
    signed_at: datetime
    cases: int
    events: int
    highest_log_index: int | None
    """The last leaf any covered case's event is at; below `size`, so the checkpoint covers it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "signed_at": utc_timestamp(self.signed_at),
            "note": self.note,
            "public_key": self.public_key,
            "covers": {
                "cases": self.cases,
                "events": self.events,
                "highest_log_index": self.highest_log_index,
            },
        }


def verification_steps(checkpoint: SignedCheckpoint) -> list[str]:
    """How anyone holding the dossier checks a case's history against its checkpoint."""
    return [
        "Save the public key below as docket.pub, and pin it: compare it with the key the "
        "operator publishes at /audit/public-key.txt, out of band.",
        "Save the signed note below (the checkpoint) as dossier-checkpoint.txt, keeping every "
        "line and the final newline.",
        "Ask the operator for the evidence bundle of any case listed here; the operator runs "
        "`flask --app app trail export CASE_REFERENCE --out CASE_REFERENCE.zip`.",
        "Verify it offline: `python -m cases.trail.verify CASE_REFERENCE.zip --public-key "
        "docket.pub --previous-checkpoint dossier-checkpoint.txt`. It prints PASS only when "
        "the bundle's own checkpoint is signed by this key, every event of the case is included "
        "in its log, and that log extends this dossier's checkpoint "
        f"(size {checkpoint.size}) without rewriting any of it.",
    ]


@dataclass(frozen=True)
class Dossier:
    generated_at: datetime
    start: datetime
    end: datetime
    requested: tuple[str, ...]
    """The clauses asked about; empty: the whole taxonomy."""
    inquiry: dict[str, Any] | None
    policy: dict[str, Any]
    sections: tuple[ClauseSection, ...]
    procedures: tuple[Procedure, ...]
    checkpoint: SignedCheckpoint

    @property
    def title(self) -> str:
        return f"Due-diligence dossier, {self.start.date().isoformat()} to {last_day(self.end)}"

    def record(self, *, format: str, sha256: str) -> dict[str, Any]:
        """What the trail keeps of a dossier handed over."""
        return {
            "format": format,
            "sha256": sha256,
            "period": {"start": utc_timestamp(self.start), "end": utc_timestamp(self.end)},
            "clauses": list(self.requested),
            "checkpoint": {"size": self.checkpoint.size, "root": self.checkpoint.root},
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "dossier": {
                "version": DOSSIER_VERSION,
                "title": self.title,
                "generated_at": utc_timestamp(self.generated_at),
                "period": {
                    "start": utc_timestamp(self.start),
                    "end": utc_timestamp(self.end),
                    "first_day": self.start.date().isoformat(),
                    "last_day": last_day(self.end),
                    "end_is_exclusive": True,
                },
                "scope": "clauses" if self.requested else "whole_taxonomy",
                "clauses_requested": list(self.requested),
            },
            "inquiry": self.inquiry,
            "policy": self.policy,
            "clauses": [section.as_dict() for section in self.sections],
            "procedures": [procedure.as_dict() for procedure in self.procedures],
            "checkpoint": self.checkpoint.as_dict(),
            "verification": verification_steps(self.checkpoint),
        }


def build_dossier(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    clauses: Sequence[str] = (),
    inquiry: ProviderInquiry | None = None,
    now: datetime | None = None,
) -> Dossier:
    """The dossier for [start, end) and `clauses` (none: the whole taxonomy), with a checkpoint
    signed now over the log, which then holds every event of every case it counts."""
    now = now or utcnow()
    check_period(start, end, field="end")
    requested = tuple(check_clauses(list(clauses), field="clause"))
    policy = definitions().policy
    listed = [
        c for c in policy.clauses if not requested or c.id in requested or c.parent in requested
    ]
    in_scope = {cid for clause in listed for cid in _counted_ids(policy.clauses, clause)}
    covered_ids = _covered_ids(start, end, in_scope)
    covered = _covered_cases(session, ids=covered_ids)
    sections = tuple(
        _section(session, clause, policy, start=start, end=end, covered=covered)
        for clause in listed
    )
    checkpoint = _sign(session, ids=covered_ids, cases=len(covered), now=now)
    return Dossier(
        generated_at=now,
        start=start,
        end=end,
        requested=requested,
        inquiry=_inquiry(session, inquiry),
        policy={
            "label": policy.label,
            "version": policy.version,
            "digest": policy.digest,
            "source_url": policy.source_url,
        },
        sections=sections,
        procedures=_procedures(covered),
        checkpoint=checkpoint,
    )


def _counted_ids(clauses: Sequence[Clause], clause: Clause) -> tuple[str, ...]:
    return (clause.id, *(c.id for c in clauses if c.parent == clause.id))


def _covered_ids(start: datetime, end: datetime, clause_ids: set[str]) -> sa.Subquery:
    """The ids of every case a figure of the period can count under `clause_ids`: anything on
    its trail in the period, and the clause on the case, on one of its reports or on one of its
    decisions (figures count each by its own clause). Never an inquiry's own case."""
    ids = sorted(clause_ids)
    in_period = sa.exists().where(
        CaseEvent.case_id == Case.id, CaseEvent.at >= start, CaseEvent.at < end
    )
    under = sa.or_(
        col(Case.policy_clause).in_(ids),
        sa.exists().where(Report.case_id == Case.id, col(Report.policy_clause).in_(ids)),
        sa.exists().where(Decision.case_id == Case.id, col(Decision.policy_clause).in_(ids)),
    )
    return (
        select(Case.id)
        .where(Case.workflow_name != PROVIDER_INQUIRY_WORKFLOW, under, in_period)
        .subquery()
    )


@dataclass(frozen=True)
class _CoveredCase:
    id: int
    reference: str
    workflow: str
    version: int
    digest: str
    restricted: bool
    clauses: frozenset[str]
    """Its own clause, its reports' and its decisions'."""


def _covered_cases(session: Session, *, ids: sa.Subquery) -> list[_CoveredCase]:
    covered = select(ids.c.id)
    clauses: dict[int, set[str]] = defaultdict(set)
    for model in (Report, Decision):
        for case_id, clause in session.exec(
            select(model.case_id, model.policy_clause)
            .where(col(model.case_id).in_(covered))
            .distinct()
        ):
            clauses[case_id].add(clause)
    rows = session.exec(
        select(
            Case.id,
            Case.reference,
            Case.workflow_name,
            Case.workflow_version,
            Case.workflow_digest,
            Case.restricted,
            Case.policy_clause,
        )
        .where(col(Case.id).in_(covered))
        .order_by(col(Case.id))
    ).all()
    return [
        _CoveredCase(*row[:-1], clauses=frozenset({row.policy_clause} | clauses[row.id]))
        for row in rows
    ]


def _section(
    session: Session,
    clause: Clause,
    policy: Policy,
    *,
    start: datetime,
    end: datetime,
    covered: list[_CoveredCase],
) -> ClauseSection:
    counts = _counted_ids(policy.clauses, clause)
    mine = [case for case in covered if case.clauses & set(counts)]
    group_label = next(g.label for g in policy.groups if g.id == clause.group)
    figures = transparency_figures(session, start=start, end=end, clauses=list(counts))
    holds = session.exec(
        select(Hold.kind, func.count())
        .join(Case, col(Case.id) == Hold.case_id)
        .where(
            col(Case.policy_clause).in_(counts),
            Case.workflow_name != PROVIDER_INQUIRY_WORKFLOW,
            Hold.placed_at >= start,
            Hold.placed_at < end,
        )
        .group_by(Hold.kind)
        .order_by(Hold.kind)
    ).all()
    return ClauseSection(
        clause=clause,
        group_label=group_label,
        counts=counts,
        figures=figures.as_dict(),
        holds={kind: number for kind, number in holds},
        cases=tuple(case.reference for case in mine if not case.restricted),
        restricted_cases=sum(case.restricted for case in mine),
    )


def _sign(session: Session, *, ids: sa.Subquery, cases: int, now: datetime) -> SignedCheckpoint:
    """Sign the log as it stands: it then holds every event of the covered cases."""
    origin = current_app.config["TRAIL_ORIGIN"]
    key = signer()
    signed = sign_log_checkpoint(session, signer=key, origin=origin)  # integrates them first
    events, highest = session.exec(
        select(func.count(), func.max(CaseEvent.log_index)).where(
            col(CaseEvent.case_id).in_(select(ids.c.id))
        )
    ).one()
    return SignedCheckpoint(
        origin=origin,
        size=signed.size,
        root=signed.root,
        note=signed.note,
        public_key=key.verifier_key,
        signed_at=signed.signed_at or now,
        cases=cases,
        events=events,
        highest_log_index=highest,
    )


def _procedures(covered: list[_CoveredCase]) -> tuple[Procedure, ...]:
    used = Counter((case.workflow, case.version, case.digest) for case in covered)
    return tuple(
        Procedure(
            workflow=workflow,
            versions_in_period=tuple(
                (version, digest, number)
                for (name, version, digest), number in sorted(used.items())
                if name == workflow.name
            ),
        )
        for workflow in definitions().workflows.values()
        if workflow.kind is not WorkflowKind.inquiry
    )


def _inquiry(session: Session, inquiry: ProviderInquiry | None) -> dict[str, Any] | None:
    if inquiry is None:
        return None
    case = session.get(Case, inquiry.case_id)
    return {
        "id": inquiry.id,
        "provider_reference": inquiry.provider_reference,
        "case": case.reference,
        "received_at": utc_timestamp(inquiry.received_at),
        "deadline_at": utc_timestamp(inquiry.deadline_at),
        "clauses": list(inquiry.clauses),
        "summary": inquiry.summary,
    }


@dataclass(frozen=True)
class GeneratedDossier:
    dossier: Dossier
    format: str
    document: bytes
    sha256: str

    @property
    def filename(self) -> str:
        period = f"{self.dossier.start.date().isoformat()}-{last_day(self.dossier.end)}"
        case = self.dossier.inquiry["case"] if self.dossier.inquiry else None
        return f"dossier-{case + '-' if case else ''}{period}.{self.format}"


def generate_dossier(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    clauses: Sequence[str],
    format: str,
    inquiry: ProviderInquiry | None,
    actor_label: str,
    user: User | None,
    now: datetime | None = None,
) -> GeneratedDossier:
    """Build and render a dossier, and record it as handed over: on the inquiry's trail when it
    answers one, else in the account history (`user`: who, when staff; None: the operator)."""
    if user is not None:
        require_inquiry_role(user, write=True)
    check_format(format)
    dossier = build_dossier(
        session, start=start, end=end, clauses=clauses, inquiry=inquiry, now=now
    )
    document = render(dossier, format)
    sha256 = hashlib.sha256(document).hexdigest()
    record_dossier(
        session,
        inquiry=inquiry,
        record=dossier.record(format=format, sha256=sha256),
        actor_label=actor_label,
        user=user,
    )
    return GeneratedDossier(dossier=dossier, format=format, document=document, sha256=sha256)


# --- documents --------------------------------------------------------------------------------


def render(dossier: Dossier, format: str) -> bytes:
    """The dossier as a file of `format` (a key of FORMATS)."""
    if format == "json":
        return (json.dumps(dossier.as_dict(), ensure_ascii=False, indent=2) + "\n").encode()
    if format == "html":
        return _html(dossier).encode()
    check_format(format)
    return _pdf(dossier)


def _html(dossier: Dossier) -> str:
    diagrams = {p.workflow.name: Markup(to_svg(p.workflow)) for p in dossier.procedures}
    return render_template(
        "inquiries/dossier.html",
        d=dossier.as_dict(),
        diagrams=diagrams,
        listed_references=LISTED_REFERENCES,
    )


def _pdf(dossier: Dossier) -> bytes:
    # Imported here: WeasyPrint loads Pango through cffi, which only PDF rendering needs.
    from weasyprint import HTML

    return HTML(string=_html(dossier)).write_pdf()
