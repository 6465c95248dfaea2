"""The engine on small inline definitions: every validation rule, loading, and its answers."""

import hashlib

import pytest

from tests.factories import MINI_WORKFLOW as MINI
from workflows import (
    DECISION_FIELDS,
    KNOWN_GUARDS,
    KNOWN_JOBS,
    SYSTEM,
    DecisionKind,
    DefinitionError,
    MissingFields,
    PriorityBand,
    RoleNotAllowed,
    TransitionNotAvailable,
    UnknownState,
    UnknownTransition,
    available_transitions,
    check_transition,
    check_workflow_text,
    load_workflow,
    load_workflows,
    parse_workflow,
    sla_hours,
)

MINI_CHILD = """\
name = "mini"
version = 1
label = "Mini child safety"
kind = "child_safety"
restricted = true
initial = "open"

[states.open]
label = "Open"
stage = "triage"
queue = "child_safety"
sla = { p1 = 1, p2 = 1, p3 = 2, p4 = 2 }

[states.reported]
label = "Reported"
stage = "resolved"
queue = "child_safety"
sla = { p1 = 1, p2 = 1, p3 = 2, p4 = 2 }

[states.closed]
label = "Closed"
stage = "resolved"
terminal = true

[[transitions]]
name = "report_finished"
label = "Report finished"
from = ["open"]
to = "reported"
roles = []
guards = ["ncmec_report_finished"]
jobs = ["place_preservation_hold"]

[[transitions]]
name = "decide_no_report"
label = "Decide not to report"
from = ["open"]
to = "closed"
roles = ["child_safety"]
guards = ["no_report_approved"]
second_approval = true

[[transitions]]
name = "close"
label = "Close"
from = ["reported"]
to = "closed"
roles = ["child_safety"]
"""

TRANSITION_FROM_DONE = """
[[transitions]]
name = "reopen"
label = "Reopen"
from = ["done"]
to = "open"
roles = ["reviewer"]
"""

STUCK_STATE = """
[states.stuck]
label = "Stuck"
stage = "triage"

[[transitions]]
name = "get_stuck"
label = "Get stuck"
from = ["open"]
to = "stuck"
roles = ["reviewer"]
"""

LIMBO_STATE = """
[states.limbo]
label = "Limbo"
stage = "triage"
sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }

[[transitions]]
name = "leave_limbo"
label = "Leave limbo"
from = ["limbo"]
to = "done"
roles = ["reviewer"]
"""

HOLD_FROM_ANYWHERE = """
[states.held]
label = "Held"
stage = "escalation"
sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }

[[transitions]]
name = "hold"
label = "Hold"
from = "*"
to = "held"
roles = ["lead"]

[[transitions]]
name = "release"
label = "Release"
from = ["held"]
to = "open"
roles = ["lead"]
"""

SHORTCUT = """
[[transitions]]
name = "shortcut"
label = "Shortcut"
from = ["open"]
to = "closed"
roles = ["child_safety"]
"""


def problems_in(text: str) -> list[str]:
    return check_workflow_text(
        text, source="mini.toml", known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
    )


def parse(text: str):
    return parse_workflow(
        text, source="mini.toml", known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
    )


def test_the_base_definitions_are_valid():
    assert problems_in(MINI) == []
    assert problems_in(MINI_CHILD) == []


