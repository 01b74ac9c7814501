"""Helpers of the controls tests through Home Assistant: set-up, calls while the clock moves.

The clock is frozen (``freezer``); a control task waits for its polls on Home Assistant's clock,
so a blocking call runs as a future while the test moves the clock. The clock only moves while
no request is in flight: moving it past a request's timeout would end that request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.solar_cloud.const import DOMAIN

NOON = "2026-06-21 11:00:00+00:00"


async def no_wait(_seconds: float) -> None:
    """A client sleep that returns at once."""
    await asyncio.sleep(0)


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add and set up an entry; wait until its platforms are in place."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def registry_device(
    hass: HomeAssistant, entry: MockConfigEntry, plant_id: str, device_id: str | None = None
) -> str:
    """The device registry id of a plant (or of one of its cloud devices)."""
    identifier = f"{entry.unique_id}:{plant_id}" + (f":{device_id}" if device_id else "")
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, identifier)})
    assert device is not None, identifier
    return device.id


def control(hass: HomeAssistant, domain: str, key: str) -> str:
    """The entity id of the one ``domain`` entity (select, number) of control ``key``."""
    matches = [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.domain == domain and e.unique_id.endswith(f":{key}")
    ]
    assert len(matches) == 1, (domain, key, matches)
    return matches[0]


async def settle(hass: HomeAssistant) -> None:
    """Let the loop run until no request of Home Assistant's client session is in flight."""
    connector: Any = async_get_clientsession(hass).connector
    quiet = 0
    for _ in range(20_000):
        await asyncio.sleep(0)
        quiet = 0 if connector._acquired else quiet + 1
        if quiet >= 25:
            return
    raise AssertionError("requests still in flight")


async def tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move the clock once no request is in flight, and let what fell due run."""
    await settle(hass)
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await settle(hass)


async def run_ticking[T](
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    call: Awaitable[T],
    step: float,
    *,
    limit: int = 60,
) -> T:
    """Await ``call`` while the clock moves by ``step`` seconds at a time (at most ``limit``)."""
    running = asyncio.ensure_future(call)
    for _ in range(limit):
        await settle(hass)
        if running.done():
            return running.result()
        await tick(hass, freezer, step)
    running.cancel()
    raise AssertionError(f"still running after {limit} steps of {step} s")


async def tick_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    done: Callable[[], bool],
    step: float,
    *,
    limit: int = 60,
) -> None:
    """Move the clock by ``step`` seconds until ``done()`` holds."""
    for _ in range(limit):
        await settle(hass)
        if done():
            return
        await tick(hass, freezer, step)
    raise AssertionError(f"not done after {limit} steps of {step} s")


async def start[T](hass: HomeAssistant, call: Awaitable[T]) -> asyncio.Future[T]:
    """Start a blocking call and let it run until it waits for the clock."""
    running = asyncio.ensure_future(call)
    await settle(hass)
    return running
