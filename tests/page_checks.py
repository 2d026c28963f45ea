"""Checks shared by the tests of self-contained HTML pages (attention, report)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

URL_ATTRS = ("src", "href", "action", "poster", "data", "srcset", "xlink:href")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in ("meta", "img", "br", "hr", "input", "link"):
            self.open.append(tag)
        for k, v in attrs:
            if k in URL_ATTRS and v is not None:
                self.urls.append(v)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass

    def handle_data(self, data):
        self.text.append(data)


def parse_self_contained(html: str) -> _Page:
    """Parse the page; assert it is whole and points at nothing outside itself (inline data: images only)."""
    p = _Page()
    p.feed(html)
    p.close()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert {"html", "head", "body"} <= set(p.tags)
    assert not p.open, f"unclosed tags: {p.open}"
    assert "http://" not in html and "https://" not in html, "an external URL in the page"
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", html), "a protocol-relative URL in the page"
    assert "<link" not in html.lower() and "@import" not in html and "url(" not in html
    for u in p.urls:
        assert u.startswith("data:image/") or u.startswith("#"), f"an external resource: {u[:80]}"
    return p
