"""quality_scale.yaml lists every Integration Quality Scale rule, and its "done" rules hold.

hassfest grades quality_scale.yaml for core integrations only, so this is the check a custom
integration gets. The rule ids are hassfest's ``ALL_RULES`` (script/hassfest/quality_scale.py,
which the homeassistant package does not ship). A rule marked done that has a check below must
pass it; a rule marked todo or exempt is skipped, and marking it done turns its check on.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.helpers.update_coordinator import CoordinatorEntity, DataUpdateCoordinator

from custom_components.solar_cloud import PLATFORMS
from custom_components.solar_cloud.api.metrics import METRICS, get_metric
from custom_components.solar_cloud.const import DOMAIN

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / DOMAIN
TESTS = ROOT / "tests"

BRONZE = (
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow-test-coverage",
    "config-flow",
    "dependency-transparency",
    "docs-actions",
    "docs-conditions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "docs-triggers",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
)
SILVER = (
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
)
GOLD = (
    "devices",
    "diagnostics",
    "discovery-update-info",
    "discovery",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
)
PLATINUM = ("async-dependency", "inject-websession", "strict-typing")
ALL_RULES = (*BRONZE, *SILVER, *GOLD, *PLATINUM)
STATUSES = {"done", "todo", "exempt"}

# Exceptions Home Assistant shows to the user; each must be translated.
TRANSLATED_EXCEPTIONS = {
    "HomeAssistantError",
    "ServiceValidationError",
    "ConfigEntryError",
    "ConfigEntryNotReady",
    "ConfigEntryAuthFailed",
    "UpdateFailed",
    "IntegrationError",
}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _json(path: Path) -> Any:
    return json.loads(_text(path))


def _status(entry: Any) -> str:
    return entry if isinstance(entry, str) else entry["status"]


def _rules() -> dict[str, Any]:
    return yaml.safe_load(_text(PACKAGE / "quality_scale.yaml"))["rules"]


def _modules() -> dict[str, str]:
    """Source of the Home Assistant side of the package (not the vendor client library)."""
    return {path.name: _text(path) for path in sorted(PACKAGE.glob("*.py"))}


def _all_sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): _text(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _tests_source() -> str:
    return "\n".join(_text(path) for path in sorted(TESTS.glob("test_*.py")))


def _functions(source: str) -> dict[str, ast.AST]:
    """Top-level and method definitions of a module by name (the last one wins)."""
    return {
        node.name: node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _called(node: ast.AST) -> set[str]:
    """Names of everything called inside a node (``a.b.c()`` gives ``c``)."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _readme() -> str:
    return _text(ROOT / "README.md")


def _readme_section(heading: str) -> str:
    """A README ``## heading`` section up to the next one."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", _readme(), re.M | re.S)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def _strings() -> dict[str, Any]:
    return _json(PACKAGE / "translations" / "en.json")


def _services() -> dict[str, Any]:
    return yaml.safe_load(_text(PACKAGE / "services.yaml"))


def _scripts_test() -> str:
    return _text(ROOT / "scripts" / "test")


def _entity_classes() -> list[type]:
    """Every entity class the platforms define."""
    from homeassistant.helpers.entity import Entity

    classes = []
    for platform in PLATFORMS:
        module = __import__(f"custom_components.{DOMAIN}.{platform.value}", fromlist=["_"])
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Entity) and cls.__module__ == module.__name__:
                classes.append(cls)
    assert classes
    return classes


CHECKS: dict[str, Callable[[], None]] = {}


def check(rule: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the automatic check of a rule."""
    assert rule in ALL_RULES, rule

    def register(func: Callable[[], None]) -> Callable[[], None]:
        CHECKS[rule] = func
        return func

    return register


# Bronze


@check("action-setup")
def _action_setup() -> None:
    functions = _functions(_modules()["__init__.py"])
    assert "async_setup_services" in _called(functions["async_setup"])
    assert "async_setup_services" not in _called(functions["async_setup_entry"])
    for name, source in _modules().items():
        if name != "services.py":
            assert "services.async_register" not in source, name


