"""Config flow: vendor, credentials with a connection test, plants; reauth, reconfigure, options.

FusionSolar can also be added through OAuth Connect: the user step's choice
``huawei_fusionsolar_oauth`` runs Home Assistant's OAuth flow (``AbstractOAuth2FlowHandler``,
with the application credentials and the short-state implementation of ``oauth.py``), then asks
for the regional server, lists the plants with the new token and goes on to the plants step like
every other vendor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.config_entry_oauth2_flow import AbstractOAuth2FlowHandler
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from . import create_client
from .api.account import AccountMemory
from .api.errors import AuthError, PermissionDeniedError, RateLimitedError, SolarCloudError
from .api.huawei import SERVERS as HUAWEI_SERVERS, account_id_for
from .api.models import Plant, VendorClient
from .api.quota import Session, wall_clock
from .api.saj import SERVERS as SAJ_SERVERS
from .api.shinemonitor import DOCUMENTED_COMPANY_KEY, SERVERS as SHINEMONITOR_SERVERS
from .api.sungrow import SERVERS as SUNGROW_SERVERS
from .const import (
    ACCOUNT_FIELDS,
    AUTH_MODE_OAUTH,
    CHOICE_HUAWEI_OAUTH,
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_APP_ID,
    CONF_APP_KEY,
    CONF_APP_SECRET,
    CONF_AUTH_MODE,
    CONF_COMPANY_KEY,
    CONF_EXCLUDED_PLANTS,
    CONF_HISTORY_DAYS,
    CONF_PLANTS,
    CONF_RSA_PUBLIC_KEY,
    CONF_SERVER,
    CONF_SYSTEM_CODE,
    CONF_VENDOR,
    DEFAULT_HISTORY_DAYS,
    DOMAIN,
    MAX_HISTORY_DAYS,
    USER_CHOICES,
    VENDOR_HUAWEI,
    VENDOR_NAMES,
    VENDOR_SAJ,
    VENDOR_SHINEMONITOR,
    VENDOR_SUNGROW,
    VENDORS,
    account_name,
    is_oauth,
)
from .coordinator import SolarCloudConfigEntry
from .memory import account_memory, move_memory
from .oauth import EntryTokens, static_token

_LOGGER = logging.getLogger(__name__)

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_TEXT = TextSelector()

_MULTILINE = TextSelector(TextSelectorConfig(multiline=True))

# Per vendor: the secret fields (asked again on reauth) and the known servers.
_SECRETS: dict[str, tuple[str, ...]] = {
    VENDOR_HUAWEI: (CONF_SYSTEM_CODE,),
    VENDOR_SUNGROW: (CONF_PASSWORD,),
    VENDOR_SAJ: (CONF_APP_SECRET,),
    VENDOR_SHINEMONITOR: (CONF_PASSWORD,),
}
_SERVERS: dict[str, dict[str, str]] = {
    VENDOR_HUAWEI: HUAWEI_SERVERS,
    VENDOR_SUNGROW: SUNGROW_SERVERS,
    VENDOR_SAJ: SAJ_SERVERS,
    VENDOR_SHINEMONITOR: SHINEMONITOR_SERVERS,
}
# Codes of a wrong app key or access key (as opposed to a wrong user or password).
_APP_CODES = frozenset({"E00000", "E911", "E912", "E914"})
# ShineMonitor: the cloud does not know the company key.
_COMPANY_KEY_CODES = frozenset({"15"})


def _server_selector(vendor: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=[
                SelectOptionDict(value=url, label=label) for url, label in _SERVERS[vendor].items()
            ],
            custom_value=True,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


def _default_server(vendor: str) -> str:
    """The vendor's first listed server: the form's default and its description's example."""
    return next(iter(_SERVERS[vendor]))


