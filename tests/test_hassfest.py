"""manifest.json, hacs.json, services.yaml, translations/en.json and icons.json pass the rules
hassfest and HACS apply to a custom integration.

Neither hassfest (home-assistant/core script/hassfest, not shipped in the homeassistant wheel)
nor HACS's validator can run here, so their rules are restated below as our own voluptuous
schemas, each with a comment naming the upstream file it restates. Upstream versions read:

- hassfest manifest.py: the copy in joostlek/core at 671a44ceeb17dd7f5992b4ede586ef2f4e5185a0,
  a fork of home-assistant/core; "locations", "preview_features" and prek date it to about
  2026.1-2026.2 (the index has no commit date). Its home-assistant/core copies are older.
- hassfest services.py: nathansavignol/home-assistant-core-ht26 at
  23d2c922040a12572d7665875d9469c1b3a1317e, a recent core fork (targeted and untargeted
  services, field filters only on targeted ones).
- hassfest translations.py and icons.py: siksil/core at
  37008b10c94e2af61704c2123c7f289140360fc0, a recent core fork with a renamed package
  (conditions, triggers, range icons, the placeholder and URL rules).
- HACS: hacs/integration custom_components/hacs/utils/validate.py at
  07a8c70cc8624d52d7f03cb1c7a75b753c07b851 (HACS_MANIFEST_JSON_SCHEMA,
  INTEGRATION_MANIFEST_JSON_SCHEMA) and the action's checks in custom_components/hacs/validate/
  (hacsjson.py at 10357bb9c383e285c0cd18f0666b63167dd55f14, integration_manifest.py at
  1123f9793010ad528616e7ada14d71fc3025df57, information.py, integration_domain_override.py at
  d08f67161f88b5b8b52fe47808b530dd0a5635c4, and a brands.py, commit not shown by the index, that
  accepts a brand/icon.png in the integration folder before it asks the brands repository).

Each rule set is a function returning the problems it finds, so the tests can feed it broken
copies of our files and see it complain.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import voluptuous as vol
import yaml
from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant import const as ha_const
from homeassistant.helpers import config_validation as cv, selector, service
from voluptuous.humanize import humanize_error

from custom_components.solar_cloud.const import DOMAIN

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / DOMAIN


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _manifest() -> dict[str, Any]:
    return _json(PACKAGE / "manifest.json")


def _hacs() -> dict[str, Any]:
    return _json(ROOT / "hacs.json")


def _services() -> dict[str, Any]:
    return yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))


def _strings() -> dict[str, Any]:
    return _json(PACKAGE / "translations" / "en.json")


def _icons() -> dict[str, Any]:
    return _json(PACKAGE / "icons.json")


def _schema_problems(schema: Callable[[Any], Any], data: Any) -> list[str]:
    try:
        schema(data)
    except vol.Invalid as err:
        return [humanize_error(data, err)]
    return []


# --------------------------------------------------------------------------------------------
# manifest.json: hassfest script/hassfest/manifest.py (CUSTOM_INTEGRATION_MANIFEST_SCHEMA,
# validate_manifest, sort_manifest) and HACS utils/validate.py INTEGRATION_MANIFEST_JSON_SCHEMA.
# --------------------------------------------------------------------------------------------

IOT_CLASSES = (
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
)
# hassfest's IntegrationType without "virtual" (a virtual manifest has a schema of its own).
INTEGRATION_TYPES = ("device", "entity", "hardware", "helper", "hub", "service", "system")
# ScaledQualityScaleTiers and NonScaledQualityScaleTiers, lower-cased.
QUALITY_SCALES = (
    "bronze",
    "silver",
    "gold",
    "platinum",
    "custom",
    "no_score",
    "internal",
    "legacy",
)
# A custom integration's version must parse with one of these AwesomeVersion strategies.
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
# A custom integration must not point its documentation at Home Assistant's own pages.
CORE_DOCUMENTATION = "https://www.home-assistant.io/integrations"
# hassfest sorts manifest keys: domain, name, then alphabetical.
FIRST_MANIFEST_KEYS = ("domain", "name")
# GitHub user or team, as CODEOWNERS takes them (our own rule: hassfest only asks for strings).
CODEOWNER = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9._-]+)?")


def _version(value: Any) -> str:
    try:
        AwesomeVersion(value, ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a valid version") from err
    return value


def _custom_documentation(value: str) -> str:
    if urlparse(value).scheme != "https":
        raise vol.Invalid("documentation must be an https URL")
    if value.startswith(CORE_DOCUMENTATION):
        raise vol.Invalid("documentation must point to the custom integration's own pages")
    return value


def _case(upper: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value != (value.upper() if upper else value.lower()):
            raise vol.Invalid("needs to be " + ("uppercase" if upper else "lowercase"))
        return value

    return vol.All(str, check)


def _wildcard(value: str) -> str:
    if "*" not in value:
        raise vol.Invalid("needs a * wildcard")
    return value


_LOWER = _case(upper=False)
_UPPER = _case(upper=True)

CUSTOM_MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): [
            vol.Any(
                str,
                {
                    vol.Required("type"): str,
                    vol.Optional("macaddress"): vol.All(_UPPER, _wildcard),
                    vol.Optional("manufacturer"): _LOWER,
                    vol.Optional("model"): _LOWER,
                    vol.Optional("name"): _LOWER,
                    vol.Optional("properties"): {str: _LOWER},
                },
            )
        ],
        vol.Optional("ssdp"): [vol.All(vol.Schema({}, extra=vol.ALLOW_EXTRA), vol.Length(min=1))],
        vol.Optional("bluetooth"): [
            {
                vol.Optional("connectable"): bool,
                vol.Optional("service_uuid"): _LOWER,
                vol.Optional("service_data_uuid"): _LOWER,
                vol.Optional("local_name"): str,
                vol.Optional("manufacturer_id"): int,
                vol.Optional("manufacturer_data_start"): [int],
            }
        ],
        vol.Optional("homekit"): {vol.Optional("models"): [str]},
        vol.Optional("dhcp"): [
            {
                vol.Optional("macaddress"): vol.All(_UPPER, _wildcard),
                vol.Optional("hostname"): _LOWER,
                vol.Optional("registered_devices"): cv.boolean,
            }
        ],
        vol.Optional("usb"): [
            {
                vol.Optional("vid"): _UPPER,
                vol.Optional("pid"): _UPPER,
                vol.Optional("serial_number"): _LOWER,
                vol.Optional("manufacturer"): _LOWER,
                vol.Optional("description"): _LOWER,
                vol.Optional("known_devices"): [str],
            }
        ],
        vol.Optional("locations"): [str],
        vol.Required("documentation"): vol.All(vol.Url(), _custom_documentation),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("quality_scale"): vol.In(QUALITY_SCALES),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [str],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("iot_class"): vol.In(IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Optional("preview_features"): {
            cv.slug: {
                vol.Optional("feedback_url"): vol.Url(),
                vol.Optional("learn_more_url"): vol.Url(),
                vol.Optional("report_issue_url"): vol.Url(),
            }
        },
        vol.Optional("version"): vol.All(str, _version),
        vol.Optional("import_executor"): bool,
    }
)

# HACS: what it needs of manifest.json to list and install an integration; other keys pass.
HACS_MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("codeowners"): list,
        vol.Required("documentation"): cv.url,
        vol.Required("domain"): str,
        vol.Required("issue_tracker"): cv.url,
        vol.Required("name"): str,
        vol.Required("version"): vol.Coerce(AwesomeVersion),
    },
    extra=vol.ALLOW_EXTRA,
)


def _manifest_order(keys: list[str]) -> list[str]:
    """The order hassfest wants: domain, name, then the rest alphabetically."""
    first = [key for key in FIRST_MANIFEST_KEYS if key in keys]
    return first + sorted(key for key in keys if key not in FIRST_MANIFEST_KEYS)


def manifest_problems(manifest: dict[str, Any], folder: str = DOMAIN) -> list[str]:
    """What hassfest and HACS reject in a custom integration's manifest."""
    problems = _schema_problems(CUSTOM_MANIFEST_SCHEMA, manifest)
    problems += [f"HACS: {p}" for p in _schema_problems(HACS_MANIFEST_SCHEMA, manifest)]
    domain = manifest.get("domain")
    if domain != folder:
        problems.append("domain does not match the folder name")
    if not manifest.get("version"):
        problems.append("no version: custom integrations need one")
    # Only entity platforms and Home Assistant's internals (hassfest's NO_IOT_CLASS) go without.
    if "iot_class" not in manifest:
        problems.append("no iot_class")
    if isinstance(domain, str) and importlib.util.find_spec(f"homeassistant.components.{domain}"):
        problems.append("domain overrides a core integration")
    if list(manifest) != _manifest_order(list(manifest)):
        problems.append("keys are not sorted: domain, name, then alphabetical")
    for owner in manifest.get("codeowners", []):
        if not isinstance(owner, str) or not CODEOWNER.fullmatch(owner):
            problems.append(f"codeowner {owner!r} is not a GitHub @user or @org/team")
    return problems