@check("appropriate-polling")
def _appropriate_polling() -> None:
    # The coordinators poll at the account's period, which the vendor client plans from its
    # allowances: never faster than the clouds' 5-minute refresh, at any account size.
    from custom_components.solar_cloud.api.huawei import HuaweiClient
    from custom_components.solar_cloud.api.models import Device, DeviceKind, Plant
    from custom_components.solar_cloud.api.saj import SajClient
    from custom_components.solar_cloud.api.shinemonitor import ShineMonitorClient
    from custom_components.solar_cloud.api.sungrow import SungrowClient

    assert "update_interval=timedelta(seconds=account.period)" in _modules()["coordinator.py"]
    session: Any = object()  # plan() sends nothing
    clients = [
        HuaweiClient(session, "https://x.example", "user", "code"),
        SungrowClient(session, "https://x.example", "key", "access", "user", "pass"),
        SajClient(session, "https://x.example", "id", "secret"),
        ShineMonitorClient(session, "http://x.example", "user", "pass", "company"),
    ]
    for count in (1, 10, 100):
        plants = [Plant(id=str(n), name=f"plant {n}") for n in range(count)]
        devices = [
            Device(
                id=f"d{n}",
                plant_id=str(n),
                name="inverter",
                kind=DeviceKind.INVERTER,
                type_code="1",
            )
            for n in range(count)
        ]
        for client in clients:
            plan = client.plan(plants, devices)
            assert plan.realtime >= 300, (client, count, plan)
            assert plan.alarms >= plan.realtime, (client, count, plan)
            assert plan.devices >= 3600, (client, count, plan)


@check("brands")
def _brands() -> None:
    for name in ("icon", "icon@2x", "logo", "logo@2x", "dark_icon", "dark_logo"):
        assert (PACKAGE / "brand" / f"{name}.png").is_file(), name


@check("common-modules")
def _common_modules() -> None:
    from custom_components.solar_cloud.coordinator import PlantCoordinator
    from custom_components.solar_cloud.entity import SolarCloudEntity

    assert issubclass(PlantCoordinator, DataUpdateCoordinator)
    assert issubclass(SolarCloudEntity, CoordinatorEntity)
    for cls in _entity_classes():
        assert issubclass(cls, SolarCloudEntity), cls


@check("config-flow-test-coverage")
def _config_flow_test_coverage() -> None:
    assert re.search(r"--include=\"\$PACKAGE/config_flow.py\" --fail-under=100\b", _scripts_test())


@check("config-flow")
def _config_flow() -> None:
    assert _json(PACKAGE / "manifest.json")["config_flow"] is True
    from custom_components.solar_cloud.config_flow import SolarCloudConfigFlow

    assert SolarCloudConfigFlow.DOMAIN == DOMAIN
    strings = _strings()
    steps = {**strings["config"]["step"], **strings["options"]["step"]}
    for step_id, step in steps.items():
        described = set(step.get("data_description", {}))
        assert set(step.get("data", {})) <= described, (step_id, set(step["data"]) - described)


@check("dependency-transparency")
def _dependency_transparency() -> None:
    manifest = _json(PACKAGE / "manifest.json")
    pins = _text(ROOT / "requirements_test.txt").splitlines()
    for requirement in manifest["requirements"]:
        # Pinned to a release, and the release the tests installed from PyPI.
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", requirement), requirement
        assert requirement in pins, requirement


@check("docs-actions")
def _docs_actions() -> None:
    section = _readme_section("Battery controls and actions")
    for service in _services():
        assert f"{DOMAIN}.{service}" in section, service


@check("docs-high-level-description")
def _docs_high_level_description() -> None:
    intro = _readme().split("\n## ", 1)[0]
    assert "Home Assistant" in intro
    for label in _strings()["selector"]["vendor"]["options"].values():
        assert label.split(" (")[0].split()[0] in intro, label


@check("docs-installation-instructions")
def _docs_installation_instructions() -> None:
    section = _readme_section("Installation")
    assert "HACS" in section
    assert "Add integration" in section
    assert "Home Assistant 2026" in section


@check("docs-removal-instructions")
def _docs_removal_instructions() -> None:
    section = _readme_section("Removal")
    assert "Devices & services" in section
    assert "Delete" in section