def _credentials_schema(vendor: str, defaults: Mapping[str, Any]) -> vol.Schema:
    first_server = _default_server(vendor)
    fields: dict[Any, Any] = {
        vol.Required(
            CONF_SERVER, default=defaults.get(CONF_SERVER, first_server)
        ): _server_selector(vendor),
    }
    if vendor == VENDOR_SUNGROW:
        fields[vol.Required(CONF_APP_KEY, default=defaults.get(CONF_APP_KEY, ""))] = _TEXT
        fields[vol.Required(CONF_ACCESS_KEY)] = _PASSWORD
        fields[vol.Required(CONF_USERNAME, default=defaults.get(CONF_USERNAME, ""))] = _TEXT
        fields[vol.Required(CONF_PASSWORD)] = _PASSWORD
        fields[
            vol.Optional(
                CONF_RSA_PUBLIC_KEY,
                description={"suggested_value": defaults.get(CONF_RSA_PUBLIC_KEY, "")},
            )
        ] = _MULTILINE
    elif vendor == VENDOR_SAJ:
        fields[vol.Required(CONF_APP_ID, default=defaults.get(CONF_APP_ID, ""))] = _TEXT
        fields[vol.Required(CONF_APP_SECRET)] = _PASSWORD
    elif vendor == VENDOR_SHINEMONITOR:
        fields[vol.Required(CONF_USERNAME, default=defaults.get(CONF_USERNAME, ""))] = _TEXT
        fields[vol.Required(CONF_PASSWORD)] = _PASSWORD
        fields[
            vol.Required(
                CONF_COMPANY_KEY, default=defaults.get(CONF_COMPANY_KEY, DOCUMENTED_COMPANY_KEY)
            )
        ] = _TEXT
    else:
        fields[vol.Required(CONF_USERNAME, default=defaults.get(CONF_USERNAME, ""))] = _TEXT
        fields[vol.Required(CONF_SYSTEM_CODE)] = _PASSWORD
    return vol.Schema(fields)


def _normalise_server(server: str) -> str | None:
    """The base URL without a trailing slash, or None if it is no http(s) URL."""
    server = server.strip().rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return server


def oauth_account(plants: list[Plant]) -> str:
    """The account name of an OAuth Connect grant (part of the entry's unique id).

    FusionSolar's OAuth server documents no user id (the token reply holds only the tokens,
    their lifetime, the scopes and the type), and the northbound API has no "who am I" call. A
    grant is the plant owner's, so the account is named after the owner's plant with the lowest
    plant code at the time the entry was added: plant codes never change, and the name stays in
    entry.data even if that plant leaves the account later (then reauth recognises the account
    by any plant it shares with the entry, see ``_same_oauth_account``).
    """
    return f"oauth-{min(p.id for p in plants).strip().lower()}"


def _same_oauth_account(entry: ConfigEntry, plants: list[Plant]) -> bool:
    """Whether a new grant's plants belong to the entry's account (shares a plant with it)."""
    known = {str(p) for p in entry.options.get(CONF_PLANTS, [])}
    known |= {str(p) for p in entry.options.get(CONF_EXCLUDED_PLANTS, [])}
    return oauth_account(plants) == entry.data[CONF_ACCOUNT] or bool(known & {p.id for p in plants})


async def _async_test(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    token_provider: Callable[[], Awaitable[str]] | None = None,
    same_account: Callable[[list[Plant]], bool] | None = None,
) -> tuple[VendorClient | None, list[Plant], dict[str, str]]:
    """Log in and list the plants; returns the client, the plants and form errors.

    The test always logs in (a stored session proves nothing about new credentials); once it
    succeeds, the account keeps that session so that setting up does not log in again.
    OAuth Connect: ``token_provider`` gives the access token; the account is known only once
    the plants are listed, so the test counts its calls apart and hands them over afterwards;
    ``same_account`` rejects another owner's plants (``wrong_account``) before anything is kept.
    """
    session = Session()
    errors: dict[str, str] = {}
    plants: list[Plant] = []
    oauth = is_oauth(data)
    scratch = AccountMemory() if oauth else None
    try:
        client = create_client(hass, data, session, token_provider=token_provider, memory=scratch)
    except ValueError:
        return None, plants, {CONF_RSA_PUBLIC_KEY: "invalid_rsa_key"}
    try:
        await client.async_login()
        plants = await client.async_get_plants()
    except AuthError as err:
        if err.code == "E902":
            errors["base"] = "encryption_required"
        elif err.code in _APP_CODES:
            errors["base"] = "invalid_app"
        elif data[CONF_VENDOR] == VENDOR_SHINEMONITOR and err.code in _COMPANY_KEY_CODES:
            errors["base"] = "invalid_company_key"
        elif oauth:
            errors["base"] = "oauth_rejected"
        else:
            errors["base"] = "invalid_auth"
    except PermissionDeniedError:
        errors["base"] = "permission"
    except RateLimitedError:
        errors["base"] = "rate_limited"
    except SolarCloudError as err:
        _LOGGER.debug("Connection test failed: %s", err)
        errors["base"] = "cannot_connect"
    except Exception:
        _LOGGER.exception("Unexpected error while testing the connection")
        errors["base"] = "unknown"
    else:
        if scratch is not None:
            if not plants:
                return None, plants, {"base": "no_plants"}
            if same_account is not None and not same_account(plants):
                return None, plants, {"base": "wrong_account"}
            # The entry's account name where there is one (reauth, reconfigure).
            memory = account_memory(hass, {CONF_ACCOUNT: oauth_account(plants), **data})
            memory.quota.restore(scratch.quota.export())
        else:
            if not plants:
                errors["base"] = "no_plants"
            memory = account_memory(hass, data)
        memory.session.token, memory.session.expires = session.token, session.expires
        memory.session.account, memory.session.secret = session.account, session.secret
        memory.session.refused = None
        # Setting up right after the test needs the same list: don't ask the cloud twice.
        memory.plants = {p.id: p for p in plants}
        memory.plants_due = wall_clock() + client.plan(plants, []).plants
    return (None if errors else client), plants, errors


