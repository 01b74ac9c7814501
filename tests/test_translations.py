"""Translations: every language file matches en.json, and every key the code uses has its text.

test_manifest.py already checks the sensor keys of the metrics, the vendor options, the binary
sensors and the exception and issue keys of ``__init__.py`` and ``coordinator.py``; this module
checks the other language files and the keys the rest of the code uses: every module's
translation keys with their placeholders, the control entities, the config and options flow
(steps, their fields and placeholders, errors, aborts) and the actions of services.yaml.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from homeassistant.helpers import config_entry_oauth2_flow

from custom_components.solar_cloud import config_flow
from custom_components.solar_cloud.api import shinemonitor, sungrow
from custom_components.solar_cloud.api.controls import ControlKind, TaskState
from custom_components.solar_cloud.const import DOMAIN, VENDORS
from custom_components.solar_cloud.sensor import _FAMILIES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / DOMAIN
TRANSLATIONS = PACKAGE / "translations"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
REFERENCE = re.compile(r"\[%key:[^%]+%\]")
PLATFORMS = ("sensor", "binary_sensor", "select", "number")

# translation_key expressions the scan cannot resolve, checked by a test of their own:
# (file, class.function).
CHECKED_ELSEWHERE = {
    # metric.key or its family: test_manifest.test_translations_cover_every_name and
    # test_sensor_families_name_their_placeholder.
    ("sensor.py", "describe"),
    # spec.key: test_control_entities_have_names_and_states.
    ("entity.py", "SolarCloudControlEntity.__init__"),
}
# Names in f-string translation keys and the values they take.
EXPANSIONS: dict[str, tuple[str, ...]] = {"vendor": tuple(VENDORS)}
# ControlSpec calls whose key is a local variable, and what covers them:
# the keys of sungrow._device_specs and shinemonitor._RULES (taken by the test itself) and the
# loop over the shared BATTERY_MAX_* keys in the Huawei client (which Sungrow offers too).
LOCAL_CONTROL_KEYS = {("sungrow", "number"), ("shinemonitor", None), ("huawei", None)}
# Option labels en.json lacks so far (platform, control key, option): the frontend shows the
# raw key. The test fails once one is added to en.json, to be taken out of this set.
KNOWN_MISSING: set[tuple[str, str, str]] = set()
# Connection test errors an OAuth Connect reauth can never return as an abort reason: wrong
# credentials of an API account, Sungrow's app and encryption codes, ShineMonitor's company key.
NOT_OAUTH_ERRORS = {"invalid_auth", "invalid_app", "encryption_required", "invalid_company_key"}


def _load(path: Path) -> dict[str, Any]:
    """The JSON object of a file; duplicate keys (which json.loads merges silently) fail."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _value in items]
        duplicates = {key for key in keys if keys.count(key) > 1}
        assert not duplicates, f"{path.name}: duplicate keys {sorted(duplicates)}"
        return dict(items)

    data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=pairs)
    assert isinstance(data, dict), path.name
    return data


ENGLISH = _load(TRANSLATIONS / "en.json")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Key path -> value (a string, or whatever else is there) of every leaf."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _texts(tree: Any) -> str:
    """Every string of a subtree, joined (for the placeholders it uses)."""
    if isinstance(tree, dict):
        return "\n".join(_texts(value) for value in tree.values())
    return str(tree)


def _node(path: str) -> Any:
    """The subtree of en.json at a key path, or None."""
    node: Any = ENGLISH
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- language files ---------------------------------------------------------------------------


def test_english_strings_are_strings() -> None:
    """en.json holds only objects and non-empty strings."""
    for path, value in _flatten(ENGLISH).items():
        assert isinstance(value, str), path
        assert value.strip(), path