@check("entity-event-setup")
def _entity_event_setup() -> None:
    # Listeners added in async_added_to_hass are handed to async_on_remove.
    for name, source in _modules().items():
        functions = _functions(source)
        if (added := functions.get("async_added_to_hass")) is not None:
            called = _called(added)
            assert "async_on_remove" in called, name


@check("entity-unique-id")
def _entity_unique_id() -> None:
    from custom_components.solar_cloud.entity import SolarCloudEntity

    init = inspect.getsource(SolarCloudEntity.__init__)
    assert "self._attr_unique_id = " in init
    for cls in _entity_classes():
        assert issubclass(cls, SolarCloudEntity), cls
        assert "_attr_unique_id" not in vars(cls), cls


@check("has-entity-name")
def _has_entity_name() -> None:
    for cls in _entity_classes():
        assert cls.__new__(cls).has_entity_name is True, cls


@check("runtime-data")
def _runtime_data() -> None:
    from custom_components.solar_cloud.coordinator import (
        SolarCloudConfigEntry,
        SolarCloudData,
    )

    alias = SolarCloudConfigEntry.__value__
    assert alias.__origin__ is ConfigEntry
    assert get_args(alias) == (SolarCloudData,)
    assert "entry.runtime_data = " in _modules()["__init__.py"]
    for name, source in _modules().items():
        # hass.data[DOMAIN] holds only what outlives entries (memory.py), nothing per entry.
        assert not re.search(r"hass\.data\[DOMAIN\]\[[^]]*entry_id", source), name
        assert not re.search(r"hass\.data\.setdefault\(DOMAIN, \{\}\)\[", source), name


@check("test-before-configure")
def _test_before_configure() -> None:
    errors = _strings()["config"]["error"]
    assert {"cannot_connect", "invalid_auth", "unknown"} <= set(errors)
    assert "_async_test" in _called(_functions(_modules()["config_flow.py"])["_async_validate"])
    assert '"cannot_connect"' in _text(TESTS / "test_config_flow.py")


@check("test-before-setup")
def _test_before_setup() -> None:
    setup = _functions(_modules()["__init__.py"])["async_setup_entry"]
    called = _called(setup)
    assert {"ConfigEntryNotReady", "ConfigEntryAuthFailed"} <= called
    assert "async_config_entry_first_refresh" in called


@check("unique-config-entry")
def _unique_config_entry() -> None:
    flow = _modules()["config_flow.py"]
    assert "await self.async_set_unique_id(" in flow
    assert "self._abort_if_unique_id_configured()" in flow
    assert '"already_configured"' in _text(TESTS / "test_config_flow.py")


# Silver


@check("action-exceptions")
def _action_exceptions() -> None:
    services = _called(ast.parse(_modules()["services.py"]))
    controls = _called(ast.parse(_modules()["plant_controls.py"]))
    assert "ServiceValidationError" in services
    assert {"ServiceValidationError", "HomeAssistantError"} <= controls


@check("config-entry-unloading")
def _config_entry_unloading() -> None:
    unload = _functions(_modules()["__init__.py"])["async_unload_entry"]
    assert "async_unload_platforms" in _called(unload)


@check("docs-configuration-parameters")
def _docs_configuration_parameters() -> None:
    readme = " ".join(_readme().lower().split())
    for label in _strings()["options"]["step"]["init"]["data"].values():
        assert label.lower() in readme, label


@check("docs-installation-parameters")
def _docs_installation_parameters() -> None:
    section = _readme_section("Setting up an account")
    steps = _strings()["config"]["step"]
    vendors = _strings()["selector"]["vendor"]["options"]
    for vendor in vendors:
        for label in steps.get(vendor, {}).get("data", {}).values():
            # "System code (password)" is documented as "System code".
            assert label.split(" (")[0].lower() in section.lower(), (vendor, label)


@check("entity-unavailable")
def _entity_unavailable() -> None:
    from custom_components.solar_cloud.entity import SolarCloudEntity

    assert "super().available" in inspect.getsource(SolarCloudEntity)


@check("integration-owner")
def _integration_owner() -> None:
    assert _json(PACKAGE / "manifest.json")["codeowners"]


