"""The inline SVG diagram of the case page: a column per stage in stage order, every state and
transition drawn, the current state highlighted, labels escaped, and no inline styles."""

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from workflows import KNOWN_GUARDS, KNOWN_JOBS, SHIPPED_DIR, UnknownState, load_workflows
from workflows.graph import SVG_STAGE_ORDER, to_svg

WORKFLOWS = load_workflows([SHIPPED_DIR], known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize("name", ["standard", "child_safety"])
def test_every_state_and_transition_is_drawn(name):
    workflow = WORKFLOWS[name]
    root = parse(to_svg(workflow))
    states = {g.get("data-state") for g in root.iter(f"{SVG}g") if "state" in g.get("class", "")}
    assert states == set(workflow.states)
    edges = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path")}
    expected = {(source, t.to) for t in workflow.transitions for source in t.sources}
    assert expected <= edges
    assert "current" not in to_svg(workflow)


def test_states_are_laid_out_in_columns_by_stage_order():
    workflow = WORKFLOWS["standard"]
    root = parse(to_svg(workflow))
    x = {}
    for group in root.iter(f"{SVG}g"):
        rect = group.find(f"{SVG}rect")
        x[group.get("data-state")] = int(rect.get("x"))
    order = {stage: i for i, stage in enumerate(SVG_STAGE_ORDER)}
    by_stage = sorted(workflow.states.values(), key=lambda s: order[s.stage])
    for before, after in zip(by_stage, by_stage[1:], strict=False):
        if before.stage == after.stage:
            assert x[before.name] == x[after.name]
        else:
            assert x[before.name] < x[after.name]
    headers = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "stage"]
    assert headers == ["intake", "triage", "escalation", "enforcement", "appeal", "resolved"]


def test_the_current_state_is_highlighted():
    svg = to_svg(WORKFLOWS["standard"], current="enforcement")
    root = parse(svg)
    (current,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "state current"]
    assert current.get("data-state") == "enforcement" and current.get("aria-current") == "step"
    assert current.find(f"{SVG}rect").get("stroke-width") == "3"
    assert "Awaiting a decision" in root.get("aria-label")


def test_system_transitions_are_dashed():
    root = parse(to_svg(WORKFLOWS["standard"]))
    paths = {(p.get("data-from"), p.get("data-to")): p for p in root.iter(f"{SVG}path")}
    assert paths[("enforced", "appeal")].get("stroke-dasharray")
    assert paths[("new", "triage")].get("stroke-dasharray") is None
    assert paths[("enforced", "appeal")].find(f"{SVG}title").text == "Appeal filed (system)"


def test_labels_are_escaped_and_no_inline_styles_are_used():
    workflow = WORKFLOWS["standard"]
    hostile = {
        name: replace(state, label='<script>alert("x")</script> & co') if name == "new" else state
        for name, state in workflow.states.items()
    }
    svg = to_svg(replace(workflow, states=hostile), current="new")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    parse(svg)  # still well-formed
    assert not re.search(r"\sstyle=|<style", svg)


def test_an_unknown_current_state_is_refused():
    with pytest.raises(UnknownState):
        to_svg(WORKFLOWS["standard"], current="nowhere")
