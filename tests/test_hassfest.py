"""What hassfest and HACS check beyond tests/test_manifest.py.

The homeassistant package does not ship script/hassfest, so its rules are restated here: the
services.yaml schema Home Assistant loads it with, service translations, dependencies that exist,
and a minimum Home Assistant version the tests can vouch for.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml
from awesomeversion import AwesomeVersion
from homeassistant import const as ha_const
from homeassistant.helpers import service

from custom_components.solar_cloud.const import DOMAIN

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / DOMAIN

# hassfest's manifest validation for a custom integration: these must be present.
REQUIRED_MANIFEST_KEYS = {
    "domain",
    "name",
    "codeowners",
    "config_flow",
    "documentation",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "requirements",
    "version",
}
# hassfest's services schema for custom integrations (stricter than the loader's).
SERVICE_KEYS = {"name", "description", "target", "fields"}
FIELD_KEYS = {"name", "description", "example", "default", "required", "advanced", "selector"}
FIELD_KEYS |= {"filter"}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _services() -> dict[str, Any]:
    return yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))


def test_manifest_required_keys() -> None:
    """Every key hassfest and HACS require of a custom integration is there and not empty."""
    manifest = _json(PACKAGE / "manifest.json")
    missing = REQUIRED_MANIFEST_KEYS - set(manifest)
    assert not missing
    for key in REQUIRED_MANIFEST_KEYS - {"config_flow", "requirements"}:
        assert manifest[key], key


def test_manifest_dependencies_are_core_integrations() -> None:
    """dependencies and after_dependencies name integrations that Home Assistant ships."""
    manifest = _json(PACKAGE / "manifest.json")
    names = [*manifest.get("dependencies", []), *manifest.get("after_dependencies", [])]
    assert len(names) == len(set(names))
    for name in names:
        assert name != DOMAIN
        assert importlib.util.find_spec(f"homeassistant.components.{name}") is not None, name


def test_hacs_minimum_version_is_tested() -> None:
    """hacs.json's minimum Home Assistant is not newer than the version the tests run on."""
    hacs = _json(ROOT / "hacs.json")
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    assert minimum <= AwesomeVersion(ha_const.__version__)
    if "hacs" in hacs:
        assert AwesomeVersion(hacs["hacs"]).valid
    if hacs.get("zip_release"):
        assert hacs.get("filename")


def test_services_yaml_loads_with_home_assistants_schema() -> None:
    """services.yaml passes the schema Home Assistant loads it with, and hassfest's key lists."""
    services = _services()
    validated = service._SERVICES_SCHEMA(services)
    assert set(validated) == set(services)
    for name, spec in services.items():
        assert set(spec) <= SERVICE_KEYS, name
        for field, field_spec in spec.get("fields", {}).items():
            assert set(field_spec) <= FIELD_KEYS, (name, field)


def test_services_are_registered_as_listed() -> None:
    """services.yaml describes exactly the actions services.py registers."""
    from custom_components.solar_cloud.api import controls

    registered = {
        controls.FORCE_CHARGE,
        controls.FORCE_DISCHARGE,
        controls.STOP_FORCED_CHARGE,
        controls.SET_TIME_OF_USE,
    }
    assert set(_services()) == registered


def test_every_service_and_field_is_translated() -> None:
    """en.json names and describes each action and each of its fields, and nothing more."""
    strings = _json(PACKAGE / "translations" / "en.json")
    translated = strings["services"]
    services = _services()
    assert set(translated) == set(services)
    for name, spec in services.items():
        text = translated[name]
        assert text.get("name"), name
        assert text.get("description"), name
        fields = spec.get("fields", {})
        assert set(text.get("fields", {})) == set(fields), name
        for field in fields:
            assert text["fields"][field].get("name"), (name, field)
            assert text["fields"][field].get("description"), (name, field)


def test_service_selector_translation_keys_exist() -> None:
    """A select selector's translation_key has its options in en.json's selector section."""
    selectors = _json(PACKAGE / "translations" / "en.json")["selector"]

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            select = node.get("select")
            if isinstance(select, dict) and "translation_key" in select:
                options = selectors[select["translation_key"]]["options"]
                assert set(select["options"]) <= set(options), select["translation_key"]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(_services())
