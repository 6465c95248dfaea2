"""What loading checks about appeals: the window (DSA Art. 20(1): six months at least), who files
an appeal (the appeals service alone) and who hears it (never the decision's author)."""

import pytest

from tests.workflows.test_engine import parse, problems_in
from workflows import SHIPPED_DIR, AppealOutcome

STANDARD = (SHIPPED_DIR / "standard.toml").read_text()


def changed(old: str, new: str) -> str:
    assert old in STANDARD, old
    return STANDARD.replace(old, new, 1)


def test_the_shipped_workflow_declares_who_files_and_ends_appeals():
    workflow = parse(STANDARD)
    by_name = {t.name: t for t in workflow.transitions}
    assert workflow.appeal_window_days == 183
    assert [t.name for t in workflow.transitions if t.files_appeal] == ["file_appeal"]
    assert {n: t.ends_appeal for n, t in by_name.items() if t.ends_appeal} == {
        "omit_appeal": AppealOutcome.omitted,
        "uphold": AppealOutcome.upheld,
        "partially_reverse": AppealOutcome.partially_reversed,
        "reverse": AppealOutcome.reversed,
    }


@pytest.mark.parametrize(("days", "valid"), [(181, False), (182, True), (365, True)])
def test_the_window_is_never_below_six_months(days, valid):
    text = changed("appeal_window_days = 183", f"appeal_window_days = {days}")
    problems = problems_in(text)
    assert (not problems) is valid, problems
    if not valid:
        assert any("'appeal_window_days' must be at least 182" in p for p in problems)


BROKEN = [
    pytest.param(
        changed("files_appeal = true\n", ""),
        "transition 'file_appeal': a transition into the appeal stage from outside it must set "
        "files_appeal = true",
        id="entry-without-files-appeal",
    ),
    pytest.param(
        changed(
            'to = "appeal"\nroles = []\nfiles_appeal = true',
            'to = "appeal"\nroles = ["reviewer"]\nfiles_appeal = true',
        ),
        "transition 'file_appeal': files_appeal transitions are the system's",
        id="staff-filing",
    ),
    pytest.param(
        changed(
            'ends_appeal = "omitted"\nguards = ["not_decision_author"]', 'ends_appeal = "omitted"'
        ),
        "transition 'omit_appeal': a transition out of the appeal stage must be guarded by "
        "'not_decision_author'",
        id="omit-by-the-author",
    ),
    pytest.param(
        changed('ends_appeal = "upheld"', 'ends_appeal = "reversed"'),
        "transition 'uphold': ends_appeal 'reversed' must decide 'reversal'",
        id="outcome-without-its-decision",
    ),
    pytest.param(
        changed('ends_appeal = "partially_reversed"', 'ends_appeal = "upheld"'),
        "transition 'partially_reverse': ends_appeal 'upheld' must not decide",
        id="outcome-with-a-decision",
    ),
    pytest.param(
        changed('ends_appeal = "upheld"', 'ends_appeal = "granted"'),
        "unknown outcome in 'ends_appeal' 'granted'",
        id="unknown-outcome",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_each_appeal_rule_reports_its_problem(text, expected):
    problems = problems_in(text)
    assert any(expected in p for p in problems), problems
