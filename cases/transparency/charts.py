"""The transparency page's breakdowns: each figure that has parts, as labelled rows for its table
and a horizontal bar chart the template draws as inline SVG.

No charting library: pygal, the well-kept pure-Python SVG one, colours and lays out its charts
through a `<style>` element inside the SVG, which the app's CSP (`style-src 'self'`, no inline
styles) blocks on an inline SVG, leaving the chart without its colours, and its tooltips
need scripts. A bar chart is a few rectangles and texts whose geometry and colour are SVG
presentation attributes, which the CSP allows; it reads without JavaScript, and the table beside
it carries the same numbers for screen readers (as the case page's score bars do).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cases.enums import AppealOutcome
from cases.transparency.service import TransparencyFigures
from workflows import Policy

WIDTH = 640
LABEL_WIDTH = 280  # labels are right-aligned against this edge
BAR_SPACE = 290  # the longest bar; its number is written after it
ROW, BAR_HEIGHT, PAD = 24, 16, 4
LABEL_CHARACTERS = 42  # what fits in LABEL_WIDTH at the chart's font size; longer ones are cut


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    value: int


@dataclass(frozen=True)
class Bar:
    label: str
    """Cut to fit; `row.label` is the whole of it (the bar's tooltip)."""
    row: Row
    y: int
    width: float
    label_x = LABEL_WIDTH - 8
    x = LABEL_WIDTH
    height = BAR_HEIGHT

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 4

    @property
    def value_x(self) -> float:
        return LABEL_WIDTH + self.width + 6


@dataclass(frozen=True)
class Breakdown:
    id: str
    title: str
    rows: tuple[Row, ...]
    width = WIDTH

    @property
    def total(self) -> int:
        return sum(r.value for r in self.rows)

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The rows as bars scaled to the largest (nothing to draw when all are 0)."""
        largest = max((r.value for r in self.rows), default=0)
        if not largest:
            return ()
        return tuple(
            Bar(
                label=_fit(row.label),
                row=row,
                y=PAD + i * ROW,
                width=round(BAR_SPACE * row.value / largest, 1),
            )
            for i, row in enumerate(self.rows)
        )

    @property
    def height(self) -> int:
        return 2 * PAD + ROW * len(self.rows)


def _fit(label: str) -> str:
    return label if len(label) <= LABEL_CHARACTERS else label[: LABEL_CHARACTERS - 1] + "…"


def words(key: str) -> str:
    """A key as words: `partially_reversed` → "Partially reversed"."""
    return key.replace("_", " ").capitalize()


def category_words(key: str) -> str:
    return words(key.removeprefix("STATEMENT_CATEGORY_").lower())


def _rows(values: Mapping[str, int], label: Callable[[str], str]) -> tuple[Row, ...]:
    return tuple(Row(key=key, label=label(key), value=n) for key, n in values.items())


def breakdowns(figures: TransparencyFigures, *, policy: Policy) -> list[Breakdown]:
    """Every figure with parts, in the page's order, labelled for people."""
    clauses = {c.id: c.label for c in policy.clauses}
    groups = {g.id: g.label for g in policy.groups}
    data = figures.as_dict()
    data["appeal_outcomes"] = {outcome: data["appeals"][outcome] for outcome in AppealOutcome}
    parts = (
        ("notices_by_source", "Notices by source", words),
        ("notices_by_category", "Notices by DSA category", category_words),
        ("notices_by_group", "Notices by policy", lambda key: groups.get(key, words(key))),
        ("notices_by_clause", "Notices by clause", lambda key: clauses.get(key, words(key))),
        ("own_initiative_by_source", "Own-initiative detections by source", words),
        ("decisions_by_restriction", "Decisions by restriction", words),
        ("decisions_by_ground", "Decisions by ground", words),
        ("appeal_outcomes", "Appeals decided, by outcome", words),
        ("sla_breaches_by_queue", "SLA breaches by queue", words),
    )
    return [
        Breakdown(id=key, title=title, rows=_rows(data[key], label)) for key, title, label in parts
    ]