def test_translation_files_match_english() -> None:
    """Every other language: valid JSON, en.json's key paths, its placeholders and references."""
    english = _flatten(ENGLISH)
    problems: list[str] = []
    for path in sorted(TRANSLATIONS.glob("*.json")):
        if path.name == "en.json":
            continue
        try:
            flat = _flatten(_load(path))
        except (UnicodeDecodeError, ValueError, AssertionError) as err:
            problems.append(f"{path.name}: not a valid translation file: {err}")
            continue
        problems += [f"{path.name}: missing {key}" for key in sorted(english.keys() - flat)]
        problems += [f"{path.name}: not in en.json: {key}" for key in sorted(flat.keys() - english)]
        for key in sorted(english.keys() & flat.keys()):
            text, theirs = english[key], flat[key]
            if not isinstance(theirs, str) or not theirs.strip():
                problems.append(f"{path.name}: {key} is no text: {theirs!r}")
                continue
            if _placeholders(theirs) != _placeholders(text):
                problems.append(
                    f"{path.name}: {key} has placeholders {sorted(_placeholders(theirs))}, "
                    f"en.json {sorted(_placeholders(text))}"
                )
            if sorted(REFERENCE.findall(theirs)) != sorted(REFERENCE.findall(text)):
                problems.append(f"{path.name}: {key} changes a [%key:...%] reference")
    assert not problems, "\n".join(problems)


# -- translation keys in the code -------------------------------------------------------------


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _with_parents(tree: ast.AST) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """Every node with its ancestors, innermost last."""
    stack: list[tuple[ast.AST, list[ast.AST]]] = [(tree, [])]
    while stack:
        node, parents = stack.pop()
        yield node, parents
        stack.extend((child, [*parents, node]) for child in ast.iter_child_nodes(node))


def _enclosing(parents: list[ast.AST], kind: type | tuple[type, ...]) -> Any:
    return next((node for node in reversed(parents) if isinstance(node, kind)), None)


