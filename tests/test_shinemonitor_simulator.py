"""The ShineMonitor simulator on its own: signing, refusals, shapes and fault injection.

Signs are computed here with hashlib from the contract's formulas, independently of the
simulator, and sent byte for byte (``encoded=True``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from tests.common import NOON, FakeClock
from tests.simulators.shinemonitor import ShineMonitorSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
KEY = "0123456789ABCDEF"
SALT = "12345678"
# sha1("12345678" + sha1("vplant") + "&action=auth&usr=vplant&company-key=0123456789ABCDEF")
VPLANT_SIGN = "3fc3c6a2da2f58ea7a7e4adee7a584eaf7e0fcfb"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - the vendor's signing scheme


def auth_query(usr: str, pwd: str, key: str = KEY, salt: str = SALT) -> str:
    tail = f"&action=auth&usr={usr}&company-key={key}"
    return f"sign={sha1(salt + sha1(pwd) + tail)}&salt={salt}{tail}"


AUTH_DEMO = auth_query("demo", "demo")


class Api:
    """A minimal signing client over the raw wire."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.token = ""
        self.secret = ""

    async def raw(self, query: str, method: str = "GET", path: str = "/public/") -> Any:
        url = URL(f"{self.url}{path}?{query}", encoded=True)
        async with self.session.request(method, url) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            return await response.json()

    async def login(self, usr: str = "demo", pwd: str = "demo") -> dict[str, Any]:
        body = await self.raw(auth_query(usr, pwd))
        assert body["err"] == 0, body
        self.token = body["dat"]["token"]
        self.secret = body["dat"]["secret"]
        return body

    def query(self, action: str, params: dict[str, Any], salt: str = "1782039600000123") -> str:
        tail = f"&action={action}" + "".join(f"&{k}={v}" for k, v in params.items())
        sign = sha1(salt + self.secret + self.token + tail)
        return f"sign={sign}&salt={salt}&token={self.token}{tail}"

    async def call(self, action: str, **params: Any) -> Any:
        return await self.raw(self.query(action, params))


@pytest.fixture
def sim(clock: FakeClock) -> ShineMonitorSimulator:
    """Three plants for the configured account, plus the vplant test account."""
    return ShineMonitorSimulator(plants=3, clock=clock)


@pytest.fixture
async def api(aiohttp_server: Callable[..., Any], sim: ShineMonitorSimulator) -> AsyncIterator[Api]:
    """A client of the simulator on 127.0.0.1."""
    server: TestServer = await aiohttp_server(sim.app)
    async with aiohttp.ClientSession() as session:
        yield Api(session, str(server.make_url("")).rstrip("/"))


def address(device: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**{k: device[k] for k in ("pn", "devcode", "devaddr", "sn")}, **extra}


async def test_auth_with_the_documented_test_account(api: Api, sim: ShineMonitorSimulator) -> None:
    tail = f"&action=auth&usr=vplant&company-key={KEY}"
    assert sha1(SALT + sha1("vplant") + tail) == VPLANT_SIGN
    body = await api.raw(f"sign={VPLANT_SIGN}&salt={SALT}{tail}")
    assert body["err"] == 0
    assert body["desc"] == "ERR_NONE"
    dat = body["dat"]
    assert re.fullmatch(r"[0-9a-f]{64}", dat["token"])
    assert re.fullmatch(r"[0-9a-f]{40}", dat["secret"])
    assert dat["expire"] == 432000
    assert (dat["role"], dat["usr"]) == (0, "vplant")
    assert sim.logins == 1
    assert sim.calls["auth"] == 1
    assert sim.live_tokens() == [dat["token"]]

    api.token, api.secret = dat["token"], dat["secret"]
    plants = await api.call("queryPlants")
    assert plants["dat"]["total"] == 1
    assert plants["dat"]["plant"][0]["pid"] == 9000
    assert plants["dat"]["plant"][0]["usr"] == "vplant"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (auth_query("demo", "demo", salt="1234567"), 5),
        (auth_query("demo", "demo", key="FEDCBA9876543210"), 15),
        (auth_query("demo", "wrong"), 16),
        (auth_query("nobody", "demo"), 16),
        (AUTH_DEMO.replace("sign=", "sign=X", 1), 4),
        (AUTH_DEMO.replace(AUTH_DEMO[5:45], AUTH_DEMO[5:45].upper()), 4),
        (AUTH_DEMO + "&source=1", 4),
        (AUTH_DEMO.replace("&usr=demo", ""), 7),
        ("action=auth&usr=demo&company-key=" + KEY, 4),
        ("lang=en_US&" + AUTH_DEMO, 4),
    ],
    ids=[
        "short-salt",
        "company-key",
        "password",
        "user",
        "malformed-sign",
        "uppercase-sign",
        "extra-param",
        "missing-usr",
        "unsigned",
        "not-first",
    ],
)
async def test_auth_refusals(api: Api, sim: ShineMonitorSimulator, query: str, code: int) -> None:
    body = await api.raw(query)
    assert body["err"] == code, body
    assert "dat" not in body
    assert sim.logins == 0
    assert sim.calls["auth"] == 0


