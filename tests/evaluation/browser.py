"""Open a local HTML page in headless Chromium (Debian's `chromium-headless-shell` or `chromium`)
and report what a person would see: images that failed to load, audio that does not decode, and
console errors. Speaks the DevTools protocol over a websocket (aiohttp), so no browser download."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")

CHECK_JS = """
(async () => {
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                              width: i.naturalWidth}));
  const audios = await Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(resolve => {
    const done = ok => resolve({src: a.getAttribute('src'), ok, duration: a.duration, error: a.error && a.error.code});
    if (a.readyState >= 2) return done(true);
    a.addEventListener('loadeddata', () => done(a.duration > 0), {once: true});
    a.addEventListener('error', () => done(false), {once: true});
    a.preload = 'auto'; a.load();
    setTimeout(() => done(a.readyState >= 2 && a.duration > 0), 15000);
  })));
  return JSON.stringify({title: document.title, images: imgs, audios});
})()
"""


# Runs first in the browser's process group and starts the browser as its child. It reads its stdin, a
# pipe whose only writer is the test process: end of file means that process is gone, whatever killed
# it, and then the watchdog SIGKILLs its whole group. It exits with the browser otherwise.
_WATCHDOG = """
import os, signal, subprocess, sys, threading
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def orphaned():
    sys.stdin.buffer.read()
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=orphaned, daemon=True).start()
sys.exit(child.wait())
"""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def inspect_page(page: Path, timeout: float = 60.0) -> dict[str, Any]:
    """{'title', 'images': [{src, ok, width}], 'audios': [{src, ok, duration}], 'errors': [str]}."""
    with running_browser(timeout) as (_, ws_url):
        return asyncio.run(asyncio.wait_for(_inspect(ws_url, page.resolve().as_uri()), timeout))


@contextlib.contextmanager
def running_browser(timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """A headless Chromium with a throw-away profile: yields (its process, its DevTools websocket URL).

    Chromium runs in a session of its own, it and its zygotes, GPU process and renderers, and the
    whole process group is ended on the way out: ending only the process we started leaves the
    zygotes and renderers alive after pytest exits (Debian's /usr/bin/chromium* are shell scripts
    that do not even exec the browser). Should this process die first (SIGKILL: no `finally` runs),
    a watchdog in the group kills the group (see _WATCHDOG)."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found: apt-get install chromium-headless-shell")
    with tempfile.TemporaryDirectory(prefix="audiogen-chromium-", ignore_cleanup_errors=True) as profile:
        log_path = Path(profile) / "stderr.log"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
               f"--user-data-dir={profile}", "--allow-file-access-from-files",
               "--autoplay-policy=no-user-gesture-required", "about:blank"]
        with open(log_path, "wb") as log:  # a file, not a pipe: a pipe nobody reads fills up and blocks Chromium
            proc = subprocess.Popen([sys.executable, "-c", _WATCHDOG, *cmd], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            yield proc, _devtools_url(proc, Path(profile), log_path, timeout)
        finally:
            end_process_group(proc)
            proc.stdin.close()


def end_process_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the process group led by `proc` (started with start_new_session=True), then
    SIGKILL to whatever of the group is left after `grace` seconds; reaps `proc`."""
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(proc):
            time.sleep(0.05)
        if not group_alive(proc):
            break
    proc.wait()


def group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader, else it stays a zombie member of the group
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _devtools_url(proc: subprocess.Popen, profile: Path, log_path: Path, timeout: float) -> str:
    """The browser's DevTools websocket, from the DevToolsActivePort file it writes in its profile
    (port, then path) once it listens."""
    import time

    deadline = time.monotonic() + timeout
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            lines = port_file.read_text().split("\n")
        except FileNotFoundError:
            lines = []
        if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].startswith("/"):
            return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace").splitlines()[-20:]
    raise RuntimeError("Chromium did not start: " + "\n".join(tail))


async def _inspect(browser_ws: str, url: str) -> dict[str, Any]:
    import aiohttp

    errors: list[str] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(browser_ws, max_msg_size=0) as ws:
            counter = iter(range(1, 1 << 30))
            pending: dict[int, asyncio.Future] = {}
            events: asyncio.Queue = asyncio.Queue()

            async def reader():
                async for msg in ws:
                    data = json.loads(msg.data)
                    if "id" in data and data["id"] in pending:
                        pending.pop(data["id"]).set_result(data)
                    else:
                        await events.put(data)

            task = asyncio.create_task(reader())

            async def call(method: str, params: dict | None = None, session_id: str | None = None) -> dict:
                i = next(counter)
                fut = asyncio.get_running_loop().create_future()
                pending[i] = fut
                msg = {"id": i, "method": method, "params": params or {}}
                if session_id:
                    msg["sessionId"] = session_id
                await ws.send_str(json.dumps(msg))
                res = await fut
                if "error" in res:
                    raise RuntimeError(f"{method}: {res['error']}")
                return res.get("result", {})

            target = (await call("Target.createTarget", {"url": "about:blank"}))["targetId"]
            sid = (await call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                await call(f"{domain}.enable", session_id=sid)
            await call("Page.navigate", {"url": url}, session_id=sid)
            while True:  # collect console errors until the page has loaded
                ev = await events.get()
                _record_error(ev, errors)
                if ev.get("method") == "Page.loadEventFired":
                    break
            res = await call("Runtime.evaluate", {"expression": CHECK_JS, "awaitPromise": True,
                                                  "returnByValue": True}, session_id=sid)
            while not events.empty():
                _record_error(events.get_nowait(), errors)
            task.cancel()
    out = json.loads(res["result"]["value"])
    out["errors"] = errors
    return out


def _record_error(ev: dict, errors: list[str]) -> None:
    method, params = ev.get("method"), ev.get("params", {})
    if method == "Runtime.exceptionThrown":
        errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
    elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
        errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        e = params["entry"]
        errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}")
