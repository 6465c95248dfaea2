"""Transparency figures for a period: what a transparency report (DSA Art. 15 and 24;
Implementing Regulation (EU) 2024/2835, Annex I) and the AI provider's inquiries ask for.

Every figure counts what happened in the half-open period [start, end), in UTC (the page and
the command take whole days, both included, and convert them: `cases.core.periods`):

- notices: items sent by someone outside the operator's moderation, received in the period:
  reports from people (`user_report`, the DSA Art. 16 notices) and notices from the AI provider
  (`provider_notice`), told apart in `notices_by_source`. Counted by the clause they were sent
  under: its DSA statement category (`notices_by_category`), the clause itself
  (`notices_by_clause`, a sub-clause under its own id) and its group (`notices_by_group`); a
  clause the taxonomy no longer holds counts under "unmapped". Keys with no notices are left out.
- own-initiative detections: what the operator found itself, received in the period: classifier
  detections and internal referrals (`own_initiative_by_source`).
- cases opened in the period.
- decisions made in the period: first decisions, dismissals and decisions on appeal alike (a
  dismissal and a reversal are `no_action` decisions); by restriction and by ground (the usage
  policy: contractual, or a law named: legal); the shares of them whose violation was detected by
  automated means and that were taken by automated means.
- median hours to action: from a case's opening (its first report) to its first decision, over
  the cases whose first decision was made in the period.
- appeals: received (filed in the period); the outcomes of those decided in the period, and the
  median hours from filing to decision over them.
- NCMEC reports made: CyberTipline reports finished in the period.
- SLA breaches recorded in the period, by the queue the case was waiting in when it breached.

Cases of the `provider_inquiry` workflow (the provider asking about the operator's own compliance)
are not moderation and count nowhere. Medians of nothing and shares of nothing are None.

With `clauses`, each figure counts only what falls under those clauses (a clause includes its
sub-clauses, a group id its clauses): a report by the clause it was sent under, a decision by its
own clause, an appeal by the appealed decision's, time to action by the first decision's, and the
rest (cases opened, SLA breaches, NCMEC reports) by the case's.
"""

import csv
import io
import json
import statistics
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from cases.core.errors import InputInvalid
from cases.enums import (
    PROVIDER_INQUIRY_WORKFLOW,
    AppealOutcome,
    EventType,
    GroundKind,
    NcmecStatus,
    ReportSource,
    Restriction,
)
from cases.lifecycle.deployed import definitions, workflow_for
from cases.models import Appeal, Case, Decision, NcmecReport, Report
from cases.trail.models import CaseEvent, EventPayload
from workflows import get_state

NOTICE_SOURCES = (ReportSource.user_report, ReportSource.provider_notice)
OWN_INITIATIVE_SOURCES = (ReportSource.classifier, ReportSource.internal)
UNMAPPED = "unmapped"
NO_QUEUE = "none"


@dataclass(frozen=True)
class AppealFigures:
    received: int
    upheld: int
    partially_reversed: int
    reversed: int
    omitted: int
    median_hours_to_decide: float | None

    @property
    def decided(self) -> int:
        return self.upheld + self.partially_reversed + self.reversed + self.omitted


@dataclass(frozen=True)
class TransparencyFigures:
    """The figures of one period (see the module's notes for what each counts)."""

    start: datetime
    end: datetime
    clauses: tuple[str, ...] | None
    cases_opened: int
    notices_by_source: dict[str, int]
    notices_by_category: dict[str, int]
    notices_by_clause: dict[str, int]
    notices_by_group: dict[str, int]
    own_initiative_by_source: dict[str, int]
    decisions_by_restriction: dict[str, int]
    decisions_by_ground: dict[str, int]
    automated_detection_share: float | None
    automated_decision_share: float | None
    median_hours_to_action: float | None
    appeals: AppealFigures
    ncmec_reports: int
    sla_breaches_by_queue: dict[str, int]

    @property
    def notices(self) -> int:
        return sum(self.notices_by_source.values())

    @property
    def own_initiative_detections(self) -> int:
        return sum(self.own_initiative_by_source.values())

    @property
    def decisions(self) -> int:
        return sum(self.decisions_by_restriction.values())

    def as_dict(self) -> dict[str, Any]:
        """The figures under plain keys, ready for JSON."""
        appeals = self.appeals
        return {
            "period": {"from": self.start.isoformat(), "to": self.end.isoformat()},
            "clauses": list(self.clauses) if self.clauses else None,
            "cases_opened": self.cases_opened,
            "notices": self.notices,
            "notices_by_source": dict(self.notices_by_source),
            "notices_by_category": dict(self.notices_by_category),
            "notices_by_clause": dict(self.notices_by_clause),
            "notices_by_group": dict(self.notices_by_group),
            "own_initiative_detections": self.own_initiative_detections,
            "own_initiative_by_source": dict(self.own_initiative_by_source),
            "decisions": self.decisions,
            "decisions_by_restriction": dict(self.decisions_by_restriction),
            "decisions_by_ground": dict(self.decisions_by_ground),
            "automated_detection_share": self.automated_detection_share,
            "automated_decision_share": self.automated_decision_share,
            "median_hours_to_action": self.median_hours_to_action,
            "appeals": {
                "received": appeals.received,
                "decided": appeals.decided,
                "upheld": appeals.upheld,
                "partially_reversed": appeals.partially_reversed,
                "reversed": appeals.reversed,
                "omitted": appeals.omitted,
                "median_hours_to_decide": appeals.median_hours_to_decide,
            },
            "ncmec_reports": self.ncmec_reports,
            "sla_breaches_by_queue": dict(self.sla_breaches_by_queue),
        }


