"""What `harness run` does once the tests are over: render the Allure report when a generator is
installed, write the evidence bundle (and its archive), and compare with a previous run.

Verdicts are settled before this starts; a problem here is reported, never turned into a verdict."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.policy.profile import PROFILE_DIR
from harness.report.allure_render import render
from harness.report.bundle import BundleSources, write_archive, write_bundle
from harness.report.compare import compare
from harness.report.keys import Signer
from harness.rig.config import Rig

BUNDLE, ARCHIVE, ALLURE_REPORT = "bundle", "bundle.tar.gz", "allure-report"


@dataclass(frozen=True)
class PublishOptions:
    archive: bool = False
    allure: bool = True
    previous: dict[str, Any] | None = None  # the run record to compare with, loaded before the run
    previous_name: str = ""
    signer: Signer | None = None  # signs the bundle's manifest (harness run --sign)


def profile_file(name_or_path: str) -> Path:
    """The profile file `harness run --profile` named (as load_profile resolves it)."""
    path = Path(name_or_path)
    return path if path.suffix else PROFILE_DIR / f"{name_or_path}.toml"


def publish(reports: Path, rig: Rig, profile: str, options: PublishOptions,
            say: Callable[[str], None] = print) -> None:
    if options.allure:
        try:
            report = render(reports / "allure-results", reports / ALLURE_REPORT)
        except (RuntimeError, OSError) as exc:
            say(f"harness: warning: the Allure report was not rendered: {exc}")
        else:
            if report is not None:
                removed = f"; removed {len(report.removed)} external reference(s)" if report.removed else ""
                say(f"harness: Allure report ({report.generator}, offline, {report.network}) "
                    f"{report.path / 'index.html'}{removed}")
    assert rig.can.mapping is not None
    bundle = write_bundle(reports, reports / BUNDLE,
                          BundleSources(rig.path, profile_file(profile), rig.can.dbc, rig.can.mapping))
    say(f"harness: evidence bundle {bundle} (may hold personal data; see its manifest.json)")
    if options.signer is not None:
        from harness.report.signing import sign_bundle

        say(f"harness: bundle signed by {options.signer.describe()}: {sign_bundle(bundle, options.signer)}")
    if options.archive:
        say(f"harness: bundle archive {write_archive(bundle, reports / ARCHIVE)}")
    if options.previous is not None:
        current = json.loads((reports / "results.json").read_text(encoding="utf-8"))
        comparison = compare(options.previous, current, options.previous_name, str(bundle))
        (reports / "compare.json").write_text(json.dumps(comparison.to_dict(), indent=2) + "\n", encoding="utf-8")
        say(comparison.text())