def test_manifest_passes_hassfest_and_hacs() -> None:
    """manifest.json has the keys, types, values and key order hassfest and HACS want."""
    assert manifest_problems(_manifest()) == []


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest.pop(key)


def _setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest.__setitem__(key, value)


def _reordered(manifest: dict[str, Any]) -> None:
    items = list(manifest.items())
    manifest.clear()
    manifest.update([items[1], items[0], *items[2:]])


def _unsorted(manifest: dict[str, Any]) -> None:
    version = manifest.pop("version")
    codeowners = manifest.pop("codeowners")
    manifest.update(version=version, codeowners=codeowners)


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(_without("domain"), "domain", id="no-domain"),
        pytest.param(_without("name"), "name", id="no-name"),
        pytest.param(_without("documentation"), "documentation", id="no-documentation"),
        pytest.param(_without("codeowners"), "codeowners", id="no-codeowners"),
        pytest.param(_without("version"), "version", id="no-version"),
        pytest.param(_without("issue_tracker"), "issue_tracker", id="no-issue-tracker"),
        pytest.param(_without("iot_class"), "iot_class", id="no-iot-class"),
        pytest.param(_setting("homeassistant", "2026.2.0"), "extra keys", id="unknown-key"),
        pytest.param(_setting("iot_class", "cloud"), "iot_class", id="bad-iot-class"),
        pytest.param(_setting("integration_type", "virtual"), "integration_type", id="virtual"),
        pytest.param(_setting("quality_scale", "diamond"), "quality_scale", id="bad-scale"),
        pytest.param(_setting("config_flow", "yes"), "config_flow", id="config-flow-str"),
        pytest.param(_setting("requirements", "x==1"), "requirements", id="requirements-str"),
        pytest.param(_setting("version", "one"), "not a valid version", id="bad-version"),
        pytest.param(_setting("version", ""), "no version", id="empty-version"),
        pytest.param(
            _setting("documentation", "http://github.com/solar-cloud/solar_cloud"),
            "https",
            id="http-docs",
        ),
        pytest.param(
            _setting("documentation", f"{CORE_DOCUMENTATION}/solar_cloud"),
            "own pages",
            id="core-docs",
        ),
        pytest.param(_setting("issue_tracker", "issues"), "issue_tracker", id="bad-tracker"),
        pytest.param(_setting("codeowners", ["solar-cloud"]), "codeowner", id="owner-no-at"),
        pytest.param(_setting("domain", "solar"), "folder name", id="domain-not-folder"),
        pytest.param(_reordered, "not sorted", id="name-before-domain"),
        pytest.param(_unsorted, "not sorted", id="unsorted"),
    ],
)
def test_broken_manifest_is_rejected(
    breakage: Callable[[dict[str, Any]], None], expected: str
) -> None:
    """Each rule above fails a manifest that breaks it."""
    manifest = copy.deepcopy(_manifest())
    breakage(manifest)
    problems = manifest_problems(manifest)
    assert any(expected in problem for problem in problems), problems


