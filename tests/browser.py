"""Headless Chromium (Debian's /usr/bin/chromium) driven over the DevTools protocol through a pipe,
so the harness's tests can load a report as a person would and see every request the page makes.

The browser runs in a network namespace with only `lo`: whatever it tries on its own (update and time
services, DNS), no packet can leave the machine. Its net log records every attempt, the page's and its own.
No browser download and no extra package: the protocol is JSON messages separated by NUL bytes on
file descriptors 3 (commands) and 4 (replies and events)."""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.report.loopback import Loopback, loopback_only
from tests.netlog import NetLog

CHROMIUM = Path("/usr/bin/chromium")
# fewer background requests of the browser's own (updates, sync, field trials); the namespace contains the rest
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
         "--remote-debugging-pipe", "--window-size=1280,1600")


def available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


class Browser:
    """One headless Chromium with a fresh profile in a namespace of its own; `open(url)` loads a page in a new tab.

    After `close()`, `net_log` holds every request and connection the browser attempted."""

    def __init__(self, timeout: float = 30.0, keep_net_log: Path | None = None) -> None:
        self.timeout = timeout
        self.keep_net_log = keep_net_log  # where the net log is kept after close, as the test's evidence
        self._stack = ExitStack()
        self.where: Loopback = self._stack.enter_context(loopback_only("web"))
        if self.where.namespace is None:
            self._stack.close()
            raise RuntimeError(f"the test browser must run where no packet can leave: {self.where.reason}")
        self.namespace: str = self.where.namespace
        self.profile = tempfile.mkdtemp(prefix="harness-chromium-")
        self._net_log_file = Path(self.profile) / "net-log.json"
        self.net_log: NetLog | None = None
        self._closed = False
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = " ".join(FLAGS)
        # exec all the way down: the process we hold is Chromium itself, inside the namespace
        command = " ".join(self.where.argv([str(CHROMIUM)]))
        command = f'exec {command} {flags} --user-data-dir="{self.profile}" --log-net-log="{self._net_log_file}" ' \
                  f"about:blank 3<&{to_browser_r} 4>&{from_browser_w}"
        self.process = subprocess.Popen(["bash", "-c", command], pass_fds=(to_browser_r, from_browser_w),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._lock:
                            waiter = self._replies.get(message["id"])
                        if waiter is not None:
                            waiter.put(message)
                    else:
                        with self._lock:
                            self.events.append(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            waiter: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[ident] = waiter
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = waiter.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(f"Chromium did not answer {method} within {self.timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result") or {})

    def wait_event(self, method: str, session: str, since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [e for e in self.events[since:] if e.get("method") == method and e.get("sessionId") == session]
            if found:
                return found[0]
            time.sleep(0.02)
        raise TimeoutError(f"no {method} within {self.timeout} s")

    def open(self, url: str) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Page", "Runtime"):
            self.send(f"{domain}.enable", session=session)
        page = Page(self, session)
        page.navigate(url)
        return page

    def pids(self) -> list[int]:
        """Chromium and every process it started (renderers, the network service)."""
        found, queue_ = [], [self.process.pid]
        while queue_:
            pid = queue_.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    queue_ += [int(child) for child in task.read_text(encoding="ascii").split()]
                except OSError:
                    pass
        return found

    def requests(self) -> list[str]:
        """Every URL any page asked for since the browser started."""
        with self._lock:
            sent = [e for e in self.events if e.get("method") == "Network.requestWillBeSent"]
        return [e["params"]["request"]["url"] for e in sent]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.send("Browser.close")
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        if self._net_log_file.is_file():
            self.net_log = NetLog.read(self._net_log_file)
            if self.keep_net_log is not None:
                shutil.copyfile(self._net_log_file, self.keep_net_log)
        shutil.rmtree(self.profile, ignore_errors=True)
        self._stack.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def navigate(self, url: str) -> None:
        mark = len(self.browser.events)
        self.browser.send("Page.navigate", {"url": url}, self.session)
        self.browser.wait_event("Page.loadEventFired", self.session, since=mark)

    def evaluate(self, expression: str) -> Any:
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"the page never satisfied {expression!r}")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """The window (or the whole page, which for a long report takes long on a loaded machine) as PNG."""
        data = self.browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page},
                                 self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
