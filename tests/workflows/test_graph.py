"""Diagrams: every state is drawn, the current one is marked, labels are escaped."""

import pytest

from workflows import KNOWN_GUARDS, KNOWN_JOBS, SHIPPED_DIR, UnknownState, load_workflows
from workflows.graph import to_dot, to_mermaid

WORKFLOWS = load_workflows([SHIPPED_DIR], known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)


@pytest.mark.parametrize("name", ["standard", "child_safety"])
def test_mermaid_draws_every_state_and_marks_the_current_one(name):
    workflow = WORKFLOWS[name]
    current = next(s for s in workflow.states if s != workflow.initial)
    diagram = to_mermaid(workflow, current=current)
    assert diagram.startswith("stateDiagram-v2\n")
    for state in workflow.states.values():
        assert f" as {state.name}\n" in diagram
        if state.terminal:
            assert f"    {state.name} --> [*]\n" in diagram
    assert f"    [*] --> {workflow.initial}\n" in diagram
    assert diagram.endswith(f"    class {current} current\n")
    assert "classDef" not in to_mermaid(workflow)


@pytest.mark.parametrize("name", ["standard", "child_safety"])
def test_dot_draws_every_state_and_marks_the_current_one(name):
    workflow = WORKFLOWS[name]
    current = workflow.initial
    diagram = to_dot(workflow, current=current)
    assert diagram.startswith(f'digraph "{name}" {{')
    for state in workflow.states:
        assert f'    "{state}" [label=' in diagram
    (line,) = [x for x in diagram.splitlines() if x.startswith(f'    "{current}" [')]
    assert "filled" in line and "fillcolor" in line
    assert "fillcolor" not in to_dot(workflow)


def test_every_transition_is_an_edge_and_system_ones_are_marked():
    workflow = WORKFLOWS["standard"]
    mermaid, dot = to_mermaid(workflow), to_dot(workflow)
    for t in workflow.transitions:
        for source in t.sources:
            assert f"    {source} --> {t.to}: " in mermaid
            assert f'    "{source}" -> "{t.to}" [label=' in dot
    assert "    enforced --> appeal: Appeal filed (system)\n" in mermaid
    assert '"enforced" -> "appeal" [label="Appeal filed", style=dashed];' in dot


def test_labels_are_escaped():
    mermaid = to_mermaid(WORKFLOWS["child_safety"])
    assert 'state "Reported to NCMEC#59; preservation hold placed" as reported' in mermaid
    assert "\\n(resolved)" in to_dot(WORKFLOWS["child_safety"])


def test_an_unknown_current_state_is_refused():
    with pytest.raises(UnknownState):
        to_mermaid(WORKFLOWS["standard"], current="nowhere")
    with pytest.raises(UnknownState):
        to_dot(WORKFLOWS["standard"], current="nowhere")