def test_core_domain_is_rejected() -> None:
    """A domain Home Assistant ships is an override HACS refuses (and hassfest warns of)."""
    manifest = copy.deepcopy(_manifest())
    manifest["domain"] = "sensor"
    assert "domain overrides a core integration" in manifest_problems(manifest, folder="sensor")


def test_manifest_dependencies_are_core_integrations() -> None:
    """dependencies and after_dependencies name integrations that Home Assistant ships."""
    manifest = _manifest()
    names = [*manifest.get("dependencies", []), *manifest.get("after_dependencies", [])]
    assert len(names) == len(set(names))
    for name in names:
        assert name != DOMAIN
        assert importlib.util.find_spec(f"homeassistant.components.{name}") is not None, name


# --------------------------------------------------------------------------------------------
# hacs.json: HACS utils/validate.py HACS_MANIFEST_JSON_SCHEMA and validate/hacsjson.py.
# --------------------------------------------------------------------------------------------


def _countries(value: Any) -> list[str]:
    """HACS takes one ISO 3166 code or a list of them (it upper-cases them first)."""
    codes = [value] if isinstance(value, str) else value
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise vol.Invalid("country must be a string or a list of strings")
    for code in codes:
        if not re.fullmatch(r"[A-Z]{2}", code.upper()):
            raise vol.Invalid(f"{code!r} is not an ISO 3166 country code")
    return [code.upper() for code in codes]


HACS_JSON_SCHEMA = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): _countries,
        vol.Optional("filename"): str,
        vol.Optional("hacs"): str,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): str,
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
    },
    extra=vol.PREVENT_EXTRA,
)


def hacs_problems(hacs: dict[str, Any], tested: str = ha_const.__version__) -> list[str]:
    """What HACS rejects in hacs.json, and a minimum Home Assistant the tests cannot vouch for."""
    problems = _schema_problems(HACS_JSON_SCHEMA, hacs)
    if hacs.get("zip_release") and not hacs.get("filename"):
        problems.append("zip_release is true, but filename is not set")
    for key in ("homeassistant", "hacs"):
        if isinstance(hacs.get(key), str) and not AwesomeVersion(hacs[key]).valid:
            problems.append(f"{key} is not a version")
    minimum = hacs.get("homeassistant")
    if not isinstance(minimum, str):
        problems.append("no minimum Home Assistant version")
    elif AwesomeVersion(minimum).valid and AwesomeVersion(minimum) > AwesomeVersion(tested):
        problems.append(f"homeassistant {minimum} is newer than the tested {tested}")
    return problems


