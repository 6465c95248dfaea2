"""Diagrams of a workflow: Mermaid (rendered on the case page) and Graphviz DOT (for the CLI).

Both mark where a case stands when given ``current``. Transitions only the system fires are
labelled "(system)" in Mermaid, whose state diagrams cannot style single edges, and dashed in DOT.
"""

from __future__ import annotations

from workflows.engine import Transition, Workflow, get_state

CURRENT_FILL = "#fde68a"
CURRENT_STROKE = "#b45309"


def _mermaid_text(text: str) -> str:
    # Mermaid reads '#…;' as an entity and ';' as a statement end; '#' must go first.
    return text.replace("#", "#35;").replace(";", "#59;").replace('"', "#quot;")


def _edge_label(transition: Transition) -> str:
    return f"{transition.label} (system)" if transition.system_only else transition.label


def to_mermaid(workflow: Workflow, *, current: str | None = None) -> str:
    """A ``stateDiagram-v2``: the initial state from ``[*]``, terminal states to ``[*]``."""
    if current is not None:
        get_state(workflow, current)
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{_mermaid_text(s.label)}" as {s.name}' for s in workflow.states.values()]
    lines.append(f"    [*] --> {workflow.initial}")
    lines += [
        f"    {source} --> {t.to}: {_mermaid_text(_edge_label(t))}"
        for t in workflow.transitions
        for source in t.sources
    ]
    lines += [f"    {s.name} --> [*]" for s in workflow.states.values() if s.terminal]
    if current is not None:
        lines.append(
            f"    classDef current fill:{CURRENT_FILL},stroke:{CURRENT_STROKE},stroke-width:3px"
        )
        lines.append(f"    class {current} current")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(workflow: Workflow, *, current: str | None = None) -> str:
    """A Graphviz digraph; terminal states drawn with a double border, ``current`` filled."""
    if current is not None:
        get_state(workflow, current)
    lines = [
        f"digraph {_dot_text(workflow.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="sans-serif"];',
        '    edge [fontname="sans-serif", fontsize=10];',
        '    "__start__" [shape=point, label=""];',
        f'    "__start__" -> {_dot_text(workflow.initial)};',
    ]
    for state in workflow.states.values():
        label = f"{state.label}\n({state.stage})"
        attrs = [f"label={_dot_text(label)}"]
        if state.terminal:
            attrs.append("peripheries=2")
        if state.name == current:
            attrs += [
                'style="rounded,filled,bold"',
                f'fillcolor="{CURRENT_FILL}"',
                f'color="{CURRENT_STROKE}"',
            ]
        lines.append(f"    {_dot_text(state.name)} [{', '.join(attrs)}];")
    for t in workflow.transitions:
        attrs = [f"label={_dot_text(t.label)}"] + (["style=dashed"] if t.system_only else [])
        lines += [
            f"    {_dot_text(source)} -> {_dot_text(t.to)} [{', '.join(attrs)}];"
            for source in t.sources
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
