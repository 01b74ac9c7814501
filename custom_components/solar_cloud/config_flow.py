"""Config flow: vendor, credentials with a connection test, plants; reauth, reconfigure, options."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from . import create_client
from .api.errors import AuthError, PermissionDeniedError, RateLimitedError, SolarCloudError
from .api.huawei import SERVERS as HUAWEI_SERVERS
from .api.models import Plant, VendorClient
from .api.quota import Session, wall_clock
from .api.saj import SERVERS as SAJ_SERVERS
from .api.shinemonitor import DOCUMENTED_COMPANY_KEY, SERVERS as SHINEMONITOR_SERVERS
from .api.sungrow import SERVERS as SUNGROW_SERVERS
from .const import (
    ACCOUNT_FIELDS,
    CONF_ACCESS_KEY,
    CONF_APP_ID,
    CONF_APP_KEY,
    CONF_APP_SECRET,
    CONF_COMPANY_KEY,
    CONF_EXCLUDED_PLANTS,
    CONF_PLANTS,
    CONF_RSA_PUBLIC_KEY,
    CONF_SERVER,
    CONF_SYSTEM_CODE,
    CONF_VENDOR,
    DOMAIN,
    VENDOR_HUAWEI,
    VENDOR_NAMES,
    VENDOR_SAJ,
    VENDOR_SHINEMONITOR,
    VENDOR_SUNGROW,
    VENDORS,
)
from .coordinator import SolarCloudConfigEntry
from .memory import account_memory, move_memory

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


def _credentials_schema(vendor: str, defaults: Mapping[str, Any]) -> vol.Schema:
    first_server = next(iter(_SERVERS[vendor]))
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


async def _async_test(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[VendorClient | None, list[Plant], dict[str, str]]:
    """Log in and list the plants; returns the client, the plants and form errors.

    The test always logs in (a stored session proves nothing about new credentials); once it
    succeeds, the account keeps that session so that setting up does not log in again.
    """
    session = Session()
    errors: dict[str, str] = {}
    plants: list[Plant] = []
    try:
        client = create_client(hass, data, session)
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


class SolarCloudConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a cloud account."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        self._vendor: str = VENDOR_HUAWEI
        self._data: dict[str, Any] = {}
        self._plants: list[Plant] = []

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: SolarCloudConfigEntry) -> SolarCloudOptionsFlow:
        """Options: which plants."""
        return SolarCloudOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the vendor."""
        if user_input is not None:
            self._vendor = user_input[CONF_VENDOR]
            return await self._async_step_credentials()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_VENDOR, default=VENDORS[0]): SelectSelector(
                        SelectSelectorConfig(
                            options=list(VENDORS),
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
            description_placeholders={"vendor": VENDOR_NAMES[self._vendor]},
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

    async def async_step_plants(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the plants to add (all by default)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = list(user_input[CONF_PLANTS])
            if chosen:
                return self.async_create_entry(
                    title=f"{VENDOR_NAMES[self._vendor]} {self._data[ACCOUNT_FIELDS[self._vendor]]}",
                    data=self._data,
                    options=_plant_options(self._plants, chosen),
                )
            errors["base"] = "no_plants_selected"
        return self.async_show_form(
            step_id="plants",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_PLANTS, default=[p.id for p in self._plants]
                    ): _plant_selector(self._plants)
                }
            ),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The cloud refused the stored credentials."""
        self._vendor = entry_data[CONF_VENDOR]
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
    """Change which plants are polled."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick plants from the account's current list."""
        entry: SolarCloudConfigEntry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        plants = list(entry.runtime_data.account.all_plants.values())
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = list(user_input[CONF_PLANTS])
            if chosen:
                return self.async_create_entry(data=_plant_options(plants, chosen))
            errors["base"] = "no_plants_selected"
        current = [p.id for p in plants if p.id in entry.runtime_data.account.plants]
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {vol.Required(CONF_PLANTS, default=current): _plant_selector(plants)}
            ),
            errors=errors,
        )
