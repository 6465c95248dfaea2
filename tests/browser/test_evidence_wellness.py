"""Evidence in the real UI: an image opens only after a reason, arrives blurred and greyscale, and
is revealed by selecting it; without script the same holds on a page of its own; the reviewer's
exposure counter follows; the page's CSP is never broken along the way."""

import pytest
from sqlmodel import select

from cases.intake.service import receive
from cases.lifecycle.actors import Actor
from cases.models import Case, EvidenceView
from tests.casework import detection
from tests.evidence.test_viewing import png
from tests.factories import PASSWORD, make_user
from tests.helpers import fresh

pytestmark = pytest.mark.browser


@pytest.fixture
def image_case(app, session, add_image):
    """A case opened by a classifier detection, with an image as evidence."""

    def make(category: str = "harassment") -> tuple[Case, str]:
        with app.test_request_context():
            case = receive(session, item=detection(category), actor=Actor.system("test")).case
            session.commit()
            blob = add_image(case, png((220, 20, 20), size=64), filename="red.png")
        return case, blob.sha256

    return make


def sign_in(page, live_server, session, role: str) -> str:
    email = f"{role.replace('_', '-')}-eye@example.org"
    make_user(session, role=role, email=email)
    session.commit()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return email


def csp_violations(page) -> list[str]:
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security" in message.text else None,
    )
    return seen


def filter_of(image) -> str:
    return image.evaluate("element => getComputedStyle(element).filter")


def test_an_image_opens_blurred_after_a_reason_and_is_revealed_on_click(
    page, live_server, session, image_case
):
    case, sha256 = image_case()
    sign_in(page, live_server, session, "reviewer")
    violations = csp_violations(page)
    page.goto(f"{live_server}/cases/{case.reference}")
    item = page.locator(f"#evidence-{sha256[:16]}")
    image = item.locator("img[data-evidence-image]")
    assert not image.is_visible() and image.get_attribute("src") is None
    assert item.locator("[data-evidence-shield]").is_visible()

    # No reason, no view: the browser keeps the form from being sent.
    item.get_by_role("button", name="Open blurred").click()
    assert not image.is_visible()
    assert fresh(session).exec(select(EvidenceView)).all() == []

    item.get_by_label("Why are you opening it?").fill("Checking the reported threat")
    item.get_by_role("button", name="Open blurred").click()
    image.wait_for(state="visible")
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert "blur(24px)" in filter_of(image) and "grayscale(1)" in filter_of(image)
    assert not item.locator("[data-evidence-shield]").is_visible()
    assert page.locator("#evidence strong[data-exposure-count]").inner_text() == "1"
    assert page.url.endswith(f"/cases/{case.reference}")  # opened in place

    image.click()
    assert filter_of(image) == "none"
    assert item.get_by_label("Reveal this image").is_checked()
    image.click()
    assert "blur(24px)" in filter_of(image)

    (view,) = fresh(session).exec(select(EvidenceView)).all()
    assert (view.blob_sha256, view.reason) == (sha256, "Checking the reported threat")
    assert violations == []


@pytest.mark.parametrize("config_overrides", [{"WELLNESS_BREAK_AFTER": 1}])
def test_the_break_prompt_shows_once_the_limit_is_reached(page, live_server, session, image_case):
    case, sha256 = image_case()
    sign_in(page, live_server, session, "reviewer")
    page.goto(f"{live_server}/cases/{case.reference}")
    prompt = page.locator("[data-break-prompt]")
    assert not prompt.is_visible()
    item = page.locator(f"#evidence-{sha256[:16]}")
    item.get_by_label("Why are you opening it?").fill("Reviewing the reported content")
    item.get_by_role("button", name="Open blurred").click()
    prompt.wait_for(state="visible")
    assert "Time for a break." in prompt.inner_text()


def test_restricted_media_asks_for_the_reason_before_anything_is_shown(
    page, live_server, session, image_case
):
    case, sha256 = image_case("sexual/minors")
    assert case.restricted
    sign_in(page, live_server, session, "child_safety")
    violations = csp_violations(page)
    page.goto(f"{live_server}/cases/{case.reference}")
    item = page.locator(f"#evidence-{sha256[:16]}")
    assert "Restricted child-safety media" in item.inner_text()
    assert item.locator("img[src]").count() == 0
    item.get_by_label("Why are you opening it?").fill("Preparing a CyberTipline report")
    item.get_by_role("button", name="Open blurred").click()
    image = item.locator("img[data-evidence-image]")
    image.wait_for(state="visible")
    assert "grayscale(1)" in filter_of(image)
    image.click()
    assert filter_of(image) == "none"
    assert violations == []


def test_without_script_the_image_opens_blurred_on_its_own_page(
    chromium, live_server, session, image_case
):
    case, sha256 = image_case()
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, live_server, session, "lead")
        page.goto(f"{live_server}/cases/{case.reference}/evidence/{sha256}/custody")
        page.get_by_label("Why are you opening it?").fill("Quality review")
        page.get_by_role("button", name="Open blurred").click()
        page.wait_for_load_state()
        image = page.locator("img[data-evidence-image]")
        assert image.is_visible() and "blur(24px)" in filter_of(image)
        image.click()  # the checkbox's label: revealing needs no script
        assert filter_of(image) == "none"
        assert page.locator("strong[data-exposure-count]").inner_text() == "1"
    finally:
        context.close()
