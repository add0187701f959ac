"""Render the Allure HTML report from allure-results when a generator is installed (allure-commandline
2.x on Java, or allure 3.x on Node, from the npm registry), offline and without analytics.

A report on data leaving the vehicle must not leak itself: the generator runs in a network namespace with
only `lo` where the harness is root, ALLURE_NO_ANALYTICS=true is always set, and tag scripts or external
references a generator embeds anyway are removed from every HTML page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.loopback import Loopback, loopback_only

_CHECKOUT_TOOL = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "allure"
# XML namespace names look like URLs but are identifiers a browser never fetches
NAMESPACES = frozenset({
    "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml", "http://www.w3.org/1999/xlink",
    "http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/", "http://www.w3.org/1998/Math/MathML",
})
_URL = re.compile(r"""(?:(?:https?|wss?|ftp):)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?[^\s"'<>)`]*""", re.IGNORECASE)
_EXTERNAL_SCRIPT = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?\s*(?:(?:https?:)?//)[^>]*>\s*</script\s*>""", re.IGNORECASE)
_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_ANALYTICS = re.compile(r"gtag\(|googletagmanager|google-analytics|dataLayer", re.IGNORECASE)
_EXTERNAL_TAG = re.compile(
    r"""<(?:link|img|iframe|source|embed|object|audio|video)\b[^>]*\b(?:href|src|data)\s*=\s*["']?\s*"""
    r"""(?:(?:https?:)?//)[^>]*>""", re.IGNORECASE)
TIMEOUT_S = 180


@dataclass
class AllureReport:
    path: Path
    generator: str
    removed: list[str] = field(default_factory=list)  # what was neutralised, for the record
    network: str = ""  # where the generator ran: "network: lo only", or why it was not isolated


def find_generator() -> Path | None:
    """HARNESS_ALLURE, else `allure` on PATH, else the checkout's own .tools/ (scripts/bootstrap --dev)."""
    named = os.environ.get("HARNESS_ALLURE")
    if named:
        return Path(named) if Path(named).is_file() else None
    found = shutil.which("allure")
    if found:
        return Path(found)
    return _CHECKOUT_TOOL if _CHECKOUT_TOOL.is_file() else None


def _environment() -> dict[str, str]:
    return {**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1"}


_UNISOLATED = Loopback(None)


def generator_version(tool: Path, where: Loopback = _UNISOLATED) -> str:
    try:
        done = subprocess.run(where.argv([str(tool), "--version"]), capture_output=True, text=True, timeout=60,
                              env=_environment(), check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.search(r"\b(\d+)\.(\d+)\.(\d+)\b", done.stdout + done.stderr)
    return match.group(0) if match else ""


def render(results: Path, output: Path, tool: Path | None = None) -> AllureReport | None:
    """Generate the report into `output` (replaced); None when no generator is installed.

    Raises RuntimeError with a one-line reason when an installed generator fails."""
    tool = tool or find_generator()
    if tool is None:
        return None
    with loopback_only("allure") as where:
        return _render(results, output, tool, where)


def _render(results: Path, output: Path, tool: Path, where: Loopback) -> AllureReport:
    version = generator_version(tool, where)
    if not version:
        raise RuntimeError(f"{tool} --version did not answer; is it an Allure report generator?")
    if output.exists():
        shutil.rmtree(output)
    command = [str(tool), "generate", str(results.resolve()), "-o", str(output.resolve())]
    if version.startswith("2."):
        command.append("--clean")
    try:
        # cwd: allure 3 reads an allurerc and keeps state beside where it runs; keep that in the reports
        done = subprocess.run(where.argv(command), capture_output=True, text=True, timeout=TIMEOUT_S,
                              env=_environment(), cwd=output.parent, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"allure {version} took longer than {TIMEOUT_S} s to render the report") from None
    if done.returncode != 0 or not (output / "index.html").is_file():
        last = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"allure {version} failed (exit {done.returncode}): {last[-1] if last else 'no output'}")
    return AllureReport(output, f"allure {version}", neutralise(output), where.describe())


def external_urls(page: str) -> list[str]:
    """Every URL in an HTML page that points outside it (XML namespace names excepted)."""
    return [url for url in (m.group(0) for m in _URL.finditer(page)) if not any(url.startswith(n) for n in NAMESPACES)]


def neutralise(report: Path) -> list[str]:
    """Remove analytics and external references from every HTML page under `report`."""
    removed: list[str] = []
    for page in sorted(report.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="surrogateescape")
        cleaned, dropped = clean_page(text)
        removed += [f"{page.relative_to(report)}: {what}" for what in dropped]
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8", errors="surrogateescape")
    return removed


def clean_page(text: str) -> tuple[str, list[str]]:
    """The page without analytics scripts and external references, and what was taken out."""
    dropped: list[str] = []

    def drop(match: re.Match[str]) -> str:
        dropped.append(" ".join(match.group(0).split())[:100])
        return ""

    cleaned = _EXTERNAL_SCRIPT.sub(drop, text)
    cleaned = _INLINE_SCRIPT.sub(lambda m: drop(m) if _ANALYTICS.search(m.group(1)) else m.group(0), cleaned)
    cleaned = _EXTERNAL_TAG.sub(drop, cleaned)
    # anything else that still names an outside address is defused rather than trusted
    for url in sorted(set(external_urls(cleaned)), key=len, reverse=True):
        dropped.append(f"link to {url[:80]}")
        cleaned = cleaned.replace(url, "about:blank")
    return cleaned, dropped
