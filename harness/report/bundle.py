"""The evidence bundle: everything an approval body needs to re-judge a run offline (captures, logs,
the rig, profile, netmap, DBC and signal mapping, versions, the run record), hashed in a manifest.

Written after every `harness run`; `harness replay` refuses it unless every byte matches the manifest."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from harness import __version__
from harness.errors import ConfigError
from harness.report.manifest import MANIFEST, BundleError, file_digest, write_sums
from harness.report.versions import versions

FORMAT = "vehicle-harness-evidence-bundle"
FORMAT_VERSION = 1
PERSONAL_DATA_NOTICE = (
    "The captures and logs record what the vehicle sent and received: its VIN, positions, and whatever else "
    "the ECU transmitted. Treat the bundle as personal data (PIPL, GDPR): hand it only to those entitled to it, "
    "keep it no longer than needed, and do not publish it.")
# the vehicle's TLS key logs: they decrypt every TLS session in the captures, so whoever holds them reads it all
SECRET_FILES = frozenset({"keylog.txt", "gbt32960-key.txt", "gbt32960-key.pem"})
SECRET_NOTICE = ("keylog.txt files are NSS key logs: the TLS session secrets of the vehicle's connections. With them "
                 "anyone holding the captures reads what went over TLS; they are in the bundle so replay decrypts as "
                 "the run did. gbt32960-key.txt and gbt32960-key.pem files are the GB/T 32960 platform's key "
                 "(AES-128, or the RSA key pair) the encrypted data units were sealed with. Keep them with the "
                 "captures and nowhere else.")
# the run's reports that travel with the evidence; each optional, copied when the run wrote it
REPORT_FILES = ("results.json", "index.html", "matrix.csv", "matrix.json", "junit.xml")


@dataclass(frozen=True)
class BundleSources:
    """Where the run's configuration came from."""

    rig: Path
    profile: Path
    dbc: Path
    signal_mapping: Path