@dataclass(frozen=True)
class _Scope:
    start: datetime
    end: datetime
    clause_ids: frozenset[str] | None
    """Every clause id counted (sub-clauses included); None: all of them."""

    def during(self, column) -> list:
        return [column >= self.start, column < self.end]

    def under(self, column) -> list:
        return [] if self.clause_ids is None else [col(column).in_(sorted(self.clause_ids))]

    @property
    def moderation(self):
        return Case.workflow_name != PROVIDER_INQUIRY_WORKFLOW


def _clause_ids(clauses: Collection[str] | None) -> frozenset[str] | None:
    """The ids given and every taxonomy id under them (`<id>.…`)."""
    if not clauses:
        return None
    known = [c.id for c in definitions().policy.clauses]
    return frozenset(clauses) | {k for k in known for c in clauses if k.startswith(f"{c}.")}


def transparency_figures(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    clauses: Collection[str] | None = None,
) -> TransparencyFigures:
    """Every figure of [start, end), only under `clauses` when given (None or empty: all)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("give the period as aware UTC datetimes")
    if start >= end:
        raise InputInvalid("The period must end after it starts.", field="end")
    scope = _Scope(start=start, end=end, clause_ids=_clause_ids(clauses))
    notices, own_initiative = _intake(session, scope)
    by_category, by_clause, by_group = _by_taxonomy(notices)
    by_restriction, by_ground, detection_share, decision_share = _decisions(session, scope)
    return TransparencyFigures(
        start=start,
        end=end,
        clauses=tuple(sorted(set(clauses))) if clauses else None,
        cases_opened=_count(
            session,
            select(func.count()).select_from(Case),
            scope.moderation,
            *scope.during(Case.opened_at),
            *scope.under(Case.policy_clause),
        ),
        notices_by_source=_by_source(notices, NOTICE_SOURCES),
        notices_by_category=by_category,
        notices_by_clause=by_clause,
        notices_by_group=by_group,
        own_initiative_by_source=_by_source(own_initiative, OWN_INITIATIVE_SOURCES),
        decisions_by_restriction=by_restriction,
        decisions_by_ground=by_ground,
        automated_detection_share=detection_share,
        automated_decision_share=decision_share,
        median_hours_to_action=_median_hours_to_action(session, scope),
        appeals=_appeals(session, scope),
        ncmec_reports=_count(
            session,
            select(func.count())
            .select_from(NcmecReport)
            .join(Case, Case.id == NcmecReport.case_id),
            scope.moderation,
            NcmecReport.status == NcmecStatus.finished,
            *scope.during(NcmecReport.finished_at),
            *scope.under(Case.policy_clause),
        ),
        sla_breaches_by_queue=_sla_breaches(session, scope),
    )


def _count(session: Session, query, *conditions) -> int:
    return session.exec(query.where(*conditions)).one()


def _intake(session: Session, scope: _Scope) -> tuple[Counter, Counter]:
    """Reports received, counted by (source, clause): notices, and own-initiative detections."""
    rows = session.exec(
        select(Report.source, Report.policy_clause, func.count())
        .join(Case, Case.id == Report.case_id)
        .where(scope.moderation, *scope.during(Report.received_at))
        .where(*scope.under(Report.policy_clause))
        .group_by(Report.source, Report.policy_clause)
    ).all()
    notices, own_initiative = Counter(), Counter()
    for source, clause, n in rows:
        if source in NOTICE_SOURCES:
            notices[(source, clause)] += n
        elif source in OWN_INITIATIVE_SOURCES:
            own_initiative[(source, clause)] += n
    return notices, own_initiative


def _by_source(counts: Counter, sources: Iterable[ReportSource]) -> dict[str, int]:
    return {s.value: sum(n for (source, _), n in counts.items() if source == s) for s in sources}


def _by_taxonomy(notices: Counter) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Notices by DSA statement category, by clause and by group of the clause sent under."""
    taxonomy = {c.id: c for c in definitions().policy.clauses}
    category, clause, group = Counter(), Counter(), Counter()
    for (_source, clause_id), n in notices.items():
        known = taxonomy.get(clause_id)
        category[known.dsa_category if known else UNMAPPED] += n
        clause[clause_id or UNMAPPED] += n
        group[known.group if known else UNMAPPED] += n
    return tuple(dict(sorted(c.items())) for c in (category, clause, group))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _decisions(
    session: Session, scope: _Scope
) -> tuple[dict[str, int], dict[str, int], float | None, float | None]:
    """Decisions made in the period by restriction and ground, and the automated shares."""
    rows = session.exec(
        select(
            Decision.restriction,
            Decision.ground_kind,
            Decision.automated_detection,
            Decision.automated_decision,
            func.count(),
        )
        .join(Case, Case.id == Decision.case_id)
        .where(scope.moderation, *scope.during(Decision.decided_at))
        .where(*scope.under(Decision.policy_clause))
        .group_by(
            Decision.restriction,
            Decision.ground_kind,
            Decision.automated_detection,
            Decision.automated_decision,
        )
    ).all()
    restriction = Counter({r.value: 0 for r in Restriction})
    ground = Counter({g.value: 0 for g in GroundKind})
    detected = automated = 0
    for kind, ground_kind, by_detection, by_automation, n in rows:
        restriction[kind] += n
        ground[ground_kind] += n
        detected += n if by_detection else 0
        automated += n if by_automation else 0
    total = sum(restriction.values())
    return dict(restriction), dict(ground), _share(detected, total), _share(automated, total)


