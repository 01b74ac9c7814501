"""FusionSolar client and simulator as the client tests build them: conftest's account
(USERNAME, SYSTEM_CODE), on a fake clock.

The modules keep their own ``sim`` fixture (the simulator options they run with) and take
``clock``, ``session`` and ``base_url`` from conftest.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from custom_components.solar_cloud.api.huawei import HuaweiClient
from custom_components.solar_cloud.api.quota import Quota
from tests.common import FakeClock
from tests.conftest import SYSTEM_CODE, USERNAME
from tests.simulators.huawei import HuaweiSimulator


def make_simulator(clock: FakeClock, **options: Any) -> HuaweiSimulator:
    """The account on ``clock``; ``options`` (plants, grid_meter, time_zone, ...) go to the
    simulator."""
    return HuaweiSimulator(username=USERNAME, system_code=SYSTEM_CODE, clock=clock, **options)


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    clock: FakeClock,
    *,
    system_code: str = SYSTEM_CODE,
    quota: Quota | None = None,
    **options: Any,
) -> HuaweiClient:
    """The account's client, its quota (unless given) and clock on ``clock``; ``options``
    (session_state, timeout, ...) go to the client as they are."""
    return HuaweiClient(
        session,
        url,
        USERNAME,
        system_code,
        quota=quota or Quota(clock=clock, sleep=clock.sleep),
        clock=clock,
        **options,
    )
