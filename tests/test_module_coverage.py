"""scripts/module_coverage.py: the per-module coverage gate of scripts/test."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import coverage
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / "solar_cloud"
LOW = PACKAGE / "api" / "values.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "module_coverage", ROOT / "scripts" / "module_coverage.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_file(tmp_path: Path, share: dict[Path, float]) -> str:
    """A coverage data file in which each module has ``share`` of its statements run (1.0 default)."""
    path = tmp_path / "coverage.data"
    cov = coverage.Coverage(data_file=str(path))
    lines: dict[str, list[int]] = {}
    for module in PACKAGE.rglob("*.py"):
        if module.parent.name == "translations":
            continue
        _, statements, _, _, _ = cov.analysis2(str(module))
        keep = round(len(statements) * share.get(module, 1.0))
        lines[str(module)] = sorted(statements)[:keep]
    data = coverage.CoverageData(basename=str(path))
    data.add_lines(lines)
    data.write()
    return str(path)


def test_every_module_covered_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """All statements run: exit 0."""
    assert _script().main(["--data-file", _data_file(tmp_path, {})]) == 0
    assert "all" in capsys.readouterr().out


def test_one_low_module_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A total far above 95 % still fails when one module is at 90 %, and names that module."""
    data_file = _data_file(tmp_path, {LOW: 0.9})
    assert _script().main(["--data-file", data_file]) == 1
    out = capsys.readouterr().out
    assert "custom_components/solar_cloud/api/values.py" in out
    assert out.count("module_coverage:") == 1
    # The same data passes a threshold the module meets.
    assert _script().main(["--data-file", data_file, "--fail-under", "85"]) == 0


def test_unmeasured_module_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A module no test imported counts as uncovered, not as skipped."""
    data_file = _data_file(tmp_path, {})
    data = coverage.CoverageData(basename=data_file)
    data.read()
    kept = {
        name: sorted(data.lines(name) or []) for name in data.measured_files() if name != str(LOW)
    }
    Path(data_file).unlink()
    fresh = coverage.CoverageData(basename=data_file)
    fresh.add_lines(kept)
    fresh.write()
    assert _script().main(["--data-file", data_file]) == 1
    assert "api/values.py: not measured" in capsys.readouterr().out
