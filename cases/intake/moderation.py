"""Reading an OpenAI moderation response, verbatim as the operator's pipeline received it.

All 13 documented categories are read; `illicit` and `illicit/violent` may be missing or null
(older models); categories this code does not know yet are kept as they are, never dropped.
Scores become integer basis points (0–10000) because hashed trail data holds no floats.
"""

from dataclasses import dataclass, field
from typing import Any

from cases.core.errors import InputInvalid
from workflows import ModerationCategory

SCALE = 10_000
# A category counts as detected when the provider flagged it or its score reaches this.
DETECTION_THRESHOLD = 5_000


class ModerationFormatError(InputInvalid):
    """The body is not a moderation response; `field` is the path at fault."""


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    model: str | None
    scores: dict[str, int]  # category → basis points, known categories only
    flags: dict[str, bool]
    unknown: dict[str, Any] = field(default_factory=dict)  # future categories, as received

    def detected(self) -> list[tuple[str, int]]:
        """Known categories flagged or over the threshold, highest score first."""
        hits = [
            (category, score)
            for category, score in self.scores.items()
            if self.flags.get(category) or score >= DETECTION_THRESHOLD
        ]
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))

    @property
    def top_score(self) -> int:
        return max(self.scores.values(), default=0)


def _basis_points(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModerationFormatError("a score must be a number from 0 to 1", field=path)
    if not 0 <= value <= 1:
        raise ModerationFormatError("a score must be between 0 and 1", field=path)
    return round(value * SCALE)


def parse_moderation(body: Any, *, path: str = "moderation") -> ModerationResult:
    """Parse the first result of a moderation response (one input per detection)."""
    if not isinstance(body, dict):
        raise ModerationFormatError("expected the moderation response object", field=path)
    results = body.get("results")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise ModerationFormatError("expected a non-empty 'results' list", field=f"{path}.results")
    result = results[0]
    where = f"{path}.results[0]"
    categories = result.get("categories")
    scores = result.get("category_scores")
    if not isinstance(categories, dict):
        raise ModerationFormatError("expected an object", field=f"{where}.categories")
    if not isinstance(scores, dict):
        raise ModerationFormatError("expected an object", field=f"{where}.category_scores")
    known = {c.value for c in ModerationCategory}
    parsed_scores: dict[str, int] = {}
    flags: dict[str, bool] = {}
    for category in ModerationCategory:
        name = category.value
        score = _basis_points(scores.get(name), f"{where}.category_scores.{name}")
        if score is not None:
            parsed_scores[name] = score
        flag = categories.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise ModerationFormatError(
                "expected true or false", field=f"{where}.categories.{name}"
            )
        flags[name] = bool(flag)
    unknown = {
        name: {"flagged": categories.get(name), "score": scores.get(name)}
        for name in sorted((set(categories) | set(scores)) - known)
    }
    flagged = result.get("flagged", any(flags.values()))
    if not isinstance(flagged, bool):
        raise ModerationFormatError("expected true or false", field=f"{where}.flagged")
    model = body.get("model")
    return ModerationResult(
        flagged=flagged,
        model=model if isinstance(model, str) else None,
        scores=parsed_scores,
        flags=flags,
        unknown=unknown,
    )
