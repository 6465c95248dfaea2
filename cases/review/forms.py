"""The case page's forms. A transition's form asks for exactly the fields its definition
`requires` (plus the length of a restriction, where one is chosen), built from the transition."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from cases.decisions.service import (
    DEFAULT_REDRESS,
    MAX_DURATION_DAYS,
    MAX_FACTS,
    MAX_GROUND,
    MAX_LEGAL_GROUND,
    MAX_REDRESS,
)
from cases.enums import GroundKind, Restriction
from cases.notices.wording import EEA_COUNTRIES, WORLDWIDE
from cases.review.notes import MAX_NOTE
from workflows import Policy, RequiredField, Transition

R = Restriction
RESTRICTION_CHOICES = [
    SelectChoice(R.warn.value, "Warning"),
    SelectChoice(R.content_removal.value, "Content removal"),
    SelectChoice(R.feature_restriction.value, "Feature restriction"),
    SelectChoice(R.temporary_suspension.value, "Temporary suspension (give a duration)"),
    SelectChoice(R.termination.value, "Account termination"),
    SelectChoice(R.api_key_revocation.value, "API key revocation"),
    SelectChoice(R.no_action.value, "No action"),
]
SCOPE_CHOICES = [SelectChoice(WORLDWIDE, "Worldwide")] + [
    SelectChoice(code, f"{name} ({code})", optgroup="EU and EEA countries")
    for code, name in sorted(EEA_COUNTRIES.items(), key=lambda item: item[1])
]
YES_NO = [SelectChoice("yes", "Yes"), SelectChoice("no", "No")]
GROUND_KIND_CHOICES = [
    SelectChoice(GroundKind.contractual.value, "Contractual: the usage policy"),
    SelectChoice(GroundKind.legal.value, "Legal: a law (name it below)"),
]
# The statement of reasons is several inputs (DSA Art. 17(3)): these, the restriction and clause.
STATEMENT_FIELDS = (
    "facts",
    "automated_detection",
    "automated_decision",
    "ground_kind",
    "legal_ground",
    "ground",
    "redress",
)
NOTE_LIMIT = Length(max=MAX_NOTE)
# Whatever order a definition lists them in, the form asks in this one: what, where, why.
FIELD_ORDER = (
    RequiredField.restriction,
    RequiredField.duration_days,
    RequiredField.territorial_scope,
    RequiredField.policy_clause,
    RequiredField.statement_of_reasons,
    RequiredField.appeal_outcome,
    RequiredField.no_report_reason,
    RequiredField.ncmec_report_id,
    RequiredField.question,
    RequiredField.answer,
    RequiredField.note,
)


class NoteForm(FlaskForm):
    text = TextAreaField("Add a note", validators=[DataRequired(), NOTE_LIMIT])


def _clause_choices(policy: Policy) -> list[SelectChoice]:
    return [
        SelectChoice(c.id, f"{c.label} ({c.id})", optgroup=g.label)
        for g in policy.groups
        for c in g.clauses
    ]


def _required(message: str) -> list:
    return [InputRequired(message=message)]


def _text(label: str, limit: int, message: str) -> TextAreaField:
    """A required free-text answer (blank or whitespace-only is refused with `message`)."""
    return TextAreaField(label, validators=[DataRequired(message=message), Length(max=limit)])


def _fields_for(name: RequiredField, *, policy: Policy, required: bool) -> dict[str, Any]:
    match name:
        case RequiredField.policy_clause:
            return {
                name: SelectField(
                    "Policy clause breached",
                    choices=_clause_choices(policy),
                    validators=_required("Choose the clause."),
                )
            }
        case RequiredField.restriction:
            return {
                name: SelectField(
                    "Restriction",
                    choices=RESTRICTION_CHOICES,
                    validators=_required("Choose the restriction."),
                )
            }
        case RequiredField.duration_days:
            return {
                name: IntegerField(
                    "Duration in days" if required else "Duration in days (blank: indefinite)",
                    validators=[
                        InputRequired() if required else Optional(),
                        NumberRange(min=1, max=MAX_DURATION_DAYS),
                    ],
                )
            }
        case RequiredField.territorial_scope:
            return {
                name: SelectMultipleField(
                    "Territorial scope",
                    choices=SCOPE_CHOICES,
                    default=[WORLDWIDE],
                    validators=_required("Say where the decision applies."),
                )
            }
        case RequiredField.statement_of_reasons:
            return {
                "facts": _text("Facts and circumstances", MAX_FACTS, "State the facts."),
                "automated_detection": RadioField(
                    "Was it detected by automated means?",
                    choices=YES_NO,
                    validators=_required("Answer yes or no."),
                ),
                "automated_decision": RadioField(
                    "Was the decision taken by automated means?",
                    choices=YES_NO,
                    default="no",
                    validators=_required("Answer yes or no."),
                ),
                "ground_kind": RadioField(
                    "Ground for the decision",
                    choices=GROUND_KIND_CHOICES,
                    # Left out of a post (an older form, a script), it is the usage policy.
                    default=GroundKind.contractual.value,
                ),
                # Whether it is needed depends on the ground chosen: the service checks both.
                "legal_ground": StringField(
                    "Law named (a legal ground only)",
                    validators=[Optional(), Length(max=MAX_LEGAL_GROUND)],
                ),
                "ground": _text(
                    "Ground: how the clause applies", MAX_GROUND, "Explain the ground."
                ),
                "redress": TextAreaField(
                    "Redress: how to contest it",
                    default=DEFAULT_REDRESS,
                    validators=[DataRequired("Say how to contest it."), Length(max=MAX_REDRESS)],
                ),
            }
        case RequiredField.note:
            return {name: _text("Note (internal)", MAX_NOTE, "Write the note.")}
        case RequiredField.question:
            return {name: _text("Question to the reporter (sent to them)", MAX_NOTE, "Ask it.")}
        case RequiredField.answer:
            return {name: _text("The reporter's answer", MAX_NOTE, "Give the answer.")}
        case RequiredField.appeal_outcome:
            return {
                name: _text(
                    "Decision on the appeal, with reasons (sent to the appellant)",
                    MAX_GROUND,
                    "Give the decision on the appeal.",
                )
            }
        case RequiredField.ncmec_report_id:
            return {
                name: StringField(
                    "CyberTipline report id",
                    validators=[DataRequired("Give the report id."), Length(max=64)],
                )
            }
        case RequiredField.no_report_reason:
            return {name: _text("Why it is not reported", MAX_GROUND, "Give the reason.")}
    raise ValueError(f"no form field for {name!r}")


def transition_form_class(transition: Transition, *, policy: Policy) -> type[FlaskForm]:
    """A form class with the fields `transition` requires (and a duration beside a restriction)."""
    required = set(transition.requires)
    asked = required | (
        {RequiredField.duration_days} if RequiredField.restriction in required else set()
    )
    names = [name for name in FIELD_ORDER if name in asked]
    attributes: dict[str, Any] = {}
    for name in names:
        attributes |= _fields_for(name, policy=policy, required=name in required)
    return type(f"{transition.name.title().replace('_', '')}Form", (FlaskForm,), attributes)


def transition_form(
    transition: Transition, *, policy: Policy, defaults: dict[str, Any], formdata: Any = None
) -> FlaskForm:
    """The form of `transition`, prefixed by its name so that every form on the page is distinct;
    bound to `formdata` when given, else filled with `defaults`."""
    form_class = transition_form_class(transition, policy=policy)
    if formdata is None:
        # Explicitly unbound: another form's POST must not fill this one.
        return form_class(formdata=None, prefix=transition.name, **defaults)
    return form_class(formdata=formdata, prefix=transition.name)


def transition_fields(form: FlaskForm, transition: Transition) -> dict[str, Any]:
    """The validated form as transition fields (the statement of reasons as one mapping)."""
    data = {name: value for name, value in form.data.items() if name != "csrf_token"}
    fields = {k: v for k, v in data.items() if k not in STATEMENT_FIELDS}
    if RequiredField.statement_of_reasons in transition.requires:
        fields["statement_of_reasons"] = {
            "facts": data["facts"],
            "automated_detection": data["automated_detection"] == "yes",
            "automated_decision": data["automated_decision"] == "yes",
            "ground_kind": data["ground_kind"],
            "legal_ground": data["legal_ground"],
            "ground": data["ground"],
            "redress": data["redress"],
        }
    return fields
