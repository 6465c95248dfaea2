"""The forms of the private pages (appeal, answer) and the staff's form to withdraw a link. The
access request is a button: the link says whose data it is, CSRF protection covers the rest."""

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from cases.appeals.service import MAX_GROUNDS
from cases.core.forms import AttachmentsField, plain_text
from cases.portal.service import MAX_ANSWER


class AppealForm(FlaskForm):
    grounds = TextAreaField(
        "Why is the decision wrong?",
        validators=[
            DataRequired("Say why the decision is wrong."),
            Length(max=MAX_GROUNDS, message=f"Write at most {MAX_GROUNDS} characters."),
            plain_text,
        ],
    )
    attachments = AttachmentsField("Attachments (optional)")


class AnswerForm(FlaskForm):
    answer = TextAreaField(
        "Your answer",
        validators=[
            DataRequired("Write your answer."),
            Length(max=MAX_ANSWER, message=f"Write at most {MAX_ANSWER} characters."),
            plain_text,
        ],
    )


class RevokeLinkForm(FlaskForm):
    reason = TextAreaField(
        "Why withdraw this link?",
        validators=[
            DataRequired("Say why the link is withdrawn."),
            Length(max=500, message="Write at most 500 characters."),
            plain_text,
        ],
    )