@check("log-when-unavailable")
def _log_when_unavailable() -> None:
    # The coordinator logs outage and recovery once; the update itself logs no failures.
    update = _functions(_modules()["coordinator.py"])["_async_update_data"]
    called = _called(update)
    assert "UpdateFailed" in called
    assert not called & {"warning", "error", "exception", "info"}


@check("parallel-updates")
def _parallel_updates() -> None:
    for platform in PLATFORMS:
        source = _modules()[f"{platform.value}.py"]
        assert re.search(r"^PARALLEL_UPDATES = \d+$", source, re.M), platform


@check("reauthentication-flow")
def _reauthentication_flow() -> None:
    flow = _functions(_modules()["config_flow.py"])
    assert {"async_step_reauth", "async_step_reauth_confirm"} <= set(flow)
    assert "start_reauth_flow(" in _tests_source()


@check("test-coverage")
def _test_coverage() -> None:
    script = _scripts_test()
    gates = [int(n) for n in re.findall(r"--cov-fail-under=(\d+)", script)]
    assert gates
    assert min(gates) >= 95
    # Every module, not only the total.
    per_module = re.findall(r"scripts/module_coverage\.py --fail-under (\d+)", script)
    assert per_module
    assert min(int(n) for n in per_module) >= 95


# Gold


@check("devices")
def _devices() -> None:
    from custom_components.solar_cloud import entity

    for func in (entity.plant_device_info, entity.cloud_device_info):
        source = inspect.getsource(func)
        for key in ("identifiers=", "name=", "manufacturer=", "model="):
            assert key in source, (func.__name__, key)
    assert "via_device=" in inspect.getsource(entity.cloud_device_info)


@check("diagnostics")
def _diagnostics() -> None:
    from custom_components.solar_cloud import diagnostics
    from custom_components.solar_cloud.const import (
        CONF_ACCESS_KEY,
        CONF_APP_SECRET,
        CONF_COMPANY_KEY,
        CONF_SYSTEM_CODE,
        CONF_TOKEN,
    )

    assert inspect.iscoroutinefunction(diagnostics.async_get_config_entry_diagnostics)
    assert "async_redact_data" in inspect.getsource(diagnostics)
    secrets = {"password", CONF_SYSTEM_CODE, CONF_ACCESS_KEY, CONF_APP_SECRET, CONF_COMPANY_KEY}
    assert secrets | {CONF_TOKEN, "refresh_token"} <= diagnostics.TO_REDACT
    assert "await async_get_config_entry_diagnostics(" in _text(TESTS / "test_diagnostics.py")


@check("docs-data-update")
def _docs_data_update() -> None:
    section = _readme_section("How data is updated")
    assert "every 5 minutes" in section


@check("docs-examples")
def _docs_examples() -> None:
    assert _readme().count("automation:") >= 1


@check("docs-known-limitations")
def _docs_known_limitations() -> None:
    section = _readme_section("Known limitations")
    for vendor in (
        "All vendors",
        "Huawei FusionSolar",
        "Sungrow iSolarCloud",
        "SAJ",
        "ShineMonitor",
    ):
        assert f"**{vendor}**" in section, vendor
    assert section.count("\n- ") >= 10


@check("docs-supported-devices")
def _docs_supported_devices() -> None:
    section = _readme_section("Entities")
    for kind in ("inverter", "battery", "meter"):
        assert kind in section, kind


@check("docs-supported-functions")
def _docs_supported_functions() -> None:
    section = _readme_section("Entities")
    for platform in ("Binary sensors",):
        assert platform in section
    assert "selects" in _readme_section("Battery controls and actions")


@check("docs-troubleshooting")
def _docs_troubleshooting() -> None:
    section = _readme_section("Troubleshooting")
    assert "diagnostics" in section.lower()
    assert section.count("\n|") > 5


@check("docs-use-cases")
def _docs_use_cases() -> None:
    readme = _readme()
    assert "Energy dashboard" in readme
    assert "alias:" in readme


