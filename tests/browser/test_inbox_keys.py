"""The inbox by keyboard in a real Chromium: j / k move a visible selection, Enter opens it, / searches.

Keys typed in a text field stay text: they never move the selection.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SELECTED = "[data-inbox-selected]"


def _open_links(page: Any) -> list[str]:
    """The review ids of the page's rows, top to bottom."""
    links = page.get_by_role("link", name=re.compile(r"^Open rv-"))
    return [
        str(href).removeprefix("review?id=") for href in links.evaluate_all("ls => ls.map(l => l.getAttribute('href'))")
    ]


def _selected(page: Any) -> Any:
    return page.locator(SELECTED).get_by_role("link", name=re.compile(r"^Open rv-"))


def test_j_k_enter_and_slash_drive_the_inbox(login):
    lee = login("lee", landing="Inbox")
    lee.get_by_text("j / k").first.wait_for()  # the one-line hint of the keys
    expect(lee.get_by_role("link", name=re.compile(r"^Open rv-")).nth(2)).to_be_visible()
    lee.wait_for_timeout(500)  # let the first refresh settle
    ids = _open_links(lee)
    assert len(ids) >= 3 and not lee.locator(SELECTED).count()

    lee.keyboard.press("j")
    expect(_selected(lee)).to_have_attribute("href", f"review?id={ids[0]}")
    lee.keyboard.press("j")
    lee.keyboard.press("j")
    expect(_selected(lee)).to_have_attribute("href", f"review?id={ids[2]}")
    lee.keyboard.press("k")
    expect(_selected(lee)).to_have_attribute("href", f"review?id={ids[1]}")
    lee.wait_for_timeout(1500)  # the list refreshes itself every second: the selection stays
    expect(_selected(lee)).to_have_attribute("href", f"review?id={ids[1]}")

    search = lee.get_by_role("textbox", name="Search")
    lee.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")  # the slash only moved the focus
    lee.keyboard.type("jk")
    expect(search).to_have_value("jk")  # typed, not navigated
    expect(_selected(lee)).to_have_attribute("href", f"review?id={ids[1]}")
    search.fill("")
    search.press("Tab")  # leave the field (its change applies)
    lee.locator("h1").click()  # focus back on the page, not on a widget
    expect(lee.get_by_role("link", name=f"Open {ids[1]}")).to_be_visible()

    lee.keyboard.press("Enter")
    lee.wait_for_url(re.compile(rf"review\?id={ids[1]}"))
    lee.get_by_text(f"Review {ids[1]}").first.wait_for()
