"""FusionSolar OAuth Connect: the authorization-code flow and the tokens of an entry.

Home Assistant's OAuth helper sends a signed JWT as the ``state`` of the authorization request
and receives the answer at ``/auth/external/callback``. FusionSolar refuses a ``state`` that long,
so this integration brings its own pieces, built on the helper's public classes:

* ``FusionSolarImplementation`` (an application-credentials implementation) sends a short random
  ``state``: 22 URL-safe characters, kept in ``hass.data`` with the flow id and the redirect URI,
  used once, forgotten after ``STATE_TTL``. Its redirect URI is our own callback
  (``OAUTH_CALLBACK_PATH``) on the address the user's browser opened Home Assistant with.
* ``OAuthCallbackView`` takes the browser back from FusionSolar, swaps the short ``state`` for
  the flow it belongs to and resumes that flow with the same user input Home Assistant's own
  callback would pass (``code`` or ``error``, and ``state`` holding ``flow_id`` and
  ``redirect_uri``), so the helper's flow handler does the rest: token exchange, timeouts,
  refusals.
* ``EntryTokens`` hands valid access tokens to the API client through ``OAuth2Session`` (which
  refreshes them and stores the rotated refresh token in the entry) and maps token-endpoint
  refusals onto the client's error classes.

Tokens, codes, refresh tokens and the client secret are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import aiohttp
from aiohttp import web
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers import http
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    HEADER_FRONTEND_BASE,
    ImplementationUnavailableError,
    OAuth2Session,
    async_get_config_entry_implementation,
)
from homeassistant.helpers.network import get_url
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from . import const
from .api.errors import AuthError, RateLimitedError, TransientError
from .const import CONF_TOKEN, OAUTH_CALLBACK_PATH, OAUTH_SCOPES, SCOPE_CONTROL

_LOGGER = logging.getLogger(__name__)

# How long a state waits for the browser to come back (signing in at FusionSolar included).
STATE_TTL = 20 * 60.0
STATE_BYTES = 16  # 22 URL-safe characters

_STATES: HassKey[OAuthStates] = HassKey(f"{const.DOMAIN}_oauth_states")
_SESSION: HassKey[aiohttp.ClientSession] = HassKey(f"{const.DOMAIN}_oauth_clientsession")


def authorization_server() -> AuthorizationServer:
    """FusionSolar's authorize and token endpoints (``const.OAUTH_BASE_URL``, read each time)."""
    base = const.OAUTH_BASE_URL.rstrip("/")
    return AuthorizationServer(
        authorize_url=f"{base}{const.OAUTH_AUTHORIZE_PATH}",
        token_url=f"{base}{const.OAUTH_TOKEN_PATH}",
    )


@dataclass
class _PendingState:
    flow_id: str
    redirect_uri: str
    expires: float


@dataclass
class OAuthStates:
    """The short states handed out and not used yet, and whether the callback is served."""

    pending: dict[str, _PendingState] = field(default_factory=dict)
    view_registered: bool = False

    def issue(self, flow_id: str, redirect_uri: str) -> str:
        """A new single-use state for the flow."""
        now = time.time()
        self.pending = {k: v for k, v in self.pending.items() if v.expires > now}
        state = secrets.token_urlsafe(STATE_BYTES)
        self.pending[state] = _PendingState(flow_id, redirect_uri, now + STATE_TTL)
        return state

    def take(self, state: str) -> _PendingState | None:
        """The flow a state belongs to; None when unknown, used or expired."""
        pending = self.pending.pop(state, None)
        if pending is None or pending.expires <= time.time():
            return None
        return pending


@callback
def oauth_states(hass: HomeAssistant) -> OAuthStates:
    """The states of this Home Assistant instance."""
    if (states := hass.data.get(_STATES)) is None:
        states = hass.data[_STATES] = OAuthStates()
    return states


@callback
def async_register_callback_view(hass: HomeAssistant) -> None:
    """Serve the OAuth callback (once; Home Assistant's router accepts routes at run time)."""
    states = oauth_states(hass)
    if not states.view_registered:
        hass.http.register_view(OAuthCallbackView())
        states.view_registered = True


@callback
def async_redirect_uri(hass: HomeAssistant) -> str:
    """Our callback on the address the user's browser reached Home Assistant at.

    That is the frontend's own base URL (the header Home Assistant's frontend sends, which its
    OAuth helper uses too), else the configured URL that matches the current request. Raises
    NoURLAvailableError when neither is known (the flow then aborts with ``no_url_available``).
    """
    request = http.current_request.get()
    if request is not None and (base := request.headers.get(HEADER_FRONTEND_BASE)):
        return f"{base.rstrip('/')}{OAUTH_CALLBACK_PATH}"
    return f"{get_url(hass, require_current_request=True)}{OAUTH_CALLBACK_PATH}"


class FusionSolarImplementation(AuthImplementation):
    """Application credentials for FusionSolar: short state, our callback, both scopes."""

    def __init__(self, hass: HomeAssistant, auth_domain: str, credential: ClientCredential) -> None:
        """Use the FusionSolar OAuth server."""
        super().__init__(hass, auth_domain, credential, authorization_server())

    @property
    def redirect_uri(self) -> str:
        """Our own callback, not Home Assistant's (which expects its long JWT state)."""
        return async_redirect_uri(self.hass)

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        """Ask for monitoring and control; the owner may grant less."""
        return {"scope": " ".join(OAUTH_SCOPES)}

    async def async_generate_authorize_url(self, flow_id: str) -> str:
        """The authorize URL with a short single-use state mapped to the flow."""
        redirect_uri = self.redirect_uri
        async_register_callback_view(self.hass)
        state = oauth_states(self.hass).issue(flow_id, redirect_uri)
        return str(
            URL(self.authorize_url)
            .with_query(
                {
                    "response_type": "code",
                    "client_id": self.client_id,
                    "redirect_uri": redirect_uri,
                    "state": state,
                }
            )
            .update_query(self.extra_authorize_data)
        )


