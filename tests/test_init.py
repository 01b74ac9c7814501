"""Set-up, unload, error handling and inventory changes against the simulated cloud."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.solar_cloud.const import CONF_EXCLUDED_PLANTS, CONF_PLANTS, DOMAIN
from tests.common import POLL, entity_id, state, tick
from tests.conftest import USERNAME, make_entry
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _plant_power(hass: HomeAssistant, plant: str) -> str:
    return state(hass, f":{plant}:plant:pv_power").state


async def test_setup_and_unload(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """One coordinator per plant; the plant and its devices in the registry; unload cleans up."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    plant = huawei_sim.plant_codes(USERNAME)[0]
    assert list(loaded_entry.runtime_data.coordinators) == [plant]
    devices = dr.async_entries_for_config_entry(device_registry, loaded_entry.entry_id)
    plant_device = next(d for d in devices if d.via_device_id is None)
    assert plant_device.serial_number == plant
    children = [d for d in devices if d.via_device_id == plant_device.id]
    # Residential inverter, battery and power sensor.
    assert len(children) == 3
    assert {d.manufacturer for d in devices} == {"Huawei"}
    assert all(d.serial_number and d.model and d.sw_version for d in children)
    # Excluded plants were recorded on first set-up so that later plants count as new.
    assert loaded_entry.options[CONF_EXCLUDED_PLANTS] == []

    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED


