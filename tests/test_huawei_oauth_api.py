"""OAuth Connect without Home Assistant: the simulated OAuth server and the Bearer client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from custom_components.solar_cloud.api.errors import AuthError
from custom_components.solar_cloud.api.huawei import (
    E_OAUTH_DAY,
    OAUTH_DAILY_CALLS,
    REALTIME_PERIOD,
    HuaweiClient,
)
from custom_components.solar_cloud.api.models import Device, DeviceKind
from custom_components.solar_cloud.api.quota import Quota
from tests.common import FakeClock
from tests.conftest import SYSTEM_CODE, USERNAME
from tests.simulators.huawei import (
    ACCESS_TTL,
    OAUTH_AUTHORIZE,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OAUTH_TOKEN,
    SCOPE_BASIC,
    SCOPE_CONTROL,
    STATE_MAX,
    HuaweiSimulator,
)
from tests.vendor_huawei import make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

REDIRECT = "https://ha.example/api/solar_cloud/oauth/callback"


@pytest.fixture
def clock() -> FakeClock:
    """The shared fake clock."""
    return FakeClock(1_782_036_000.0)


@pytest.fixture
def sim(clock: FakeClock) -> HuaweiSimulator:
    """A simulator with one battery plant on the fake clock."""
    return make_simulator(clock, plants=1)


@pytest.fixture
def url(base_url: str) -> str:
    """The simulator's URL (API and OAuth server)."""
    return base_url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A session without cookies, as Home Assistant gives the Bearer client."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def _authorize(http: aiohttp.ClientSession, url: str, **query: str) -> tuple[int, URL | None]:
    params = {
        "response_type": "code",
        "client_id": OAUTH_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "s" * 22,
        "scope": f"{SCOPE_BASIC} {SCOPE_CONTROL}",
        **query,
    }
    async with http.get(f"{url}{OAUTH_AUTHORIZE}", params=params, allow_redirects=False) as r:
        location = r.headers.get("Location")
        return r.status, URL(location) if location else None


async def _token(
    http: aiohttp.ClientSession, url: str, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{url}{OAUTH_TOKEN}", data=form) as response:
        return response.status, await response.json()


async def _grant(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    status, location = await _authorize(http, url)
    assert status == 302
    assert location is not None
    status, body = await _token(
        http,
        url,
        {
            "grant_type": "authorization_code",
            "code": location.query["code"],
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
            "redirect_uri": REDIRECT,
        },
    )
    assert status == 200
    return body


# -- the simulated OAuth server ---------------------------------------------------------------


async def test_authorize_redirects_with_code_and_state(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator
) -> None:
    """The authorize endpoint signs in and sends the browser back with a code and the state."""
    status, location = await _authorize(http, url, state="abc")
    assert status == 302
    assert location is not None
    assert str(location.with_query(None)) == REDIRECT
    assert location.query["state"] == "abc"
    assert location.query["code"].startswith("c-")
    assert sim.states_seen == ["abc"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"state": "x" * (STATE_MAX + 1)}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": SCOPE_CONTROL}, "invalid_scope"),
    ],
)
async def test_authorize_refusals_redirect_with_error(
    http: aiohttp.ClientSession, url: str, query: dict[str, str], error: str
) -> None:
    """Refusals go back to the redirect URI as RFC 6749 errors (with the state)."""
    status, location = await _authorize(http, url, **query)
    assert status == 302
    assert location is not None
    assert location.query["error"] == error
    assert "code" not in location.query


async def test_authorize_unknown_client_does_not_redirect(
    http: aiohttp.ClientSession, url: str
) -> None:
    """An unknown client id is never redirected (the redirect URI is not trusted)."""
    status, location = await _authorize(http, url, client_id="nobody")
    assert status == 400
    assert location is None


async def test_owner_grants_less_than_asked(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator
) -> None:
    """The token's scope is what the owner granted."""
    sim.oauth_scopes = frozenset({SCOPE_BASIC})
    token = await _grant(http, url)
    assert token["scope"] == SCOPE_BASIC
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == ACCESS_TTL


