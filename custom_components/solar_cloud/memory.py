"""Each account's memory (call budget, session, last answers), kept across reloads and restarts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api.account import AccountMemory
from .const import CONF_SERVER, CONF_VENDOR, DOMAIN, account_name

STORAGE_KEY = f"{DOMAIN}.accounts"
STORAGE_VERSION = 1
# Seconds between a change and its save; pending saves are written when Home Assistant stops.
SAVE_DELAY = 30


@dataclass
class DomainData:
    """What the integration keeps for all entries: each account's memory, and its storage."""

    memories: dict[str, AccountMemory]
    store: Store[dict[str, Any]]


def _domain_data(hass: HomeAssistant) -> DomainData:
    if DOMAIN not in hass.data:
        hass.data[DOMAIN] = DomainData(
            memories={}, store=Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)
        )
    data: DomainData = hass.data[DOMAIN]
    return data


def _key(data: Mapping[str, Any]) -> str:
    account = account_name(data)
    return f"{data[CONF_VENDOR]}:{data[CONF_SERVER]}:{account}".lower()


def account_memory(hass: HomeAssistant, data: Mapping[str, Any]) -> AccountMemory:
    """The state of an account that outlives reloads and restarts."""
    key = _key(data)
    memories = _domain_data(hass).memories
    if key not in memories:
        memories[key] = AccountMemory()
    return memories[key]


@callback
def move_memory(hass: HomeAssistant, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """The account is now reached at another server: its budget and answers go with it."""
    memories = _domain_data(hass).memories
    fresh = memories.get(_key(new))
    if (memory := memories.pop(_key(old), None)) is not None:
        if fresh is not None and fresh is not memory:
            # The connection test logged in at the new address: keep that session and count
            # its calls.
            session, tested = memory.session, fresh.session
            session.token, session.expires = tested.token, tested.expires
            session.account, session.secret = tested.account, tested.secret
            memory.quota.restore(fresh.quota.export())
        memories[_key(new)] = memory
        schedule_save(hass)


@callback
def forget_memory(hass: HomeAssistant, data: Mapping[str, Any]) -> None:
    """Drop what was kept of an account whose entry was deleted (its session token too)."""
    if _domain_data(hass).memories.pop(_key(data), None) is not None:
        schedule_save(hass)


@callback
def schedule_save(hass: HomeAssistant) -> None:
    """Save every account's memory soon (and at the latest when Home Assistant stops)."""
    domain = _domain_data(hass)
    domain.store.async_delay_save(
        lambda: {"accounts": {key: m.export() for key, m in domain.memories.items()}},
        SAVE_DELAY,
    )


async def async_load_memories(hass: HomeAssistant) -> None:
    """Load what the accounts remembered before Home Assistant last stopped.

    Calls made in the last minutes still count against the vendor's windows, and the last
    answers can be shown at once instead of calling again too early.
    """
    domain = _domain_data(hass)
    saved = await domain.store.async_load() or {}
    for key, state in (saved.get("accounts") or {}).items():
        if key not in domain.memories and isinstance(state, dict):
            memory = AccountMemory()
            memory.restore(state)
            domain.memories[key] = memory
