"""Solar Cloud: plants and devices of inverter vendors' clouds in Home Assistant."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.typing import ConfigType

from .api.account import AccountMemory, CloudAccount, InventoryChange
from .api.errors import AuthError, PermissionDeniedError, SolarCloudError
from .api.history import HistoryClient, supports_history
from .api.huawei import HuaweiClient
from .api.models import VendorClient
from .api.quota import Session
from .api.saj import SajClient
from .api.shinemonitor import ShineMonitorClient
from .api.sungrow import SungrowClient
from .backfill import HistoryBackfill
from .const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_APP_ID,
    CONF_APP_KEY,
    CONF_APP_SECRET,
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
    VENDOR_HUAWEI,
    VENDOR_SAJ,
    VENDOR_SHINEMONITOR,
    VENDOR_SUNGROW,
    is_oauth,
)
from .coordinator import (
    PlantCoordinator,
    SolarCloudConfigEntry,
    SolarCloudData,
    async_load_labels,
    clear_control_issue,
    clear_permission_issue,
    describe_change,
    raise_permission_issue,
    update_control_issue,
)
from .entity import plant_device_info, plant_identifier, signal_new_plant
from .memory import account_memory, async_load_memories, forget_memory, schedule_save
from .oauth import EntryTokens, async_register_callback_view, oauth_clientsession
from .plant_controls import PlantControls, supports_controls
from .services import async_setup_services

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


_HUAWEI_LANGUAGES = {
    "zh": "zh_CN",
    "ja": "ja_JP",
    "it": "it_IT",
    "nl": "nl_NL",
    "pt": "pt_BR",
    "de": "de_DE",
    "fr": "fr_FR",
    "es": "es_ES",
    "pl": "pl_PL",
}


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Load what the accounts remembered before Home Assistant last stopped.

    Calls made in the last minutes still count against the vendor's windows, and the last
    answers can be shown at once instead of calling again too early.
    """
    await async_load_memories(hass)
    async_setup_services(hass)
    # A browser coming back from FusionSolar after a restart gets an answer, not a 404.
    async_register_callback_view(hass)
    return True


_SUNGROW_LANGUAGES = {
    "zh": "_zh_CN",
    "ja": "_ja_JP",
    "es": "_es_ES",
    "de": "_de_DE",
    "pt": "_pt_BR",
    "fr": "_fr_FR",
    "it": "_it_IT",
    "ko": "_ko_KR",
    "nl": "_nl_NL",
    "pl": "_pl_PL",
    "vi": "_vi_VN",
}


_SHINEMONITOR_LANGUAGES = {
    "zh": "zh_CN",
    "de": "de_DE",
    "es": "es_ES",
    "fr": "fr_FR",
    "it": "it_IT",
    "pl": "pl_PL",
    "pt": "pt_BR",
}


