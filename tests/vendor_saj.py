"""SAJ client as the client tests build it: one app's keys, quota and clock on a fake clock.

The modules keep their own ``sim`` fixture (``SajSimulator(...)`` with the options they run
with: it takes no account) and take ``clock``, ``session`` and ``base_url`` from conftest.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from custom_components.solar_cloud.api.quota import Quota
from custom_components.solar_cloud.api.saj import SajClient
from tests.common import FakeClock
from tests.simulators.saj import SajSimulator


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    sim: SajSimulator | None,
    clock: FakeClock,
    **options: Any,
) -> SajClient:
    """A client of ``sim``'s app, quota and clock on ``clock``. ``options`` go to the client as
    they are: ``app_id``/``app_secret`` (other keys, or keys for a server that is no simulator,
    ``sim`` None), ``timeout``, ..."""
    keys = {"app_id": sim.client_id, "app_secret": sim.client_secret} if sim else {}
    settings: dict[str, Any] = {
        **keys,
        "quota": Quota(clock=clock, sleep=clock.sleep),
        "clock": clock,
        **options,
    }
    return SajClient(session, url, **settings)