async def test_disabled_user(api: Api, sim: ShineMonitorSimulator) -> None:
    sim.disable_user("demo")
    assert (await api.raw(auth_query("demo", "demo")))["err"] == 25
    sim.disable_user("demo", disabled=False)
    sim.set_password("demo", "new")
    assert (await api.raw(auth_query("demo", "demo")))["err"] == 16
    assert (await api.raw(auth_query("demo", "new")))["err"] == 0


async def test_business_sign_is_over_the_raw_tail(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    plant = sim.plant_ids()[0]
    # The comma arrives percent-encoded; the sign covers "%2C" as sent.
    ok = await api.call("queryPlantCurrentData", plantid=plant, par="CURRENT_POWER%2CENERGY_TODAY")
    assert [row["key"] for row in ok["dat"]] == ["CURRENT_POWER", "ENERGY_TODAY"]

    decoded_tail = f"&action=queryPlantCurrentData&plantid={plant}&par=CURRENT_POWER,ENERGY_TODAY"
    sign = sha1("1782039600000999" + api.secret + api.token + decoded_tail)
    encoded = decoded_tail.replace(",", "%2C")
    query = f"sign={sign}&salt=1782039600000999&token={api.token}{encoded}"
    assert (await api.raw(query))["err"] == 4

    tampered = api.query("queryPlantInfo", {"plantid": plant}).replace(f"={plant}", "=1001")
    assert (await api.raw(tampered))["err"] == 4
    short = api.query("queryPlantInfo", {"plantid": plant}, salt="1234567")
    assert (await api.raw(short))["err"] == 5


async def test_token_refusals(api: Api, sim: ShineMonitorSimulator, clock: FakeClock) -> None:
    await api.login()
    assert (await api.call("queryPlants"))["err"] == 0

    misplaced = api.query("queryPlants", {}).replace(f"&token={api.token}", "")
    assert (await api.raw(misplaced))["err"] == 10  # no token at all
    assert (await api.raw(misplaced + f"&token={api.token}"))["err"] == 4  # after action
    between = api.query("queryPlants", {}).replace("&token=", "&lang=en_US&token=")
    assert (await api.raw(between))["err"] == 4

    real = api.token
    api.token = "0" * 64
    assert (await api.call("queryPlants"))["err"] == 10
    api.token = real

    sim.expire_tokens()
    body = await api.call("queryPlants")
    assert (body["err"], body["desc"]) == (270, "ERR_TOKEN_EXPIRED")
    assert sim.live_tokens() == []

    await api.login()
    clock.now += 432000
    assert (await api.call("queryPlants"))["err"] == 270

    await api.login()
    sim.revoke_tokens()
    assert (await api.call("queryPlants"))["err"] == 10


async def test_rate_limit(aiohttp_server: Callable[..., Any], clock: FakeClock, api: Api) -> None:
    sim = ShineMonitorSimulator(plants=1, clock=clock, calls_per_minute=3)
    server: TestServer = await aiohttp_server(sim.app)
    limited = Api(api.session, str(server.make_url("")).rstrip("/"))
    await limited.login()  # 1
    assert (await limited.call("queryPlants"))["err"] == 0  # 2
    clock.now += 30
    assert (await limited.call("queryPlants"))["err"] == 0  # 3
    body = await limited.call("queryPlants")
    assert (body["err"], body["desc"]) == (13, "ERR_OVER_LIMITED")
    assert sim.refusals["queryPlants"] == 1
    assert sim.calls["queryPlants"] == 2
    # vplant has an allowance of its own.
    assert (await limited.raw(auth_query("vplant", "vplant")))["err"] == 0
    clock.now += 30  # the login and the first call leave the window
    assert (await limited.call("queryPlants"))["err"] == 0
    assert (await limited.call("queryPlants"))["err"] == 0
    assert (await limited.call("queryPlants"))["err"] == 13
    sim.reset_limits()
    assert (await limited.call("queryPlants"))["err"] == 0
    assert sim.refusals["queryPlants"] == 2


async def test_query_plants_paging(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    seen = []
    for page in range(3):
        body = await api.call("queryPlants", page=page, pagesize=1)
        dat = body["dat"]
        assert (dat["total"], dat["page"], dat["pagesize"]) == (3, page, 1)
        assert len(dat["plant"]) == 1
        seen.append(dat["plant"][0]["pid"])
    assert seen == sim.plant_ids() == [1000, 1001, 1002]
    default = await api.call("queryPlants")
    assert len(default["dat"]["plant"]) == 1  # pagesize defaults to 1
    everything = await api.call("queryPlants", page=0, pagesize=50)
    plants = everything["dat"]["plant"]
    assert len(plants) == 3
    assert len({p["address"]["timezone"] for p in plants}) == 3
    assert plants[0]["nominalPower"] == "6.2"
    assert (await api.call("queryPlants", page=3, pagesize=1))["err"] == 12
    assert (await api.call("queryPlants", pagesize=51))["err"] == 6
    assert (await api.call("queryPlants", pagesize=0))["err"] == 6
    assert (await api.call("queryPlants", page="x"))["err"] == 6


async def test_plant_lookups(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    assert (await api.call("queryPlantInfo", plantid=1000))["dat"]["name"] == "Plant 1"
    assert (await api.call("queryPlantInfo"))["err"] == 7
    assert (await api.call("queryPlantInfo", plantid="abc"))["err"] == 6
    assert (await api.call("queryPlantInfo", plantid=4242))["err"] == 260
    assert (await api.call("queryPlantInfo", plantid=9000))["err"] == 11
    assert (await api.call("queryPlantCurrentData", plantid=1000, par="NOPE"))["err"] == 6
    assert (await api.call("queryNothing"))["err"] == 256

    power = await api.call("queryPlantActiveOuputPowerCurrent", plantid=1000)
    # 11:00 UTC is 12:00 in plant 1000 (UTC+1); data of the last 300 s boundary.
    assert power["dat"]["ts"] == "2026-06-21 12:00:00"
    # Plant generation: the grid-tie output (kW) plus the storage inverter's PV input (W).
    pv, storage = (sim.device_values(d["sn"]) for d in sim.devices(1000))
    total = float(pv["Output Power"]) + float(storage["PV Input Power"]) / 1000
    assert float(power["dat"]["outputPower"]) == pytest.approx(total, abs=0.002)


async def test_battery_soc_only_with_storage(
    aiohttp_server: Callable[..., Any], clock: FakeClock, api: Api
) -> None:
    await api.login()
    with_storage = await api.call("queryPlantCurrentData", plantid=1000, par="BATTERY_SOC")
    assert 20 <= float(with_storage["dat"][0]["val"]) <= 95
    sim = ShineMonitorSimulator(plants=1, clock=clock, storage=False)
    server: TestServer = await aiohttp_server(sim.app)
    other = Api(api.session, str(server.make_url("")).rstrip("/"))
    await other.login()
    body = await other.call(
        "queryPlantCurrentData", plantid=1000, par="CURRENT_POWER,BATTERY_SOC,ENERGY_TOTAL"
    )
    assert [row["key"] for row in body["dat"]] == ["CURRENT_POWER", "ENERGY_TOTAL"]
    assert [d["devcode"] for d in sim.devices(1000)] == [632]


async def test_device_last_data(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    pv, storage = sim.devices(1000)
    assert (pv["devcode"], pv["devaddr"], storage["devcode"]) == (632, 1, 2376)
    body = await api.call("queryDeviceLastData", **address(pv, i18n="en_US"))
    rows = body["dat"]
    assert rows[0]["title"] == "Id"
    assert rows[1] == {"title": "Timestamp", "val": "2026-06-21 12:00:00"}
    by_title = {row["title"]: row for row in rows}
    assert by_title["Output Power"]["unit"] == "kW"
    assert float(by_title["Output Power"]["val"]) > 0
    assert by_title["Operating State"] == {"title": "Operating State", "val": "Normal"}

    assert (await api.call("queryDeviceLastData", **address(pv)))["err"] == 7
    assert (await api.call("queryDeviceLastData", **address(pv, i18n="en")))["err"] == 6
    unknown = address(pv, i18n="en_US", devaddr=9)
    assert (await api.call("queryDeviceLastData", **unknown))["err"] == 258
    vplant_device = address(sim.devices(9000)[0], i18n="en_US")
    assert (await api.call("queryDeviceLastData", **vplant_device))["err"] == 11

    sim.set_device_offline(pv["sn"])
    body = await api.call("queryDeviceLastData", **address(pv, i18n="en_US"))
    assert (body["err"], body["desc"]) == (262, "ERR_DEVICE_OFFLINE")
    sim.set_device_offline(pv["sn"], offline=False)
    sim.set_collector_offline(pv["pn"])
    assert (await api.call("queryDeviceLastData", **address(pv, i18n="en_US")))["err"] == 263
    status = await api.call("queryPlantDeviceStatus", plantid=1000)
    collector = status["dat"]["collector"][0]
    assert collector["status"] == 1
    assert [d["status"] for d in collector["device"]] == [1, 1]
    assert status["dat"]["status"] == 1
    sim.set_collector_offline(pv["pn"], offline=False)
    sim.set_never_reported(pv["sn"])
    assert (await api.call("queryDeviceLastData", **address(pv, i18n="en_US")))["err"] == 12

    flat = await api.call("queryDeviceLastData", **address(storage, i18n="en_US"))
    assert "Battery Capacity" in {row["title"] for row in flat["dat"]}


async def test_device_status_tuples(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    devices = sim.devices(1000)
    tuples = "%3B".join(f"{d['pn']},{d['devcode']},{d['devaddr']},{d['sn']}" for d in devices)
    sim.set_device_status(devices[0]["sn"], 3)
    body = await api.call("queryDeviceStatus", device=tuples)
    assert [(d["sn"], d["status"]) for d in body["dat"]["device"]] == [
        (devices[0]["sn"], 3),
        (devices[1]["sn"], 0),
    ]
    bad = tuples + "%3BW00000000000,632,1,PV0"
    assert (await api.call("queryDeviceStatus", device=bad))["err"] == 258
    one = f"{devices[0]['pn']},632,1,{devices[0]['sn']}"
    assert (await api.call("queryDeviceStatus", device=";".join([one] * 257)))["err"] == 6
    assert (await api.call("queryDeviceStatus", device=";".join([one] * 256)))["err"] == 0


async def test_sp_device_last_data_groups(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    pv, storage = sim.devices(1000)
    body = await api.call("querySPDeviceLastData", **address(storage, i18n="en_US", source=1))
    dat = body["dat"]
    assert dat["gts"] == "2026-06-21 12:00:00"
    assert list(dat["pars"]) == ["gd_", "sy_", "pv_", "bt_", "bc_"]
    for group, items in dat["pars"].items():
        for item in items:
            assert re.fullmatch(rf"{group}eybond_read_\d+", item["id"])
            assert isinstance(item["val"], str)
    values = {i["par"]: i for items in dat["pars"].values() for i in items}
    assert "unit" not in values["Operating Mode"]
    assert values["Operating Mode"]["val"] in ("Line Mode", "Battery Mode")
    assert values["Battery Capacity"]["unit"] == "%"
    assert 20 <= float(values["Battery Capacity"]["val"]) <= 95
    assert 48 <= float(values["Battery Voltage"]["val"]) <= 57
    charging = float(values["Battery Charging Current"]["val"])
    discharging = float(values["Battery Discharge Current"]["val"])
    assert charging >= 0
    assert discharging >= 0
    assert charging == 0 or discharging == 0
    assert float(values["Grid Active Power"]["val"]) >= 0
    assert float(values["PV Input Power"]["val"]) > 0  # noon

    assert (await api.call("querySPDeviceLastData", **address(pv, i18n="en_US")))["err"] == 12
    assert (await api.call("querySPDeviceLastData", **address(storage)))["err"] == 7


async def test_plants_warning(api: Api, sim: ShineMonitorSimulator, clock: FakeClock) -> None:
    await api.login()
    none = await api.call("queryPlantsWarning", i18n="en_US", handle="false")
    assert (none["err"], none["desc"]) == (264, "ERR_NOT_FOUND_DEVICE_WARNING")
    assert (await api.call("queryPlantsWarning", handle="false"))["err"] == 7

    sn = sim.devices(1000)[0]["sn"]
    first = sim.raise_warning(1000, sn, level=2, code="07", desc="Isolation fault")
    clock.now += 600
    second = sim.raise_warning(1000, sn, level=0)
    body = await api.call("queryPlantsWarning", i18n="en_US", handle="false", pagesize=50)
    dat = body["dat"]
    assert dat["total"] == 2
    newest, oldest = dat["warning"]
    assert (newest["id"], oldest["id"]) == (second, first)
    assert oldest["level"] == 2
    assert (oldest["code"], oldest["desc"], oldest["handle"]) == ("07", "Isolation fault", False)
    assert oldest["gts"] == "2026-06-21 11:00:00"  # UTC
    assert (oldest["pid"], oldest["sn"], oldest["devcode"]) == (1000, sn, 632)
    plant_status = await api.call("queryPlantDeviceStatus", plantid=1000)
    assert plant_status["dat"]["status"] == 2  # an open fault

    window = {"sdate": "2026-06-21%2011:05:00", "edate": "2026-06-21%2012:00:00"}
    late = await api.call("queryPlantsWarning", i18n="en_US", pagesize=50, **window)
    assert [w["id"] for w in late["dat"]["warning"]] == [second]

    sim.handle_warning(first)
    sim.handle_warning(second)
    assert (await api.call("queryPlantsWarning", i18n="en_US", handle="false"))["err"] == 264
    handled = await api.call("queryPlantsWarning", i18n="en_US", handle="true", plantid=1000)
    assert handled["dat"]["total"] == 2
    assert (await api.call("queryPlantsWarning", i18n="en_US", plantid=9000))["err"] == 11


async def test_fault_injection(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    device = address(sim.devices(1000)[0], i18n="en_US")
    sim.inject("fail_code:13", path="queryDeviceLastData")
    assert (await api.call("queryPlants"))["err"] == 0  # another action
    assert (await api.call("queryDeviceLastData", **device))["err"] == 13
    assert sim.refusals["queryDeviceLastData"] == 1
    assert (await api.call("queryDeviceLastData", **device))["err"] == 0

    sim.inject("http_502")
    async with api.session.get(URL(f"{api.url}/public/?{api.query('queryPlants', {})}")) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"

    sim.inject("null_values", path="queryPlantActiveOuputPowerCurrent")
    body = await api.call("queryPlantActiveOuputPowerCurrent", plantid=1000)
    assert body["dat"] == {"outputPower": None, "ts": None}
    sim.inject("missing_fields", path="queryDeviceLastData", count=2)
    rows = (await api.call("queryDeviceLastData", **device))["dat"]
    assert all("val" not in row for row in rows)
    sim.clear_faults()
    assert (await api.call("queryDeviceLastData", **device))["dat"][0]["val"]

    sim.inject("malformed_json")  # not consumed by auth
    assert (await api.raw(auth_query("demo", "demo")))["err"] == 0
    async with api.session.get(URL(f"{api.url}/public/?{api.query('queryPlants', {})}")) as resp:
        assert resp.status == 200
        with pytest.raises(ValueError, match="Expecting"):
            await resp.json()

    sim.timeout_delay = 0.01
    sim.inject("timeout", path="queryPlants")
    assert (await api.call("queryPlants"))["err"] == 0
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.inject("teapot")


async def test_other_paths_and_methods(api: Api, sim: ShineMonitorSimulator) -> None:
    await api.login()
    query = api.query("queryPlants", {})
    assert (await api.raw(query, method="POST"))["err"] == 256
    assert (await api.raw(query, path="/public"))["err"] == 256
    assert (await api.raw(query, path="/other/"))["err"] == 256
    assert sim.requests[-1][1] == "GET /other/"
    assert sim.requests[-1][2] == query


def test_helpers_without_a_server(clock: FakeClock) -> None:
    sim = ShineMonitorSimulator(plants=2, username="owner", password="pw", clock=clock)
    assert sim.plant_ids() == [1000, 1001]
    assert sim.plant_ids("vplant") == [9000]
    new = sim.add_plant(storage=False, name="Barn")
    assert sim.plant_ids() == [1000, 1001, new]
    assert len(sim.devices(new)) == 1
    sim.remove_plant(1001)
    assert sim.plant_ids() == [1000, new]
    pv = sim.devices(1000)[0]
    assert re.fullmatch(r"W00\d{11}", pv["pn"])
    assert pv["sn"].startswith("PV")
    # Closed form: today's energy resets at local midnight (UTC+1 for plant 1000).
    clock.now = NOON + 11.5 * 3600  # 23:30 local
    evening = float(sim.device_values(pv["sn"])["Energy Today"])
    clock.now = NOON + 13 * 3600  # 01:00 local, next day
    assert evening > 0
    assert sim.device_values(pv["sn"])["Energy Today"] == "0.0"