def create_client(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    session_state: Session | None = None,
    *,
    token_provider: Callable[[], Awaitable[str]] | None = None,
    token_refresh: Callable[[str], Awaitable[str]] | None = None,
    memory: AccountMemory | None = None,
) -> VendorClient:
    """Build the vendor client of an entry's connection data.

    The client shares the account's call budget and, unless ``session_state`` is given (to
    test credentials with a login of its own), its login session. ``memory`` replaces the
    account's (a connection test before the account is known). FusionSolar OAuth Connect
    entries need ``token_provider`` (and ``token_refresh``, see ``HuaweiClient.bearer``).
    """
    vendor = data[CONF_VENDOR]
    session = async_get_clientsession(hass)
    memory = memory or account_memory(hass, data)
    if vendor == VENDOR_HUAWEI and is_oauth(data):
        assert token_provider is not None
        return HuaweiClient.bearer(
            oauth_clientsession(hass),
            data[CONF_SERVER],
            token_provider,
            account=data.get(CONF_ACCOUNT, ""),
            token_refresh=token_refresh,
            quota=memory.quota,
            language=_HUAWEI_LANGUAGES.get(hass.config.language.split("-")[0], "en_US"),
        )
    if vendor == VENDOR_HUAWEI:
        language = _HUAWEI_LANGUAGES.get(hass.config.language.split("-")[0], "en_US")
        return HuaweiClient(
            session,
            data[CONF_SERVER],
            data[CONF_USERNAME],
            data[CONF_SYSTEM_CODE],
            quota=memory.quota,
            session_state=session_state or memory.session,
            language=language,
        )
    if vendor == VENDOR_SUNGROW:
        return SungrowClient(
            session,
            data[CONF_SERVER],
            data[CONF_APP_KEY],
            data[CONF_ACCESS_KEY],
            data[CONF_USERNAME],
            data[CONF_PASSWORD],
            rsa_public_key=data.get(CONF_RSA_PUBLIC_KEY) or None,
            quota=memory.quota,
            session_state=session_state or memory.session,
            language=_SUNGROW_LANGUAGES.get(hass.config.language.split("-")[0], "_en_US"),
        )
    if vendor == VENDOR_SAJ:
        return SajClient(
            session,
            data[CONF_SERVER],
            data[CONF_APP_ID],
            data[CONF_APP_SECRET],
            quota=memory.quota,
            session_state=session_state or memory.session,
        )
    if vendor == VENDOR_SHINEMONITOR:
        return ShineMonitorClient(
            session,
            data[CONF_SERVER],
            data[CONF_USERNAME],
            data[CONF_PASSWORD],
            data[CONF_COMPANY_KEY],
            quota=memory.quota,
            session_state=session_state or memory.session,
            language=_SHINEMONITOR_LANGUAGES.get(hass.config.language.split("-")[0], "en_US"),
        )
    msg = f"unsupported vendor {vendor}"
    raise ValueError(msg)


async def async_setup_entry(hass: HomeAssistant, entry: SolarCloudConfigEntry) -> bool:
    """Set up one cloud account."""
    await async_load_labels(hass)
    if is_oauth(entry.data):
        tokens = EntryTokens(hass, entry)
        client = create_client(
            hass, entry.data, token_provider=tokens.access_token, token_refresh=tokens.refresh
        )
    else:
        client = create_client(hass, entry.data)
    account = CloudAccount(
        client,
        memory=account_memory(hass, entry.data),
        selected=entry.options.get(CONF_PLANTS),
        excluded=entry.options.get(CONF_EXCLUDED_PLANTS),
    )
    try:
        await account.async_setup()
    except AuthError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="auth_failed",
            translation_placeholders={"code": err.code or "?"},
        ) from err
    except PermissionDeniedError as err:
        raise_permission_issue(hass, entry, client.vendor, "plant list", err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="permission_denied",
            translation_placeholders={"code": err.code or "?"},
        ) from err
    except SolarCloudError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cloud_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    clear_permission_issue(hass, entry, client.vendor, "plant list")

    if CONF_EXCLUDED_PLANTS not in entry.options:
        # From now on every plant the user did not leave out is polled, new ones included.
        excluded = sorted(set(account.all_plants) - set(account.plants))
        account.excluded = set(excluded)
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_EXCLUDED_PLANTS: excluded}
        )

    runtime = SolarCloudData(client=client, account=account)
    entry.runtime_data = runtime
    for plant_id in account.plants:
        runtime.coordinators[plant_id] = PlantCoordinator(hass, entry, account, plant_id)
    await asyncio.gather(
        *(c.async_config_entry_first_refresh() for c in runtime.coordinators.values())
    )
    if supports_controls(client):
        for plant_id, coordinator in runtime.coordinators.items():
            runtime.controls[plant_id] = PlantControls(
                hass, coordinator, cast(Any, client), account.memory.forces
            )
        await asyncio.gather(*(c.async_load() for c in runtime.controls.values()))
        update_control_issue(hass, entry, client)
    _remove_stale_devices(hass, entry, account)
    # The plants' devices first: the devices of every platform name them as their hub.
    registry = dr.async_get(hass)
    for coordinator in runtime.coordinators.values():
        if coordinator.data is not None:
            registry.async_get_or_create(
                config_entry_id=entry.entry_id, **plant_device_info(entry, coordinator.data.plant)
            )
    runtime.unsubscribe.append(
        account.add_listener(lambda change: _on_inventory_change(hass, entry, change))
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    _start_backfill(hass, entry)
    return True


def _start_backfill(hass: HomeAssistant, entry: SolarCloudConfigEntry) -> None:
    """Fill the plants' energy statistics from the cloud's history, in the background."""
    runtime = entry.runtime_data
    depth = int(entry.options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS))
    if not supports_history(runtime.client) or "recorder" not in hass.config.components:
        return
    runtime.backfill = HistoryBackfill(
        hass, entry, cast(HistoryClient, runtime.client), depth, runtime.account.memory.history
    )
    runtime.backfill.async_start()