def test_hacs_json_passes_hacs() -> None:
    """hacs.json has only HACS's keys with their types, and a minimum version the tests run."""
    assert hacs_problems(_hacs()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"name": None}, "name", id="no-name"),
        pytest.param({"domains": ["sensor"]}, "extra keys", id="unknown-key"),
        pytest.param({"iot_class": "cloud_polling"}, "extra keys", id="manifest-key"),
        pytest.param({"render_readme": "yes"}, "render_readme", id="readme-str"),
        pytest.param({"zip_release": True}, "filename", id="zip-without-filename"),
        pytest.param({"country": "Europe"}, "country", id="bad-country"),
        pytest.param({"homeassistant": "2099.1.0"}, "newer than the tested", id="too-new"),
        pytest.param({"homeassistant": 2026.2}, "homeassistant", id="version-number"),
        pytest.param({"homeassistant": None}, "no minimum", id="no-minimum"),
        pytest.param({"hacs": "two"}, "hacs is not a version", id="bad-hacs-version"),
    ],
)
def test_broken_hacs_json_is_rejected(change: dict[str, Any], expected: str) -> None:
    """Each rule above fails a hacs.json that breaks it."""
    hacs = _hacs() | change
    hacs = {key: value for key, value in hacs.items() if value is not None}
    problems = hacs_problems(hacs)
    assert any(expected in problem for problem in problems), problems


def test_hacs_repository_checks_we_can_run_offline() -> None:
    """The HACS action's file checks: hacs.json and README at the top, one integration folder,
    and the brand icon HACS looks for before it asks the brands repository."""
    assert (ROOT / "hacs.json").is_file()
    assert {path.name.lower() for path in ROOT.iterdir()} & {"readme", "readme.md", "info.md"}
    assert [path.name for path in (ROOT / "custom_components").iterdir() if path.is_dir()] == [
        DOMAIN
    ]
    assert (PACKAGE / "manifest.json").is_file()
    assert (PACKAGE / "brand" / "icon.png").is_file()


# --------------------------------------------------------------------------------------------
# services.yaml: Home Assistant's own loader schema (homeassistant.helpers.service) and
# hassfest script/hassfest/services.py CUSTOM_INTEGRATION_SERVICES_SCHEMA, which is stricter.
# --------------------------------------------------------------------------------------------


