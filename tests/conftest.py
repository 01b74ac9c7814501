"""Shared fixtures: the integration against a simulated cloud over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from typing import Any
from unittest.mock import patch

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# Import our package before the test plugin imports its own ``custom_components``.
import custom_components.solar_cloud  # noqa: F401
from custom_components.solar_cloud.const import (
    CONF_ACCESS_KEY,
    CONF_APP_KEY,
    CONF_COMPANY_KEY,
    CONF_PLANTS,
    CONF_RSA_PUBLIC_KEY,
    CONF_SERVER,
    CONF_SYSTEM_CODE,
    CONF_VENDOR,
    DOMAIN,
    VENDOR_HUAWEI,
    VENDOR_SHINEMONITOR,
    VENDOR_SUNGROW,
)
from tests.common import NOON, FakeClock, serve
from tests.simulators.huawei import HuaweiSimulator
from tests.simulators.saj import SajSimulator
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.simulators.sungrow import SungrowSimulator

USERNAME = "api_user"
SYSTEM_CODE = "api_pass"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom integrations in every test."""


@pytest.fixture(autouse=True)
def no_pacing_on_frozen_clocks() -> Generator[None]:
    """Pacing waits for the clock to move; a frozen test clock never does. The client tests
    with a hand-moved clock turn it back on."""
    with patch("custom_components.solar_cloud.api.sungrow.CALLS_PER_SECOND", None):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
    ):
        yield


@pytest.fixture
def sim_options() -> dict[str, Any]:
    """Constructor options of the simulator; tests override this fixture."""
    return {}


@pytest.fixture
def huawei_sim(sim_options: dict[str, Any]) -> HuaweiSimulator:
    """A simulated FusionSolar cloud with one account."""
    options = {"plants": 1, "username": USERNAME, "system_code": SYSTEM_CODE, **sim_options}
    return HuaweiSimulator(**options)


@pytest.fixture
async def huawei_server(
    socket_enabled: None, aiohttp_server: Callable[..., Any], huawei_sim: HuaweiSimulator
) -> AsyncIterator[TestServer]:
    """The simulator served on 127.0.0.1."""
    server: TestServer = await aiohttp_server(huawei_sim.app)
    return server


@pytest.fixture
def server_url(huawei_server: TestServer) -> str:
    """Base URL of the simulator."""
    return str(huawei_server.make_url("")).rstrip("/")


def make_entry(server_url: str, plants: list[str] | None = None, **options: Any) -> MockConfigEntry:
    """A config entry of the simulated account."""
    host = "127.0.0.1"
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"FusionSolar {USERNAME}",
        unique_id=f"{VENDOR_HUAWEI}:{host}:{USERNAME}",
        data={
            CONF_VENDOR: VENDOR_HUAWEI,
            CONF_SERVER: server_url,
            "username": USERNAME,
            CONF_SYSTEM_CODE: SYSTEM_CODE,
        },
        options={CONF_PLANTS: plants or [], **options} if plants is not None else options,
        version=1,
        minor_version=1,
    )


@pytest.fixture
def config_entry(server_url: str, huawei_sim: HuaweiSimulator) -> MockConfigEntry:
    """An entry for every plant of the simulated account."""
    return make_entry(server_url, huawei_sim.plant_codes(USERNAME))


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The entry, set up."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


# -- iSolarCloud -------------------------------------------------------------------------------

SUNGROW_USER = "owner@example.com"
SUNGROW_PASSWORD = "secret"


@pytest.fixture
def sungrow_options() -> dict[str, Any]:
    """Constructor options of the iSolarCloud simulator; tests override this fixture."""
    return {}


@pytest.fixture
def sungrow_sim(sungrow_options: dict[str, Any]) -> SungrowSimulator:
    """A simulated iSolarCloud gateway with one account and one plant.

    The burst limit counts calls per second of the (frozen) test clock, so it is off here.
    """
    options = {"plants": 1, "username": SUNGROW_USER, "password": SUNGROW_PASSWORD}
    simulator = SungrowSimulator(**{**options, **sungrow_options})
    simulator.burst_limit = None
    return simulator


