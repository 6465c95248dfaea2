"""An affected user's request for a copy of their data (GDPR Art. 15), made from their private
link. Kept apart from `cases.portal.service` because the privacy service reads the public status
from there."""

from datetime import datetime

from sqlmodel import Session

from cases.enums import AppellantKind
from cases.models import AccessRequest, Case, StatusLink, Subject
from cases.portal.links import record_use
from cases.portal.service import NotOffered
from cases.privacy.service import AccessChannel, open_request_for, request_access


def _subject(session: Session, link: StatusLink) -> Subject | None:
    # Only the affected user's link speaks for the subject; a reporter's is about someone else.
    if link.holder != AppellantKind.affected_user:
        return None
    return session.get(Subject, session.get(Case, link.case_id).subject_id)


def pending_access_request(session: Session, *, link: StatusLink) -> AccessRequest | None:
    """The link holder's open access request, if they are the affected user and made one."""
    subject = _subject(session, link)
    return open_request_for(session, subject=subject) if subject is not None else None


def request_copy(
    session: Session, *, link: StatusLink, now: datetime | None = None
) -> AccessRequest:
    """Record the affected user's access request (their open one if they already made it),
    noting the link's use; NotOffered for a reporter's link."""
    subject = _subject(session, link)
    if subject is None:
        raise NotOffered("Only the person the case is about can ask for a copy of their data.")
    request = request_access(
        session,
        subject=subject,
        case=session.get(Case, link.case_id),
        channel=AccessChannel.portal,
        requested_by=f"link:{link.id}",
        now=now,
    )
    record_use(session, link=link, action="access_requested", now=now)
    return request