async def test_setup_with_wrong_credentials_starts_reauth(
    hass: HomeAssistant, server_url: str, huawei_sim: HuaweiSimulator
) -> None:
    """A refused login at set-up is an auth failure, which opens the reauth flow."""
    huawei_sim.set_password(USERNAME, "changed")
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("http_500", "/thirdData/login"),
        ("html", "/thirdData/stations"),
        ("malformed_json", "/thirdData/getDevList"),
        ("fail_code:20200", "/thirdData/getStationRealKpi"),
        ("exception_body", "/thirdData/getDevRealKpi"),
    ],
)
async def test_setup_retries_on_cloud_faults(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    kind: str,
    path: str,
) -> None:
    """A fault while setting up leaves the entry retrying, not failed."""
    huawei_sim.inject(kind, path=path)
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_without_permission_raises_repair_issue(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """20056 (owner has not authorised the account) becomes a repair issue; fixed, it goes."""
    huawei_sim.inject("fail_code:20056", path="/thirdData/stations")
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = issue_registry.async_get_issue(
        DOMAIN, f"permission_huawei_fusionsolar_plant_list_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": entry.title,
        "what": "plant list",
        "code": "20056",
    }
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert not issue_registry.async_get_issue(
        DOMAIN, f"permission_huawei_fusionsolar_plant_list_{entry.entry_id}"
    )


async def test_permission_issue_names_the_data_in_the_users_language(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The refused data is named in Home Assistant's language, like the rest of the issue."""
    hass.config.language = "de"
    huawei_sim.inject("fail_code:20056", path="/thirdData/stations")
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(
        DOMAIN, f"permission_huawei_fusionsolar_plant_list_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["what"] == "Anlagenliste"


@pytest.mark.parametrize("sim_options", [{"legacy_only": True}])
async def test_legacy_plant_list(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Where `stations` answers 401 the older getStationList is used."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert huawei_sim.calls["getStationList"] == 1
    assert loaded_entry.runtime_data.client.diagnostics()["legacy_station_list"] is True


@pytest.mark.parametrize("sim_options", [{"plants": 6}])
async def test_reauth_after_password_change(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The password changes at the vendor: the next login gets 20400 and reauth starts."""
    huawei_sim.set_password(USERNAME, "changed")
    huawei_sim.expire_tokens()
    await tick(hass, freezer)
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert loaded_entry.state is ConfigEntryState.LOADED
    # One failed login for six plants, not a storm that would lock the account; and none more
    # while the coordinators keep polling.
    assert huawei_sim.failed_logins(USERNAME) == 1
    await tick(hass, freezer)
    await tick(hass, freezer)
    assert huawei_sim.failed_logins(USERNAME) == 1


async def test_rate_limit_keeps_data_and_does_not_log_in(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """407: the last values stay until three periods pass; no extra login; then recovery."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    before = _plant_power(hass, plant)
    assert before not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    logins = huawei_sim.logins
    huawei_sim.inject("fail_code:407", path="/thirdData/getStationRealKpi", count=2)
    await tick(hass, freezer)
    assert _plant_power(hass, plant) == before
    await tick(hass, freezer)
    assert _plant_power(hass, plant) == before
    assert huawei_sim.logins == logins
    await tick(hass, freezer)
    assert _plant_power(hass, plant) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    coordinator = loaded_entry.runtime_data.coordinators[plant]
    assert coordinator.last_update_success
    assert loaded_entry.runtime_data.account.rate_limited is False


async def test_rate_limit_beyond_three_periods_makes_entities_unavailable(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Data older than three refresh periods is not shown as current."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    huawei_sim.inject("fail_code:407", path="/thirdData/getStationRealKpi", count=10)
    for _ in range(4):
        await tick(hass, freezer, timedelta(minutes=6))
    assert _plant_power(hass, plant) == STATE_UNAVAILABLE


async def test_session_taken_over_logs_in_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Another client logged in with the account: one login, one retry, data as usual."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    logins = huawei_sim.logins
    huawei_sim.kick_session(USERNAME)
    await tick(hass, freezer)
    assert huawei_sim.logins == logins + 1
    assert _plant_power(hass, plant) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


async def test_session_fight_raises_issue(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """305 again right after logging in: another client shares the account; say so."""
    huawei_sim.inject("fail_code:305", path="/thirdData/getStationRealKpi", count=2)
    await tick(hass, freezer)
    plant = huawei_sim.plant_codes(USERNAME)[0]
    assert _plant_power(hass, plant) == STATE_UNAVAILABLE
    assert issue_registry.async_get_issue(DOMAIN, f"account_shared_{loaded_entry.entry_id}")


@pytest.mark.parametrize(
    "kind",
    [
        "http_500",
        "http_502",
        "html",
        "malformed_json",
        "exception_body",
        "fail_code:20004",
        "fail_code:12345",
    ],
)
async def test_poll_faults_then_recovery(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    kind: str,
) -> None:
    """A failed poll makes the plant unavailable; the next one restores it."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    huawei_sim.inject(kind, path="/thirdData/getDevRealKpi")
    await tick(hass, freezer)
    assert _plant_power(hass, plant) == STATE_UNAVAILABLE
    assert not loaded_entry.runtime_data.coordinators[plant].last_update_success
    await tick(hass, freezer)
    assert _plant_power(hass, plant) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


async def test_timeout_then_recovery(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A request that takes too long fails the poll and nothing else."""
    with patch("custom_components.solar_cloud.api.huawei.REQUEST_TIMEOUT", 0.2):
        entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    plant = huawei_sim.plant_codes(USERNAME)[0]
    huawei_sim.timeout_delay = 1.0
    huawei_sim.inject("timeout", path="/thirdData/getStationRealKpi")
    seen = len(huawei_sim.requests)
    freezer.tick(POLL)
    async_fire_time_changed(hass)
    # The loop's clock is frozen: wait (in real time) for the request to arrive, then move the
    # clock past the client's time limit so that its timer fires.
    for _ in range(200):
        if len(huawei_sim.requests) > seen:
            break
        await hass.async_add_executor_job(time.sleep, 0.01)
    await tick(hass, freezer, timedelta(seconds=2))
    assert _plant_power(hass, plant) == STATE_UNAVAILABLE
    assert "no answer in time" in str(loaded_state(hass, entry, plant).last_exception)
    await tick(hass, freezer)
    assert _plant_power(hass, plant) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


def loaded_state(hass: HomeAssistant, entry: MockConfigEntry, plant: str) -> Any:
    """The plant's coordinator."""
    return entry.runtime_data.coordinators[plant]


@pytest.mark.parametrize("kind", ["null_values", "na_values", "missing_fields"])
async def test_missing_values_are_unknown(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    kind: str,
) -> None:
    """null, "N/A" and absent values make entities unknown, never crash them."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    huawei_sim.inject(kind, path="/thirdData/getDevRealKpi", count=3)
    await tick(hass, freezer)
    assert _plant_power(hass, plant) == STATE_UNKNOWN
    soc = hass.states.get(entity_id(hass, f":{plant}:plant:battery_soc"))
    assert soc.state == STATE_UNKNOWN
    # The plant's own KPIs came through.
    energy = hass.states.get(entity_id(hass, f":{plant}:plant:energy_today"))
    assert energy.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


async def test_plants_appear_and_vanish(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A new plant shows up without a restart; a removed one leaves with its devices."""
    first = huawei_sim.plant_codes(USERNAME)[0]
    new = huawei_sim.add_plant(username=USERNAME)
    plan = loaded_entry.runtime_data.account.plan
    await tick(hass, freezer, timedelta(seconds=plan.plants + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert set(loaded_entry.runtime_data.coordinators) == {first, new}
    assert _plant_power(hass, new) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert sorted(loaded_entry.options[CONF_PLANTS]) == sorted([first, new])
    assert len(dr.async_entries_for_config_entry(device_registry, loaded_entry.entry_id)) == 8

    huawei_sim.remove_plant(first)
    await tick(hass, freezer, timedelta(seconds=plan.plants + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert set(loaded_entry.runtime_data.coordinators) == {new}
    assert len(dr.async_entries_for_config_entry(device_registry, loaded_entry.entry_id)) == 4
    registry = er.async_get(hass)
    assert not [e for e in registry.entities.values() if f":{first}:" in e.unique_id]


async def test_excluded_plant_stays_out(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A plant the user left out is not polled, while a newer plant is picked up."""
    codes = [*huawei_sim.plant_codes(USERNAME), huawei_sim.add_plant(username=USERNAME)]
    entry = make_entry(server_url, [codes[0]])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.options[CONF_EXCLUDED_PLANTS] == [codes[1]]
    newest = huawei_sim.add_plant(username=USERNAME)
    plan = entry.runtime_data.account.plan
    await tick(hass, freezer, timedelta(seconds=plan.plants + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert set(entry.runtime_data.coordinators) == {codes[0], newest}


async def test_devices_appear_and_vanish(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A new grid meter gets its entities; a removed battery loses its device."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    meter = huawei_sim.add_device(plant, 17)
    battery = huawei_sim.device_ids(plant, 39)[0]
    huawei_sim.remove_device(battery)
    plan = loaded_entry.runtime_data.account.plan
    await tick(hass, freezer, timedelta(seconds=plan.devices + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    meter_power = hass.states.get(entity_id(hass, f":{plant}:{meter}:grid_import_power"))
    assert meter_power is not None
    assert meter_power.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    names = {
        d.name for d in dr.async_entries_for_config_entry(device_registry, loaded_entry.entry_id)
    }
    assert len(names) == 4
    registry = er.async_get(hass)
    assert not [e for e in registry.entities.values() if f":{plant}:{battery}:" in e.unique_id]


async def test_remove_config_entry_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Devices the cloud still lists cannot be deleted by hand; others can."""
    from custom_components.solar_cloud import async_remove_config_entry_device

    device = dr.async_entries_for_config_entry(device_registry, loaded_entry.entry_id)[0]
    assert not await async_remove_config_entry_device(hass, loaded_entry, device)
    orphan = device_registry.async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={(DOMAIN, "gone:plant")}
    )
    assert await async_remove_config_entry_device(hass, loaded_entry, orphan)


async def test_alarms_feed_problem_sensor(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Alarms are read every 30 minutes and shown on the plant's problem sensor."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    problem_id = entity_id(hass, f":{plant}:plant:problem")
    assert hass.states.get(problem_id).state == "off"
    huawei_sim.raise_alarm(plant, name="Grid overvoltage", lev=2)
    huawei_sim.raise_alarm(plant, name="Low insulation resistance", lev=1)
    alarm_calls = huawei_sim.calls["getAlarmList"]
    # Not before 30 minutes have passed ...
    await tick(hass, freezer)
    assert hass.states.get(problem_id).state == "off"
    assert huawei_sim.calls["getAlarmList"] == alarm_calls
    for _ in range(6):
        await tick(hass, freezer)
    state = hass.states.get(problem_id)
    assert state.state == "on"
    assert huawei_sim.calls["getAlarmList"] == alarm_calls + 1
    assert state.attributes["alarm_count"] == 2
    assert [a["name"] for a in state.attributes["alarms"]] == [
        "Low insulation resistance",
        "Grid overvoltage",
    ]
    assert state.attributes["alarms"][0]["severity"] == "critical"
    assert hass.states.get(entity_id(hass, f":{plant}:plant:alarm_count")).state == "2"


async def test_restart_within_the_window_sends_nothing_early(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """After a restart the saved budget, session and answers are used: no early call, no 407."""
    from custom_components.solar_cloud.memory import STORAGE_KEY, async_load_memories

    plant = huawei_sim.plant_codes(USERNAME)[0]
    await tick(hass, freezer)
    before = _plant_power(hass, plant)
    # The delayed save happens.
    await tick(hass, freezer, timedelta(seconds=31))
    assert STORAGE_KEY in hass_storage
    saved = hass_storage[STORAGE_KEY]["data"]["accounts"]
    assert len(saved) == 1

    # "Restart": unload, forget everything in memory, load it back from storage.
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    hass.data.pop(DOMAIN)
    await async_load_memories(hass)
    calls = dict(huawei_sim.calls)
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()

    assert loaded_entry.state is ConfigEntryState.LOADED
    assert dict(huawei_sim.calls) == calls
    assert sum(huawei_sim.refusals.values()) == 0
    assert _plant_power(hass, plant) == before
    # Once the window has passed, polling goes on with the same session.
    logins = huawei_sim.logins
    await tick(hass, freezer)
    assert huawei_sim.calls["getStationRealKpi"] == calls["getStationRealKpi"] + 1
    assert huawei_sim.logins == logins


async def test_removing_the_entry_forgets_the_account(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A deleted entry leaves no session token or data behind."""
    assert hass.data[DOMAIN].memories
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.data[DOMAIN].memories == {}