@check("dynamic-devices")
def _dynamic_devices() -> None:
    entity = _functions(_modules()["entity.py"])
    assert "async_add_listener" in _called(entity["async_setup_platform_entities"])
    for platform in PLATFORMS:
        setup = _functions(_modules()[f"{platform.value}.py"])["async_setup_entry"]
        called = _called(setup)
        assert called & {"async_setup_platform_entities", "async_setup_control_entities"}, platform


@check("entity-category")
def _entity_category() -> None:
    from custom_components.solar_cloud.binary_sensor import ONLINE
    from custom_components.solar_cloud.entity import SolarCloudControlEntity

    # Home Assistant turns _attr_ class attributes into properties: read them from an instance.
    control = SolarCloudControlEntity.__new__(SolarCloudControlEntity)
    assert control.entity_category is EntityCategory.CONFIG
    assert ONLINE.entity_category is EntityCategory.DIAGNOSTIC
    assert any(get_metric(key).diagnostic for key in METRICS)


@check("entity-device-class")
def _entity_device_class() -> None:
    from custom_components.solar_cloud.sensor import describe

    with_class = [describe(get_metric(key), "EUR").device_class for key in METRICS]
    # Most metrics are physical quantities with a device class.
    assert sum(cls is not None for cls in with_class) > len(with_class) // 2


@check("entity-disabled-by-default")
def _entity_disabled_by_default() -> None:
    assert any(not get_metric(key).enabled_by_default for key in METRICS)


@check("entity-translations")
def _entity_translations() -> None:
    for name, source in _modules().items():
        assert not re.search(r"_attr_name\b|\bname=(?!f?\"|plant\.|device\.)", source), name
    for cls in _entity_classes():
        assert "_attr_name" not in vars(cls), cls


def _raised_exceptions() -> list[tuple[str, int, str, dict[str, ast.expr]]]:
    """Every construction of a user-facing exception in the package: where, class, keywords."""
    found = []
    for name, source in _all_sources().items():
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            cls = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if cls in TRANSLATED_EXCEPTIONS:
                keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
                found.append((name, node.lineno, cls, keywords))
    return found


@check("exception-translations")
def _exception_translations() -> None:
    known = set(_strings()["exceptions"])
    raised = _raised_exceptions()
    assert raised
    for name, line, cls, keywords in raised:
        where = f"{name}:{line} {cls}"
        assert "translation_domain" in keywords, where
        key = keywords.get("translation_key")
        assert isinstance(key, ast.Constant), where
        assert key.value in known, (where, key.value)


@check("icon-translations")
def _icon_translations() -> None:
    from custom_components.solar_cloud.sensor import describe

    icons = _json(PACKAGE / "icons.json")
    strings = _strings()["entity"]
    for platform, keys in icons["entity"].items():
        assert set(keys) <= set(strings[platform]), (platform, set(keys) - set(strings[platform]))
    for platform in ("number", "select"):
        assert set(strings[platform]) <= set(icons["entity"][platform]), platform
    # Sensors without a device class icon (none, or enum) get one from icons.json.
    sensor_icons = icons["entity"]["sensor"]
    for key in METRICS:
        description = describe(get_metric(key), "EUR")
        if description.device_class in (None, SensorDeviceClass.ENUM):
            assert description.translation_key in sensor_icons, key
    assert "last_command" in sensor_icons
    assert set(_services()) <= set(icons["services"])
    for name, source in _modules().items():
        assert not re.search(r"_attr_icon\b|\bicon=", source), name


@check("reconfiguration-flow")
def _reconfiguration_flow() -> None:
    assert "async_step_reconfigure" in _functions(_modules()["config_flow.py"])
    assert "start_reconfigure_flow(" in _tests_source()


@check("repair-issues")
def _repair_issues() -> None:
    issues = _strings()["issues"]
    for key, issue in issues.items():
        assert issue.get("title"), key
        assert issue.get("description"), key
    sources = "\n".join(_modules().values())
    assert "ir.async_create_issue(" in sources
    from custom_components.solar_cloud.const import VENDORS

    # raise_permission_issue uses translation_key f"permission_{vendor}".
    for vendor in {v.removesuffix("_oauth") for v in VENDORS}:
        assert f"permission_{vendor}" in issues, vendor


