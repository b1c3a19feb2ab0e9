"""Known-vulnerability check of the installed distributions through PyPI's JSON API.

A fallback for networks where ``pip-audit`` cannot run (it needs osv.dev or PyPI's
per-version JSON ``/pypi/NAME/VERSION/json``). PyPI's project JSON ``/pypi/NAME/json``
lists the known vulnerabilities (OSV: PYSEC/GHSA ids) of the *latest* release only, so a
distribution is audited here only when the installed version is the latest; the others are
listed as not audited. Exit code 1 when a known vulnerability is found.

    .venv/bin/python tools/audit_latest.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

INDEX = "https://pypi.org/pypi/{name}/json"


def _project(name: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(INDEX.format(name=name), timeout=30) as response:  # noqa: S310
            return json.load(response)
    except OSError:
        return None


def audit() -> dict[str, Any]:
    """Installed distributions split into vulnerable, clean (latest) and not audited."""
    installed = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()
                 if d.metadata["Name"] and d.metadata["Name"].lower() != "ecg-anomaly-stream"}
    with ThreadPoolExecutor(8) as pool:
        projects = dict(zip(installed, pool.map(_project, installed), strict=True))
    report: dict[str, Any] = {"vulnerable": {}, "clean": [], "not_audited": {}}
    for name, version in sorted(installed.items()):
        project = projects[name]
        if project is None:
            report["not_audited"][name] = f"{version}: not found on PyPI"
            continue
        latest = project["info"]["version"]
        if latest != version:
            report["not_audited"][name] = f"{version} installed, latest {latest}"
            continue
        ids = [v["id"] for v in project.get("vulnerabilities") or []]
        if ids:
            report["vulnerable"][name] = {"version": version, "ids": ids}
        else:
            report["clean"].append(f"{name}=={version}")
    return report


def main() -> int:
    """Print the report; exit 1 when anything installed has a known vulnerability."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = audit()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"audited (installed = latest release): {len(report['clean'])} clean, "
              f"{len(report['vulnerable'])} with known vulnerabilities")
        for name, found in report["vulnerable"].items():
            print(f"  VULNERABLE {name}=={found['version']}: {', '.join(found['ids'])}")
        print(f"not audited: {len(report['not_audited'])}")
        for name, why in report["not_audited"].items():
            print(f"  {name}: {why}")
    return 1 if report["vulnerable"] else 0


if __name__ == "__main__":
    sys.exit(main())