async def test_code_exchange_errors(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """Wrong secret, reused, expired or misdirected codes and odd requests are refused."""
    _status, location = await _authorize(http, url)
    assert location is not None
    code = location.query["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": "wrong",
        "redirect_uri": REDIRECT,
    }
    async with http.post(f"{url}{OAUTH_TOKEN}", data=form) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert (await response.json())["error"] == "invalid_client"
    status, body = await _token(
        http, url, {**form, "client_secret": OAUTH_CLIENT_SECRET, "redirect_uri": "https://x/"}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    # The refused exchange spent the code.
    status, body = await _token(http, url, {**form, "client_secret": OAUTH_CLIENT_SECRET})
    assert (status, body["error"]) == (400, "invalid_grant")

    _status, location = await _authorize(http, url)
    assert location is not None
    clock.now += 301
    status, body = await _token(
        http,
        url,
        {**form, "client_secret": OAUTH_CLIENT_SECRET, "code": location.query["code"]},
    )
    assert (status, body["error"]) == (400, "invalid_grant")

    status, body = await _token(
        http,
        url,
        {"grant_type": "password", "client_id": OAUTH_CLIENT_ID, "client_secret": "x"},
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await _token(
        http,
        url,
        {
            "grant_type": "password",
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
        },
    )
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    async with http.post(f"{url}{OAUTH_TOKEN}", json=form) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"
    # No secret is recorded.
    assert all(
        r.get("client_secret") in (None, "<given>") and r.get("code") in (None, "<given>")
        for r in sim.token_requests
    )


async def test_refresh_rotates(http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator) -> None:
    """A refresh token works once and comes back new; another client cannot use it."""
    first = await _grant(http, url)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": OAUTH_CLIENT_SECRET,
    }
    sim.add_oauth_client("other-app", "other-secret")
    status, body = await _token(
        http, url, {**form, "client_id": "other-app", "client_secret": "other-secret"}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, second = await _token(http, url, form)
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert not sim.refresh_token_valid(first["refresh_token"])
    status, body = await _token(http, url, form)
    assert (status, body["error"]) == (400, "invalid_grant")
    sim.revoke_grants()
    assert not sim.refresh_token_valid(second["refresh_token"])
    assert not sim.access_token_valid(second["access_token"])


async def test_api_with_bearer(http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator) -> None:
    """Bearer alone works; with XSRF-TOKEN too, or expired, the API answers 305 (or 401);
    control interfaces need the control scope."""
    token = (await _grant(http, url))["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    probe = "/rest/openapi/pvms/nbi/v1/control/battery/configuration/task-info"

    async def call(path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = {"taskId": "x"} if path == probe else {"pageNo": 1, "pageSize": 100}
        async with http.post(f"{url}{path}", json=body, headers=headers) as r:
            return r.status, await r.json()

    _status, body = await call("/thirdData/stations", bearer)
    assert body["failCode"] == 0
    _status, body = await call(probe, bearer)
    assert body["failCode"] == 20620  # no such task: the interface is open
    _status, body = await call("/thirdData/stations", {**bearer, "XSRF-TOKEN": "x-1"})
    assert body == {
        "success": False,
        "failCode": 305,
        "immediately": True,
        "message": "USER_MUST_RELOGIN",
        "data": None,
    }
    _status, body = await call("/thirdData/stations", {**bearer, "Cookie": "XSRF-TOKEN=x-1"})
    assert body["failCode"] == 305
    assert sim.auth_seen["both"] == 2

    sim.oauth_scopes = frozenset({SCOPE_BASIC})
    basic = (await _grant(http, url))["access_token"]
    _status, body = await call(probe, {"Authorization": f"Bearer {basic}"})
    assert body["failCode"] == 401

    sim.expire_access_tokens()
    _status, body = await call("/thirdData/stations", bearer)
    assert body["failCode"] == 305
    sim.bearer_refusal = "http_401"
    status, body = await call("/thirdData/stations", bearer)
    assert (status, body) == (401, {"error": "invalid_token"})


async def test_token_endpoint_faults(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator
) -> None:
    """Injected token endpoint failures: 429 in OAuth form, others as the proxy's page."""
    sim.fail_token_requests(429)
    sim.fail_token_requests(502)
    status, body = await _token(http, url, {})
    assert (status, body["error"]) == (429, "temporarily_unavailable")
    async with http.post(f"{url}{OAUTH_TOKEN}", data={}) as response:
        assert response.status == 502
        assert "<html>" in await response.text()


# -- the Bearer client ------------------------------------------------------------------------


class Tokens:
    """A token provider over the simulated OAuth server, counting what the client asks."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: dict[str, Any]) -> None:
        self.http, self.url, self.token = http, url, token
        self.provided = 0
        self.refreshed: list[str] = []

    async def provide(self) -> str:
        self.provided += 1
        return str(self.token["access_token"])

    async def refresh(self, refused: str) -> str:
        self.refreshed.append(refused)
        status, body = await _token(
            self.http,
            self.url,
            {
                "grant_type": "refresh_token",
                "refresh_token": self.token["refresh_token"],
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": OAUTH_CLIENT_SECRET,
            },
        )
        if status != 200:
            raise AuthError("refresh refused", code=body["error"])
        self.token = body
        return str(body["access_token"])


def _bearer(
    session: aiohttp.ClientSession, url: str, clock: FakeClock, tokens: Tokens, **kw: Any
) -> HuaweiClient:
    return HuaweiClient.bearer(
        session,
        url,
        tokens.provide,
        account="oauth-ne=33000000",
        token_refresh=kw.pop("token_refresh", tokens.refresh),
        quota=Quota(clock=clock, sleep=clock.sleep),
        clock=clock,
        **kw,
    )


async def test_bearer_client_reads_without_logging_in(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """Plants, devices and data by Bearer; no login; the daily OAuth budget counts."""
    tokens = Tokens(http, url, await _grant(http, url))
    client = _bearer(http, url, clock, tokens)
    assert client.oauth
    assert client.account_id == "huawei_fusionsolar:127.0.0.1:oauth-ne=33000000"
    await client.async_login()
    plants = await client.async_get_plants()
    assert [p.id for p in plants] == sim.plant_codes(USERNAME)
    devices = await client.async_get_devices(plants)
    plan = client.plan(plants, devices)
    realtime = await client.async_get_realtime(plants, devices)
    assert realtime
    assert sim.calls["login"] == 0
    assert sim.auth_seen == {"bearer": 6}  # plants, devices, plant KPIs, 3 device types
    assert client.quota.remaining(E_OAUTH_DAY) == OAUTH_DAILY_CALLS - 6
    assert client.diagnostics()["auth_mode"] == "oauth"
    # Four calls a round (plant KPIs, three device types): the period grows past 5 minutes.
    assert plan.realtime > REALTIME_PERIOD
    rounds = 86_400 / plan.realtime
    assert rounds * 4 + 48 <= OAUTH_DAILY_CALLS


async def test_bearer_client_refreshes_once_then_gives_up(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A refused access token: one refresh and one retry; refused again: AuthError."""
    tokens = Tokens(http, url, await _grant(http, url))
    client = _bearer(http, url, clock, tokens)
    first = tokens.token["access_token"]
    sim.expire_access_tokens()
    await client.async_get_plants()
    assert tokens.refreshed == [first]
    sim.inject("fail_code:305", path="stations", count=2)
    with pytest.raises(AuthError) as err:
        await client.async_get_plants()
    assert err.value.code == "305"
    assert len(tokens.refreshed) == 2
    assert client.errors["token_refused"] == 2
    # A revoked grant: the refresh itself fails.
    sim.revoke_grants()
    with pytest.raises(AuthError, match="refresh refused"):
        await client.async_get_plants()


async def test_bearer_client_without_refresh_hook(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """Without a refresh hook the provider is asked again."""
    tokens = Tokens(http, url, await _grant(http, url))
    client = _bearer(http, url, clock, tokens, token_refresh=None)
    sim.bearer_refusal = "http_401"
    sim.expire_access_tokens()
    with pytest.raises(AuthError) as err:
        await client.async_get_plants()
    assert err.value.code == "401"
    assert tokens.provided == 2


async def test_bearer_client_never_sends_an_xsrf_cookie(
    url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A session whose jar holds an account-mode client's XSRF-TOKEN cookie for the same host
    (a shared session): the Bearer client removes it before its calls."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        account = HuaweiClient(
            session, url, USERNAME, SYSTEM_CODE, quota=Quota(clock=clock), clock=clock
        )
        await account.async_login()
        assert "XSRF-TOKEN" in jar.filter_cookies(URL(url))
        tokens = Tokens(session, url, await _grant(session, url))
        client = _bearer(session, url, clock, tokens)
        plants = await client.async_get_plants()
        assert plants
        assert sim.auth_seen["both"] == 0
        assert sim.auth_seen["bearer"] == 1
        assert "XSRF-TOKEN" not in jar.filter_cookies(URL(url))
        # The account-mode client keeps working with its header.
        assert await account.async_get_plants() == plants


async def test_control_permission_follows_the_scope(
    http: aiohttp.ClientSession, url: str, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """With the control scope the check finds the interfaces open; without, refused."""
    for scopes, expected in (
        (frozenset({SCOPE_BASIC, SCOPE_CONTROL}), True),
        (frozenset({SCOPE_BASIC}), False),
    ):
        sim.oauth_scopes = scopes
        tokens = Tokens(http, url, await _grant(http, url))
        client = _bearer(http, url, clock, tokens)
        plants = await client.async_get_plants()
        devices = await client.async_get_devices(plants)
        assert client.control_permission is None
        specs, reasons = await client.async_get_controls(plants[0], devices)
        assert client.control_permission is expected
        assert bool(specs) is expected
        if not expected:
            assert any("401" in r for r in reasons.values())
        assert any(d.kind is DeviceKind.BATTERY for d in devices if isinstance(d, Device))
        clock.now += 61  # the status interface's one-minute window