@pytest.fixture
async def sungrow_url(
    socket_enabled: None, aiohttp_server: Callable[..., Any], sungrow_sim: SungrowSimulator
) -> str:
    """Base URL of the iSolarCloud simulator on 127.0.0.1."""
    return await serve(aiohttp_server, sungrow_sim.app)


def make_sungrow_entry(
    url: str, sim: SungrowSimulator, *, encrypted: bool = False
) -> MockConfigEntry:
    """A config entry of the simulated iSolarCloud account, every plant selected."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"iSolarCloud {SUNGROW_USER}",
        unique_id=f"{VENDOR_SUNGROW}:127.0.0.1:{SUNGROW_USER}",
        data={
            CONF_VENDOR: VENDOR_SUNGROW,
            CONF_SERVER: url,
            CONF_APP_KEY: sim.appkey,
            CONF_ACCESS_KEY: sim.access_key,
            "username": SUNGROW_USER,
            "password": SUNGROW_PASSWORD,
            CONF_RSA_PUBLIC_KEY: sim.public_key_b64url if encrypted else "",
        },
        options={CONF_PLANTS: [str(p) for p in sim.plant_ids()]},
        version=1,
        minor_version=1,
    )


# -- SAJ -----------------------------------------------------------------------------------------


@pytest.fixture
def saj_sim() -> SajSimulator:
    """A simulated SAJ OpenAPI with one plant."""
    return SajSimulator(plants=1)


@pytest.fixture
async def saj_url(
    socket_enabled: None, aiohttp_server: Callable[..., Any], saj_sim: SajSimulator
) -> str:
    """Base URL of the SAJ simulator on 127.0.0.1."""
    return await serve(aiohttp_server, saj_sim.app)


def make_saj_entry(url: str, sim: SajSimulator) -> MockConfigEntry:
    """A config entry of the simulated SAJ app, every plant selected."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SAJ {sim.client_id}",
        unique_id=f"saj:127.0.0.1:{sim.client_id.lower()}",
        data={
            CONF_VENDOR: "saj",
            CONF_SERVER: url,
            "app_id": sim.client_id,
            "app_secret": sim.client_secret,
        },
        options={CONF_PLANTS: [str(p) for p in sim.plant_ids()]},
        version=1,
        minor_version=1,
    )


# -- ShineMonitor --------------------------------------------------------------------------------

SHINE_USER = "demo"
SHINE_PASSWORD = "demo-pass"
SHINE_KEY = "0123456789ABCDEF"


@pytest.fixture
def shine_sim() -> ShineMonitorSimulator:
    """A simulated ShineMonitor account with one plant (a PV and a storage inverter)."""
    return ShineMonitorSimulator(
        plants=1, username=SHINE_USER, password=SHINE_PASSWORD, company_key=SHINE_KEY
    )


@pytest.fixture
async def shine_url(
    socket_enabled: None, aiohttp_server: Callable[..., Any], shine_sim: ShineMonitorSimulator
) -> str:
    """Base URL of the ShineMonitor simulator on 127.0.0.1."""
    return await serve(aiohttp_server, shine_sim.app)


def make_shine_entry(url: str, sim: ShineMonitorSimulator) -> MockConfigEntry:
    """A config entry of the simulated ShineMonitor account, every plant selected."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"ShineMonitor {SHINE_USER}",
        unique_id=f"{VENDOR_SHINEMONITOR}:127.0.0.1:{SHINE_USER}",
        data={
            CONF_VENDOR: VENDOR_SHINEMONITOR,
            CONF_SERVER: url,
            "username": SHINE_USER,
            "password": SHINE_PASSWORD,
            CONF_COMPANY_KEY: SHINE_KEY,
        },
        options={CONF_PLANTS: [str(p) for p in sim.plant_ids(SHINE_USER)]},
        version=1,
        minor_version=1,
    )


# -- clients on their own ------------------------------------------------------------------------
# A client test module defines ``sim`` (its simulator, on ``clock``); these serve it.


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock shared by client and simulator, at NOON; a module that starts elsewhere
    overrides it."""
    return FakeClock(NOON)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def base_url(socket_enabled: None, aiohttp_server: Callable[..., Any], sim: Any) -> str:
    """The URL of the module's ``sim`` served on 127.0.0.1."""
    return await serve(aiohttp_server, sim.app)
