"""FusionSolar OAuth Connect through Home Assistant, against the simulated OAuth server and API.

The browser's part is played by hand: the test opens the authorize URL the flow returns at the
simulator (which signs in as ``oauth_user`` and redirects), then calls our callback view with
the address the simulator redirected to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    start_reauth_flow,
)
from yarl import URL

from custom_components.solar_cloud import const
from custom_components.solar_cloud.api.huawei import SERVERS as HUAWEI_SERVERS
from custom_components.solar_cloud.const import (
    AUTH_MODE_OAUTH,
    CHOICE_HUAWEI_OAUTH,
    CONF_ACCOUNT,
    CONF_AUTH_MODE,
    CONF_EXCLUDED_PLANTS,
    CONF_PLANTS,
    CONF_SERVER,
    CONF_VENDOR,
    DOMAIN,
    OAUTH_CALLBACK_PATH,
    OAUTH_HELP_URL,
    VENDOR_HUAWEI,
)
from tests.common import entity_id, state, tick
from tests.conftest import USERNAME, make_entry
from tests.simulators.huawei import (
    CODE_TTL,
    OAUTH_AUTHORIZE,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    SCOPE_BASIC,
    SCOPE_CONTROL,
    HuaweiSimulator,
)

pytestmark = pytest.mark.usefixtures("current_request_with_host")

REDIRECT_URI = f"https://example.com{OAUTH_CALLBACK_PATH}"
# The poll period of an OAuth account with one plant (see HuaweiClient.plan), and a bit.
OAUTH_POLL = timedelta(minutes=9)
type ClientFactory = Callable[[], Awaitable[TestClient]]


@pytest.fixture
def client_secret() -> str:
    """The client secret entered in the application credentials; tests override it."""
    return OAUTH_CLIENT_SECRET


@pytest.fixture
async def credentials(
    hass: HomeAssistant,
    server_url: str,
    client_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The OAuth server is the simulator; the app's credentials are imported."""
    monkeypatch.setattr(const, "OAUTH_BASE_URL", server_url)
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(OAUTH_CLIENT_ID, client_secret, "FusionSolar app")
    )


@pytest.fixture
async def browser(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """The user's browser, talking to the OAuth server."""
    async with aiohttp.ClientSession() as session:
        yield session


async def _choose_oauth(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: CHOICE_HUAWEI_OAUTH}
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    return result


async def _sign_in(browser: aiohttp.ClientSession, authorize_url: str) -> URL:
    """Open the authorize URL; returns where the OAuth server sends the browser back."""
    async with browser.get(authorize_url, allow_redirects=False) as response:
        assert response.status == 302
        location = URL(response.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT_URI
    return location


async def _come_back(hass_client_no_auth: ClientFactory, location: URL) -> aiohttp.ClientResponse:
    """The browser arrives at our callback."""
    client = await hass_client_no_auth()
    return await client.get(str(location.relative()))


async def _authorize(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    result: dict[str, Any],
) -> dict[str, Any]:
    """Sign in at the OAuth server and come back; returns the flow's next result."""
    location = await _sign_in(browser, result["url"])
    response = await _come_back(hass_client_no_auth, location)
    assert response.status == 200
    assert "window.close()" in await response.text()
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def _add_account(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
) -> MockConfigEntry:
    """Add the simulated account through OAuth Connect, every plant selected; set it up."""
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    assert result["step_id"] == "oauth_server"
    # The example in the server field's description (URLs stay out of translations).
    assert result["description_placeholders"] == {"default_server": next(iter(HUAWEI_SERVERS))}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: server_url}
    )
    assert result["step_id"] == "plants"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PLANTS: [o["value"] for o in _plant_options(result)]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED, entry.reason
    return entry


async def _start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )


def _plant_options(result: dict[str, Any]) -> list[dict[str, str]]:
    selector = result["data_schema"].schema[CONF_PLANTS]
    return list(selector.config["options"])


