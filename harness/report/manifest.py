"""Integrity of an evidence bundle: manifest.json lists every file with its sha256, SHA256SUMS lists
the same plus the manifest itself, so one changed, missing or added byte anywhere is caught.

SHA256SUMS is in `sha256sum -c` format, so a bundle can be checked without the harness too. A signed bundle
also holds manifest.dsse.json, the signature over the manifest (harness.report.signing), outside both lists."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from harness.errors import HarnessError

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
ENVELOPE = "manifest.dsse.json"  # signs the manifest, so it cannot be listed in it
_SUM_LINE = re.compile(r"([0-9a-f]{64})  ([^\n]+)")


class BundleError(HarnessError):
    """An evidence bundle that is missing, incomplete or does not match its manifest."""


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its directory and its manifest."""

    root: Path
    manifest: dict[str, Any]

    def path(self, relative: str) -> Path:
        return self.root / _safe(relative, "manifest.json")

    def config(self, role: str) -> Path:
        value = (self.manifest.get("config") or {}).get(role)
        if not isinstance(value, str):
            raise BundleError(f"{self.root}: {MANIFEST} names no {role} file under config")
        return self.path(value)

    def run(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path(str(self.manifest.get("results", "results.json"))).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"{self.root}: the run record does not load: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            raise BundleError(f"{self.root}: the run record holds no list of tests")
        return data


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_sums(root: Path, digests: Mapping[str, str]) -> None:
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))
    (root / SUMS).write_text(text, encoding="utf-8")


def _safe(relative: str, where: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts or "\\" in relative:
        raise BundleError(f"{where} names a path outside the bundle: {relative!r}")
    return path


def _read_sums(root: Path) -> dict[str, str]:
    try:
        text = (root / SUMS).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{root}: {SUMS} is not text; the bundle has been altered") from None
    if not text.endswith("\n"):
        raise BundleError(f"{root}: {SUMS} is cut short or altered (no final newline)")
    sums: dict[str, str] = {}
    for number, line in enumerate(text[:-1].split("\n"), 1):
        match = _SUM_LINE.fullmatch(line)
        if match is None:
            raise BundleError(f"{root}: {SUMS} line {number} is malformed; the bundle has been altered")
        _safe(match.group(2), SUMS)
        sums[match.group(2)] = match.group(1)
    return sums


def _on_disk(root: Path) -> set[str]:
    found = set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            found.add((Path(folder) / name).relative_to(root).as_posix())
    return found


def verify(root: Path) -> Bundle:
    """The bundle at `root` if every file matches the manifest; else BundleError naming what differs."""
    if not root.is_dir():
        raise BundleError(f"{root}: not an evidence bundle (no such directory)")
    if not (root / MANIFEST).is_file() or not (root / SUMS).is_file():
        missing = MANIFEST if not (root / MANIFEST).is_file() else SUMS
        raise BundleError(f"{root}: not a complete evidence bundle ({missing} is missing)")
    sums = _read_sums(root)
    if sums.get(MANIFEST) != file_digest(root / MANIFEST):
        raise BundleError(f"{root}: {MANIFEST} does not match its sha256 in {SUMS}; the bundle has been altered")
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        files = {str(k): str(v["sha256"]) for k, v in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError(f"{root}: {MANIFEST} is not a bundle manifest") from None
    if sums != {**files, MANIFEST: sums[MANIFEST]}:
        differ = sorted(set(sums) ^ (set(files) | {MANIFEST})) or sorted(k for k in files if sums.get(k) != files[k])
        raise BundleError(f"{root}: {SUMS} and {MANIFEST} disagree about {differ[0]}; the bundle has been altered")
    present = _on_disk(root) - {ENVELOPE}
    expected = set(files) | {MANIFEST, SUMS}
    if expected - present:
        gone = sorted(expected - present)
        raise BundleError(f"{root}: the bundle is incomplete: {len(gone)} file(s) missing, e.g. {gone[0]}")
    if present - expected:
        extra = sorted(present - expected)
        raise BundleError(f"{root}: the bundle holds {len(extra)} file(s) its manifest does not list, e.g. {extra[0]}")
    for name, digest in sorted(files.items()):
        entry = manifest["files"][name]
        path = root / _safe(name, MANIFEST)
        if path.stat().st_size != entry.get("size") or file_digest(path) != digest:
            raise BundleError(f"{root}: {name} does not match the manifest (sha256 differs); the bundle has been "
                              f"altered")
    return Bundle(root, manifest)


@contextlib.contextmanager
def open_bundle(path: Path, first: Callable[[Path], object] | None = None) -> Iterator[Bundle]:
    """A verified bundle from a directory or a .tar.gz archive (unpacked to a temporary directory).

    `first` sees the bundle's directory before the files are checked (the signature, when one is required)."""
    if path.is_dir():
        if first is not None:
            first(path)
        yield verify(path)
        return
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle (give the bundle directory or its .tar.gz archive)")
    with tempfile.TemporaryDirectory(prefix="harness-bundle-") as scratch:
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleError(f"{path}: not a readable bundle archive: {exc}") from None
        tops = [p for p in Path(scratch).iterdir()]
        root = tops[0] if len(tops) == 1 and tops[0].is_dir() else Path(scratch)
        if first is not None:
            first(root)
        yield verify(root)