@check("stale-devices")
def _stale_devices() -> None:
    functions = _functions(_modules()["__init__.py"])
    assert "async_remove_config_entry_device" in functions
    assert "_remove_stale_devices" in _called(functions["async_setup_entry"])


# Platinum


@check("async-dependency")
def _async_dependency() -> None:
    for name, source in _all_sources().items():
        assert not re.search(
            r"^\s*(import|from) (requests|urllib\.request|http\.client)\b", source, re.M
        ), name


@check("inject-websession")
def _inject_websession() -> None:
    for name, source in _all_sources().items():
        assert not re.search(r"aiohttp\.ClientSession\(|\bClientSession\(", source), name
    assert "async_get_clientsession(hass)" in _modules()["__init__.py"]


@check("strict-typing")
def _strict_typing() -> None:
    assert (PACKAGE / "api" / "py.typed").is_file()
    config = _text(ROOT / "setup.cfg")
    assert re.search(r"^strict = true$", config, re.M)
    # The whole package, not only the api library, must be held to --strict.
    assert "ignore_errors = true" not in config
    assert re.search(r"mypy --strict .*\$PACKAGE\"?$", _scripts_test(), re.M)


def test_every_rule_once_with_a_valid_status() -> None:
    """Each rule of the scale appears exactly once, with done, todo or exempt-with-a-comment."""
    text = _text(PACKAGE / "quality_scale.yaml")
    ids = re.findall(r"^  ([a-z][a-z0-9-]*):", text, re.M)
    duplicates = {rule for rule in ids if ids.count(rule) > 1}
    assert not duplicates
    rules = _rules()
    assert set(rules) == set(ALL_RULES), (set(ALL_RULES) - set(rules), set(rules) - set(ALL_RULES))
    assert len(ALL_RULES) == len(set(ALL_RULES)) == 54
    for rule, entry in rules.items():
        if isinstance(entry, str):
            assert entry in {"done", "todo"}, rule
            continue
        assert set(entry) <= {"status", "comment"}, rule
        assert entry["status"] in STATUSES, rule
        if entry["status"] == "exempt":
            assert isinstance(entry.get("comment"), str), rule
            assert entry["comment"].strip(), rule


def test_manifest_quality_scale_matches() -> None:
    """A quality_scale claimed in the manifest needs every rule of that tier and below."""
    claimed = _json(PACKAGE / "manifest.json").get("quality_scale")
    if claimed is None:
        return
    tiers = {"bronze": BRONZE, "silver": SILVER, "gold": GOLD, "platinum": PLATINUM}
    assert claimed in tiers
    needed = []
    for tier, rules in tiers.items():
        needed += rules
        if tier == claimed:
            break
    rules = _rules()
    assert all(_status(rules[rule]) in {"done", "exempt"} for rule in needed)


@pytest.mark.parametrize("rule", sorted(CHECKS))
def test_done_rule_holds(rule: str) -> None:
    """A rule marked done passes its automatic check."""
    status = _status(_rules()[rule])
    if status != "done":
        pytest.skip(f"{rule} is {status}")
    CHECKS[rule]()


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a README heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_into_the_readme_exist() -> None:
    """Every link the integration shows into the README (repair issues, the application
    credentials dialog) names a section that exists; the documentation URL is the manifest's."""
    from custom_components.solar_cloud.const import DOCUMENTATION_URL

    assert _json(PACKAGE / "manifest.json")["documentation"] == DOCUMENTATION_URL
    anchors = {
        _github_anchor(line.lstrip("#"))
        for line in _text(ROOT / "README.md").splitlines()
        if line.startswith("#")
    }
    assert "huawei-fusionsolar-oauth-connect" in anchors
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.json")]
    found = set(re.findall(r"DOCUMENTATION_URL\}#([a-z0-9-]+)", _text(PACKAGE / "const.py")))
    for path in sources:
        found |= set(re.findall(r"solar_cloud#([a-z0-9-]+)", _text(path)))
    assert found
    assert found <= anchors, found - anchors
    # And the README's own table of contents and cross references.
    internal = set(re.findall(r"\]\(#([^)]+)\)", _text(ROOT / "README.md")))
    assert internal <= anchors, internal - anchors
