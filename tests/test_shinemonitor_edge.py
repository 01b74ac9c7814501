"""ShineMonitor client: odd and refused cloud answers against the simulator, and the control
field and address helpers on their own."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from custom_components.solar_cloud.api.controls import TouWindow
from custom_components.solar_cloud.api.errors import CommandRejectedError, ProtocolError
from custom_components.solar_cloud.api.history import Flow
from custom_components.solar_cloud.api.models import Device, DeviceKind
from custom_components.solar_cloud.api.shinemonitor import (
    ERR_FORMAT,
    ERR_NO_DEVICE,
    ERR_NO_PLANT,
    ERR_NO_RECORD,
    DeviceAddress,
    ShineMonitorClient,
    _address_from,
    build_meta,
    map_storage_groups,
    match_rule,
)
from tests.common import FakeClock
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.vendor_shinemonitor import make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
YESTERDAY = date(2026, 6, 20)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def sim(clock: FakeClock) -> ShineMonitorSimulator:
    """A simulated account with two plants."""
    return make_simulator(clock, plants=2)


@pytest.fixture
def client(session: aiohttp.ClientSession, base_url: str, clock: FakeClock) -> ShineMonitorClient:
    """A client whose quota runs on the fake clock."""
    return make_client(session, base_url, clock)


# -- helpers on their own ---------------------------------------------------------------------


def test_control_fields_that_cannot_be_offered() -> None:
    """A field without id, a select with one choice, number choices that are no numbers; two
    choices with the same label keep apart by their keys."""
    select = match_rule({"name": "Output Source Priority"})
    number = match_rule({"name": "Max. AC Charging Current"})
    assert select is not None
    assert number is not None
    assert build_meta(select, {"item": [{"key": "0", "val": "Utility"}]}) == (
        None,
        "the field has no id",
    )
    one = {"id": "f1", "item": [{"key": "0", "val": "Utility"}, {"val": "no key"}]}
    assert build_meta(select, one) == (None, "the field lists no choices")
    words = {"id": "f2", "unit": "A", "item": [{"key": "a", "val": "low"}, {"key": "b"}]}
    assert build_meta(number, words) == (None, "the field's choices are not numbers")
    twins = {
        "id": "f3",
        "item": [
            {"key": "0", "val": "Custom"},
            {"key": "1", "val": "Custom"},
            {"key": "2", "val": "Solar"},
        ],
    }
    meta, why = build_meta(select, twins)
    assert why == ""
    assert meta is not None
    assert dict(meta.options) == {"custom": "0", "custom_1": "1", "solar_first": "2"}
    assert meta.labels["custom"] == "custom"


def test_device_address_text() -> None:
    """``pn,devcode,devaddr,sn`` back into an address; anything short or non-numeric is None."""
    assert _address_from("W001,2376,1,SN9") == DeviceAddress("W001", 2376, 1, "SN9")
    assert _address_from("W001,2376,1") is None
    assert _address_from("W001,x,1,SN9") is None
    assert _address_from(",2376,1,SN9") is None
    assert _address_from(None) is None


def test_storage_groups_skip_junk_items() -> None:
    """Items of a group that are no objects are skipped, the others still read."""
    values = map_storage_groups({"bt_": ["junk", {"par": "Battery Capacity", "val": "64"}]})
    assert values["battery_soc"] == 64.0


# -- login and inventory ------------------------------------------------------------------------


async def test_auth_without_result_or_token(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """An auth success without dat, or with an empty token, is a protocol error."""
    original = sim._auth
    sim._auth = lambda sign, salt, tail, now: None  # type: ignore[assignment,method-assign,return-value]
    with pytest.raises(ProtocolError) as err:
        await client.async_login()
    assert (err.value.code, str(err.value)) == ("shape", "auth: no result")
    sim._auth = lambda sign, salt, tail, now: {  # type: ignore[method-assign]
        **original(sign, salt, tail, now),
        "token": "",
    }
    with pytest.raises(ProtocolError) as err:
        await client.async_login()
    assert err.value.code == "no_token"


async def test_plant_list_not_an_object(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """queryPlants answering a bare list: a protocol error naming the call."""
    sim._endpoints["queryPlants"] = lambda params, account, now: [1, 2]
    with pytest.raises(ProtocolError) as err:
        await client.async_get_plants()
    assert (err.value.code, str(err.value)) == ("shape", "queryPlants: no result")


async def test_plant_details_missing(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """queryPlantInfo has no record (err 12) for one plant: it keeps the list's data."""
    sim.inject(f"fail_code:{ERR_NO_RECORD}", path="queryPlantInfo")
    plants = await client.async_get_plants()
    assert len(plants) == 2
    assert sim.calls["queryPlantInfo"] == 1  # the other plant's details were read
    assert all(p.name for p in plants)


