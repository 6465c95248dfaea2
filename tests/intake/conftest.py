"""Fixtures for intake: realistic OpenAI moderation responses, detection bodies, an integration's
API key, and a client helper that posts JSON the way an integration does."""

import itertools
import json

import pytest

from cases.enums import ApiScope
from tests.factories import make_api_key
from workflows import ModerationCategory

_numbers = itertools.count(1)

# The categories omni-moderation-latest also checks on images (the others: text only).
_IMAGE_CATEGORIES = frozenset(
    {
        "sexual",
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "violence",
        "violence/graphic",
    }
)


def moderation_response(scores: dict[str, float] | None = None, **fields) -> dict:
    """An OpenAI moderation response for one input: every category scored low unless `scores`
    says otherwise; a category is flagged when its score reaches 0.5."""
    category_scores = {category.value: 0.0001 for category in ModerationCategory}
    category_scores.update(scores or {})
    categories = {name: score >= 0.5 for name, score in category_scores.items()}
    result = {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": category_scores,
        "category_applied_input_types": {
            name: ["text", "image"] if name in _IMAGE_CATEGORIES else ["text"]
            for name in category_scores
        },
    }
    return {
        "id": f"modr-{next(_numbers):04d}",
        "model": "omni-moderation-latest",
        "results": [result],
        **fields,
    }


def detection(
    subject_id: str | None = None,
    *,
    scores: dict[str, float] | None = None,
    subject_type: str = "account",
    source: str = "openai-moderation",
    **overrides,
) -> dict:
    """A detection body as an operator's pipeline posts it."""
    body = {
        "subject": {
            "type": subject_type,
            "id": subject_id or f"user-{next(_numbers)}",
            "display": "a user",
        },
        "source": {"name": source, "model": "omni-moderation-latest"},
        "moderation": moderation_response(scores if scores is not None else {"harassment": 0.91}),
        "content": {"ref": f"msg-{next(_numbers)}", "type": "chat_message", "excerpt": "…"},
        "occurred_at": "2026-03-01T12:00:00Z",
        "metadata": {"conversation": "conv-1"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def integration(session):
    """(ApiKey, key text) of an integration allowed to post detections."""
    api_key, text = make_api_key(session, scopes=[ApiScope.detections_write])
    session.commit()
    return api_key, text


@pytest.fixture
def post_json(app, integration):
    """POST a body (dict, or exact text) with the integration's key unless `key=None`; each call
    has a client of its own, so tests may post from several threads at once."""

    def post(url: str, body, *, key: str | None = "default", headers: dict | None = None):
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {integration[1] if key == 'default' else key}"
        return app.test_client().post(url, data=text, headers=sent)

    return post
