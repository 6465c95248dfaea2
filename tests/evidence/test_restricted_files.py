"""Where evidence bytes are kept: once per content, in the area of the row first written for them,
the area chosen only once the bytes are hashed (nothing lands anywhere before)."""

import hashlib
import io

from sqlmodel import func, select

from cases.core.uploads import Attachment
from cases.evidence.blobs import blob_store
from cases.evidence.service import hash_attachments, list_evidence, store_attachments
from cases.lifecycle.actors import Actor
from cases.trail.blobs import store_blob
from cases.trail.models import Blob

SYSTEM = Actor.system("test")
DATA = b"\x89PNG\r\n\x1a\n" + b"evidence bytes " * 5000  # several read chunks


def files_in(area: str) -> list:
    return [p for p in (blob_store().root / area).rglob("*") if p.is_file()]


def put(session, data: bytes, restricted) -> Blob:
    return store_blob(
        session,
        store=blob_store(),
        stream=io.BytesIO(data),
        media_type="image/png",
        restricted=restricted,
        max_size=1 << 20,
    )


def test_the_area_can_be_chosen_from_the_digests(session):
    seen = []

    def choose(stored) -> bool:
        seen.append(stored)
        return stored.md5 == hashlib.md5(DATA).hexdigest()

    blob = put(session, DATA, choose)
    session.commit()
    assert [s.sha256 for s in seen] == [hashlib.sha256(DATA).hexdigest()]
    assert blob.restricted and files_in("blobs-restricted") and not files_in("blobs")
    assert not files_in("blobs-incoming")  # the upload's temporary file is gone


def test_content_already_stored_stays_in_its_area_whoever_sends_it_again(session):
    restricted = put(session, DATA, True)
    session.commit()
    assert put(session, DATA, False) is restricted
    session.commit()
    ordinary = put(session, b"plain", False)
    session.commit()
    again = put(session, b"plain", lambda stored: True)
    assert again is ordinary and not again.restricted
    assert len(files_in("blobs-restricted")) == 1 and len(files_in("blobs")) == 1
    assert session.exec(select(func.count()).select_from(Blob)).one() == 2


def test_an_ordinary_file_later_sent_to_a_child_safety_case_is_not_copied(
    session, open_case, staff
):
    # It stays where it was first kept; restricted on the child-safety case, and on the ordinary
    # one once its hash is known (`confirm_case_hashes`, a list).
    ordinary = open_case("harassment", subject="acct-std")
    restricted = open_case("sexual/minors", subject="acct-cs")
    for case in (ordinary, restricted):
        attachment = Attachment("a.png", "image/png", len(DATA), io.BytesIO(DATA))
        store_attachments(
            session, case=case, attachments=[attachment], actor=SYSTEM, context={"n": 1}
        )
    session.commit()
    assert len(files_in("blobs")) == 1 and not files_in("blobs-restricted")
    specialist = staff("child_safety")
    [item] = list_evidence(session, case=restricted, viewer=specialist)
    assert item.restricted and not item.blob.restricted
    assert not list_evidence(session, case=ordinary, viewer=specialist)[0].restricted


def test_hashing_attachments_leaves_them_ready_to_store():
    attachment = Attachment("a.png", "image/png", len(DATA), io.BytesIO(DATA))
    attachment.stream.read(10)
    [hashes] = hash_attachments([attachment])
    assert hashes.sha256 == hashlib.sha256(DATA).hexdigest()
    assert hashes.md5 == hashlib.md5(DATA).hexdigest()
    assert attachment.stream.read() == DATA
