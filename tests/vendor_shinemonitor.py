"""ShineMonitor client and simulator as the client tests build them: one account, on a fake clock.

The modules keep their own ``sim`` fixture (the simulator options they run with) and take
``clock``, ``session`` and ``base_url`` from conftest.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from custom_components.solar_cloud.api.quota import Quota
from custom_components.solar_cloud.api.shinemonitor import ShineMonitorClient
from tests.common import FakeClock
from tests.simulators.shinemonitor import ShineMonitorSimulator

USER, PASSWORD, KEY = "owner", "secret-pass", "0123456789ABCDEF"


def make_simulator(clock: FakeClock, **options: Any) -> ShineMonitorSimulator:
    """An account of USER under company KEY on ``clock``; ``options`` (plants, ...) go to the
    simulator."""
    return ShineMonitorSimulator(
        username=USER, password=PASSWORD, company_key=KEY, clock=clock, **options
    )


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    clock: FakeClock,
    *,
    username: str = USER,
    password: str = PASSWORD,
    company_key: str = KEY,
    quota: Quota | None = None,
    **options: Any,
) -> ShineMonitorClient:
    """USER's client (or another account's), its quota (unless given) and clock on ``clock``;
    ``options`` (timeout, session_state, language, ...) go to the client as they are."""
    return ShineMonitorClient(
        session,
        url,
        username,
        password,
        company_key,
        quota=quota or Quota(clock=clock, sleep=clock.sleep),
        clock=clock,
        **options,
    )
