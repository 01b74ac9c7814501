"""Our own choices in manifest.json and hacs.json, and translations for the names the code uses.

The rules hassfest and HACS apply to these files are checked in tests/test_hassfest.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from awesomeversion import AwesomeVersion

from custom_components.solar_cloud.api.metrics import METRICS, get_metric
from custom_components.solar_cloud.const import DOMAIN, VENDORS
from custom_components.solar_cloud.sensor import describe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / DOMAIN


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest() -> None:
    """Our choices within the rules test_hassfest.py checks: this domain, a cloud-polling hub
    set up in the UI, with code owners, exactly pinned requirements and a three-part version."""
    manifest = _json(PACKAGE / "manifest.json")
    assert manifest["domain"] == DOMAIN == PACKAGE.name
    assert manifest["iot_class"] == "cloud_polling"
    assert manifest["integration_type"] == "hub"
    assert manifest["config_flow"] is True
    assert manifest["codeowners"]
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["version"].count(".") == 2
    for requirement in manifest["requirements"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", requirement), requirement


def test_requirements_match_the_test_pins() -> None:
    """What users install is what the tests ran with."""
    manifest = _json(PACKAGE / "manifest.json")
    pins = (ROOT / "requirements_test.txt").read_text(encoding="utf-8").splitlines()
    for requirement in manifest["requirements"]:
        assert requirement in pins


def test_hacs_json() -> None:
    """The name HACS lists matches the integration's, and the minimum Home Assistant we claim."""
    hacs = _json(ROOT / "hacs.json")
    assert hacs["name"] == _json(PACKAGE / "manifest.json")["name"]
    assert hacs["homeassistant"] == "2026.2.0"


def test_translations_cover_every_name() -> None:
    """Every sensor translation key, vendor and state used in code is in en.json."""
    strings = _json(PACKAGE / "translations" / "en.json")
    sensors = strings["entity"]["sensor"]
    samples = [*METRICS, "pv3_voltage", "pv12_current", "mppt2_energy_total"]
    samples += ["phase_b_voltage", "phase_c_current", "phase_a_power", "line_ab_voltage"]
    samples += ["phase_a_reactive_power", "grid_import_energy_peak", "phase_b_backup_power"]
    samples += ["grid_export_reactive_energy_off_peak"]
    for key in samples:
        metric = get_metric(key)
        assert metric is not None, key
        description = describe(metric, "EUR")
        assert description.translation_key in sensors, key
        for option in metric.options:
            assert option in sensors[description.translation_key]["state"], (key, option)
    for vendor in VENDORS:
        assert vendor in strings["selector"]["vendor"]["options"]
    assert {"online", "problem"} <= set(strings["entity"]["binary_sensor"])


def test_exception_and_issue_keys_exist() -> None:
    """Every translation_key raised or used for an issue in the code has its text."""
    strings = _json(PACKAGE / "translations" / "en.json")
    # The modules that raise translated errors and create repair issues.
    code = "\n".join(
        (PACKAGE / name).read_text(encoding="utf-8") for name in ("__init__.py", "coordinator.py")
    )
    used = set(re.findall(r'translation_key="([a-z_]+)"', code))
    known = set(strings["exceptions"]) | set(strings["issues"])
    assert used <= known, used - known
    assert "permission_huawei_fusionsolar" in strings["issues"]