def _not_none(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("value cannot be empty")
    return value


def _fields_unique(fields: dict[str, Any]) -> dict[str, Any]:
    """A field name is used once in a service, also across its sections."""
    seen: set[str] = set()
    for key, value in fields.items():
        names = list(value["fields"]) if value and "fields" in value else [key]
        for name in names:
            if name in seen:
                raise vol.Invalid(f"field {name} is used twice")
            seen.add(name)
    return fields


def _no_device_filter(target: dict[str, Any]) -> dict[str, Any]:
    if "device" in target:
        raise vol.Invalid("a service target takes no device filter; use a device selector")
    return target


_TEXTS = {vol.Optional("name"): str, vol.Optional("description"): str}


def _service_schema(*, targeted: bool) -> vol.Schema:
    """One service; field filters only make sense for services with a target."""
    field: dict[Any, Any] = {
        **_TEXTS,
        vol.Optional("example"): _not_none,
        vol.Optional("default"): _not_none,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional("selector"): selector.validate_selector,
    }
    if targeted:
        field[vol.Optional("filter")] = {
            vol.Exclusive("attribute", "field_filter"): {
                vol.Required(str): [vol.All(str, service.validate_attribute_option)]
            },
            vol.Exclusive("supported_features", "field_filter"): [
                vol.All(str, service.validate_supported_feature)
            ],
        }
    section = {
        **_TEXTS,
        vol.Optional("collapsed"): bool,
        vol.Required("fields"): {str: vol.Schema(field)},
    }
    spec: dict[Any, Any] = {
        **_TEXTS,
        vol.Optional("fields"): vol.All(
            {str: vol.Any(vol.Schema(field), vol.Schema(section))}, _fields_unique
        ),
    }
    if targeted:
        spec[vol.Required("target")] = vol.All(
            selector.TargetSelector.CONFIG_SCHEMA, _no_device_filter
        )
    return vol.Schema(spec)


CUSTOM_SERVICES_SCHEMA = vol.Schema(
    {cv.slug: vol.Any(_service_schema(targeted=True), _service_schema(targeted=False), None)}
)


def services_problems(services: Any, strings: dict[str, Any]) -> list[str]:
    """What Home Assistant's loader and hassfest reject in services.yaml."""
    problems = [f"loader: {p}" for p in _schema_problems(service._SERVICES_SCHEMA, services)]
    problems += _schema_problems(CUSTOM_SERVICES_SCHEMA, services)
    if problems:
        return problems
    # hassfest: a select selector's translation_key has a selector section in en.json.
    for name, spec in services.items():
        for field, field_spec in _plain_fields(spec or {}).items():
            select = (field_spec.get("selector") or {}).get("select") or {}
            key = select.get("translation_key")
            if key is not None and key not in strings.get("selector", {}):
                problems.append(f"{name}.{field}: selector translation_key {key} not in en.json")
    return problems


def _plain_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """A service's fields, those of its sections included."""
    fields: dict[str, Any] = {}
    for key, value in spec.get("fields", {}).items():
        if value and "fields" in value:
            fields.update(value["fields"])
        else:
            fields[key] = value or {}
    return fields


def test_services_yaml_passes_home_assistant_and_hassfest() -> None:
    """services.yaml loads with Home Assistant's schema and passes hassfest's custom rules."""
    services = _services()
    assert set(service._SERVICES_SCHEMA(services)) == set(services)
    assert services_problems(services, _strings()) == []


def _service_breakage(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or with value None, delete) services[a][b]... for path 'a.b...'."""

    def apply(services: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = services
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return apply


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(_service_breakage("force_charge.icon", "mdi:x"), id="service-key"),
        pytest.param(_service_breakage("force_charge.fields.power.unit", "W"), id="field-key"),
        pytest.param(
            _service_breakage("force_charge.fields.power.required", "yes"), id="required-str"
        ),
        pytest.param(
            _service_breakage("force_charge.fields.power.selector", {"numbr": {}}),
            id="bad-selector",
        ),
        pytest.param(
            _service_breakage("force_charge.fields.power.filter", {"supported_features": []}),
            id="filter-without-target",
        ),
        pytest.param(
            _service_breakage("force_charge.target", {"device": {"integration": DOMAIN}}),
            id="target-device-filter",
        ),
        pytest.param(
            _service_breakage("force_charge.fields.grp", {"fields": {"power": {"required": True}}}),
            id="field-twice-across-sections",
        ),
        pytest.param(_service_breakage("Force-Charge", {}), id="not-a-slug"),
    ],
)
def test_broken_services_yaml_is_rejected(breakage: Callable[[dict[str, Any]], None]) -> None:
    """Each rule above fails a services.yaml that breaks it."""
    services = copy.deepcopy(_services())
    breakage(services)
    assert services_problems(services, _strings())


def test_empty_field_value_is_rejected() -> None:
    """hassfest refuses an example or default that is present but empty (YAML null)."""
    services = copy.deepcopy(_services())
    services["force_charge"]["fields"]["power"]["example"] = None
    assert services_problems(services, _strings())


def test_select_translation_key_must_exist() -> None:
    """hassfest's cross-check: a field's select selector names a selector section of en.json."""
    services = copy.deepcopy(_services())
    services["force_charge"]["fields"]["mode"] = {
        "selector": {"select": {"options": ["a"], "translation_key": "no_such_key"}}
    }
    assert services_problems(services, _strings()) == [
        "force_charge.mode: selector translation_key no_such_key not in en.json"
    ]


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
    """en.json names and describes each action and each of its fields, and nothing more.

    hassfest asks this only of core integrations; services.yaml has no texts of its own, so
    without it the frontend would show raw keys."""
    translated = _strings()["services"]
    services = _services()
    assert set(translated) == set(services)
    for name, spec in services.items():
        text = translated[name]
        assert text.get("name"), name
        assert text.get("description"), name
        fields = _plain_fields(spec)
        assert set(text.get("fields", {})) == set(fields), name
        for field in fields:
            assert text["fields"][field].get("name"), (name, field)
            assert text["fields"][field].get("description"), (name, field)


def test_service_selector_translation_keys_exist() -> None:
    """Every select selector's translation_key, nested ones too, has its options in en.json."""
    selectors = _strings()["selector"]

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


# --------------------------------------------------------------------------------------------
# translations/en.json: hassfest script/hassfest/translations.py gen_strings_schema, as it
# applies to a custom integration (hassfest checks en.json of custom integrations).
# --------------------------------------------------------------------------------------------

# Translation keys: runs of [a-z0-9] joined by single "-" or "_".
TRANSLATION_KEY = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
PLACEHOLDER_IN_QUOTES = re.compile(r"'\{\w+\}'")
COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")
URL = re.compile(
    r"((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5)://|www\.)"
    r"[a-z0-9]+([-.][a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(/.*)?",
    re.IGNORECASE,
)


def translation_key(value: Any) -> str:
    if not isinstance(value, str) or not TRANSLATION_KEY.fullmatch(value):
        raise vol.Invalid(f"invalid translation key {value!r}: [a-z0-9-_], no - or _ at the ends")
    return value


def text(*, placeholders: bool = True, urls: bool = False) -> Callable[[Any], str]:
    """A translated string: no HTML, no '{quoted}' or non-identifier placeholders (none at all
    where placeholders=False), no text around a [%key:...%] reference, no surrounding blanks,
    no URLs (they go into description placeholders)."""

    def check(value: Any) -> str:
        value = cv.string_with_no_html(value)
        if PLACEHOLDER_IN_QUOTES.search(value):
            raise vol.Invalid("placeholder inside single quotes")
        for _, field, _, _ in string.Formatter().parse(value):
            if field and not placeholders:
                raise vol.Invalid("placeholders are not supported in this value")
            if field and not field.isidentifier():
                raise vol.Invalid(f"placeholder {{{field}}} is not an identifier")
        if COMBINED_REFERENCE.search(value):
            raise vol.Invalid("combined translation with a reference")
        if value != value.strip():
            raise vol.Invalid("leading or trailing blanks")
        if not urls and URL.search(value):
            raise vol.Invalid("URL in a translation; use a description placeholder")
        return value

    return check


def _keys(value: Any, keys: Callable[[Any], Any] = translation_key) -> Any:
    return cv.schema_with_slug_keys(value, slug_validator=keys)


def _data_descriptions_in_data(flow: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in flow["step"].items():
        for key in step.get("data_description", {}):
            if key not in step.get("data", {}):
                raise vol.Invalid(f"step {step_id}: data_description {key} is not in data")
    return flow


def _flow_schema(
    urls: bool, *, allow_title: bool = False, subentry: bool = False
) -> Callable[[Any], Any]:
    """Config, options, subentry and repair (fix_flow) flows."""
    t = text(urls=urls)
    texts = {str: t}
    flow: dict[Any, Any] = {
        vol.Optional("flow_title"): t,
        vol.Required("step"): {
            str: {
                vol.Optional("title"): t,
                vol.Optional("description"): t,
                vol.Optional("data"): texts,
                vol.Optional("data_description"): texts,
                vol.Optional("menu_options"): texts,
                vol.Optional("menu_option_descriptions"): texts,
                vol.Optional("submit"): t,
                vol.Optional("sections"): {
                    str: {
                        vol.Optional("data"): texts,
                        vol.Optional("data_description"): texts,
                        vol.Optional("description"): t,
                        vol.Optional("name"): t,
                    }
                },
            }
        },
        vol.Optional("error"): texts,
        vol.Optional("abort"): texts,
        vol.Optional("progress"): texts,
        vol.Optional("create_entry"): texts,
    }
    if subentry:
        flow[vol.Required("entry_type")] = t
        flow[vol.Required("initiate_flow")] = {vol.Required("user"): t, str: t}
    else:
        flow[vol.Optional("initiate_flow")] = {vol.Required("user"): t}
    if allow_title:
        # config.title moved to the top; hassfest only warns a custom integration about it.
        flow[vol.Optional("title")] = str
    return vol.All(vol.Schema(flow), _data_descriptions_in_data)


def _config_panel(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            vol.Any("_", translation_key)(key): _config_panel(item) for key, item in value.items()
        }
    return text()(value)


def strings_schema(*, urls: bool = False) -> vol.Schema:
    """en.json of a custom integration; urls=True lifts only the no-URL rule."""
    t = text(urls=urls)
    plain = text(placeholders=False, urls=urls)
    fields = _keys(
        {
            vol.Required("name"): str,
            vol.Optional("description"): t,
            vol.Optional("example"): t,
        }
    )
    state = _keys(plain)
    return vol.Schema(
        {
            vol.Optional("title"): t,
            vol.Optional("config"): _flow_schema(urls, allow_title=True),
            vol.Optional("config_subentries"): _keys(
                _flow_schema(urls, allow_title=True, subentry=True), vol.Any("_", cv.slug)
            ),
            vol.Optional("options"): _flow_schema(urls),
            vol.Optional("preview_features"): _keys(
                {
                    vol.Required("name"): t,
                    vol.Required("description"): text(placeholders=False, urls=True),
                    vol.Optional("enable_confirmation"): t,
                    vol.Optional("disable_confirmation"): t,
                }
            ),
            vol.Optional("selector"): _keys(
                {
                    vol.Optional("choices"): _keys(t),
                    vol.Optional("options"): _keys(t),
                    vol.Optional("unit_of_measurement"): _keys(t),
                    vol.Optional("fields"): vol.Any(
                        cv.schema_with_slug_keys(str),
                        _keys({vol.Required("name"): str, vol.Optional("description"): t}),
                    ),
                },
                vol.Any("_", cv.slug),
            ),
            vol.Optional("device_automation"): {
                vol.Optional(key): {str: t}
                for key in (
                    "action_type",
                    "condition_type",
                    "trigger_type",
                    "trigger_subtype",
                    "extra_fields",
                    "extra_fields_descriptions",
                )
            },
            vol.Optional("system_health"): {vol.Optional("info"): _keys(t)},
            vol.Optional("config_panel"): _config_panel,
            vol.Optional("application_credentials"): {vol.Optional("description"): t},
            vol.Optional("issues"): {
                str: vol.All(
                    cv.has_at_least_one_key("description", "fix_flow"),
                    {
                        vol.Required("title"): t,
                        vol.Exclusive("description", "fixable"): t,
                        vol.Exclusive("fix_flow", "fixable"): _flow_schema(urls),
                    },
                )
            },
            vol.Optional("entity_component"): _keys(
                {
                    vol.Optional("name"): str,
                    vol.Optional("state"): state,
                    vol.Optional("state_attributes"): _keys(
                        {vol.Optional("name"): str, vol.Optional("state"): state}
                    ),
                },
                vol.Any("_", cv.slug),
            ),
            vol.Optional("device"): _keys({vol.Optional("name"): t}),
            vol.Optional("entity"): _keys(
                _keys(
                    {
                        vol.Optional("name"): t,
                        vol.Optional("state"): state,
                        vol.Optional("state_attributes"): _keys(
                            {vol.Optional("name"): plain, vol.Optional("state"): state}
                        ),
                        vol.Optional("unit_of_measurement"): plain,
                    }
                ),
                cv.slug,
            ),
            vol.Optional("exceptions"): _keys({vol.Optional("message"): t}, cv.slug),
            vol.Optional("services"): _keys(
                {
                    vol.Required("name"): t,
                    vol.Required("description"): t,
                    vol.Optional("fields"): fields,
                    vol.Optional("sections"): _keys(
                        {vol.Required("name"): str, vol.Optional("description"): t}
                    ),
                }
            ),
            **{
                vol.Optional(kind): _keys(
                    {
                        vol.Required("name"): t,
                        vol.Required("description"): t,
                        vol.Optional("fields"): fields,
                    },
                    cv.underscore_slug,
                )
                for kind in ("conditions", "triggers")
            },
            vol.Optional("conversation"): {vol.Required("agent"): {vol.Required("done"): t}},
            vol.Optional("common"): {cv.slug: t},
        }
    )


def _strings_problems(strings: dict[str, Any], *, urls: bool = False) -> list[str]:
    # humanize_error shows only the first error; collect every one for a useful report.
    try:
        strings_schema(urls=urls)(strings)
    except vol.MultipleInvalid as err:
        return [f"{'.'.join(map(str, e.path))}: {e.msg}" for e in err.errors]
    except vol.Invalid as err:
        return [f"{'.'.join(map(str, err.path))}: {err.msg}"]
    return []


@pytest.mark.parametrize(
    "language", sorted(path.stem for path in (PACKAGE / "translations").glob("*.json"))
)
def test_translations_pass_hassfest(language: str) -> None:
    """Each language file passes hassfest's translation schema, URL rule included: URLs go into
    description placeholders (hassfest checks en.json; the others are held to the same rules)."""
    path = PACKAGE / "translations" / f"{language}.json"
    assert _strings_problems(json.loads(path.read_text(encoding="utf-8"))) == []


def _set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("config/step/user/description", "<b>Sign in</b>", id="html"),
        pytest.param("config/step/user/description", "Use '{server}'", id="quoted-placeholder"),
        pytest.param("config/step/user/description", "Use {1st}", id="bad-placeholder"),
        pytest.param("config/step/user/description", " Sign in", id="leading-blank"),
        pytest.param("config/step/user/title", "Go [%key:common::x%]", id="combined-reference"),
        pytest.param("config/step/user/data_description/nothing", "x", id="description-no-data"),
        pytest.param("config/step/user/colour", "red", id="unknown-step-key"),
        pytest.param("options/title", "Options", id="options-title"),
        pytest.param("entity/sensor/pv_power/state/On", "On", id="state-key-case"),
        pytest.param("entity/sensor/pv_power/state/on", "{x} on", id="state-placeholder"),
        pytest.param("entity/sensor/Pv_Power", {"name": "PV"}, id="entity-key-case"),
        pytest.param("entity/sensor/pv__power", {"name": "PV"}, id="entity-key-double-underscore"),
        pytest.param("entity/sensor/pv_power/icon", "mdi:x", id="entity-unknown-key"),
        pytest.param("issues/new_issue", {"description": "x"}, id="issue-no-title"),
        pytest.param("issues/new_issue", {"title": "x"}, id="issue-no-description"),
        pytest.param(
            "issues/new_issue",
            {"title": "x", "description": "y", "fix_flow": {"step": {}}},
            id="issue-description-and-fix-flow",
        ),
        pytest.param("exceptions/auth_failed/text", "x", id="exception-unknown-key"),
        pytest.param("services/force_charge/name", None, id="service-null-name"),
        pytest.param("services/force_charge/fields/power/label", "x", id="service-field-key"),
        pytest.param("selector/vendor/options/Huawei", "Huawei", id="selector-option-case"),
        pytest.param("bogus", {}, id="unknown-top-level-key"),
    ],
)
def test_broken_en_json_is_rejected(path: str, value: Any) -> None:
    """Each rule above fails an en.json that breaks it."""
    assert _strings_problems(_set_path(_strings(), path, value), urls=True)


