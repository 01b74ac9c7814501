"""manifest.json, hacs.json and translations follow the rules HACS and hassfest apply."""

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

# Keys hassfest accepts in a custom integration's manifest.
MANIFEST_KEYS = {
    "domain",
    "name",
    "after_dependencies",
    "bluetooth",
    "codeowners",
    "config_flow",
    "dependencies",
    "dhcp",
    "documentation",
    "homekit",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "mqtt",
    "quality_scale",
    "requirements",
    "single_config_entry",
    "ssdp",
    "usb",
    "version",
    "zeroconf",
}
# Keys HACS accepts in hacs.json.
HACS_KEYS = {
    "name",
    "content_in_root",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "zip_release",
}


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest() -> None:
    """Required keys, domain and name first then sorted, pinned requirements, valid version."""
    manifest = _json(PACKAGE / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) <= MANIFEST_KEYS
    assert manifest["domain"] == DOMAIN == PACKAGE.name
    assert manifest["iot_class"] == "cloud_polling"
    assert manifest["integration_type"] == "hub"
    assert manifest["config_flow"] is True
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    for url in (manifest["documentation"], manifest["issue_tracker"]):
        assert url.startswith("https://")
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
    """Only keys HACS accepts; a name; the minimum Home Assistant version."""
    hacs = _json(ROOT / "hacs.json")
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"]
    assert hacs["homeassistant"] == "2026.2.0"
    assert AwesomeVersion(hacs["homeassistant"]).valid


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
