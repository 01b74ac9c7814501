"""The SAJ client's transport failures: no answer, no connection, answers outside the protocol."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.solar_cloud.api.errors import ProtocolError, TransientError
from tests.common import FakeClock, serve
from tests.simulators.saj import SajSimulator
from tests.vendor_saj import make_client

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
# The keys the client sends to servers that are no simulator.
APP_KEYS = {"app_id": "app-id-1", "app_secret": "app-secret-1"}


async def test_timeout_is_transient_and_keeps_the_token(
    session: aiohttp.ClientSession, aiohttp_server: Callable[..., Any], clock: FakeClock
) -> None:
    """An answer that does not come in time is a TransientError; the next call reuses the token."""
    sim = SajSimulator(plants=1, clock=clock, timeout_delay=1.0)
    url = await serve(aiohttp_server, sim.app)
    client = make_client(session, url, sim, clock, timeout=0.2)
    assert len(await client.async_get_plants()) == 1
    sim.inject("timeout", path="/plant/list")
    with pytest.raises(TransientError) as raised:
        await client.async_get_plants()
    assert raised.value.code == "timeout"
    assert sim.client_secret not in str(raised.value)
    assert len(await client.async_get_plants()) == 1
    assert client.logins == 1


async def test_no_connection_is_transient_without_the_secret(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A refused connection is a TransientError whose text names neither key nor secret."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(session, f"http://127.0.0.1:{port}", None, clock, **APP_KEYS)
    with pytest.raises(TransientError) as raised:
        await client.async_get_plants()
    assert raised.value.code == "network"
    assert "app-secret-1" not in str(raised.value)
    assert raised.value.__cause__ is None


async def test_unknown_error_code_is_a_protocol_error(
    session: aiohttp.ClientSession, aiohttp_server: Callable[..., Any], clock: FakeClock
) -> None:
    """An error code the document does not list is refused as a ProtocolError with that code."""
    sim = SajSimulator(plants=1, clock=clock)
    url = await serve(aiohttp_server, sim.app)
    client = make_client(session, url, sim, clock)
    sim.inject("fail_code:99999", path="/plant/list")
    with pytest.raises(ProtocolError) as raised:
        await client.async_get_plants()
    assert raised.value.code == "99999"
    assert len(await client.async_get_plants()) == 1


TOKEN = {"error_code": 0, "data": {"access_token": "t1", "uid": "u1", "expires_in": 7200}}


def _foreign_app(list_reply: Any, token_reply: Any = TOKEN) -> web.Application:
    """A server that answers /accessToken and /plant/list with the given JSON."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response(token_reply)

    async def plant_list(request: web.Request) -> web.Response:
        return web.json_response(list_reply)

    app = web.Application()
    app.router.add_get("/accessToken", token)
    app.router.add_get("/plant/list", plant_list)
    return app


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ({"result": "ok"}, "200"),  # no error_code at all
        ([1, 2, 3], "200"),  # not an object
        ({"error_code": 0, "data": None}, "shape"),  # success without a result
    ],
)
async def test_answers_outside_the_protocol(
    session: aiohttp.ClientSession,
    aiohttp_server: Callable[..., Any],
    clock: FakeClock,
    reply: Any,
    code: str,
) -> None:
    """Well-formed JSON that is not an SAJ answer is a ProtocolError, never a crash."""
    url = await serve(aiohttp_server, _foreign_app(reply))
    client = make_client(session, url, None, clock, **APP_KEYS)
    with pytest.raises(ProtocolError) as raised:
        await client.async_get_plants()
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("token_reply", "code"),
    [
        ({"error_code": 0, "data": {"access_token": "t1"}}, "no_token"),  # no uid
        ({"error_code": 0, "data": {"uid": "u1"}}, "no_token"),  # no token
        ({"error_code": 0, "data": "t1"}, "shape"),  # not an object
    ],
)
async def test_token_answers_outside_the_protocol(
    session: aiohttp.ClientSession,
    aiohttp_server: Callable[..., Any],
    clock: FakeClock,
    token_reply: Any,
    code: str,
) -> None:
    """A token answer without token and uid is a ProtocolError and no login is counted."""
    url = await serve(aiohttp_server, _foreign_app({}, token_reply))
    client = make_client(session, url, None, clock, **APP_KEYS)
    with pytest.raises(ProtocolError) as raised:
        await client.async_get_plants()
    assert raised.value.code == code
    assert client.logins == 0
