"""The real-browser helper leaves no process behind: not when it ends normally, not when the process
that started it is SIGKILLed (no `finally` runs then)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.evaluation.browser import find_browser, group_alive, running_browser

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no Chromium (apt-get install chromium-headless-shell)")
REPO = Path(__file__).resolve().parents[2]


def _group_members(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.split(None, 1)[0] == str(pgid)]


def _wait_gone(pgid: int, seconds: float = 60.0) -> list[str]:
    """Members of process group `pgid` still there after waiting up to `seconds` (a bound, not a timing claim)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _group_members(pgid):
        time.sleep(0.2)
    return _group_members(pgid)


def test_browser_and_all_its_helpers_end_with_the_context(tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<html><title>t</title><body>hello</body></html>", encoding="utf-8")
    with running_browser() as (proc, ws_url):
        assert ws_url.startswith("ws://127.0.0.1:")
        # The browser leads its own group, and its zygotes/renderers are in it.
        assert os.getpgid(proc.pid) == proc.pid
        assert len(_group_members(proc.pid)) > 1
    assert not group_alive(proc)
    assert _group_members(proc.pid) == []


def test_browser_dies_with_a_sigkilled_parent(tmp_path):
    script = ("from tests.evaluation.browser import running_browser\n"
              "import sys, time\n"
              "with running_browser() as (proc, url):\n"
              "    print(proc.pid, flush=True)\n"
              "    time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pgid = int(parent.stdout.readline())
        assert len(_group_members(pgid)) > 1
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone(pgid) == []
