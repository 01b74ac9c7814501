"""Helper of scripts/develop: prepare a Home Assistant config dir and run Home Assistant.

    python scripts/develop_launcher.py prepare --config config --simulator http://127.0.0.1:8990
    python scripts/develop_launcher.py run --config config [more Home Assistant arguments]

``prepare`` makes ``config/`` ready for a newcomer: configuration.yaml, the integration linked
into ``config/custom_components``, onboarding finished, an owner user ``demo`` (password
``demo``) created through Home Assistant's own auth code, and a config entry of the integration
for the FusionSolar simulator with the plants the simulator reports. Everything it writes is
only added when missing, so a second run keeps what the developer changed in the UI.

``run`` starts Home Assistant. Home Assistant 2026.2 asks for Python 3.13.2 and refuses to start
on an older 3.13; it runs fine on 3.13.0, so the check is lowered to 3.13.0 first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

DOMAIN = "solar_cloud"
VENDOR = "huawei_fusionsolar"
ENTRY_TITLE = "FusionSolar demo (simulator)"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_NAME = "Demo"
MIN_PYTHON = (3, 13, 0)
ONBOARDING_STEPS = ["user", "core_config", "analytics", "integration"]

ROOT = Path(__file__).resolve().parent.parent

CONFIGURATION_YAML = """\
# Made by scripts/develop: Home Assistant for developing Solar Cloud against the simulator.
# Delete the whole config/ folder to start again from scratch.
homeassistant:
  name: Solar Cloud dev
  latitude: 52.3731
  longitude: 4.8922
  elevation: 0
  unit_system: metric
  time_zone: Europe/Amsterdam
  currency: EUR
  country: NL
  language: en

# The parts of default_config that matter here (the Energy dashboard, history, the activity
# log). default_config itself also loads go2rtc, whose binary is not installed here (an
# "Invalid config" notification), and cloud, alerts and discovery (bluetooth, usb, zeroconf),
# which Solar Cloud does not use and which want internet or hardware.
energy:
history:
logbook:
my:

http:
  server_host: 127.0.0.1
  server_port: 8123

logger:
  default: info
  logs:
    custom_components.solar_cloud: debug

automation: !include automations.yaml
script: !include scripts.yaml
scene: !include scenes.yaml
"""


def log(message: str) -> None:
    """Print a progress line of scripts/develop."""
    print(f"develop: {message}", flush=True)


# --- configuration.yaml and the integration ------------------------------------------------


def write_configuration(config: Path) -> None:
    """Write configuration.yaml and the files it includes, when missing."""
    config.mkdir(parents=True, exist_ok=True)
    (config / ".storage").mkdir(exist_ok=True)
    configuration = config / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(CONFIGURATION_YAML, encoding="utf-8")
        log(f"wrote {configuration.relative_to(ROOT)}")
    for name, empty in (
        ("automations.yaml", "[]\n"),
        ("scripts.yaml", "{}\n"),
        ("scenes.yaml", "[]\n"),
    ):
        path = config / name
        if not path.exists():
            path.write_text(empty, encoding="utf-8")


def link_integration(config: Path) -> None:
    """Make config/custom_components/solar_cloud a relative link to the integration."""
    custom_components = config / "custom_components"
    custom_components.mkdir(exist_ok=True)
    link = custom_components / DOMAIN
    target = Path(os.path.relpath(ROOT / "custom_components" / DOMAIN, custom_components))
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        sys.exit(f"develop: {link} exists and is not a link; remove it and run again")
    link.symlink_to(target, target_is_directory=True)
    log(f"linked {link.relative_to(ROOT)} -> {target}")


# --- .storage files -------------------------------------------------------------------------


def read_store(path: Path) -> dict[str, Any] | None:
    """Return a Home Assistant storage file's content, or None when there is none."""
    if not path.exists():
        return None
    content: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return content


def write_store(path: Path, content: dict[str, Any]) -> None:
    """Write a Home Assistant storage file the way Home Assistant does (atomically)."""
    tmp = path.with_name(f"{path.name}.develop-tmp")
    tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def finish_onboarding(config: Path) -> None:
    """Mark every onboarding step done (storage key ``onboarding``, version 4)."""
    path = config / ".storage" / "onboarding"
    store = read_store(path) or {"version": 4, "minor_version": 1, "key": "onboarding"}
    done: list[str] = list(store.get("data", {}).get("done", []))
    missing = [step for step in ONBOARDING_STEPS if step not in done]
    if not missing:
        return
    store["data"] = {"done": done + missing}
    write_store(path, store)
    log("onboarding marked as finished")