@pytest.mark.parametrize(
    "value", ["See www.example.com", "Open https://eu5.fusionsolar.huawei.com", "mqtt://broker.lan"]
)
def test_url_in_text_is_rejected(value: str) -> None:
    """The no-URL rule (lifted in the tests above) catches a URL; plain text passes it."""
    assert _strings_problems({"title": value})
    assert _strings_problems({"title": "See the portal"}) == []


def test_fix_flow_issue_is_accepted() -> None:
    """A repair issue may have a fix flow instead of a description."""
    strings = _set_path(
        _strings(),
        "issues/new_issue",
        {"title": "x", "fix_flow": {"step": {"confirm": {"title": "Fix it"}}}},
    )
    assert _strings_problems(strings, urls=True) == []


# --------------------------------------------------------------------------------------------
# icons.json: hassfest script/hassfest/icons.py icon_schema for a custom "hub" integration
# (no entity_component section), plus a cross-check that each key exists.
# --------------------------------------------------------------------------------------------


def _icon(value: Any) -> str:
    value = cv.string_with_no_html(value)
    if not value.startswith("mdi:"):
        raise vol.Invalid("icons are Material Design Icons, written mdi:<name>")
    return value


def _numeric(value: Any) -> str:
    try:
        float(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid(f"range key {value!r} is not a number") from err
    return value


def _ranges_ascending(entries: dict[str, Any]) -> dict[str, Any]:
    for key, entry in entries.items():
        if (ranges := entry.get("range")) and [float(k) for k in ranges] != sorted(
            float(k) for k in ranges
        ):
            raise vol.Invalid(f"range of {key} is not in ascending order")
    return entries


def _shorthand_service_icon(value: Any) -> Any:
    """A custom integration may write a service's icon as a bare string."""
    return {"service": value} if isinstance(value, str) else value


_FLOW_ICONS = {"step": {str: {"sections": {str: _icon}}}}
_ENTITY_ICON = {
    vol.Optional("default"): _icon,
    vol.Optional("state"): _keys(_icon),
    vol.Optional("range"): _keys(_icon, _numeric),
    vol.Optional("state_attributes"): vol.All(
        _keys(
            {
                vol.Optional("default"): _icon,
                vol.Optional("state"): _keys(_icon),
                vol.Optional("range"): _keys(_icon, _numeric),
            }
        ),
        _ranges_ascending,
    ),
}

ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("conditions"): _keys({vol.Optional("condition"): _icon}, cv.underscore_slug),
        vol.Optional("config"): _FLOW_ICONS,
        vol.Optional("issues"): {str: {"fix_flow": _FLOW_ICONS}},
        vol.Optional("options"): _FLOW_ICONS,
        vol.Optional("services"): _keys(
            vol.All(
                _shorthand_service_icon,
                {vol.Optional("service"): _icon, vol.Optional("sections"): _keys(_icon)},
            )
        ),
        vol.Optional("triggers"): _keys({vol.Optional("trigger"): _icon}, cv.underscore_slug),
        # hassfest checks range order for entity components; we check it for entities too.
        vol.Optional("entity"): _keys(vol.All(_keys(_ENTITY_ICON), _ranges_ascending), cv.slug),
    }
)