class OAuthCallbackView(http.HomeAssistantView):
    """Where FusionSolar sends the browser back after the owner signed in."""

    requires_auth = False
    url = OAUTH_CALLBACK_PATH
    name = f"api:{const.DOMAIN}:oauth:callback"

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow the state belongs to with the code (or the refusal)."""
        hass = request.app[http.KEY_HASS]
        if "state" not in request.query:
            return web.Response(text="Missing state parameter", status=HTTPStatus.BAD_REQUEST)
        pending = oauth_states(hass).take(request.query["state"])
        if pending is None:
            return web.Response(
                text="Unknown or expired state: start adding the account again.",
                status=HTTPStatus.BAD_REQUEST,
            )
        user_input: dict[str, Any] = {
            "state": {"flow_id": pending.flow_id, "redirect_uri": pending.redirect_uri}
        }
        if "code" in request.query:
            user_input["code"] = request.query["code"]
        elif "error" in request.query:
            user_input["error"] = request.query["error"]
        else:
            return web.Response(
                text="Missing code or error parameter", status=HTTPStatus.BAD_REQUEST
            )
        try:
            await hass.config_entries.flow.async_configure(
                flow_id=pending.flow_id, user_input=user_input
            )
        except UnknownFlow:
            return web.Response(
                text="The configuration flow is gone: start adding the account again.",
                status=HTTPStatus.BAD_REQUEST,
            )
        return web.Response(
            headers={"content-type": "text/html"}, text="<script>window.close()</script>"
        )


@callback
def oauth_clientsession(hass: HomeAssistant) -> aiohttp.ClientSession:
    """A client session that keeps no cookies, shared by the OAuth Connect entries.

    Home Assistant's shared session keeps cookies, among them the ``XSRF-TOKEN`` cookie that an
    account-mode entry's login sets for the same FusionSolar host; sent along with a Bearer
    token it makes the cloud answer 305.
    """
    if (session := hass.data.get(_SESSION)) is None:
        session = async_create_clientsession(
            hass, auto_cleanup=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        hass.data[_SESSION] = session

        @callback
        def _detach(_event: Event) -> None:
            session.detach()

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _detach)
    return session


def token_scopes(data: Mapping[str, Any]) -> set[str]:
    """The scopes the owner granted, from an entry's token."""
    token = data.get(CONF_TOKEN) or {}
    return set(str(token.get("scope") or "").replace(",", " ").split())


def has_control_scope(data: Mapping[str, Any]) -> bool:
    """Whether the owner granted the control scope."""
    return SCOPE_CONTROL in token_scopes(data)


def static_token(token: Mapping[str, Any]) -> Callable[[], Awaitable[str]]:
    """A token provider for a token just obtained (the connection test of a config flow)."""

    async def provide() -> str:
        return cast(str, token["access_token"])

    return provide


class EntryTokens:
    """Valid access tokens of an OAuth Connect entry, for ``HuaweiClient.bearer``."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Tokens of ``entry``; the implementation is looked up on first use."""
        self.hass = hass
        self.entry = entry
        self._session: OAuth2Session | None = None
        self._lock = asyncio.Lock()

    async def _oauth(self) -> OAuth2Session:
        if self._session is None:
            try:
                implementation = await async_get_config_entry_implementation(self.hass, self.entry)
            except ImplementationUnavailableError as err:
                raise TransientError(
                    "the OAuth implementation is not available", code="oauth_unavailable"
                ) from err
            except ValueError as err:
                # The application credentials were deleted.
                raise AuthError(
                    "no application credentials for this entry", code="oauth_credentials"
                ) from err
            self._session = OAuth2Session(self.hass, self.entry, implementation)
        return self._session

    async def access_token(self) -> str:
        """A valid access token, refreshed (and the rotated refresh token stored) if needed."""
        session = await self._oauth()
        try:
            await session.async_ensure_token_valid()
        except aiohttp.ClientResponseError as err:
            if err.status in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED):
                # invalid_grant (revoked or spent refresh token) or invalid_client.
                raise AuthError(
                    f"the OAuth server refused the refresh (HTTP {err.status})",
                    code=f"oauth_{err.status}",
                ) from err
            if err.status == HTTPStatus.TOO_MANY_REQUESTS:
                raise RateLimitedError(
                    "the OAuth server refused the refresh (HTTP 429)",
                    retry_after=60.0,
                    code="oauth_429",
                ) from err
            raise TransientError(
                f"the OAuth server failed (HTTP {err.status})", code=f"oauth_{err.status}"
            ) from err
        except (TimeoutError, aiohttp.ClientError) as err:
            raise TransientError(
                f"the OAuth server could not be reached ({type(err).__name__})",
                code="oauth_network",
            ) from err
        return cast(str, session.token["access_token"])

    async def refresh(self, refused: str) -> str:
        """A new access token after the cloud refused ``refused``, though it had not expired.

        Only one refresh runs; a caller whose token another caller replaced meanwhile gets the
        new one. The stored token is marked expired so that ``OAuth2Session`` refreshes it
        under its own lock (the refresh token rotates: two refreshes with it would fail).
        """
        async with self._lock:
            session = await self._oauth()
            token = session.token
            if token.get("access_token") == refused:
                self.hass.config_entries.async_update_entry(
                    self.entry, data={**self.entry.data, CONF_TOKEN: {**token, "expires_at": 0}}
                )
            return await self.access_token()