# -- the flow ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("sim_options", [{"plants": 2}])
async def test_full_flow_creates_a_bearer_entry(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
) -> None:
    """OAuth Connect end to end: short state, token, server, plants, then monitoring by Bearer."""
    result = await _choose_oauth(hass)
    authorize = URL(result["url"])
    assert authorize.path == OAUTH_AUTHORIZE
    assert authorize.query["client_id"] == OAUTH_CLIENT_ID
    assert authorize.query["redirect_uri"] == REDIRECT_URI
    assert authorize.query["scope"].split() == [SCOPE_BASIC, SCOPE_CONTROL]
    state_value = authorize.query["state"]
    assert 16 <= len(state_value) <= 22
    assert state_value.replace("-", "").replace("_", "").isalnum()

    result = await _authorize(hass, browser, hass_client_no_auth, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "oauth_server"
    assert huawei_sim.states_seen == [state_value]
    exchange = huawei_sim.token_requests[-1]
    assert exchange == {
        "grant_type": "authorization_code",
        "code": "<given>",
        "redirect_uri": REDIRECT_URI,
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": "<given>",
    }

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: f"{server_url}/"}
    )
    assert result["step_id"] == "plants"
    codes = sorted(huawei_sim.plant_codes(USERNAME))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PLANTS: codes[:1]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    data = dict(entry.data)
    token = data.pop("token")
    assert data == {
        CONF_VENDOR: VENDOR_HUAWEI,
        CONF_SERVER: server_url,
        CONF_AUTH_MODE: AUTH_MODE_OAUTH,
        "auth_implementation": DOMAIN,
        CONF_ACCOUNT: f"oauth-{codes[0].lower()}",
    }
    assert huawei_sim.access_token_valid(token["access_token"])
    assert huawei_sim.refresh_token_valid(token["refresh_token"])
    assert set(token["scope"].split()) == {SCOPE_BASIC, SCOPE_CONTROL}
    assert token["expires_in"] == 3600
    assert entry.unique_id == f"{VENDOR_HUAWEI}:127.0.0.1:oauth-{codes[0].lower()}"
    assert entry.title.startswith("FusionSolar OAuth ")
    assert entry.options == {CONF_PLANTS: codes[:1], CONF_EXCLUDED_PLANTS: codes[1:]}

    # Monitoring works, with the Bearer token alone: no login, no XSRF-TOKEN.
    assert entry.state is ConfigEntryState.LOADED
    assert float(state(hass, f":{codes[0]}:plant:pv_power").state) >= 0
    assert hass.states.get(entity_id(hass, f":{codes[0]}:plant:energy_today")) is not None
    assert huawei_sim.calls["login"] == 0
    assert huawei_sim.calls["logout"] == 0
    assert huawei_sim.auth_seen["bearer"] >= 3
    assert huawei_sim.auth_seen["xsrf"] == 0
    assert huawei_sim.auth_seen["both"] == 0
    assert huawei_sim.auth_seen["none"] == 0
    diagnostics = entry.runtime_data.client.diagnostics()
    assert diagnostics["auth_mode"] == "oauth"
    # The OAuth budget (900 calls a day) stretches the poll period: four calls a round
    # (plant KPIs and three device types) every 493 s, plus alarms, lists and reserve.
    assert entry.runtime_data.account.period == 493
    # The connection test's plant list serves the set-up: no second list call.
    assert huawei_sim.calls["stations"] == 1