# (definition, the problem it must report)
BROKEN = [
    pytest.param(MINI + "\nname = ", "TOML syntax error", id="toml-syntax"),
    pytest.param(
        MINI.replace('label = "Mini"\n', ""), "missing required key 'label'", id="missing-key"
    ),
    pytest.param(
        MINI.replace("version = 1", 'version = "1"'),
        "'version' must be a TOML integer, not string",
        id="wrong-type",
    ),
    pytest.param(
        MINI.replace("version = 1", "version = true"),
        "'version' must be a TOML integer, not boolean",
        id="bool-is-no-integer",
    ),
    pytest.param(
        MINI.replace("version = 1", 'version = 1\ncolour = "red"'),
        "unknown key 'colour'",
        id="extra-key",
    ),
    pytest.param(
        MINI.replace('kind = "standard"', 'kind = "special"'),
        "unknown kind 'special' (expected one of: standard, child_safety, inquiry)",
        id="unknown-kind",
    ),
    pytest.param(
        MINI.replace('name = "mini"', 'name = "Mini Flow"'),
        "'name' 'Mini Flow' must be lower-case letters, digits and underscores",
        id="bad-name",
    ),
    pytest.param(
        MINI.replace('stage = "triage"', 'stage = "limbo"'),
        "state 'open': unknown stage 'limbo' (expected one of: intake, triage, enforcement, "
        "appeal, escalation, resolved)",
        id="unknown-stage",
    ),
    pytest.param(
        MINI.replace('initial = "open"', 'initial = "start"'),
        "initial state 'start' is not defined",
        id="unknown-initial",
    ),
    pytest.param(
        MINI.replace('to = "done"', 'to = "gone"'),
        "transition 'finish': unknown state 'gone' in 'to'",
        id="unknown-to",
    ),
    pytest.param(
        MINI.replace('from = ["open"]', 'from = ["shut"]'),
        "transition 'finish': unknown state 'shut' in 'from'",
        id="unknown-from",
    ),
    pytest.param(
        MINI.replace('from = ["open"]', 'from = "open"'),
        "transition 'finish': 'from' must be a non-empty array of state names, or \"*\"",
        id="from-not-a-list",
    ),
    pytest.param(
        MINI.replace('roles = ["reviewer"]', 'roles = ["reviewer", "boss"]'),
        "transition 'finish': unknown role 'boss' (expected one of: admin, lead, reviewer, "
        "child_safety, auditor)",
        id="unknown-role",
    ),
    pytest.param(
        MINI.replace('roles = ["reviewer"]', 'roles = ["reviewer", "auditor"]'),
        "transition 'finish': role 'auditor' may not fire transitions (auditors only read)",
        id="auditor-fires",
    ),
    pytest.param(
        MINI.replace('requires = ["note"]', 'requires = ["note"]\nguards = ["full_moon"]'),
        "transition 'finish': unknown guard 'full_moon'",
        id="unknown-guard",
    ),
    pytest.param(
        MINI.replace('requires = ["note"]', 'requires = ["note"]\njobs = ["send_fax"]'),
        "transition 'finish': unknown job 'send_fax'",
        id="unknown-job",
    ),
    pytest.param(
        MINI.replace('requires = ["note"]', 'requires = ["mood"]'),
        "transition 'finish': unknown required field 'mood' (expected one of: policy_clause, "
        "statement_of_reasons, restriction, duration_days, territorial_scope, note, question, "
        "answer, appeal_outcome, ncmec_report_id, no_report_reason)",
        id="unknown-required-field",
    ),
    pytest.param(
        MINI + MINI[MINI.index("[[transitions]]") :],
        "duplicate transition name 'finish'",
        id="duplicate-transition",
    ),
    pytest.param(
        MINI + LIMBO_STATE,
        "state 'limbo' is unreachable from initial state 'open'",
        id="unreachable",
    ),
    pytest.param(
        MINI + STUCK_STATE,
        "state 'stuck' is not terminal but has no outgoing transition (dead end)",
        id="dead-end",
    ),
    pytest.param(
        MINI + TRANSITION_FROM_DONE,
        "state 'done' is terminal but has outgoing transition 'reopen'",
        id="terminal-with-exit",
    ),
    pytest.param(
        MINI.replace("p1 = 1,", "p1 = 1.5,"),
        "state 'open': sla 'p1' must be a whole number of hours, not a float (1.5)",
        id="float-in-sla",
    ),
    pytest.param(
        MINI.replace("p4 = 4", "p4 = 4, p5 = 5"),
        "state 'open': unknown priority in sla 'p5' (expected one of: p1, p2, p3, p4)",
        id="unknown-priority",
    ),
    pytest.param(
        MINI.replace("sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }", "sla = { p1 = 1, p2 = 2 }"),
        "state 'open' is a working state without sla hours for p3, p4",
        id="working-state-without-sla",
    ),
    pytest.param(
        MINI.replace("terminal = true", "terminal = true\nsla = { p1 = 1 }"),
        "state 'done' is terminal, so it must not have an sla",
        id="sla-on-terminal",
    ),
    pytest.param(
        MINI.replace('queue = "triage"', 'queue = "triage"\nwaits_on_user = true'),
        "state 'open' waits on the user (its SLA clock is paused), so it must not have an sla",
        id="sla-while-waiting-on-user",
    ),
    pytest.param(
        MINI.replace('roles = ["reviewer"]', "roles = []"),
        "state 'open' has only system transitions, which staff cannot hurry, so it must not "
        "have an sla",
        id="sla-on-system-state",
    ),
    pytest.param(
        MINI_CHILD + SHORTCUT,
        "state 'closed' (stage resolved) is reachable without a finished NCMEC report or a "
        "second-approved no-report decision: open → closed",
        id="child-safety-bypass",
    ),
    pytest.param(
        MINI_CHILD.replace("second_approval = true", "second_approval = false"),
        "transition 'decide_no_report' is guarded by 'no_report_approved' but does not require "
        "second_approval",
        id="no-report-without-second-approval",
    ),
    pytest.param(
        MINI_CHILD.replace('jobs = ["place_preservation_hold"]\n', ""),
        "transition 'report_finished' is guarded by 'ncmec_report_finished' but does not run "
        "job 'place_preservation_hold'",
        id="report-without-preservation-hold",
    ),
    pytest.param(
        MINI_CHILD.replace("restricted = true", "restricted = false"),
        "a child_safety workflow must be restricted",
        id="child-safety-unrestricted",
    ),
    pytest.param(
        MINI_CHILD.replace(
            'from = ["reported"]\nto = "closed"\nroles = ["child_safety"]',
            'from = ["reported"]\nto = "closed"\nroles = ["child_safety", "reviewer"]',
        ),
        "transition 'close': role 'reviewer' cannot see restricted cases",
        id="restricted-role",
    ),
    pytest.param(
        MINI.replace('requires = ["note"]', 'requires = ["note"]\ndecides = "verdict"'),
        "unknown decision kind in 'decides' 'verdict'",
        id="unknown-decision-kind",
    ),
    pytest.param(
        MINI.replace('requires = ["note"]', 'requires = ["note"]\ndecides = "decision"'),
        "transition 'finish': decides 'decision' but does not require policy_clause, restriction, "
        "statement_of_reasons, territorial_scope",
        id="decides-without-its-fields",
    ),
    pytest.param(
        MINI.replace(
            'requires = ["note"]', 'requires = ["restriction"]\ndecides = "partial_reversal"'
        ),
        "decides 'partial_reversal' but does not require statement_of_reasons",
        id="partial-reversal-without-reasons",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_each_rule_reports_its_problem(text, expected):
    problems = problems_in(text)
    assert any(expected in p for p in problems), problems
    # Every message names the file and, once it is known, the workflow.
    assert all(p.startswith("mini.toml: ") for p in problems)
    with pytest.raises(DefinitionError) as refused:
        parse(text)
    assert refused.value.problems == problems


def test_a_definition_with_several_problems_reports_them_all():
    text = (
        MINI.replace('roles = ["reviewer"]', 'roles = ["reviewer", "boss"]')
        .replace("p1 = 1,", "p1 = 1.5,")
        .replace('requires = ["note"]', 'requires = ["note"]\nguards = ["full_moon"]')
        .replace('label = "Done"\n', "")
        + LIMBO_STATE
    )
    problems = problems_in(text)
    expected = [
        "state 'open': sla 'p1' must be a whole number of hours, not a float (1.5)",
        "state 'done': missing required key 'label'",
        "transition 'finish': unknown role 'boss'",
        "transition 'finish': unknown guard 'full_moon'",
        "state 'limbo' is unreachable from initial state 'open'",
    ]
    for message in expected:
        assert any(message in p for p in problems), (message, problems)
    with pytest.raises(DefinitionError) as refused:
        parse(text)
    assert refused.value.problems == problems
    assert all(p in str(refused.value) for p in problems)


def test_a_broken_reference_is_not_echoed_as_unreachable_states_and_dead_ends():
    assert problems_in(MINI.replace('to = "done"', 'to = "gone"')) == [
        "mini.toml: workflow 'mini': transition 'finish': unknown state 'gone' in 'to'"
    ]


def test_star_means_every_non_terminal_state_but_the_target():
    workflow = parse(MINI + HOLD_FROM_ANYWHERE)
    hold = next(t for t in workflow.transitions if t.name == "hold")
    assert hold.sources == ("open",)


def test_parsed_workflow_keeps_its_source_and_digest():
    workflow = parse(MINI)
    assert workflow.source == MINI
    assert workflow.digest == hashlib.sha256(MINI.encode()).hexdigest()
    assert (workflow.name, workflow.version, workflow.initial) == ("mini", 1, "open")
    assert workflow.states["open"].sla[PriorityBand.p2] == 2


# --- loading files ---------------------------------------------------------------------------


def write(directory, name, text):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def load(dirs):
    return load_workflows(dirs, known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)


def test_later_directories_override_earlier_ones_by_name(tmp_path):
    write(tmp_path / "shipped", "mini.toml", MINI)
    override = MINI.replace("version = 1", "version = 2")
    path = write(tmp_path / "instance", "mini.toml", override)
    loaded = load([tmp_path / "shipped", tmp_path / "instance", tmp_path / "missing"])
    assert loaded["mini"].version == 2
    assert loaded["mini"].digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_policy_file_is_not_a_workflow(tmp_path):
    write(tmp_path, "mini.toml", MINI)
    write(tmp_path, "policy.toml", "version = 1\n")
    assert list(load([tmp_path])) == ["mini"]


def test_problems_of_every_file_are_reported_together(tmp_path):
    write(tmp_path, "mini.toml", MINI.replace('initial = "open"', 'initial = "start"'))
    write(tmp_path, "other.toml", MINI)
    with pytest.raises(DefinitionError) as refused:
        load([tmp_path])
    assert refused.value.problems == [
        f"{tmp_path / 'mini.toml'}: workflow 'mini': initial state 'start' is not defined",
        f"{tmp_path / 'other.toml'}: workflow 'mini' must be in a file named mini.toml",
    ]


def test_load_workflow_reads_one_file(tmp_path):
    path = write(tmp_path, "mini.toml", MINI)
    workflow = load_workflow(path, known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)
    assert workflow.label == "Mini"


def test_guards_and_jobs_are_checked_against_the_given_registries():
    assert problems_in(MINI_CHILD) == []
    problems = check_workflow_text(
        MINI_CHILD, known_guards={"no_report_approved"}, known_jobs=set()
    )
    assert problems == [
        "<string>: workflow 'mini': transition 'report_finished': unknown guard "
        "'ncmec_report_finished'",
        "<string>: workflow 'mini': transition 'report_finished': unknown job "
        "'place_preservation_hold'",
    ]


# --- asking the engine -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini():
    return parse(MINI)


def test_check_transition_returns_the_transition(mini):
    found = check_transition(
        mini, state="open", transition="finish", actor_roles=["reviewer"], fields={"note": "ok"}
    )
    assert found.to == "done"


def test_unknown_transition_is_refused(mini):
    with pytest.raises(
        UnknownTransition, match="Workflow 'mini' \\(version 1\\) has no transition 'teleport'."
    ):
        check_transition(
            mini, state="open", transition="teleport", actor_roles=["admin"], fields={}
        )


def test_transition_from_another_state_is_refused(mini):
    with pytest.raises(
        TransitionNotAvailable, match="'Finish' is not available while the case is 'Done'."
    ):
        check_transition(
            mini, state="done", transition="finish", actor_roles=["reviewer"], fields={"note": "ok"}
        )


def test_role_not_allowed_is_refused(mini):
    with pytest.raises(RoleNotAllowed, match="'Finish' may be done only by: reviewer."):
        check_transition(
            mini,
            state="open",
            transition="finish",
            actor_roles=["auditor", "lead"],
            fields={"note": "ok"},
        )


def test_system_only_transitions_name_the_system():
    workflow = parse(MINI_CHILD)
    with pytest.raises(RoleNotAllowed, match="may be done only by: the system."):
        check_transition(
            workflow,
            state="open",
            transition="report_finished",
            actor_roles=["child_safety", "admin"],
            fields={},
        )
    assert (
        check_transition(
            workflow, state="open", transition="report_finished", actor_roles=[SYSTEM], fields={}
        ).to
        == "reported"
    )


def test_system_cannot_fire_staff_transitions(mini):
    with pytest.raises(RoleNotAllowed):
        check_transition(
            mini, state="open", transition="finish", actor_roles=[SYSTEM], fields={"note": "ok"}
        )


@pytest.mark.parametrize(
    "fields", [{}, {"note": None}, {"note": ""}, {"note": "   \n"}, {"note": []}, {"other": "x"}]
)
def test_blank_fields_count_as_missing(mini, fields):
    with pytest.raises(MissingFields, match="'Finish' needs: note.") as refused:
        check_transition(
            mini, state="open", transition="finish", actor_roles=["reviewer"], fields=fields
        )
    assert refused.value.fields == ["note"]


def test_unknown_state_is_refused(mini):
    with pytest.raises(UnknownState, match="State 'nowhere' is not defined in workflow 'mini'"):
        check_transition(
            mini, state="nowhere", transition="finish", actor_roles=["reviewer"], fields={}
        )
    with pytest.raises(UnknownState):
        available_transitions(mini, "nowhere", ["reviewer"])


def test_available_transitions_filters_by_state_and_role(mini):
    assert [t.name for t in available_transitions(mini, "open", ["reviewer"])] == ["finish"]
    assert available_transitions(mini, "open", ["auditor"]) == []
    assert available_transitions(mini, "done", ["reviewer"]) == []


def test_sla_hours_by_priority(mini):
    assert [sla_hours(mini, "open", p) for p in ("p1", "p2", "p3", "p4")] == [1, 2, 3, 4]
    assert sla_hours(mini, "open", PriorityBand.p3) == 3
    assert sla_hours(mini, "done", "p1") is None
    with pytest.raises(ValueError):
        sla_hours(mini, "open", "p9")


@pytest.mark.parametrize(
    ("decides", "requires"),
    [
        (
            "decision",
            '["policy_clause", "restriction", "statement_of_reasons", "territorial_scope"]',
        ),
        ("partial_reversal", '["restriction", "statement_of_reasons"]'),
        ("reversal", '["statement_of_reasons"]'),
    ],
)
def test_a_deciding_transition_declares_its_kind(decides, requires):
    workflow = parse(
        MINI.replace('requires = ["note"]', f"requires = {requires}\ndecides = {decides!r}")
    )
    (finish,) = workflow.transitions
    assert finish.decides is DecisionKind(decides)
    assert set(finish.requires) == DECISION_FIELDS[finish.decides]


def test_transitions_decide_nothing_unless_they_say_so():
    assert parse(MINI).transitions[0].decides is None