async def test_device_tree_refusals(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """A plant removed since the list was read (err 260) is skipped; a refused request (err 6)
    fails the read; collectors without pn and devices without address are passed over."""
    plants = await client.async_get_plants()
    every = await client.async_get_devices(plants)
    sim.inject(f"fail_code:{ERR_NO_PLANT}", path="queryPlantDeviceStatus")
    devices = await client.async_get_devices(plants)
    assert {d.plant_id for d in devices} == {plants[1].id}
    sim.inject(f"fail_code:{ERR_FORMAT}", path="queryPlantDeviceStatus")
    with pytest.raises(ProtocolError) as err:
        await client.async_get_devices(plants)
    assert err.value.code == str(ERR_FORMAT)
    original = sim._endpoints["queryPlantDeviceStatus"]

    def odd(params: dict[str, str], account: Any, now: float) -> Any:
        data = original(params, account, now)
        collectors = [dict(c) for c in data["collector"]]
        collectors[0]["device"] = [
            *collectors[0]["device"],
            {"sn": "X1", "devcode": "2376"},
            {"devcode": "2376", "devaddr": "9"},
        ]
        return {**data, "collector": [*collectors, {"pn": "", "device": [{"sn": "X2"}]}, 5]}

    sim._endpoints["queryPlantDeviceStatus"] = odd
    listed = await client.async_get_devices(plants)
    assert sorted(d.id for d in listed) == sorted(d.id for d in every)
    assert {"X1", "X2"}.isdisjoint(d.id for d in listed)
    # The same junk in the per-plant fallback of the statuses (err 258): every real device
    # is still found there, none is taken for gone.
    sim.inject(f"fail_code:{ERR_NO_DEVICE}", path="queryDeviceStatus")
    realtime = await client.async_get_realtime(plants, listed)
    assert sim.calls["queryPlantDeviceStatus"] >= 2
    assert {d.id for d in listed} == {
        device_id for data in realtime.values() for device_id in data.devices
    }


async def test_status_refusals_are_raised(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """queryDeviceStatus refused as malformed (err 6) is raised; so is the per-plant fallback
    after err 258 when that is refused too."""
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    sim.inject(f"fail_code:{ERR_FORMAT}", path="queryDeviceStatus")
    with pytest.raises(ProtocolError) as err:
        await client.async_get_realtime(plants, devices)
    assert err.value.code == str(ERR_FORMAT)
    sim.inject(f"fail_code:{ERR_NO_DEVICE}", path="queryDeviceStatus")
    sim.inject(f"fail_code:{ERR_FORMAT}", path="queryPlantDeviceStatus")
    with pytest.raises(ProtocolError) as err:
        await client.async_get_realtime(plants, devices)
    assert err.value.code == str(ERR_FORMAT)
    assert "queryPlantDeviceStatus" in str(err.value)


# -- controls -----------------------------------------------------------------------------------


async def test_controls_of_unlisted_devices_and_no_time_of_use(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """A device the cloud does not list has no controls, and says so after the tree was read
    again; time-of-use windows are refused without a call."""
    plants = await client.async_get_plants()
    ghost = Device("GHOST1", plants[0].id, "Ghost", DeviceKind.ENERGY_STORAGE, "2376")
    listed = sim.calls["queryPlantDeviceStatus"]
    specs, reasons = await client.async_get_controls(plants[0], [ghost])
    assert specs == []
    assert reasons == {"GHOST1": "not listed by the cloud"}
    assert sim.calls["queryPlantDeviceStatus"] == listed + 1
    assert client.can_set_time_of_use(plants[0]) is False
    calls = sum(sim.calls.values())
    with pytest.raises(CommandRejectedError) as err:
        await client.async_set_time_of_use(plants[0], [TouWindow("01:00", "05:00", False)])
    assert err.value.code == "unsupported"
    assert sum(sim.calls.values()) == calls


# -- history ------------------------------------------------------------------------------------


def _total(days: dict[str, Any], plant_id: str) -> float:
    return round(sum(flows[Flow.PV] for flows in days[plant_id].hours.values()), 3)


async def test_day_total_missing_or_bare(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Without a day total (no record, or the plant gone) the curve stays unscaled; a total
    sent as a bare number scales it."""
    plants = (await client.async_get_plants())[:1]
    plant_id = plants[0].id
    client.history_plan(plants)
    scaled = _total(await client.async_get_energy_days(plants, YESTERDAY, AMSTERDAM), plant_id)
    unscaled = []
    for code in (ERR_NO_RECORD, ERR_NO_PLANT):
        clock.now += 120  # the history calls a minute allows
        sim.inject(f"fail_code:{code}", path="queryPlantEnergyDay")
        days = await client.async_get_energy_days(plants, YESTERDAY, AMSTERDAM)
        unscaled.append(_total(days, plant_id))
    assert unscaled[0] == unscaled[1]
    assert unscaled[0] != scaled
    sim._endpoints["queryPlantEnergyDay"] = lambda params, account, now: "12.5"
    clock.now += 120
    days = await client.async_get_energy_days(plants, YESTERDAY, AMSTERDAM)
    assert _total(days, plant_id) == 12.5
