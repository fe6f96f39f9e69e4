"""Open a local HTML page in headless Chromium (Debian's `chromium-headless-shell` or `chromium`)
and report what a person would see: images that failed to load, audio that does not decode, and
console errors. Speaks the DevTools protocol over a websocket (aiohttp), so no browser download."""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def inspect_page(page: Path, timeout: float = 60.0) -> dict[str, Any]:
    """{'title', 'images': [{src, ok, width}], 'audios': [{src, ok, duration}], 'errors': [str]}."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found: apt-get install chromium-headless-shell")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                                 f"--user-data-dir={profile}", "--allow-file-access-from-files",
                                 "--autoplay-policy=no-user-gesture-required", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ws_url = _devtools_url(proc, timeout)
            return asyncio.run(asyncio.wait_for(_inspect(ws_url, page.resolve().as_uri()), timeout))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _devtools_url(proc: subprocess.Popen, timeout: float) -> str:
    import time

    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        m = re.search(r"DevTools listening on (ws://\S+)", line)
        if m:
            return m.group(1)
    raise RuntimeError("Chromium did not start: " + "".join(lines[-20:]))


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
