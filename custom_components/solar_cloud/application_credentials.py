"""Application credentials of FusionSolar OAuth Connect.

The user creates an app (client id and secret) for Home Assistant at FusionSolar, registers our
callback as its redirect URI, and enters the id and secret in Home Assistant's application
credentials. The implementation sends a short ``state`` and uses our own callback (see
``oauth.py``).
"""

from __future__ import annotations

from homeassistant.components.application_credentials import (
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.config_entry_oauth2_flow import AbstractOAuth2Implementation

from .const import OAUTH_CALLBACK_PATH, OAUTH_HELP_URL, OAUTH_SCOPES
from .oauth import FusionSolarImplementation, authorization_server


async def async_get_authorization_server(hass: HomeAssistant) -> AuthorizationServer:
    """FusionSolar's OAuth server."""
    return authorization_server()


async def async_get_auth_implementation(
    hass: HomeAssistant, auth_domain: str, credential: ClientCredential
) -> AbstractOAuth2Implementation:
    """Our implementation: short state, our callback, both scopes."""
    return FusionSolarImplementation(hass, auth_domain, credential)


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """What the credentials dialog shows: the redirect URI to register and the scopes."""
    return {
        "callback_path": OAUTH_CALLBACK_PATH,
        "example_redirect_uri": f"https://homeassistant.example.com{OAUTH_CALLBACK_PATH}",
        "scopes": ", ".join(OAUTH_SCOPES),
        "more_info_url": OAUTH_HELP_URL,
    }
