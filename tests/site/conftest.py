"""Fixtures of the browser tests in this folder."""

from tests.browser import browser, page

__all__ = ["browser", "page"]