def _median_hours(durations: Iterable[timedelta]) -> float | None:
    # Medians are taken here rather than in SQL (SQLite has no percentile function): one row of
    # two timestamps per decision or appeal in the period, so a year of a busy deployment
    # (a million decisions) is some tens of megabytes read once.
    hours = [d.total_seconds() / 3600 for d in durations]
    return round(statistics.median(hours), 2) if hours else None


def _median_hours_to_action(session: Session, scope: _Scope) -> float | None:
    earlier = aliased(Decision)
    first = ~sa.exists().where(earlier.case_id == Decision.case_id, earlier.id < Decision.id)
    rows = session.exec(
        select(Case.opened_at, Decision.decided_at)
        .join(Case, Case.id == Decision.case_id)
        .where(scope.moderation, first, *scope.during(Decision.decided_at))
        .where(*scope.under(Decision.policy_clause))
    ).all()
    return _median_hours(decided - opened for opened, decided in rows)


def _appeals(session: Session, scope: _Scope) -> AppealFigures:
    appeals = (
        select(func.count())
        .select_from(Appeal)
        .join(Decision, Decision.id == Appeal.decision_id)
        .join(Case, Case.id == Appeal.case_id)
    )
    received = _count(
        session,
        appeals,
        scope.moderation,
        *scope.during(Appeal.filed_at),
        *scope.under(Decision.policy_clause),
    )
    decided = session.exec(
        select(Appeal.outcome, Appeal.filed_at, Appeal.decided_at)
        .join(Decision, Decision.id == Appeal.decision_id)
        .join(Case, Case.id == Appeal.case_id)
        .where(scope.moderation, *scope.during(Appeal.decided_at))
        .where(*scope.under(Decision.policy_clause))
    ).all()
    outcomes = Counter(outcome for outcome, _, _ in decided)
    return AppealFigures(
        received=received,
        upheld=outcomes[AppealOutcome.upheld],
        partially_reversed=outcomes[AppealOutcome.partially_reversed],
        reversed=outcomes[AppealOutcome.reversed],
        omitted=outcomes[AppealOutcome.omitted],
        median_hours_to_decide=_median_hours(done - filed for _, filed, done in decided),
    )


def _sla_breaches(session: Session, scope: _Scope) -> dict[str, int]:
    # The trail has no index on (type, at), so this reads the event table once; only the few
    # breaches' payloads are fetched. The queue is the breached state's, read from the payload:
    # the sweep that records a breach may escalate the case to another queue at once.
    rows = session.exec(
        select(Case.workflow_name, Case.workflow_digest, Case.queue, EventPayload.payload)
        .select_from(CaseEvent)
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(EventPayload, EventPayload.event_id == CaseEvent.id)
        .where(CaseEvent.type == EventType.sla_breached, scope.moderation)
        .where(*scope.during(CaseEvent.at), *scope.under(Case.policy_clause))
    ).all()
    queues = Counter()
    for workflow, digest, current_queue, payload in rows:
        if payload is None:
            # Erased (end of retention): the case's queue now is the best left to go on.
            queue = current_queue
        else:
            state = json.loads(payload)["state"]
            queue = get_state(workflow_for(session, name=workflow, digest=digest), state).queue
        queues[queue or NO_QUEUE] += 1
    return dict(sorted(queues.items()))


def figures_csv(figures: TransparencyFigures) -> str:
    """The figures as CSV with the header `figure,key,value`: one row per figure, `key` empty for
    a single number, else the category, clause, group, source, restriction, ground, outcome or
    queue (or `from`/`to` of the period); an empty value is None (nothing to take a median or a
    share of); `clauses` lists the clauses counted, space-separated, or is empty for all."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("figure", "key", "value"))
    for figure, value in figures.as_dict().items():
        if isinstance(value, dict):
            writer.writerows((figure, key, _cell(item)) for key, item in value.items())
        else:
            writer.writerow((figure, "", _cell(value)))
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(value)
    return str(value)
