"""Profiles in a real browser: a student sees only the profiles open to them, and starts the one they pick."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import SPAWN_TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "profile-password-1"
PROFILES = {
    "standard": {"title": "Standard", "description": "For coursework.", "memory": "1G"},
    "roomy": {"title": "Roomy", "memory": "2G"},
    "staff": {"title": "Staff only", "courses": ["teach"]},
}


def test_a_student_sees_only_their_profiles_and_starts_the_one_picked(campus, hub_factory, context, artifacts_dir):
    campus.update(**{"compute.profiles": PROFILES, "courses": {"teach": {"title": "Teaching", "members": ["tina"]}}})
    campus.add_user("sam", PASSWORD)
    campus.add_user("tina", PASSWORD)
    hub = hub_factory()

    page = context.new_page()
    sign_in(page, hub.url, "sam", PASSWORD)
    choices = page.locator("input[name=profile]")
    expect(choices).to_have_count(2)
    expect(page.locator(".campushub-profiles")).to_contain_text("Standard")
    expect(page.locator(".campushub-profiles")).to_contain_text("Roomy")
    expect(page.locator(".campushub-profiles")).not_to_contain_text("Staff only")
    expect(page.locator("input[name=profile][value=standard]")).to_be_checked()
    page.screenshot(path=artifacts_dir / "profiles-student.png", full_page=True)

    page.locator(".campushub-profile", has_text="Roomy").click()
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/user/sam/lab"), timeout=SPAWN_TIMEOUT_MS)
    servers = page.request.get(f"{hub.url}/hub/api/user").json()["servers"]
    assert servers[""]["user_options"] == {"profile": "roomy"}, servers

    staff = context.browser.new_context()
    try:
        other = staff.new_page()
        sign_in(other, hub.url, "tina", PASSWORD)
        expect(other.locator("input[name=profile]")).to_have_count(3)
        expect(other.locator(".campushub-profiles")).to_contain_text("Staff only")
    finally:
        staff.close()