def _plant_selector(plants: list[Plant]) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=[
                SelectOptionDict(value=p.id, label=f"{p.name} ({p.id})")
                for p in sorted(plants, key=lambda p: p.name)
            ],
            multiple=True,
            mode=SelectSelectorMode.LIST,
        )
    )


def _plant_options(plants: list[Plant], chosen: list[str]) -> dict[str, Any]:
    return {
        CONF_PLANTS: sorted(chosen),
        CONF_EXCLUDED_PLANTS: sorted(p.id for p in plants if p.id not in chosen),
    }


class SolarCloudConfigFlow(AbstractOAuth2FlowHandler, domain=DOMAIN):
    """Add a cloud account."""

    DOMAIN = DOMAIN
    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        super().__init__()
        self._vendor: str = VENDOR_HUAWEI
        self._data: dict[str, Any] = {}
        self._plants: list[Plant] = []
        # OAuth Connect: auth_implementation and token, once the owner authorised.
        self._oauth: dict[str, Any] = {}

    @property
    def logger(self) -> logging.Logger:
        """The OAuth helper logs here."""
        return _LOGGER

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: SolarCloudConfigEntry) -> SolarCloudOptionsFlow:
        """Options: which plants."""
        return SolarCloudOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the vendor."""
        if user_input is not None:
            if user_input[CONF_VENDOR] == CHOICE_HUAWEI_OAUTH:
                self._vendor = VENDOR_HUAWEI
                return await self.async_step_pick_implementation()
            self._vendor = user_input[CONF_VENDOR]
            return await self._async_step_credentials()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_VENDOR, default=VENDORS[0]): SelectSelector(
                        SelectSelectorConfig(
                            options=list(USER_CHOICES),
                            translation_key="vendor",
                            mode=SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
        )

    async def async_step_huawei_fusionsolar(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """FusionSolar server and northbound account."""
        self._vendor = VENDOR_HUAWEI
        return await self._async_step_credentials(user_input)

    async def async_step_sungrow_isolarcloud(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """iSolarCloud gateway, developer app keys and account."""
        self._vendor = VENDOR_SUNGROW
        return await self._async_step_credentials(user_input)

    async def async_step_saj(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """SAJ OpenAPI server and app credentials."""
        self._vendor = VENDOR_SAJ
        return await self._async_step_credentials(user_input)

    async def async_step_shinemonitor(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """ShineMonitor server, account and the app brand's company key."""
        self._vendor = VENDOR_SHINEMONITOR
        return await self._async_step_credentials(user_input)

    async def _async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Server and credentials of the chosen vendor, tested before going on."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                client = data.pop("_client")
                await self.async_set_unique_id(client.account_id)
                self._abort_if_unique_id_configured()
                self._data = data
                return await self.async_step_plants()
        return self.async_show_form(
            step_id=self._vendor,
            data_schema=self.add_suggested_values_to_schema(
                _credentials_schema(self._vendor, user_input or {}), user_input or {}
            ),
            errors=errors,
            description_placeholders={
                "vendor": VENDOR_NAMES[self._vendor],
                # hassfest keeps URLs out of translations: the first server is shown from here.
                "default_server": _default_server(self._vendor),
            },
        )

    async def _async_validate(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        server = _normalise_server(str(user_input[CONF_SERVER]))
        if server is None:
            return {}, {CONF_SERVER: "invalid_url"}
        data = {**user_input, CONF_VENDOR: self._vendor, CONF_SERVER: server}
        field = ACCOUNT_FIELDS[self._vendor]
        data[field] = str(data[field]).strip()
        client, plants, errors = await _async_test(self.hass, data)
        if errors:
            return {}, errors
        self._plants = plants
        return {**data, "_client": client}, {}

    # -- OAuth Connect ----------------------------------------------------------------------

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """The owner authorised: find the server (or, on reauth, check the account)."""
        self._oauth = data
        if self.source == SOURCE_REAUTH:
            return await self._async_oauth_reauth()
        return await self.async_step_oauth_server()

    async def async_step_oauth_server(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The regional API host of the OAuth Connect account, tested with the new token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            server = _normalise_server(str(user_input[CONF_SERVER]))
            if server is None:
                errors[CONF_SERVER] = "invalid_url"
            else:
                data = {
                    CONF_VENDOR: VENDOR_HUAWEI,
                    CONF_SERVER: server,
                    CONF_AUTH_MODE: AUTH_MODE_OAUTH,
                    **self._oauth,
                }
                _client, plants, errors = await _async_test(
                    self.hass, data, static_token(self._oauth["token"])
                )
                if not errors:
                    data[CONF_ACCOUNT] = oauth_account(plants)
                    await self.async_set_unique_id(account_id_for(server, data[CONF_ACCOUNT]))
                    self._abort_if_unique_id_configured()
                    self._data, self._plants = data, plants
                    return await self.async_step_plants()
        return self.async_show_form(
            step_id="oauth_server",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_SERVER, default=_default_server(VENDOR_HUAWEI)
                        ): _server_selector(VENDOR_HUAWEI)
                    }
                ),
                user_input or {},
            ),
            errors=errors,
            description_placeholders={"default_server": _default_server(VENDOR_HUAWEI)},
        )

    async def _async_oauth_reauth(self) -> ConfigFlowResult:
        """Store the new token if it is the entry's account (tested on the entry's server)."""
        entry = self._get_reauth_entry()
        data = {**entry.data, **self._oauth}
        _client, _plants, errors = await _async_test(
            self.hass,
            data,
            static_token(self._oauth["token"]),
            lambda plants: _same_oauth_account(entry, plants),
        )
        if errors:
            return self.async_abort(reason=errors["base"])
        return self.async_update_reload_and_abort(entry, data_updates=self._oauth)

    async def async_step_reauth_oauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain, then send the owner to FusionSolar to authorise again."""
        if user_input is not None:
            return await self.async_step_pick_implementation()
        return self.async_show_form(
            step_id="reauth_oauth",
            description_placeholders={"title": self._get_reauth_entry().title},
        )

    async def _async_reconfigure_oauth(
        self, entry: ConfigEntry, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Move an OAuth Connect account to another server (the grant stays)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            server = _normalise_server(str(user_input[CONF_SERVER]))
            if server is None:
                errors[CONF_SERVER] = "invalid_url"
            else:
                data = {**entry.data, CONF_SERVER: server}
                tokens = EntryTokens(self.hass, entry)
                _client, _plants, errors = await _async_test(
                    self.hass,
                    data,
                    tokens.access_token,
                    lambda plants: _same_oauth_account(entry, plants),
                )
                if not errors:
                    # The token may have been refreshed during the test.
                    data = {**entry.data, CONF_SERVER: server}
                    move_memory(self.hass, entry.data, data)
                    return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reconfigure_oauth",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_SERVER, default=(user_input or entry.data)[CONF_SERVER]
                    ): _server_selector(VENDOR_HUAWEI)
                }
            ),
            errors=errors,
        )

    async def async_step_reconfigure_oauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The server form of an OAuth Connect account."""
        return await self._async_reconfigure_oauth(self._get_reconfigure_entry(), user_input)

    # -- plants ------------------------------------------------------------------------------

    def _plants_elsewhere(self) -> dict[str, str]:
        """Plants of this flow that another entry of the same cloud polls: id -> its title.

        The same plant polled through two entries (an API account and OAuth Connect, say)
        would spend its allowances twice and draw the cloud's refusals.
        """
        host = urlsplit(str(self._data.get(CONF_SERVER, ""))).hostname
        mine = {p.id for p in self._plants}
        taken: dict[str, str] = {}
        for entry in self._async_current_entries(include_ignore=False):
            if entry.data.get(CONF_VENDOR) != self._vendor:
                continue
            if urlsplit(str(entry.data.get(CONF_SERVER, ""))).hostname != host:
                continue
            polled = set(entry.options.get(CONF_PLANTS) or ())
            if entry.state is ConfigEntryState.LOADED:
                polled |= set(entry.runtime_data.account.plants)
            for plant_id in mine & polled:
                taken[plant_id] = entry.title
        return taken

    async def async_step_plants(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the plants to add (all by default, but those another entry polls)."""
        errors: dict[str, str] = {}
        taken = self._plants_elsewhere()
        if user_input is not None:
            chosen = list(user_input[CONF_PLANTS])
            if not chosen:
                errors["base"] = "no_plants_selected"
            elif set(chosen) & set(taken):
                errors["base"] = "plants_in_other_entry"
            else:
                title = f"{VENDOR_NAMES[self._vendor]} {account_name(self._data)}"
                if is_oauth(self._data):
                    first = min(self._plants, key=lambda p: p.id)
                    title = f"{VENDOR_NAMES[self._vendor]} OAuth {first.name}"
                return self.async_create_entry(
                    title=title,
                    data=self._data,
                    options=_plant_options(self._plants, chosen),
                )
        return self.async_show_form(
            step_id="plants",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_PLANTS, default=[p.id for p in self._plants if p.id not in taken]
                    ): _plant_selector(self._plants)
                }
            ),
            errors=errors,
            description_placeholders={
                "elsewhere": ", ".join(f"{pid} ({title})" for pid, title in sorted(taken.items()))
                or "-"
            },
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The cloud refused the stored credentials."""
        self._vendor = entry_data[CONF_VENDOR]
        if is_oauth(entry_data):
            return await self.async_step_reauth_oauth()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the secret again and test it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            _client, _plants, errors = await _async_test(self.hass, data)
            if not errors:
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {vol.Required(secret): _PASSWORD for secret in _SECRETS[self._vendor]}
            ),
            errors=errors,
            description_placeholders={
                "username": entry.data[ACCOUNT_FIELDS[self._vendor]],
                "server": entry.data[CONF_SERVER],
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the server or the credentials of an account."""
        entry = self._get_reconfigure_entry()
        self._vendor = entry.data[CONF_VENDOR]
        if is_oauth(entry.data):
            return await self._async_reconfigure_oauth(entry, None)
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                data.pop("_client")
                # Another account would be another entry; a new server for the same account
                # keeps the entry's unique id, so its entities keep theirs.
                field = ACCOUNT_FIELDS[self._vendor]
                if data[field].lower() != str(entry.data[field]).lower():
                    return self.async_abort(reason="wrong_account")
                move_memory(self.hass, entry.data, data)
                return self.async_update_reload_and_abort(entry, data=data)
        defaults = {**entry.data, **(user_input or {})}
        return self.async_show_form(
            step_id=SOURCE_RECONFIGURE,
            data_schema=_credentials_schema(self._vendor, defaults),
            errors=errors,
            description_placeholders={"vendor": VENDOR_NAMES[self._vendor]},
        )


class SolarCloudOptionsFlow(OptionsFlowWithReload):
    """Change which plants are polled and how much history is imported."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick plants from the account's current list; the depth of the history import."""
        entry: SolarCloudConfigEntry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        plants = list(entry.runtime_data.account.all_plants.values())
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = list(user_input[CONF_PLANTS])
            if chosen:
                return self.async_create_entry(
                    data={
                        **_plant_options(plants, chosen),
                        CONF_HISTORY_DAYS: int(user_input[CONF_HISTORY_DAYS]),
                    }
                )
            errors["base"] = "no_plants_selected"
        current = [p.id for p in plants if p.id in entry.runtime_data.account.plants]
        depth = entry.options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_PLANTS, default=current): _plant_selector(plants),
                    vol.Required(CONF_HISTORY_DAYS, default=depth): NumberSelector(
                        NumberSelectorConfig(
                            min=0,
                            max=MAX_HISTORY_DAYS,
                            step=1,
                            mode=NumberSelectorMode.BOX,
                            unit_of_measurement="d",
                        )
                    ),
                }
            ),
            errors=errors,
        )
