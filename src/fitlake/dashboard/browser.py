"""Drive the running dashboard in headless Chromium over the DevTools protocol: wait until a page has really
rendered (Streamlit draws client-side over a websocket, so "loaded" means nothing), find error elements, take
screenshots, and time the first render of Home for the benchmark.

Used by ``tests/dashboard/test_browser.py`` and by ``fitlake.dashboard.bench.measure_home_first_render``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# url path of each page (st.Page infers it from the file name; Home is the default page at /).
PAGES = {
    "home": "",
    "data_overview": "data_overview",
    "wellness": "wellness",
    "personas": "personas",
    "predictions": "predictions",
    "realtime": "realtime",
    "completeness": "completeness",
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
# The app has finished a script run: connected, not running, no skeleton/spinner placeholder, title drawn.
RENDERED_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') === 'running') return false;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')) return false;
  return !!document.querySelector('[data-testid="stMain"] h1');
})()"""
ERRORS_JS = """(() => Array.from(document.querySelectorAll(
  '[data-testid="stException"], [data-testid="stAlertContentError"]'
)).map(e => e.innerText.slice(0, 500)))()"""
FRESHNESS_JS = """!!document.querySelector('.st-key-freshness [data-testid="stDataFrame"]')"""


class BrowserError(RuntimeError):
    pass


def chromium_binary() -> str | None:
    """Debian's chromium (``make chromium``), or $FITLAKE_CHROMIUM."""
    for candidate in (os.environ.get("FITLAKE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
        return response.read().decode()


def _wait_until(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # the service is not up yet
            last_error = e
        time.sleep(interval)
    raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last_error})" if last_error else ""))


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process we started in its own session, and its children (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def dashboard_server(root: str | os.PathLike, port: int | None = None, timeout: float = 120.0,
                     log_path: str | os.PathLike | None = None) -> Iterator[str]:
    """Run ``fitlake dashboard`` on a free port; yields its base URL once ``/_stcore/health`` answers."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "fitlake.cli", "dashboard", "--root", str(root), "--port", str(port), "--headless"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            if proc.poll() is not None:
                raise BrowserError(f"fitlake dashboard exited with code {proc.returncode}")
            return _get(f"{base}/_stcore/health").strip() == "ok"

        try:
            _wait_until(healthy, timeout, f"the dashboard at {base}")
        except BrowserError:
            if proc.poll() is not None:
                raise BrowserError(f"fitlake dashboard exited with code {proc.returncode}") from None
            raise
        yield base
    finally:
        _stop(proc)
        if log_path:
            log.close()


class Chromium:
    """One headless Chromium page driven over the DevTools protocol (a websocket, JSON messages)."""

    def __init__(self, binary: str | None = None, width: int = 1400, height: int = 1000):
        self.binary = binary or chromium_binary()
        if self.binary is None:
            raise BrowserError("chromium not found: run `make chromium` (or set FITLAKE_CHROMIUM).")
        self.size = (width, height)
        self._ids = itertools.count(1)

    def __enter__(self) -> "Chromium":
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="fitlake-chromium-")
        port = free_port()
        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--window-size")]
        self._proc = subprocess.Popen(
            [self.binary, *flags, f"--window-size={self.size[0]},{self.size[1]}", f"--user-data-dir={self._profile}",
             f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            def page_ws():
                targets = json.loads(_get(f"http://127.0.0.1:{port}/json/list"))
                return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

            self._ws = connect(_wait_until(page_ws, 30, "chromium's DevTools endpoint"), max_size=None,
                               open_timeout=30)
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1],
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        _stop(self._proc)
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from chromium to {method}")
            message = json.loads(self._ws.recv(timeout=left))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 60.0, what: str = "the page") -> None:
        _wait_until(lambda: self.evaluate(expression), timeout, what, interval=0.05)

    def wait_rendered(self, timeout: float = 60.0, settle: float = 1.0) -> None:
        """Rendered = the check holds now and still holds ``settle`` seconds later (charts draw after the run)."""
        self.wait_for(RENDERED_JS, timeout, "the page to render")
        time.sleep(settle)
        self.wait_for(RENDERED_JS, timeout, "the page to render")

    def errors(self) -> list[str]:
        return list(self.evaluate(ERRORS_JS) or [])

    def screenshot(self, path: str | os.PathLike) -> Path:
        """The whole page: Streamlit scrolls inside its main container, so the viewport is grown to the content's
        height for the capture and restored afterwards."""
        height = int(self.evaluate(
            "Math.max(...Array.from(document.querySelectorAll("
            "'[data-testid=\"stMain\"], [data-testid=\"stMainBlockContainer\"]')).map(e => e.scrollHeight), 0)")
            or 0)
        width, base_height = self.size
        tall = max(base_height, min(height + 80, 12_000))
        if tall != base_height:
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=tall, deviceScaleFactor=1, mobile=False)
            time.sleep(0.8)  # let charts re-layout at the new size
        try:
            data = self.call("Page.captureScreenshot", format="png")["data"]
        finally:
            if tall != base_height:
                self.call("Emulation.setDeviceMetricsOverride", width=width, height=base_height, deviceScaleFactor=1,
                          mobile=False)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def capture_pages(base: str, out_dir: str | os.PathLike, timeout: float = 90.0) -> dict[str, dict]:
    """Open every page, wait for it to render, screenshot it and collect its error elements."""
    report = {}
    with Chromium() as browser:
        for name, path in PAGES.items():
            started = time.monotonic()
            browser.open(f"{base}/{path}")
            browser.wait_rendered(timeout)
            shot = browser.screenshot(Path(out_dir) / f"{name}.png")
            report[name] = {"screenshot": str(shot), "errors": browser.errors(),
                            "seconds": round(time.monotonic() - started, 2),
                            "title": browser.evaluate("document.querySelector('[data-testid=\"stMain\"] h1')?.innerText"),
                            "text": browser.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.innerText")}
    return report
