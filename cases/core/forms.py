"""Form pieces for whatever a person without an account sends (the public report, the private
pages' appeal and answer forms): attachments under the public's upload rules, and typed text."""

from flask import Config, current_app
from flask_wtf.file import MultipleFileField
from wtforms.validators import ValidationError

from cases.core.uploads import (
    ACCEPTED_TYPES,
    Attachment,
    AttachmentRejected,
    human_size,
    inspect_attachment,
)

# Form fields and multipart framing, beside the files themselves.
FORM_ALLOWANCE = 1 << 20

# What the file picker offers; the bytes are still sniffed, whatever a browser sends.
ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,.txt"


def attachments_body_limit(config: Config) -> int:
    """The largest body a form with attachments may send: every file at its limit, and the
    rest of the form."""
    return (
        int(config["REPORT_ATTACHMENT_MAX_BYTES"]) * int(config["REPORT_ATTACHMENT_MAX_FILES"])
        + FORM_ALLOWANCE
    )


def attachment_hints(config: Config) -> dict:
    """What the page says and offers about attachments (the template's `field(..., accept=)`)."""
    return {
        "accept": ACCEPT,
        "accepted_types": ACCEPTED_TYPES,
        "max_files": config["REPORT_ATTACHMENT_MAX_FILES"],
        "max_size": human_size(int(config["REPORT_ATTACHMENT_MAX_BYTES"])),
    }


def check_attachments(_form, field) -> None:
    """At most REPORT_ATTACHMENT_MAX_FILES files, each non-empty, within
    REPORT_ATTACHMENT_MAX_BYTES and of an accepted type by its own bytes; the accepted ones are
    left on `field.inspected`, ready to store as evidence."""
    config = current_app.config
    uploads = [f for f in field.data or () if f and f.filename]
    limit = int(config["REPORT_ATTACHMENT_MAX_FILES"])
    if len(uploads) > limit:
        raise ValidationError(f"Attach at most {limit} files.")
    inspected, problems = [], []
    for upload in uploads:
        try:
            inspected.append(
                inspect_attachment(
                    upload.stream,
                    filename=upload.filename,
                    max_bytes=int(config["REPORT_ATTACHMENT_MAX_BYTES"]),
                )
            )
        except AttachmentRejected as rejected:
            problems.append(str(rejected))
    if problems:
        raise ValidationError(" ".join(problems))
    field.inspected = inspected


class AttachmentsField(MultipleFileField):
    """Optional files under the public's upload rules (`check_attachments`); after validation,
    `inspected` holds the accepted ones."""

    def __init__(self, label=None, validators=(), **kwargs):
        super().__init__(label, [*validators, check_attachments], **kwargs)
        self.inspected: list[Attachment] = []


# C0 controls but tab, line feed and carriage return: no one types them, and PostgreSQL text
# cannot hold NUL.
CONTROL_CHARACTERS = frozenset(map(chr, range(32))) - {"\t", "\n", "\r"}


def plain_text(_form, field) -> None:
    """Text a person typed: no control characters."""
    if field.data and not CONTROL_CHARACTERS.isdisjoint(field.data):
        raise ValidationError("Remove the control characters from this text.")
