"""Forms of the sign-in page and the admin pages of staff accounts, API keys and account events."""

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    Form,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from cases.accounts.service import MAX_PASSWORD_LENGTH
from cases.enums import AccountEventType, ApiScope, Role
from cases.models import User

EMAIL_MAX = 320  # the column's width (RFC 5321's path limit)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX), Email()])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    next = HiddenField()


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[role.value for role in Role])


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired()])
    scopes = SelectMultipleField(
        "Scopes",
        choices=[scope.value for scope in ApiScope],
        validators=[DataRequired(message="Choose at least one scope.")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


ANY = ""


class AccountEventFilter(Form):
    """The account events page's filters (a GET form: it changes nothing, so no CSRF token)."""

    user = SelectField("Account", default=ANY)
    type = SelectField(
        "Event",
        choices=[SelectChoice(ANY, "Any event")]
        + [SelectChoice(t.value, t.value.replace("_", " ")) for t in AccountEventType],
        default=ANY,
    )
    before = IntegerField(validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])

    def __init__(self, formdata, *, users: list[User]):
        super().__init__(formdata)
        self.user.choices = [SelectChoice(ANY, "Any account")] + [
            SelectChoice(str(u.id), u.email) for u in users
        ]

    def query_args(self) -> dict[str, str]:
        """The chosen filters as query arguments (for the pager's links)."""
        return {name: self[name].data for name in ("user", "type") if self[name].data}
