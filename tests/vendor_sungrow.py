"""iSolarCloud client and simulator as the client tests build them: one account, on a fake clock.

The modules keep their own ``sim`` fixture (the simulator options they run with) and take
``clock``, ``session`` and ``base_url`` from conftest.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from custom_components.solar_cloud.api.quota import Quota
from custom_components.solar_cloud.api.sungrow import SungrowClient
from tests.common import FakeClock
from tests.simulators.sungrow import SungrowSimulator

USER = "owner@example.com"
PASSWORD = "secret"


def make_simulator(clock: FakeClock, **options: Any) -> SungrowSimulator:
    """A gateway with USER's account on ``clock``; ``options`` (plants, task_delay, zone, ...)
    go to the simulator. The burst limit counts calls a second of a clock that tests move by
    hand, so it is off; a test of it sets ``burst_limit``."""
    simulator = SungrowSimulator(username=USER, password=PASSWORD, clock=clock, **options)
    simulator.burst_limit = None
    return simulator


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    *,
    encrypted: bool = False,
    password: str = PASSWORD,
    **options: Any,
) -> SungrowClient:
    """USER's client of ``sim``: quota, clock and waits on ``clock``; ``encrypted`` sends with
    the gateway's RSA key. ``options`` (timeout, quota, ...) go to the client as they are."""
    settings: dict[str, Any] = {
        "rsa_public_key": sim.public_key_b64url if encrypted else None,
        "quota": Quota(clock=clock, sleep=clock.sleep),
        "clock": clock,
        "sleep": clock.sleep,
        **options,
    }
    return SungrowClient(session, url, sim.appkey, sim.access_key, USER, password, **settings)