@pytest.mark.usefixtures("credentials")
async def test_state_is_single_use_and_expires(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A state works once; unknown, used, expired and incomplete callbacks are refused."""
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client_no_auth()
    response = await client.get(OAUTH_CALLBACK_PATH, params={"code": "x"})
    assert response.status == 400
    assert "Missing state" in await response.text()
    response = await client.get(OAUTH_CALLBACK_PATH, params={"state": "made-up", "code": "x"})
    assert response.status == 400
    assert "Unknown or expired state" in await response.text()

    # Used once, then unknown.
    result = await _choose_oauth(hass)
    location = await _sign_in(browser, result["url"])
    response = await client.get(str(location.relative()))
    assert response.status == 200
    response = await client.get(str(location.relative()))
    assert response.status == 400
    hass.config_entries.flow.async_abort(result["flow_id"])

    # Neither code nor error: refused (and the state is spent).
    result = await _choose_oauth(hass)
    state_value = URL(result["url"]).query["state"]
    response = await client.get(OAUTH_CALLBACK_PATH, params={"state": state_value})
    assert response.status == 400
    assert "Missing code or error" in await response.text()
    hass.config_entries.flow.async_abort(result["flow_id"])

    # The flow is gone by the time the browser comes back.
    result = await _choose_oauth(hass)
    location = await _sign_in(browser, result["url"])
    hass.config_entries.flow.async_abort(result["flow_id"])
    response = await client.get(str(location.relative()))
    assert response.status == 400
    assert "flow is gone" in await response.text()

    # Expired after 20 minutes.
    result = await _choose_oauth(hass)
    location = await _sign_in(browser, result["url"])
    freezer.tick(timedelta(minutes=21))
    response = await client.get(str(location.relative()))
    assert response.status == 400
    assert "Unknown or expired state" in await response.text()
    assert hass.config_entries.flow.async_get(result["flow_id"])["step_id"] == "auth"


@pytest.mark.usefixtures("credentials")
async def test_owner_refuses(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    huawei_sim: HuaweiSimulator,
) -> None:
    """The owner says no at FusionSolar: the flow aborts and names the reason."""
    huawei_sim.deny_next_authorization()
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "user_rejected_authorize"
    assert result["description_placeholders"] == {"error": "access_denied"}


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("client_secret", ["wrong-secret"])
async def test_invalid_client_aborts(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    huawei_sim: HuaweiSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong client secret: the token endpoint answers invalid_client (401); abort."""
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_unauthorized"
    assert "invalid_client" in caplog.text
    assert "wrong-secret" not in caplog.text


@pytest.mark.usefixtures("credentials")
async def test_expired_code_aborts(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The browser comes back after the code expired: invalid_grant (400); abort."""
    result = await _choose_oauth(hass)
    location = await _sign_in(browser, result["url"])
    freezer.tick(timedelta(seconds=CODE_TTL + 1))
    response = await _come_back(hass_client_no_auth, location)
    assert response.status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_failed"


async def test_no_credentials_aborts(
    hass: HomeAssistant, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without application credentials the flow asks for them."""
    monkeypatch.setattr(const, "OAUTH_BASE_URL", server_url)
    assert await async_setup_component(hass, "application_credentials", {})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: CHOICE_HUAWEI_OAUTH}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


@pytest.mark.usefixtures("credentials")
async def test_server_step_errors_then_recovery(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    unused_tcp_port: int,
) -> None:
    """Bad URL, unreachable server, a cloud that refuses the token, then the right server."""
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SERVER: "ftp://x"})
    assert result["errors"] == {CONF_SERVER: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SERVER: f"http://127.0.0.1:{unused_tcp_port}"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    # The cloud refuses the access token (twice: once more after asking for a new one).
    huawei_sim.inject("fail_code:305", path="stations", count=2)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SERVER: server_url})
    assert result["errors"] == {"base": "oauth_rejected"}
    assert huawei_sim.auth_seen["bearer"] == 0  # the faults answered before the token check

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SERVER: server_url})
    assert result["step_id"] == "plants"


@pytest.mark.usefixtures("credentials")
async def test_owner_without_plants(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
) -> None:
    """An owner whose grant sees no plant cannot be added."""
    huawei_sim.add_account("empty", "empty-code", plants=0)
    huawei_sim.oauth_user = "empty"
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: server_url}
    )
    assert result["errors"] == {"base": "no_plants"}


@pytest.mark.usefixtures("credentials")
async def test_same_account_twice_aborts(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
) -> None:
    """The grant's account is already an entry."""
    await _add_account(hass, browser, hass_client_no_auth, server_url)
    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: server_url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("sim_options", [{"plants": 2}])