def write_bundle(reports: Path, destination: Path, sources: BundleSources) -> Path:
    """Write the bundle of the run recorded in `reports/results.json` to `destination` (replaced)."""
    run = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    _clear(destination)
    destination.mkdir(parents=True)
    personal: set[str] = set()
    for name in REPORT_FILES:
        if (reports / name).is_file():
            shutil.copyfile(reports / name, destination / name)
    # the run record and the reports quote findings, addresses and VINs
    personal.update(n for n in ("results.json", "index.html", "matrix.csv", "matrix.json", "junit.xml")
                    if (destination / n).is_file())
    config = _copy_config(destination, sources)
    for test in run.get("tests") or ():
        personal.update(_copy_test_evidence(reports, destination, test))
    evidence = reports / "evidence"
    if evidence.is_dir():  # run-wide evidence, e.g. the OTA trust anchor the vECU was given
        for item in sorted(evidence.iterdir()):
            if item.is_file():
                target = destination / "evidence" / item.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item, target)
    (destination / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n", encoding="utf-8")
    _write_manifest(destination, run, config, personal)
    return destination


def write_archive(bundle: Path, archive: Path) -> Path:
    """A .tar.gz of the bundle directory, members in a fixed order under one top directory."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    top = archive.name.removesuffix(".tar.gz").removesuffix(".tgz") or "bundle"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            tar.add(path, arcname=f"{top}/{path.relative_to(bundle).as_posix()}", recursive=False)
    return archive


def _clear(destination: Path) -> None:
    if not destination.exists():
        return
    if not destination.is_dir():
        raise ConfigError(f"{destination} exists and is not a directory; cannot write the evidence bundle there")
    if any(destination.iterdir()) and not (destination / MANIFEST).is_file():
        raise ConfigError(f"{destination} holds files but no {MANIFEST}; it is not an old bundle, so it is kept "
                          f"(choose another --reports directory)")
    shutil.rmtree(destination)


def _copy_config(destination: Path, sources: BundleSources) -> dict[str, str]:
    config = destination / "config"
    config.mkdir()
    if "extends" in tomllib.loads(sources.rig.read_text(encoding="utf-8")).get("rig", {}):
        from harness.rig.config import rig_tables

        # the rig it extends is not in the bundle: write the tables as the run read them
        (config / "rig.toml").write_text(tomli_w.dumps(rig_tables(sources.rig)), encoding="utf-8")
    else:
        shutil.copyfile(sources.rig, config / "rig.toml")
    shutil.copyfile(sources.profile, config / "profile.toml")
    dbc, mapping = config / sources.dbc.name, config / sources.signal_mapping.name
    if dbc == mapping:
        raise ConfigError(f"the DBC and the signal mapping are both named {dbc.name}; rename one")
    shutil.copyfile(sources.dbc, dbc)
    shutil.copyfile(sources.signal_mapping, mapping)
    (config / "netmap.toml").write_text(_netmap_text(sources.rig), encoding="utf-8")
    return {"rig": "config/rig.toml", "profile": "config/profile.toml", "netmap": "config/netmap.toml",
            "dbc": f"config/{dbc.name}", "signal_mapping": f"config/{mapping.name}"}


def _netmap_text(rig: Path) -> str:
    """The rig's netmap as a netmap file of its own (usable with `harness analyze --netmap`)."""
    from harness.rig.config import rig_tables

    data = rig_tables(rig)  # a rig that extends another takes its netmap from there
    netmap = data.get("netmap")
    if isinstance(netmap, str):  # a rig may name a netmap file instead of holding the table
        return (rig.parent / netmap).read_text(encoding="utf-8")
    if not isinstance(netmap, dict):
        raise ConfigError(f"{rig}: no [netmap] table to bundle")
    return f"# The netmap of rig {rig.name}, as the run judged with it.\n" + tomli_w.dumps(netmap)


def _copy_test_evidence(reports: Path, destination: Path, test: Mapping[str, Any]) -> set[str]:
    """Copy the test's evidence directory (capture, CAN log, scenario log, vECU log) and its seeds."""
    copied: set[str] = set()
    capture = (test.get("evidence") or {}).get("capture")
    if not capture:
        return copied
    source_dir = (reports / capture).parent
    relative_dir = Path(capture).parent
    if relative_dir.is_absolute() or ".." in relative_dir.parts:
        raise ConfigError(f"results.json: evidence path {capture!r} of {test.get('nodeid')} is not inside the reports")
    target_dir = destination / relative_dir
    if source_dir.is_dir():
        for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
            target = target_dir / path.relative_to(source_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.add(target.relative_to(destination).as_posix())
    if test.get("seeds"):
        target_dir.mkdir(parents=True, exist_ok=True)
        (target_dir / "seeds.json").write_text(json.dumps(test["seeds"], indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
    return copied


def _write_manifest(destination: Path, run: Mapping[str, Any], config: dict[str, str], personal: set[str]) -> None:
    files: dict[str, dict[str, Any]] = {}
    for root, _dirs, names in os.walk(destination):
        for name in names:
            path = Path(root) / name
            relative = path.relative_to(destination).as_posix()
            files[relative] = {"sha256": file_digest(path), "size": path.stat().st_size,
                               "personal_data": relative in personal,
                               "secret_material": name in SECRET_FILES}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "harness_version": __version__,
        "personal_data": {"may_contain": True, "notice": PERSONAL_DATA_NOTICE},
        "secret_material": {"files": sorted(f for f, entry in files.items() if entry["secret_material"]),
                            "notice": SECRET_NOTICE},
        "run": {key: run.get(key) for key in ("profile", "rig", "vecu_defect", "hypothesis_seed", "started",
                                              "verdict", "counts")},
        "results": "results.json", "config": config,
        "files": dict(sorted(files.items())),
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_sums(destination, {**{k: v["sha256"] for k, v in files.items()},
                             MANIFEST: file_digest(destination / MANIFEST)})


__all__ = ["BundleError", "BundleSources", "write_archive", "write_bundle"]
