"""Diagrams of a workflow: Mermaid, Graphviz DOT (for the CLI) and inline SVG (the case page).

All mark where a case stands when given ``current``. Transitions only the system fires are
labelled "(system)" in Mermaid, whose state diagrams cannot style single edges, and dashed in DOT
and SVG.
"""

from __future__ import annotations

import html
import textwrap
from collections import defaultdict
from dataclasses import dataclass

from workflows.engine import get_state
from workflows.model import Stage, Transition, Workflow

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


# --- SVG ----------------------------------------------------------------------------------------
# Drawn server-side so the case page needs no script, and styled with presentation attributes
# only (fill, stroke…), which the page's Content-Security-Policy allows where style="" is not.

SVG_STAGE_ORDER = (
    Stage.intake,
    Stage.triage,
    Stage.escalation,
    Stage.enforcement,
    Stage.appeal,
    Stage.resolved,
)
_BOX_W, _BOX_H, _COL_GAP, _ROW_GAP = 160, 50, 64, 22
_MARGIN_X, _HEADER_H, _MARGIN_Y = 28, 26, 28
_LINE_CHARS, _LINE_H, _MAX_LINES = 24, 13, 3
_FONT = 'font-family="system-ui, sans-serif"'
_INK, _MUTED, _LINE, _SYSTEM = "#1d2330", "#5d6576", "#8a93a6", "#b0b7c5"


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    column: int

    @property
    def mid_y(self) -> int:
        return self.y + _BOX_H // 2


def _x(text: str) -> str:
    return html.escape(text, quote=True)


def _layout(workflow: Workflow) -> tuple[list[Stage], dict[str, _Box]]:
    """Columns by stage order (empty stages dropped), states in file order within a column."""
    by_stage: dict[Stage, list[str]] = defaultdict(list)
    for state in workflow.states.values():
        by_stage[state.stage].append(state.name)
    columns = [stage for stage in SVG_STAGE_ORDER if by_stage[stage]]
    boxes = {}
    for column, stage in enumerate(columns):
        x = _MARGIN_X + column * (_BOX_W + _COL_GAP)
        for row, name in enumerate(by_stage[stage]):
            y = _HEADER_H + _MARGIN_Y // 2 + row * (_BOX_H + _ROW_GAP)
            boxes[name] = _Box(x, y, column)
    return columns, boxes


def _edge_path(source: _Box, target: _Box) -> str:
    """Forward edges leave right and enter left; backward and same-column ones arc outside."""
    if target.column > source.column:
        x1, y1, x2, y2 = source.x + _BOX_W, source.mid_y, target.x, target.mid_y
        bend = (x2 - x1) // 2
        return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
    if target.column == source.column:
        x = source.x + _BOX_W
        out = x + _COL_GAP // 2
        return f"M{x},{source.mid_y} C{out},{source.mid_y} {out},{target.mid_y} {x},{target.mid_y}"
    x1, y1 = source.x + _BOX_W // 2, source.y + _BOX_H
    x2, y2 = target.x + _BOX_W // 2, target.y + _BOX_H
    low = max(y1, y2) + _ROW_GAP + 6
    return f"M{x1},{y1} C{x1},{low} {x2},{low} {x2},{y2}"


def _state_svg(state, box: _Box, *, current: bool) -> list[str]:
    fill, stroke, width = ("#fde68a", CURRENT_STROKE, 3) if current else ("#ffffff", _MUTED, 1)
    lines = textwrap.wrap(state.label, _LINE_CHARS)
    if len(lines) > _MAX_LINES:
        lines = lines[: _MAX_LINES - 1] + [
            textwrap.shorten(" ".join(lines[_MAX_LINES - 1 :]), _LINE_CHARS, placeholder="…")
        ]
    first_y = box.mid_y - (len(lines) - 1) * _LINE_H // 2 + 4
    classes = "state current" if current else "state"
    title = f"{state.label} ({state.stage}){' — current state' if current else ''}"
    out = [
        f'<g class="{classes}" data-state="{_x(state.name)}"'
        + (' aria-current="step"' if current else "")
        + ">",
        f"<title>{_x(title)}</title>",
        f'<rect x="{box.x}" y="{box.y}" width="{_BOX_W}" height="{_BOX_H}" rx="8" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>',
    ]
    if state.terminal:
        out.append(
            f'<rect x="{box.x + 3}" y="{box.y + 3}" width="{_BOX_W - 6}" height="{_BOX_H - 6}" '
            f'rx="6" fill="none" stroke="{stroke}" stroke-width="1"/>'
        )
    out += [
        f'<text x="{box.x + _BOX_W // 2}" y="{first_y + i * _LINE_H}" text-anchor="middle" '
        f'font-size="11" {_FONT} fill="{_INK}"'
        + (' font-weight="bold"' if current else "")
        + f">{_x(line)}</text>"
        for i, line in enumerate(lines)
    ]
    out.append("</g>")
    return out


def to_svg(workflow: Workflow, *, current: str | None = None) -> str:
    """The workflow as an inline SVG: a column per stage, an arrow per transition (dashed when only
    the system fires it, its labels in a tooltip), ``current`` highlighted; labels escaped."""
    if current is not None:
        get_state(workflow, current)
    columns, boxes = _layout(workflow)
    rows = max(sum(1 for b in boxes.values() if b.column == c) for c in range(len(columns)))
    width = 2 * _MARGIN_X + len(columns) * _BOX_W + (len(columns) - 1) * _COL_GAP
    height = _HEADER_H + _MARGIN_Y + rows * (_BOX_H + _ROW_GAP)
    arrow = f"arrow-{workflow.name}"
    summary = f"Workflow {workflow.label}"
    if current is not None:
        summary += f"; the case is {get_state(workflow, current).label!r}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{_x(summary)}">',
        f"<title>{_x(summary)}</title>",
        f'<defs><marker id="{_x(arrow)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{_MUTED}"/></marker></defs>',
    ]
    out += [
        f'<text class="stage" x="{_MARGIN_X + i * (_BOX_W + _COL_GAP) + _BOX_W // 2}" y="16" '
        f'text-anchor="middle" font-size="11" {_FONT} fill="{_MUTED}">{_x(stage.value)}</text>'
        for i, stage in enumerate(columns)
    ]
    edges: dict[tuple[str, str], list[Transition]] = defaultdict(list)
    for t in workflow.transitions:
        for source in t.sources:
            edges[(source, t.to)].append(t)
    for (source, target), transitions in edges.items():
        system = all(t.system_only for t in transitions)
        labels = "; ".join(_edge_label(t) for t in transitions)
        dash = ' stroke-dasharray="5 4"' if system else ""
        out.append(
            f'<path class="transition" data-from="{_x(source)}" data-to="{_x(target)}" '
            f'd="{_edge_path(boxes[source], boxes[target])}" fill="none" '
            f'stroke="{_SYSTEM if system else _LINE}" stroke-width="1.4"{dash} '
            f'marker-end="url(#{_x(arrow)})"><title>{_x(labels)}</title></path>'
        )
    initial = boxes[workflow.initial]
    out.append(
        f'<circle cx="{initial.x - 16}" cy="{initial.mid_y}" r="5" fill="{_INK}">'
        "<title>start</title></circle>"
        f'<path d="M{initial.x - 11},{initial.mid_y} L{initial.x},{initial.mid_y}" '
        f'stroke="{_INK}" stroke-width="1.4" marker-end="url(#{_x(arrow)})"/>'
    )
    for state in workflow.states.values():
        out += _state_svg(state, boxes[state.name], current=state.name == current)
    out.append("</svg>")
    return "\n".join(out) + "\n"