async def _ensure_demo_user(config: Path) -> str | None:
    """Create the owner user demo / demo with Home Assistant's auth code; return its id if new."""
    from homeassistant.auth import auth_manager_from_config
    from homeassistant.auth.const import GROUP_ID_ADMIN
    from homeassistant.auth.providers.homeassistant import HassAuthProvider
    from homeassistant.core import CoreState, HomeAssistant

    hass = HomeAssistant(str(config))
    # async_stop() below only writes the stores that save with a delay (the auth store does)
    # when Home Assistant counts as running.
    hass.set_state(CoreState.running)
    created: str | None = None
    try:
        hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
        provider = hass.auth.auth_providers[0]
        assert isinstance(provider, HassAuthProvider)
        await provider.async_initialize()
        assert provider.data is not None
        if not any(user["username"] == DEMO_USERNAME for user in provider.data.users):
            await provider.async_add_auth(DEMO_USERNAME, DEMO_PASSWORD)
        credentials = await provider.async_get_or_create_credentials({"username": DEMO_USERNAME})
        if credentials.is_new or await hass.auth.async_get_user_by_credentials(credentials) is None:
            # The first user that is not system-generated becomes the owner.
            user = await hass.auth.async_create_user(DEMO_NAME, group_ids=[GROUP_ID_ADMIN])
            await hass.auth.async_link_user(user, credentials)
            created = user.id
    finally:
        logging.getLogger("homeassistant.core").setLevel(logging.WARNING)
        await hass.async_stop()
    return created


def ensure_demo_user(config: Path) -> None:
    """Create the demo owner user and its person when missing."""
    user_id = asyncio.run(_ensure_demo_user(config))
    if user_id is None:
        return
    auth = read_store(config / ".storage" / "auth") or {}
    users = {user["id"]: user for user in auth.get("data", {}).get("users", [])}
    if user_id not in users:
        sys.exit("develop: creating the demo user failed: it is not in .storage/auth")
    role = "owner" if users[user_id].get("is_owner") else "administrator"
    log(f"created the {role} user {DEMO_USERNAME} / {DEMO_PASSWORD}")
    path = config / ".storage" / "person"
    store = read_store(path) or {"version": 2, "minor_version": 1, "key": "person"}
    items: list[dict[str, Any]] = store.setdefault("data", {}).setdefault("items", [])
    if not any(item.get("user_id") == user_id for item in items):
        ids = {item.get("id") for item in items}
        person_id = DEMO_USERNAME
        while person_id in ids:
            person_id += "_"
        items.append(
            {
                "id": person_id,
                "name": DEMO_NAME,
                "user_id": user_id,
                "device_trackers": [],
                "picture": None,
            }
        )
        write_store(path, store)


