"""Helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

# One poll period and a second.
POLL = timedelta(minutes=5, seconds=1)
# Where the client tests' fake clock starts (conftest's ``clock``): 2026-06-21 11:00 UTC.
NOON = 1_782_039_600.0


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta = POLL
) -> None:
    """Move the clock and let every refresh that falls due finish."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def serve(aiohttp_server: Callable[..., Any], app: web.Application) -> str:
    """Serve ``app`` (a simulator's, or a test's own) on 127.0.0.1: its base URL."""
    server: TestServer = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


def entity_id(hass: HomeAssistant, unique_id_suffix: str) -> str:
    """The one entity whose unique id ends with ``unique_id_suffix``."""
    registry = er.async_get(hass)
    matches = [
        e.entity_id for e in registry.entities.values() if e.unique_id.endswith(unique_id_suffix)
    ]
    assert len(matches) == 1, (unique_id_suffix, matches)
    return matches[0]


def state(hass: HomeAssistant, unique_id_suffix: str) -> State:
    """The state of that entity."""
    found = hass.states.get(entity_id(hass, unique_id_suffix))
    assert found is not None, unique_id_suffix
    return found


class FakeClock:
    """A clock the test moves by hand; the quota's sleep moves it too."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)