def icons_problems(
    icons: dict[str, Any], strings: dict[str, Any], services: dict[str, Any]
) -> list[str]:
    """hassfest's icons.json schema, and icons only for names that exist."""
    problems = _schema_problems(ICONS_SCHEMA, icons)
    if problems:
        return problems
    entities = strings.get("entity", {})
    for platform, keys in icons.get("entity", {}).items():
        for key, entry in keys.items():
            known = entities.get(platform, {}).get(key)
            if known is None:
                problems.append(f"entity.{platform}.{key}: no such translation_key in en.json")
                continue
            states = set(known.get("state", {}))
            for state in entry.get("state", {}):
                if state not in states:
                    problems.append(f"entity.{platform}.{key}.state.{state}: no such state")
    for name, entry in icons.get("services", {}).items():
        if name not in services:
            problems.append(f"services.{name}: no such service in services.yaml")
            continue
        sections = {
            key
            for key, value in (services[name] or {}).get("fields", {}).items()
            if value and "fields" in value
        }
        for section in _shorthand_service_icon(entry).get("sections", {}):
            if section not in sections:
                problems.append(f"services.{name}.sections.{section}: no such section")
    return problems


def test_icons_json_passes_hassfest() -> None:
    """icons.json has the shape hassfest wants and names only real keys, states and actions."""
    assert icons_problems(_icons(), _strings(), _services()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param("entity/sensor/pv_power/default", "solar-power", "mdi:", id="no-mdi"),
        pytest.param("entity/sensor/pv_power/default", "<i>mdi:x</i>", "", id="html"),
        pytest.param("entity/sensor/pv_power/colour", "mdi:x", "extra keys", id="unknown-key"),
        pytest.param("entity/sensor/alarm_count/range/many", "mdi:x", "number", id="range-key"),
        pytest.param(
            "entity/sensor/alarm_count/range",
            {"5": "mdi:a", "1": "mdi:b"},
            "ascending",
            id="range-order",
        ),
        pytest.param("entity/sensor/Pv_Power", {"default": "mdi:x"}, "", id="key-case"),
        pytest.param("entity/sensor/no_such_sensor", {"default": "mdi:x"}, "no such", id="gone"),
        pytest.param("entity/sensor/inverter_status/state/asleep", "mdi:x", "no such", id="state"),
        pytest.param("services/no_such_action", "mdi:x", "no such service", id="service"),
        pytest.param("services/force_charge/sections/power", "mdi:x", "no such", id="section"),
        pytest.param("services/force_charge/svc", "mdi:x", "extra keys", id="service-key"),
        pytest.param("entity_component/_/default", "mdi:x", "extra keys", id="component"),
    ],
)
def test_broken_icons_json_is_rejected(path: str, value: Any, expected: str) -> None:
    """Each rule above fails an icons.json that breaks it."""
    problems = icons_problems(_set_path(_icons(), path, value), _strings(), _services())
    assert problems
    assert any(expected in problem for problem in problems), problems


def test_shorthand_service_icon_is_accepted() -> None:
    """A custom integration may give a service icon as a bare string."""
    icons = _set_path(_icons(), "services/force_charge", "mdi:battery-charging-high")
    assert icons_problems(icons, _strings(), _services()) == []
