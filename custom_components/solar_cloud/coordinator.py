"""Plant coordinators and the account runtime they share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir, translation
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api.account import CloudAccount
from .api.errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    SolarCloudError,
    TransientError,
)
from .api.models import PlantData, VendorClient
from .const import (
    DOMAIN,
    ISSUE_ACCOUNT_SHARED,
    ISSUE_CONTROL_PERMISSION,
    OAUTH_HELP_URL,
    VENDOR_HUAWEI,
    is_oauth,
)
from .memory import schedule_save
from .oauth import has_control_scope

if TYPE_CHECKING:
    from .api.account import InventoryChange
    from .backfill import HistoryBackfill
    from .plant_controls import PlantControls

_LOGGER = logging.getLogger(__name__)


@dataclass
class SolarCloudData:
    """What a loaded entry holds."""

    client: VendorClient
    account: CloudAccount
    coordinators: dict[str, PlantCoordinator] = field(default_factory=dict)
    # Per plant, where the vendor offers controls.
    controls: dict[str, PlantControls] = field(default_factory=dict)
    unsubscribe: list[Callable[[], None]] = field(default_factory=list)
    # Imports the cloud's hourly history into statistics, where the vendor and recorder allow.
    backfill: HistoryBackfill | None = None


type SolarCloudConfigEntry = ConfigEntry[SolarCloudData]

# Data a round can do without; a missing permission for one of them is a repair issue.
OPTIONAL_DATA = ("plant list", "device list", "alarm list")  # selector.data_kind labels


def permission_issue_id(vendor: str, what: str) -> str:
    """Repair issue id of a missing permission."""
    return f"permission_{vendor}_{what.replace(' ', '_')}"


@callback
def raise_permission_issue(
    hass: HomeAssistant, entry: ConfigEntry, vendor: str, what: str, err: PermissionDeniedError
) -> None:
    """Tell the user which permission to grant in the vendor portal.

    ``what`` (``plant list`` …) is shown in Home Assistant's language where a translation of
    it is loaded (``selector.data_kind`` of the translations; see ``async_load_labels``).
    """
    cached = translation.async_get_cached_translations(
        hass, hass.config.language, "selector", DOMAIN
    )
    label = cached.get(
        f"component.{DOMAIN}.selector.data_kind.options.{what.replace(' ', '_')}", what
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{permission_issue_id(vendor, what)}_{entry.entry_id}",
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=f"permission_{vendor}",
        translation_placeholders={
            "title": entry.title,
            "what": label,
            "code": err.code or "?",
        },
    )


async def async_load_labels(hass: HomeAssistant) -> None:
    """Load the translated labels that repair issues use as placeholders."""
    await translation.async_get_translations(hass, hass.config.language, "selector", {DOMAIN})


@callback
def clear_permission_issue(hass: HomeAssistant, entry: ConfigEntry, vendor: str, what: str) -> None:
    """Remove a permission issue once the call works again."""
    ir.async_delete_issue(hass, DOMAIN, f"{permission_issue_id(vendor, what)}_{entry.entry_id}")


def _control_issue_id(entry: ConfigEntry) -> str:
    return f"{ISSUE_CONTROL_PERMISSION}_{entry.entry_id}"


@callback
def update_control_issue(hass: HomeAssistant, entry: ConfigEntry, client: object) -> None:
    """Tell the user how to get battery control when FusionSolar refuses it to the account.

    The client checks the control permission once a day for accounts with a battery; an
    unchecked account leaves the issue as it is. The text depends on how the account was added:
    an API account (control needs OAuth Connect or the installer's grant), an OAuth grant
    without the control scope, or an OAuth grant with it that the plant still refuses.
    """
    if getattr(client, "vendor", None) != VENDOR_HUAWEI:
        return
    permission = getattr(client, "control_permission", None)
    if permission is True:
        clear_control_issue(hass, entry)
        return
    if permission is None:
        return
    if not is_oauth(entry.data):
        key = "control_permission_account"
    else:
        oauth_ok = has_control_scope(entry.data)
        key = "control_permission_oauth" if oauth_ok else "control_permission_scope"
    ir.async_create_issue(
        hass,
        DOMAIN,
        _control_issue_id(entry),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        learn_more_url=OAUTH_HELP_URL,
        translation_key=key,
        translation_placeholders={"title": entry.title},
    )


@callback
def clear_control_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove the control permission issue of an entry."""
    ir.async_delete_issue(hass, DOMAIN, _control_issue_id(entry))


class PlantCoordinator(DataUpdateCoordinator[PlantData]):
    """Latest data of one plant, fetched through the account's batched rounds."""

    config_entry: SolarCloudConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SolarCloudConfigEntry,
        account: CloudAccount,
        plant_id: str,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {account.plants[plant_id].name}",
            update_interval=timedelta(seconds=account.period),
            always_update=False,
        )
        self.account = account
        self.plant_id = plant_id

    async def _async_update_data(self) -> PlantData:
        vendor = self.account.client.vendor
        try:
            data = await self.account.async_get_plant_data(self.plant_id)
        except AuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="auth_failed",
                translation_placeholders={"code": err.code or "?"},
            ) from err
        except RateLimitedError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={"retry_after": str(round(err.retry_after))},
            ) from err
        except PermissionDeniedError as err:
            raise_permission_issue(self.hass, self.config_entry, vendor, "realtime data", err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="permission_denied",
                translation_placeholders={"code": err.code or "?"},
            ) from err
        except ProtocolError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="protocol_error",
                translation_placeholders={"error": str(err)},
            ) from err
        except (TransientError, SolarCloudError) as err:
            if err.code == "session_conflict":
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    f"{ISSUE_ACCOUNT_SHARED}_{self.config_entry.entry_id}",
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key=ISSUE_ACCOUNT_SHARED,
                    translation_placeholders={"title": self.config_entry.title},
                )
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cloud_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err
        clear_permission_issue(self.hass, self.config_entry, vendor, "realtime data")
        ir.async_delete_issue(
            self.hass, DOMAIN, f"{ISSUE_ACCOUNT_SHARED}_{self.config_entry.entry_id}"
        )
        schedule_save(self.hass)
        for what in OPTIONAL_DATA:
            if (denied := self.account.permission_errors.get(what)) is not None:
                raise_permission_issue(self.hass, self.config_entry, vendor, what, denied)
            else:
                clear_permission_issue(self.hass, self.config_entry, vendor, what)
        if data is None:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="plant_gone",
                translation_placeholders={"plant": self.plant_id},
            )
        return data


@callback
def describe_change(change: InventoryChange) -> str:
    """A short log line of an inventory change."""
    return (
        f"+{len(change.added_plants)}/-{len(change.removed_plants)} plants, "
        f"+{len(change.added_devices)}/-{len(change.removed_devices)} devices"
    )