async def async_unload_entry(hass: HomeAssistant, entry: SolarCloudConfigEntry) -> bool:
    """Unload an account."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    schedule_save(hass)
    if unloaded:
        for unsubscribe in entry.runtime_data.unsubscribe:
            unsubscribe()
        for coordinator in entry.runtime_data.coordinators.values():
            await coordinator.async_shutdown()
        for controls in entry.runtime_data.controls.values():
            controls.async_shutdown()
        if entry.runtime_data.backfill is not None:
            entry.runtime_data.backfill.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: SolarCloudConfigEntry) -> None:
    """The entry was deleted: forget the account's saved session and answers."""
    forget_memory(hass, entry.data)
    clear_control_issue(hass, entry)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SolarCloudConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device only once the cloud no longer lists it."""
    return not (_current_identifiers(entry, entry.runtime_data.account) & device.identifiers)


def _current_identifiers(
    entry: SolarCloudConfigEntry, account: CloudAccount
) -> set[tuple[str, str]]:
    uid = entry.unique_id or entry.entry_id
    current = {(DOMAIN, plant_identifier(uid, pid)) for pid in account.plants}
    current |= {(DOMAIN, plant_identifier(uid, d.plant_id, d.id)) for d in account.devices.values()}
    return current


@callback
def _remove_stale_devices(
    hass: HomeAssistant, entry: SolarCloudConfigEntry, account: CloudAccount
) -> None:
    """Detach devices the cloud no longer lists (their entities go with them)."""
    registry = dr.async_get(hass)
    current = _current_identifiers(entry, account)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not device.identifiers & current:
            _LOGGER.debug("Removing %s: no longer in the cloud", device.name)
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


@callback
def _on_inventory_change(
    hass: HomeAssistant, entry: SolarCloudConfigEntry, change: InventoryChange
) -> None:
    """Follow plants and devices that appeared or vanished in the cloud."""
    _LOGGER.debug("Inventory of %s changed: %s", entry.title, describe_change(change))
    runtime = entry.runtime_data
    account = runtime.account
    for plant in change.removed_plants:
        if (controls := runtime.controls.pop(plant.id, None)) is not None:
            controls.async_shutdown()
        coordinator = runtime.coordinators.pop(plant.id, None)
        if coordinator is not None:
            entry.async_create_background_task(
                hass, coordinator.async_shutdown(), f"{DOMAIN} shutdown {plant.id}"
            )
    if change.removed_plants or change.removed_devices:
        _remove_stale_devices(hass, entry, account)
    for plant in change.added_plants:
        if plant.id in runtime.coordinators:
            continue
        coordinator = PlantCoordinator(hass, entry, account, plant.id)
        runtime.coordinators[plant.id] = coordinator
        entry.async_create_background_task(
            hass, _async_start_plant(hass, entry, coordinator), f"{DOMAIN} add {plant.id}"
        )
    if change.added_plants or change.removed_plants:
        plants = sorted(account.plants)
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_PLANTS: plants}
        )


async def _async_start_plant(
    hass: HomeAssistant, entry: SolarCloudConfigEntry, coordinator: PlantCoordinator
) -> None:
    await coordinator.async_refresh()
    client = entry.runtime_data.client
    if supports_controls(client) and coordinator.data is not None:
        controls = PlantControls(
            hass, coordinator, cast(Any, client), entry.runtime_data.account.memory.forces
        )
        entry.runtime_data.controls[coordinator.plant_id] = controls
        await controls.async_load()
        update_control_issue(hass, entry, client)
    if coordinator.data is not None:
        dr.async_get(hass).async_get_or_create(
            config_entry_id=entry.entry_id, **plant_device_info(entry, coordinator.data.plant)
        )
    async_dispatcher_send(hass, signal_new_plant(entry.entry_id), coordinator)