async def test_plants_of_another_entry_left_out(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
) -> None:
    """A plant that an API-account entry already polls is not offered by default and cannot
    be chosen: the same plant polled twice spends its allowance twice."""
    codes = sorted(huawei_sim.plant_codes(USERNAME))
    account_entry = make_entry(server_url, codes[:1])
    account_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(account_entry.entry_id)
    await hass.async_block_till_done()
    # Another cloud's entry on another host does not count.
    other = make_entry("http://other.example.com", codes)
    other.add_to_hass(hass)
    # Nor one of another vendor on the same host.
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="saj:127.0.0.1:app",
        data={CONF_VENDOR: "saj", CONF_SERVER: server_url},
        options={CONF_PLANTS: codes},
    ).add_to_hass(hass)

    result = await _choose_oauth(hass)
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: server_url}
    )
    assert result["step_id"] == "plants"
    assert codes[0] in result["description_placeholders"]["elsewhere"]
    assert account_entry.title in result["description_placeholders"]["elsewhere"]
    assert codes[1] not in result["description_placeholders"]["elsewhere"]
    schema = result["data_schema"].schema
    default = next(key.default() for key in schema if key == CONF_PLANTS)
    assert default == [codes[1]]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_PLANTS: codes})
    assert result["errors"] == {"base": "plants_in_other_entry"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PLANTS: [codes[1]]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options[CONF_PLANTS] == [codes[1]]


# -- reauth and reconfigure -------------------------------------------------------------------


@pytest.mark.usefixtures("credentials")
async def test_reauth_same_account(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
) -> None:
    """Reauth runs the OAuth flow again and stores the new token for the same account."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    old = dict(entry.data["token"])
    result = await start_reauth_flow(hass, entry)
    assert result["step_id"] == "reauth_oauth"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["token"]["access_token"] != old["access_token"]
    assert huawei_sim.access_token_valid(entry.data["token"]["access_token"])
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("credentials")
async def test_reauth_other_account_aborts(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
) -> None:
    """Signing in as another owner during reauth changes nothing."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    token = dict(entry.data["token"])
    huawei_sim.add_account("neighbour", "n-code", plants=1)
    huawei_sim.oauth_user = "neighbour"
    result = await start_reauth_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await _authorize(hass, browser, hass_client_no_auth, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data["token"] == token


@pytest.mark.usefixtures("credentials")
async def test_reconfigure_moves_the_server(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    aiohttp_server: Any,
) -> None:
    """Reconfigure changes only the server, tested with the entry's token; the ids stay."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    unique_id = entry.unique_id
    result = await _start_reconfigure(hass, entry)
    assert result["step_id"] == "reconfigure_oauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: "not a url"}
    )
    assert result["errors"] == {CONF_SERVER: "invalid_url"}

    other = await aiohttp_server(huawei_sim.make_app())
    other_url = str(other.make_url("")).rstrip("/")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: other_url}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_SERVER] == other_url
    assert entry.unique_id == unique_id
    assert entry.state is ConfigEntryState.LOADED

    # A server that shows the grant none of the entry's plants is not this account's.
    for code in huawei_sim.plant_codes(USERNAME):
        huawei_sim.remove_plant(code)
    huawei_sim.add_plant(username=USERNAME)
    result = await _start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERVER: server_url}
    )
    assert result["errors"] == {"base": "wrong_account"}
    assert entry.data[CONF_SERVER] == other_url
    assert entry.state is ConfigEntryState.LOADED


# -- tokens at run time -----------------------------------------------------------------------


@pytest.mark.usefixtures("credentials")
async def test_refresh_rotates_and_is_stored(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An expired access token is refreshed during a coordinator refresh; the new refresh
    token is in entry.data and the spent one no longer works."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    old = dict(entry.data["token"])
    for _ in range(7):  # an hour and a bit
        await tick(hass, freezer, OAUTH_POLL)
    new = entry.data["token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    assert not huawei_sim.refresh_token_valid(old["refresh_token"])
    assert huawei_sim.refresh_token_valid(new["refresh_token"])
    assert huawei_sim.access_token_valid(new["access_token"])
    assert [r["grant_type"] for r in huawei_sim.token_requests].count("refresh_token") == 1
    assert huawei_sim.token_requests[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": "<given>",
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": "<given>",
    }
    plant = huawei_sim.plant_codes(USERNAME)[0]
    assert state(hass, f":{plant}:plant:pv_power").state != "unavailable"
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("refusal", ["305", "http_401"])
async def test_refused_access_token_forces_one_refresh(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    refusal: str,
) -> None:
    """The cloud refuses an access token that has not expired yet: one refresh, one retry."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    old = dict(entry.data["token"])
    huawei_sim.bearer_refusal = refusal
    huawei_sim.expire_access_tokens()
    await tick(hass, freezer, OAUTH_POLL)
    assert entry.data["token"]["refresh_token"] != old["refresh_token"]
    assert entry.data["token"]["expires_at"] > old["expires_at"]
    plant = huawei_sim.plant_codes(USERNAME)[0]
    assert state(hass, f":{plant}:plant:pv_power").state != "unavailable"
    assert entry.runtime_data.client.errors["token_refused"] >= 1
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("credentials")
async def test_revoked_grant_starts_reauth(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The owner withdrew the grant: the refresh gets invalid_grant and reauth starts."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    token = dict(entry.data["token"])
    huawei_sim.revoke_grants()
    await tick(hass, freezer, OAUTH_POLL)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert flows[0]["step_id"] == "reauth_oauth"
    assert [r["grant_type"] for r in huawei_sim.token_requests][-1] == "refresh_token"
    # The refused refresh leaves the stored refresh token as it was.
    assert entry.data["token"]["refresh_token"] == token["refresh_token"]


@pytest.mark.usefixtures("credentials")
async def test_revoked_grant_at_start_up(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After a restart with an expired access token and a revoked grant: reauth, not retry."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    await hass.config_entries.async_unload(entry.entry_id)
    huawei_sim.revoke_grants()
    freezer.tick(timedelta(hours=2))
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


# -- control permission repairs ---------------------------------------------------------------


async def test_api_account_without_control_permission(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An API account the cloud refuses control: a repair issue pointing to OAuth Connect;
    gone once the permission appears, and with the entry."""
    huawei_sim.deny_control()
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "control_permission_account"
    assert issue.is_fixable is False
    assert issue.learn_more_url == OAUTH_HELP_URL

    # The installer grants control; the next check (a day later) finds it open.
    huawei_sim.deny_control(False)
    freezer.tick(timedelta(days=1, minutes=1))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}") is None

    huawei_sim.deny_control()
    freezer.tick(timedelta(days=1, minutes=1))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}")
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}") is None


@pytest.mark.usefixtures("credentials")
async def test_oauth_without_control_scope(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The owner granted monitoring only: no controls, and a repair issue that says why."""
    huawei_sim.oauth_scopes = frozenset({SCOPE_BASIC})
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    assert entry.data["token"]["scope"] == SCOPE_BASIC
    issue = issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "control_permission_scope"
    assert not any(c.specs for c in entry.runtime_data.controls.values())


@pytest.mark.usefixtures("credentials")
async def test_oauth_with_control_scope_gets_controls(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """With the control scope the controls appear; a refusal despite the scope has its text."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    assert any(c.specs for c in entry.runtime_data.controls.values())
    assert issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}") is None
    assert huawei_sim.auth_seen["both"] == 0

    huawei_sim.deny_control(code=401)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    # The removed entry's calls still count in the cloud's five-minute windows.
    huawei_sim.reset_flow_control()
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    issue = issue_registry.async_get_issue(DOMAIN, f"control_permission_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "control_permission_oauth"


@pytest.mark.usefixtures("credentials")
async def test_diagnostics_hide_the_tokens(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
) -> None:
    """No token, refresh token or plant code of the account name leaks into diagnostics."""
    from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics

    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    text = str(await async_get_config_entry_diagnostics(hass, entry))
    for secret in (
        entry.data["token"]["access_token"],
        entry.data["token"]["refresh_token"],
        OAUTH_CLIENT_SECRET,
    ):
        assert secret not in text
    assert "'token': '**REDACTED**'" in text


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(("status", "message"), [(503, "HTTP 503"), (429, "about 60 seconds")])
async def test_token_server_trouble_keeps_the_grant(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    status: int,
    message: str,
) -> None:
    """A failing or busy OAuth server is no reason to reauthenticate: the data waits."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    token = dict(entry.data["token"])
    freezer.tick(timedelta(hours=1))
    huawei_sim.fail_token_requests(status)
    await tick(hass, freezer, OAUTH_POLL)
    coordinator = next(iter(entry.runtime_data.coordinators.values()))
    assert not coordinator.last_update_success
    assert message in str(coordinator.last_exception)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert entry.data["token"]["refresh_token"] == token["refresh_token"]
    # The next round refreshes.
    await tick(hass, freezer, OAUTH_POLL)
    assert coordinator.last_update_success
    assert entry.data["token"]["refresh_token"] != token["refresh_token"]


@pytest.mark.usefixtures("credentials")
async def test_unreachable_token_server_at_start_up(
    hass: HomeAssistant,
    browser: aiohttp.ClientSession,
    hass_client_no_auth: ClientFactory,
    server_url: str,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    unused_tcp_port: int,
) -> None:
    """The OAuth server cannot be reached when the token must be refreshed: retry later."""
    entry = await _add_account(hass, browser, hass_client_no_auth, server_url)
    await hass.config_entries.async_unload(entry.entry_id)
    monkeypatch.setattr(const, "OAUTH_BASE_URL", f"http://127.0.0.1:{unused_tcp_port}")
    freezer.tick(timedelta(hours=2))
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("credentials")
async def test_no_url_for_the_callback(hass: HomeAssistant, current_request: Any) -> None:
    """Without a browser request (and so no address) the flow aborts as Home Assistant's
    own OAuth flows do."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    current_request.get.return_value = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: CHOICE_HUAWEI_OAUTH}
    )
    # Without a request the helper does not pick the only implementation by itself.
    assert result["step_id"] == "pick_implementation"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": DOMAIN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_url_available"


@pytest.mark.usefixtures("credentials")
async def test_application_credentials_platform(hass: HomeAssistant, server_url: str) -> None:
    """The platform names the OAuth server and tells the user what to register."""
    from custom_components.solar_cloud import application_credentials as platform

    server = await platform.async_get_authorization_server(hass)
    assert server.authorize_url == f"{server_url}{OAUTH_AUTHORIZE}"
    assert server.token_url == f"{server_url}/rest/dp/uidm/oauth2/v1/token"
    placeholders = await platform.async_get_description_placeholders(hass)
    assert placeholders["callback_path"] == OAUTH_CALLBACK_PATH
    assert placeholders["scopes"] == f"{SCOPE_BASIC}, {SCOPE_CONTROL}"


def test_oauth_texts_exist() -> None:
    """Every step, error, abort and issue of OAuth Connect has its English text."""
    import json
    from pathlib import Path

    import custom_components.solar_cloud as package

    strings = json.loads(
        (Path(package.__file__).parent / "translations" / "en.json").read_text(encoding="utf-8")
    )
    config = strings["config"]
    assert {"oauth_server", "reauth_oauth", "reconfigure_oauth", "pick_implementation"} <= set(
        config["step"]
    )
    assert {"oauth_rejected", "wrong_account"} <= set(config["error"])
    assert {
        "missing_credentials",
        "oauth_unauthorized",
        "oauth_failed",
        "user_rejected_authorize",
        "no_url_available",
        "wrong_account",
        "oauth_rejected",
    } <= set(config["abort"])
    assert {
        "control_permission_account",
        "control_permission_scope",
        "control_permission_oauth",
    } <= set(strings["issues"])
    assert CHOICE_HUAWEI_OAUTH in strings["selector"]["vendor"]["options"]
    description = strings["application_credentials"]["description"]
    assert "{callback_path}" in description
    assert "{scopes}" in description