def _function(parents: list[ast.AST]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return _enclosing(parents, (ast.FunctionDef, ast.AsyncFunctionDef))


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _strings(node: ast.expr, module: Any, scope: ast.AST | None) -> set[str] | None:
    """The strings an expression can be: constants, module constants, local assignments of
    constants, conditionals and f-strings over EXPANSIONS; None if it cannot be told."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body, module, scope), _strings(node.orelse, module, scope)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.JoinedStr):
        found = {""}
        for part in node.values:
            if isinstance(part, ast.Constant):
                found = {text + str(part.value) for text in found}
            elif isinstance(part.value, ast.Name) and part.value.id in EXPANSIONS:
                found = {text + value for text in found for value in EXPANSIONS[part.value.id]}
            else:
                return None
        return found
    if isinstance(node, ast.Name):
        if scope is not None:
            assigned: set[str] = set()
            for child in ast.walk(scope):
                if isinstance(child, ast.Assign) and any(
                    isinstance(target, ast.Name) and target.id == node.id
                    for target in child.targets
                ):
                    values = _strings(child.value, module, None)
                    if values is None:
                        return None
                    assigned |= values
            if assigned:
                return assigned
        value = getattr(module, node.id, None)
        return {value} if isinstance(value, str) else None
    return None


def _placeholder_keys(call: ast.Call) -> set[str] | None:
    """The keys of a literal translation_placeholders dict; None when it is no literal."""
    node = _keyword(call, "translation_placeholders")
    if node is None:
        return set()
    if isinstance(node, ast.Dict) and all(isinstance(key, ast.Constant) for key in node.keys):
        return {key.value for key in node.keys if isinstance(key, ast.Constant)}
    return None


def _translation_key_uses() -> Iterator[tuple[str, str, str, set[str] | None]]:
    """(where, section, key, placeholders passed) of every translation key in the package.

    section is the key path in en.json the key belongs under. A use the scan cannot place
    fails the test, so that a new kind of use gets a check.
    """
    for path in sorted(PACKAGE.glob("*.py")):
        module = importlib.import_module(f"custom_components.{DOMAIN}.{path.stem}")
        for node, parents in _with_parents(_parse(path)):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            function = _function(parents)
            cls = _enclosing(parents, ast.ClassDef)
            name = ".".join(part.name for part in (cls, function) if part is not None)
            if (path.name, name) in CHECKED_ELSEWHERE:
                continue
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name | ast.Attribute)
                and getattr(target, "id", getattr(target, "attr", "")) == "_attr_translation_key"
                for target in node.targets
            ):
                assert path.stem in PLATFORMS, f"{where}: an entity outside a platform module"
                keys = _strings(node.value, module, function)
                assert keys is not None, f"{where}: cannot tell the translation key"
                for key in keys:
                    yield where, f"entity.{path.stem}", key, None
                continue
            if not isinstance(node, ast.Call):
                continue
            value = _keyword(node, "translation_key")
            if value is None:
                continue
            keys = _strings(value, module, function)
            assert keys is not None, f"{where}: cannot tell the translation key"
            name = _callee(node)
            target = getattr(module, name, None)
            if name == "async_create_issue":
                section = "issues"
            elif isinstance(target, type) and issubclass(target, BaseException):
                section = "exceptions"
            elif name.endswith("EntityDescription") and path.stem in PLATFORMS:
                section = f"entity.{path.stem}"
            elif name == "SelectSelectorConfig":
                section = "selector"
            else:
                raise AssertionError(f"{where}: translation_key of an unknown kind ({name})")
            for key in keys:
                yield where, section, key, _placeholder_keys(node)


def test_every_translation_key_in_the_code_exists() -> None:
    """Exceptions, issues, entity descriptions, entity classes, selectors: all modules."""
    uses = list(_translation_key_uses())
    assert {section for _where, section, _key, _passed in uses} >= {
        "exceptions",
        "issues",
        "entity.sensor",
        "entity.binary_sensor",
        "selector",
    }
    missing = [
        f"{where}: {section}.{key}"
        for where, section, key, _ in uses
        if key not in (_node(section) or {})
    ]
    assert not missing, "\n".join(missing)


def test_code_passes_every_placeholder_its_text_uses() -> None:
    """A placeholder in the English text the code does not pass would show as {name}."""
    problems = []
    for where, section, key, passed in _translation_key_uses():
        if passed is None or section == "selector":
            continue
        text = _texts(_node(f"{section}.{key}"))
        if not _placeholders(text) <= passed:
            problems.append(
                f"{where}: {section}.{key} needs {sorted(_placeholders(text) - passed)}"
            )
    assert not problems, "\n".join(problems)


def test_selector_options_have_labels() -> None:
    """The options of a translated selector in the config flow have their labels."""
    for node, _parents in _with_parents(_parse(PACKAGE / "config_flow.py")):
        if not (isinstance(node, ast.Call) and _callee(node) == "SelectSelectorConfig"):
            continue
        key, options = _keyword(node, "translation_key"), _keyword(node, "options")
        if key is None or options is None:
            continue
        assert isinstance(key, ast.Constant)
        values = _evaluate(options, config_flow)
        assert set(values) <= set(ENGLISH["selector"][key.value]["options"]), key.value


def test_sensor_families_name_their_placeholder() -> None:
    """pv{number}_voltage and the like: the family's name holds the placeholder it is given."""
    for _pattern, family, placeholder in _FAMILIES:
        assert _placeholders(ENGLISH["entity"]["sensor"][family]["name"]) == {placeholder}, family


def test_last_command_states_and_attributes() -> None:
    """Every task state and every attribute of the last command sensor has its text."""
    last = ENGLISH["entity"]["sensor"]["last_command"]
    assert {state.value for state in TaskState} <= set(last["state"])
    summary = next(
        node
        for node in ast.walk(_parse(PACKAGE / "plant_controls.py"))
        if isinstance(node, ast.FunctionDef) and node.name == "task_summary"
    )
    returned = next(node.value for node in ast.walk(summary) if isinstance(node, ast.Return))
    assert isinstance(returned, ast.Dict)
    keys = {key.value for key in returned.keys if isinstance(key, ast.Constant)}
    assert keys
    assert keys <= set(last["state_attributes"]), keys - set(last["state_attributes"])


def _evaluate(node: ast.expr, module: Any) -> Any:
    """A constant, a module global, an attribute of one or tuple()/list() of one; NameError
    for anything else (a local variable)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and hasattr(module, node.id):
        return getattr(module, node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, module), node.attr)
    if isinstance(node, ast.Call) and _callee(node) in ("tuple", "list") and len(node.args) == 1:
        return tuple(_evaluate(node.args[0], module))
    raise NameError(ast.unparse(node))


def _control_specs() -> list[tuple[str, ControlKind, tuple[str, ...]]]:
    """(key, kind, option keys) of every control the vendor clients can offer."""
    specs = [(s.key, s.kind, s.options) for s in sungrow._device_specs("device", {}, None)]
    specs += [(r.key, r.kind, tuple(r.options.values())) for r in shinemonitor._RULES]
    for path in sorted((PACKAGE / "api").glob("*.py")):
        module = importlib.import_module(f"custom_components.{DOMAIN}.api.{path.stem}")
        for node, parents in _with_parents(_parse(path)):
            if not (isinstance(node, ast.Call) and _callee(node) == "ControlSpec"):
                continue
            args = {0: "key", 2: "kind"}
            fields = {args[i]: arg for i, arg in enumerate(node.args) if i in args}
            fields.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
            try:
                key, kind = (_evaluate(fields[name], module) for name in ("key", "kind"))
                options = _evaluate(fields["options"], module) if "options" in fields else ()
            except NameError:
                function = _function(parents)
                name = function.name if function else None
                assert (path.stem, name) in LOCAL_CONTROL_KEYS or (
                    path.stem,
                    None,
                ) in LOCAL_CONTROL_KEYS, f"{path.name}:{node.lineno}: key of the control?"
                continue
            specs.append((key, kind, tuple(options)))
    return specs


def test_control_entities_have_names_and_states() -> None:
    """A select or number per control key (SolarCloudControlEntity's translation key)."""
    specs = _control_specs()
    missing: set[tuple[str, str, str]] = set()
    assert {kind for _key, kind, _options in specs} == {ControlKind.SELECT, ControlKind.NUMBER}
    for key, kind, options in specs:
        platform = "select" if kind is ControlKind.SELECT else "number"
        strings = ENGLISH["entity"][platform]
        assert key in strings, (platform, key)
        assert strings[key].get("name"), (platform, key)
        for option in options:
            if option not in strings[key].get("state", {}):
                missing.add((platform, key, option))
    # A gap that was filled leaves KNOWN_MISSING: remove it there.
    assert missing == KNOWN_MISSING, (missing - KNOWN_MISSING, KNOWN_MISSING - missing)


# -- config and options flow ------------------------------------------------------------------


def _flow_class(parents: list[ast.AST]) -> str:
    """config or options: the flow an error, abort or step of config_flow.py belongs to."""
    cls = _enclosing(parents, ast.ClassDef)
    if cls is not None and any("OptionsFlow" in ast.unparse(base) for base in cls.bases):
        return "options"
    return "config"


def _form_error(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(field, error) of ``errors[field] = "..."`` or of a ``{"base"|CONF_...: "..."}`` dict."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
        for target in node.targets:
            if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "errors":
                yield ast.unparse(target.slice), node.value.value
    elif isinstance(node, ast.Dict) and node.values:
        keys = [ast.unparse(key) for key in node.keys if key is not None]
        if len(keys) == len(node.keys) and all(
            key == "'base'" or key.startswith("CONF_") for key in keys
        ):
            for key, value in zip(keys, node.values, strict=True):
                if isinstance(value, ast.Constant):
                    yield key, value.value


def _flow_strings() -> dict[str, set[str]]:
    """'config.error', 'options.abort', ... -> the keys config_flow.py uses there."""
    used: dict[str, set[str]] = {}
    for node, parents in _with_parents(_parse(PACKAGE / "config_flow.py")):
        flow = _flow_class(parents)
        for _field, error in _form_error(node):
            used.setdefault(f"{flow}.error", set()).add(error)
        if isinstance(node, ast.Call):
            name = _callee(node)
            reason = _keyword(node, "reason")
            if name == "async_abort" and isinstance(reason, ast.Constant):
                used.setdefault(f"{flow}.abort", set()).add(reason.value)
            elif name == "_abort_if_unique_id_configured":
                used.setdefault(f"{flow}.abort", set()).add("already_configured")
    return used


def test_flow_errors_and_aborts_exist() -> None:
    """errors[...] = "...", {"base": "..."} and async_abort(reason="...") of both flows."""
    used = _flow_strings()
    assert used["config.error"] >= {"invalid_auth", "no_plants", "invalid_url", "invalid_rsa_key"}
    for section, keys in used.items():
        known = set(_node(section) or {})
        assert keys <= known, (section, keys - known)


def test_oauth_aborts_exist() -> None:
    """OAuth Connect: the helper's abort reasons, and reauth errors turned into aborts."""
    aborts = set(ENGLISH["config"]["abort"])
    helper = _parse(Path(config_entry_oauth2_flow.__file__))
    reasons = {
        reason.value
        for node in ast.walk(helper)
        if isinstance(node, ast.Call) and _callee(node) == "async_abort"
        for reason in [_keyword(node, "reason")]
        if isinstance(reason, ast.Constant)
    }
    assert "missing_credentials" in reasons
    assert reasons <= aborts, reasons - aborts
    assert {"reauth_successful", "reconfigure_successful"} <= aborts
    # _async_oauth_reauth aborts with the connection test's error.
    source = (PACKAGE / "config_flow.py").read_text(encoding="utf-8")
    assert 'async_abort(reason=errors["base"])' in source
    tested = next(
        node
        for node in ast.walk(_parse(PACKAGE / "config_flow.py"))
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "_async_test"
    )
    errors = {
        error
        for node in ast.walk(tested)
        for field, error in _form_error(node)
        if field in ('"base"', "'base'")
    }
    assert "oauth_rejected" in errors
    assert errors - NOT_OAUTH_ERRORS <= aborts, errors - NOT_OAUTH_ERRORS - aborts


def _steps() -> Iterator[tuple[str, str, set[str]]]:
    """(flow, step id, description placeholders passed) of every form config_flow.py shows."""
    for node, parents in _with_parents(_parse(PACKAGE / "config_flow.py")):
        if not (isinstance(node, ast.Call) and _callee(node) == "async_show_form"):
            continue
        step = _keyword(node, "step_id")
        assert step is not None
        if isinstance(step, ast.Constant):
            ids = [step.value]
        elif ast.unparse(step) == "SOURCE_RECONFIGURE":
            ids = ["reconfigure"]
        elif ast.unparse(step) == "self._vendor":
            ids = list(VENDORS)
        else:
            raise AssertionError(f"config_flow.py:{node.lineno}: step id?")
        given = _keyword(node, "description_placeholders")
        passed = set()
        if isinstance(given, ast.Dict):
            passed = {key.value for key in given.keys if isinstance(key, ast.Constant)}
        for step_id in ids:
            yield _flow_class(parents), step_id, passed


def test_flow_steps_exist_with_their_placeholders() -> None:
    """Every form has a step text, and its placeholders are the ones the form passes."""
    steps = list(_steps())
    assert {step for _flow, step, _passed in steps} >= {"user", "plants", "reauth_confirm", "init"}
    for flow, step, passed in steps:
        strings = ENGLISH[flow]["step"].get(step)
        assert strings is not None, (flow, step)
        assert _placeholders(_texts(strings)) <= passed, (flow, step, passed)


def test_credential_fields_have_labels() -> None:
    """The fields of each vendor's form, the reconfigure form and reauth have labels."""
    steps = ENGLISH["config"]["step"]
    every: set[str] = set()
    for vendor in VENDORS:
        fields = {str(key) for key in config_flow._credentials_schema(vendor, {}).schema}
        every |= fields
        assert fields <= set(steps[vendor]["data"]), (vendor, fields - set(steps[vendor]["data"]))
    assert every <= set(steps["reconfigure"]["data"]), every - set(steps["reconfigure"]["data"])
    secrets = {secret for fields in config_flow._SECRETS.values() for secret in fields}
    assert secrets <= set(steps["reauth_confirm"]["data"])


# -- actions ----------------------------------------------------------------------------------


def test_services_have_names_and_field_texts() -> None:
    """services.yaml and en.json list the same actions and fields, each with name and text."""
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))
    strings = ENGLISH["services"]
    assert set(services) == set(strings)
    for service, spec in services.items():
        assert strings[service].get("name"), service
        assert strings[service].get("description"), service
        fields = spec.get("fields") or {}
        assert set(fields) == set(strings[service].get("fields", {})), service
        for field, field_spec in fields.items():
            text = strings[service]["fields"][field]
            assert text.get("name"), (service, field)
            assert text.get("description"), (service, field)
            for node in _selectors(field_spec.get("selector")):
                options = set(ENGLISH["selector"][node["translation_key"]]["options"])
                assert set(node["options"]) <= options, (service, field)


def _selectors(tree: Any) -> Iterator[dict[str, Any]]:
    """Every select selector with a translation key inside a field's selector."""
    if isinstance(tree, dict):
        if "translation_key" in tree and "options" in tree:
            yield tree
        for value in tree.values():
            yield from _selectors(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _selectors(value)
