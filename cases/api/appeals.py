"""Appeals relayed by the operator's product: `POST /api/v1/cases/{ref}/appeals`.

The operator's platform, where the affected user or a reporter filed the appeal, relays it here;
the appeals service checks the window and files it exactly as the private page does. The key is
the actor; `received_at` (when the person filed it in the operator's product) is what the window
is checked against, so a relay delayed by a queue on the operator's side costs nobody an appeal.
"""

from flask import g

from cases.api import api_key_required, bp
from cases.api.body import invalid, json_body, validated
from cases.api.cases import visible_case
from cases.api.idempotency import respond_once
from cases.api.intake import integration_actor
from cases.api.schemas import AppealRequest
from cases.appeals.service import (
    AppealAlreadyOpen,
    AppealInvalid,
    AppealWindowClosed,
    NothingToAppeal,
    file_appeal,
)
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.enums import ApiScope, AppealChannel, AppellantKind
from cases.models import Appeal, Report
from cases.trail.canonical import utc_timestamp


def appeal_body(appeal: Appeal, reference: str) -> dict:
    return {
        "appeal": {
            "id": appeal.id,
            "case": reference,
            "appellant": appeal.appellant,
            "report_id": appeal.report_id,
            "channel": appeal.channel,
            "grounds": appeal.grounds,
            "filed_at": utc_timestamp(appeal.filed_at),
            "window_closes_at": utc_timestamp(appeal.window_closes_at),
            "outcome": appeal.outcome,
        }
    }


def _appeal_request(body: object, text: str) -> AppealRequest:
    relayed = validated(AppealRequest, body, text)
    appellant = relayed.appellant
    if appellant.kind == AppellantKind.reporter and appellant.report_id is None:
        raise invalid({"appellant.report_id": "the id of the reporter's report (an integer)"})
    if appellant.kind != AppellantKind.reporter and appellant.report_id is not None:
        raise invalid({"appellant.report_id": "only a reporter's appeal names a report"})
    return relayed


@bp.post("/cases/<reference>/appeals")
@api_key_required(ApiScope.appeals_write)
def post_appeal(reference: str):
    data, text, body = json_body()
    appeal_request = _appeal_request(body, text)
    report_id = appeal_request.appellant.report_id
    session = get_session()
    case = visible_case(reference, g.api_key)
    report = None
    if report_id is not None:
        report = session.get(Report, report_id)
        if report is None or report.case_id != case.id:
            raise invalid({"appellant.report_id": "no such report on this case"})

    def produce() -> tuple[dict, int]:
        try:
            appeal = file_appeal(
                session,
                case=case,
                appellant=appeal_request.appellant.kind,
                report=report,
                grounds=appeal_request.grounds,
                channel=AppealChannel.api,
                actor=integration_actor(g.api_key),
                received_at=appeal_request.received_at,
            )
        except AppealInvalid as exc:
            raise invalid({exc.field: str(exc)}) from None
        except AppealWindowClosed as exc:
            raise ApiError(
                422,
                "appeal_window_closed",
                str(exc),
                fields={"received_at": f"the window closed at {utc_timestamp(exc.closed_at)}"},
            ) from None
        except AppealAlreadyOpen as exc:
            raise ApiError(409, "appeal_open", str(exc)) from None
        except NothingToAppeal as exc:
            raise ApiError(409, "not_appealable", str(exc)) from None
        return appeal_body(appeal, case.reference), 201

    return respond_once(session, api_key_id=g.api_key.id, body=data, produce=produce)