# --- the config entry -----------------------------------------------------------------------


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[Any, Any]:
    request = urllib.request.Request(  # noqa: S310 - the URL is the local simulator's
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.headers, json.loads(response.read() or b"null")


def simulator_plants(server: str, username: str, system_code: str) -> list[str]:
    """Log in to the simulator like a FusionSolar client and return its plant codes."""
    headers, reply = _post_json(
        f"{server}/thirdData/login", {"userName": username, "systemCode": system_code}, {}
    )
    token = headers.get("xsrf-token")
    if not token:
        for cookie in headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            if name.strip().upper() == "XSRF-TOKEN":
                token = rest.split(";", 1)[0]
    if not token:
        sys.exit(f"develop: the simulator's login gave no XSRF-TOKEN (reply: {reply})")
    plants: list[str] = []
    page = 1
    while True:
        _, reply = _post_json(
            f"{server}/thirdData/stations", {"pageNo": page}, {"XSRF-TOKEN": token}
        )
        if not isinstance(reply, dict) or not reply.get("success"):
            sys.exit(f"develop: the simulator's plant list failed: {reply}")
        data = reply.get("data") or {}
        rows = data.get("list", []) if isinstance(data, dict) else data
        plants += [str(row.get("plantCode") or row.get("stationCode")) for row in rows]
        page_count = data.get("pageCount", 1) if isinstance(data, dict) else 1
        if page >= int(page_count or 1) or not rows:
            break
        page += 1
    if not plants:
        sys.exit("develop: the simulator reports no plants")
    return plants


SUNGROW_VENDOR = "sungrow_isolarcloud"
SUNGROW_TITLE = "iSolarCloud demo (simulator)"
SUNGROW_USERNAME = "demo@example.com"
SUNGROW_PASSWORD = "demo"
# The simulator's default app keys.
SUNGROW_APPKEY = "APPKEY0123456789ABCDEF0123456789"
SUNGROW_ACCESS_KEY = "ACCESSKEY0123456789abcdef012345"


def sungrow_plants(server: str) -> list[str]:
    """Log in to the iSolarCloud simulator like a client and return its plant ids."""
    headers = {"sys_code": "901", "x-access-key": SUNGROW_ACCESS_KEY}
    base = {"appkey": SUNGROW_APPKEY, "lang": "_en_US"}
    _, reply = _post_json(
        f"{server}/openapi/login",
        {**base, "user_account": SUNGROW_USERNAME, "user_password": SUNGROW_PASSWORD},
        headers,
    )
    token = (reply or {}).get("result_data", {}).get("token")
    if not token:
        sys.exit(f"develop: the iSolarCloud simulator's login failed: {reply}")
    _, reply = _post_json(
        f"{server}/openapi/getPowerStationList",
        {**base, "token": token, "curPage": 1, "size": 100},
        headers,
    )
    rows = (reply or {}).get("result_data", {}).get("pageList") or []
    plants = [str(row["ps_id"]) for row in rows]
    if not plants:
        sys.exit("develop: the iSolarCloud simulator reports no plants")
    return plants


SAJ_VENDOR = "saj"
SAJ_TITLE = "SAJ demo (simulator)"
# The simulator's default app credentials.
SAJ_APP_ID = "SAJAPPID0001"
SAJ_APP_SECRET = "0123456789abcdef0123456789abcdef"


def _get_json(url: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the local simulator
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def saj_plants(server: str) -> list[str]:
    """Get a token from the SAJ simulator like a client and return its plant ids."""
    reply = _get_json(
        f"{server}/accessToken?client_id={SAJ_APP_ID}&client_secret={SAJ_APP_SECRET}"
        "&grant_type=client_credentials",
        {},
    )
    data = (reply or {}).get("data") or {}
    if not data.get("access_token"):
        sys.exit(f"develop: the SAJ simulator's token request failed: {reply}")
    headers = {"token": data["access_token"], "uid": str(data["uid"])}
    reply = _get_json(f"{server}/plant/list?page=1&perpage=100", headers)
    plants = [str(p["plant_id"]) for p in ((reply or {}).get("data") or {}).get("plants", [])]
    if not plants:
        sys.exit("develop: the SAJ simulator reports no plants")
    return plants


SHINEMONITOR_VENDOR = "shinemonitor"
SHINEMONITOR_TITLE = "ShineMonitor demo (simulator)"
SHINEMONITOR_USERNAME = "demo"
SHINEMONITOR_PASSWORD = "demo"
# The simulator's default company key (the one of the vendor's documentation).
SHINEMONITOR_COMPANY_KEY = "0123456789ABCDEF"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _shinemonitor_salt() -> str:
    """A salt of at least 8 characters: the time in milliseconds."""
    return str(time.time_ns() // 1_000_000)


def shinemonitor_plants(server: str) -> list[str]:
    """Log in to the ShineMonitor simulator like a client and return its plant ids."""
    tail = (
        f"&action=auth&usr={quote(SHINEMONITOR_USERNAME, safe='')}"
        f"&company-key={quote(SHINEMONITOR_COMPANY_KEY, safe='')}"
    )
    salt = _shinemonitor_salt()
    sign = _sha1(salt + _sha1(SHINEMONITOR_PASSWORD) + tail)
    reply = _get_json(f"{server}/public/?sign={sign}&salt={salt}{tail}", {})
    data = (reply or {}).get("dat") or {}
    if (reply or {}).get("err") != 0 or not data.get("secret") or not data.get("token"):
        sys.exit(f"develop: the ShineMonitor simulator's login failed: {reply}")
    secret, token = str(data["secret"]), str(data["token"])
    tail = "&action=queryPlants&page=0&pagesize=50"
    salt = _shinemonitor_salt()
    sign = _sha1(salt + secret + token + tail)
    reply = _get_json(f"{server}/public/?sign={sign}&salt={salt}&token={token}{tail}", {})
    if (reply or {}).get("err") != 0:
        sys.exit(f"develop: the ShineMonitor simulator's plant list failed: {reply}")
    rows = ((reply or {}).get("dat") or {}).get("plant") or []
    plants = [str(row["pid"]) for row in rows]
    if not plants:
        sys.exit("develop: the ShineMonitor simulator reports no plants")
    return plants


def ensure_config_entry(
    config: Path, *, unique_id: str, title: str, data: dict[str, Any], plants: list[str]
) -> None:
    """Add an entry of the integration to core.config_entries, or refresh its plants."""
    from homeassistant.config_entries import (
        STORAGE_KEY,
        STORAGE_VERSION,
        STORAGE_VERSION_MINOR,
    )
    from homeassistant.util.ulid import ulid_now

    path = config / ".storage" / STORAGE_KEY
    store = read_store(path) or {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_VERSION_MINOR,
        "key": STORAGE_KEY,
        "data": {"entries": []},
    }
    entries: list[dict[str, Any]] = store.setdefault("data", {}).setdefault("entries", [])
    now = datetime.now(UTC).isoformat()
    for entry in entries:
        if entry.get("domain") == DOMAIN and entry.get("unique_id") == unique_id:
            chosen = entry.get("options", {}).get("plants") or []
            if chosen and set(chosen) <= set(plants):
                return
            # The simulator's plants changed: select all of them again.
            entry["options"] = {"plants": plants}
            entry["modified_at"] = now
            write_store(path, store)
            log(f"updated the plants of the config entry {unique_id}: {plants}")
            return
    entries.append(
        {
            "created_at": now,
            "data": data,
            "discovery_keys": {},
            "disabled_by": None,
            "domain": DOMAIN,
            "entry_id": ulid_now(),
            "minor_version": 1,
            "modified_at": now,
            "options": {"plants": plants},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": title,
            "unique_id": unique_id,
            "version": 1,
        }
    )
    write_store(path, store)
    log(f"added the config entry '{title}' with plants {plants}")


# --- commands -------------------------------------------------------------------------------


def ensure_energy_dashboard(config: Path, plant_id: str) -> None:
    """Set up the Energy dashboard with the statistics the history import writes for one plant.

    Only when the Energy dashboard was never set up (no storage file ``energy``), so a choice
    made in the frontend stays. The statistics appear about 30 s after Home Assistant started.
    """
    path = config / ".storage" / "energy"
    if path.exists():
        return
    sys.path.insert(0, str(ROOT))
    from custom_components.solar_cloud.api.history import Flow
    from custom_components.solar_cloud.backfill import statistic_id

    def stat(flow: Flow) -> str:
        return statistic_id(plant_id, flow)

    sources: list[dict[str, Any]] = [
        {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": stat(Flow.GRID_IMPORT),
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [
                {
                    "stat_energy_to": stat(Flow.GRID_EXPORT),
                    "stat_compensation": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "cost_adjustment_day": 0.0,
        },
        {
            "type": "solar",
            "stat_energy_from": stat(Flow.PV),
            "config_entry_solar_forecast": None,
        },
        {
            "type": "battery",
            "stat_energy_from": stat(Flow.BATTERY_DISCHARGE),
            "stat_energy_to": stat(Flow.BATTERY_CHARGE),
        },
    ]
    write_store(
        path,
        {
            "version": 1,
            "minor_version": 2,
            "key": "energy",
            "data": {
                "energy_sources": sources,
                "device_consumption": [],
                "device_consumption_water": [],
            },
        },
    )
    log(f"set up the Energy dashboard with the history statistics of iSolarCloud plant {plant_id}")


def prepare(args: argparse.Namespace) -> None:
    """Make the config dir ready."""
    config = Path(args.config).resolve()
    write_configuration(config)
    link_integration(config)
    finish_onboarding(config)
    ensure_demo_user(config)
    server = args.simulator.rstrip("/")
    host = urlsplit(server).hostname or server
    ensure_config_entry(
        config,
        unique_id=f"{VENDOR}:{host}:{args.username}",
        title=ENTRY_TITLE,
        data={
            "vendor": VENDOR,
            "server": server,
            "username": args.username,
            "system_code": args.system_code,
        },
        plants=simulator_plants(server, args.username, args.system_code),
    )
    if args.sungrow_simulator:
        server = args.sungrow_simulator.rstrip("/")
        host = urlsplit(server).hostname or server
        ensure_config_entry(
            config,
            unique_id=f"{SUNGROW_VENDOR}:{host}:{SUNGROW_USERNAME}",
            title=SUNGROW_TITLE,
            data={
                "vendor": SUNGROW_VENDOR,
                "server": server,
                "app_key": SUNGROW_APPKEY,
                "access_key": SUNGROW_ACCESS_KEY,
                "username": SUNGROW_USERNAME,
                "password": SUNGROW_PASSWORD,
                "rsa_public_key": "",
            },
            plants=(plants := sungrow_plants(server)),
        )
        # The iSolarCloud plant has all six flows (the others fewer): it fills the dashboard.
        ensure_energy_dashboard(config, plants[0])
    if args.saj_simulator:
        server = args.saj_simulator.rstrip("/")
        host = urlsplit(server).hostname or server
        ensure_config_entry(
            config,
            unique_id=f"{SAJ_VENDOR}:{host}:{SAJ_APP_ID.lower()}",
            title=SAJ_TITLE,
            data={
                "vendor": SAJ_VENDOR,
                "server": server,
                "app_id": SAJ_APP_ID,
                "app_secret": SAJ_APP_SECRET,
            },
            plants=saj_plants(server),
        )
    if args.shinemonitor_simulator:
        server = args.shinemonitor_simulator.rstrip("/")
        host = urlsplit(server).hostname or server
        ensure_config_entry(
            config,
            unique_id=f"{SHINEMONITOR_VENDOR}:{host}:{SHINEMONITOR_USERNAME}",
            title=SHINEMONITOR_TITLE,
            data={
                "vendor": SHINEMONITOR_VENDOR,
                "server": server,
                "username": SHINEMONITOR_USERNAME,
                "password": SHINEMONITOR_PASSWORD,
                "company_key": SHINEMONITOR_COMPANY_KEY,
            },
            plants=shinemonitor_plants(server),
        )


def isolate_runtime_requirements(config: Path) -> None:
    """Make Home Assistant install what its integrations need into config/deps, not .venv.

    .venv holds exactly the pinned test requirements; Home Assistant's own installs (the
    frontend and the libraries of the integrations loaded, under Home Assistant's version constraints) would
    change some of those pins. They go to config/deps instead, which only this process puts
    on sys.path, and which goes away with config/.
    """
    from homeassistant import requirements

    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    deps = config.resolve() / "deps" / "lib" / version / "site-packages"
    deps.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(deps))
    # uv (which Home Assistant installs with) must target this interpreter.
    os.environ["UV_PYTHON"] = sys.executable
    original = requirements.pip_kwargs

    def pip_kwargs(config_dir: str | None) -> dict[str, Any]:
        return {**original(config_dir), "target": str(deps)}

    requirements.pip_kwargs = pip_kwargs


def run(ha_args: list[str]) -> int:
    """Run Home Assistant, accepting Python 3.13.0 and newer."""
    import homeassistant.__main__ as ha_main
    from homeassistant import const

    if sys.version_info[:3] < const.REQUIRED_PYTHON_VER:
        # validate_python() in homeassistant/__main__.py reads its own imported copy.
        for module in (const, ha_main):
            vars(module)["REQUIRED_PYTHON_VER"] = MIN_PYTHON
    config_parser = argparse.ArgumentParser(add_help=False)
    config_parser.add_argument("-c", "--config", default="config")
    isolate_runtime_requirements(Path(config_parser.parse_known_args(ha_args)[0].config))
    # Leave the terminal's foreground process group: Ctrl-C then reaches scripts/develop alone,
    # which stops Home Assistant with one SIGTERM. (Home Assistant drops its signal handlers
    # after the first signal, so a SIGINT from the terminal followed by the script's SIGTERM
    # would kill it before it saved its state.)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    sys.argv = ["hass", *ha_args]
    return ha_main.main()


def main() -> int:
    """Parse the command line."""
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        return run(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="prepare the Home Assistant config dir")
    prep.add_argument("--config", default="config")
    prep.add_argument("--simulator", default="http://127.0.0.1:8990")
    prep.add_argument("--username", default=DEMO_USERNAME)
    prep.add_argument("--system-code", default="demo")
    prep.add_argument("--sungrow-simulator", default=None)
    prep.add_argument("--saj-simulator", default=None)
    prep.add_argument("--shinemonitor-simulator", default=None)
    commands.add_parser("run", help="run Home Assistant; the other arguments go to it")
    args = parser.parse_args()
    prepare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
