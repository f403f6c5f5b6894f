"""What the browser tests share: Debian's Chromium, its flags on this kind of machine, a free port.

Playwright's own browser download does not work here, so the tests drive /usr/bin/chromium
through the pip package playwright. Without Chromium (or playwright) a test is skipped, except
on CI, which must provide both (.ci/run installs Chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
"""Chromium's flags: no sandbox (root in a container), no GPU, no background traffic."""


def need(ok: bool, why: str) -> None:
    """Skip the test when ``ok`` is false, or fail it on CI, which must provide what is missing."""
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {why}")
        pytest.skip(why)


def need_browser():
    """Playwright's sync API, once Chromium and playwright are known to be there (else skip, or fail on CI)."""
    need(CHROMIUM.exists(), f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        need(False, "the playwright package is not installed")
    return sync_api


def free_port() -> int:
    """A TCP port on localhost that no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
