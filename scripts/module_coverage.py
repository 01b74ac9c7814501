"""Fail when any module of the integration is below a coverage threshold.

``coverage report --fail-under`` checks the total only; the Integration Quality Scale's
test-coverage rule asks it of every module. Reads the ``.coverage`` file that the pytest run of
scripts/test wrote.

    .venv/bin/python scripts/module_coverage.py [--fail-under 95] [--data-file .coverage]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / "solar_cloud"


def main(argv: list[str] | None = None) -> int:
    """Print the modules under the threshold; exit 1 if there is one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fail-under", type=float, default=95.0)
    parser.add_argument("--data-file", default=str(ROOT / ".coverage"))
    args = parser.parse_args(argv)
    cov = coverage.Coverage(data_file=args.data_file)
    cov.load()
    measured = {Path(name).resolve() for name in cov.get_data().measured_files()}
    modules = sorted(PACKAGE.rglob("*.py"))
    low: list[str] = []
    for module in modules:
        name = str(module.relative_to(ROOT))
        if module.resolve() not in measured:
            # A module no test imported has no coverage at all.
            low.append(f"{name}: not measured")
            continue
        _, statements, _, missing, _ = cov.analysis2(str(module))
        if not statements:
            continue
        percent = 100.0 * (len(statements) - len(missing)) / len(statements)
        if percent < args.fail_under:
            low.append(f"{name}: {percent:.1f} %")
    for line in low:
        print(f"module_coverage: {line} (under {args.fail_under:g} %)")
    if low:
        return 1
    print(f"module_coverage: all {len(modules)} modules at {args.fail_under:g} % or more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
