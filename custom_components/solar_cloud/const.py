"""Constants of the Solar Cloud integration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

DOMAIN: Final = "solar_cloud"

CONF_VENDOR: Final = "vendor"
CONF_SERVER: Final = "server"
CONF_SYSTEM_CODE: Final = "system_code"
CONF_APP_KEY: Final = "app_key"
CONF_ACCESS_KEY: Final = "access_key"
CONF_RSA_PUBLIC_KEY: Final = "rsa_public_key"
CONF_APP_ID: Final = "app_id"
CONF_APP_SECRET: Final = "app_secret"
CONF_COMPANY_KEY: Final = "company_key"
CONF_PLANTS: Final = "plants"
# Days of hourly history imported into statistics before the set-up (0: none).
CONF_HISTORY_DAYS: Final = "history_days"
DEFAULT_HISTORY_DAYS: Final = 30
MAX_HISTORY_DAYS: Final = 366
# Plants the user left out when choosing; plants the cloud lists later and that are in neither
# list are new and are added automatically.
CONF_EXCLUDED_PLANTS: Final = "excluded_plants"

VENDOR_HUAWEI: Final = "huawei_fusionsolar"
VENDOR_SUNGROW: Final = "sungrow_isolarcloud"
VENDOR_SAJ: Final = "saj"
VENDOR_SHINEMONITOR: Final = "shinemonitor"
VENDORS: Final = (VENDOR_HUAWEI, VENDOR_SUNGROW, VENDOR_SAJ, VENDOR_SHINEMONITOR)
VENDOR_NAMES: Final = {
    VENDOR_HUAWEI: "FusionSolar",
    VENDOR_SUNGROW: "iSolarCloud",
    VENDOR_SAJ: "SAJ",
    VENDOR_SHINEMONITOR: "ShineMonitor",
}
MANUFACTURERS: Final = {
    VENDOR_HUAWEI: "Huawei",
    VENDOR_SUNGROW: "Sungrow",
    VENDOR_SAJ: "SAJ",
    VENDOR_SHINEMONITOR: "Eybond",
}
# The entry.data field that names the account (part of the unique id).
ACCOUNT_FIELDS: Final = {
    VENDOR_HUAWEI: "username",
    VENDOR_SUNGROW: "username",
    VENDOR_SAJ: CONF_APP_ID,
    VENDOR_SHINEMONITOR: "username",
}

# -- FusionSolar OAuth Connect ------------------------------------------------------------------

# The user step's choice for adding a FusionSolar account through OAuth Connect (not a vendor:
# the entry's vendor stays huawei_fusionsolar).
CHOICE_HUAWEI_OAUTH: Final = "huawei_fusionsolar_oauth"
USER_CHOICES: Final = (
    VENDOR_HUAWEI,
    CHOICE_HUAWEI_OAUTH,
    VENDOR_SUNGROW,
    VENDOR_SAJ,
    VENDOR_SHINEMONITOR,
)
# entry.data of an OAuth Connect entry: vendor, server, auth_mode, account, and the keys Home
# Assistant's OAuth helper sets: auth_implementation and token.
CONF_AUTH_MODE: Final = "auth_mode"
AUTH_MODE_OAUTH: Final = "oauth"
CONF_ACCOUNT: Final = "account"
CONF_TOKEN: Final = "token"
# The FusionSolar OAuth server. Tests replace this module attribute; a developer can point it at
# the simulator with the environment variable below (developer use only: a user never sets it).
# The README (the manifest's documentation) and its section on OAuth Connect, which also
# explains the control permission.
DOCUMENTATION_URL: Final = "https://github.com/solar-cloud/solar_cloud"
OAUTH_HELP_URL: Final = f"{DOCUMENTATION_URL}#huawei-fusionsolar-oauth-connect"
OAUTH_BASE_URL_ENV: Final = "SOLAR_CLOUD_FUSIONSOLAR_OAUTH_URL"
OAUTH_BASE_URL: str = os.environ.get(OAUTH_BASE_URL_ENV, "https://oauth2.fusionsolar.huawei.com")
OAUTH_AUTHORIZE_PATH: Final = "/rest/dp/uidm/oauth2/v1/authorize"
OAUTH_TOKEN_PATH: Final = "/rest/dp/uidm/oauth2/v1/token"
SCOPE_BASIC: Final = "pvms.openapi.basic"
SCOPE_CONTROL: Final = "pvms.openapi.control"
OAUTH_SCOPES: Final = (SCOPE_BASIC, SCOPE_CONTROL)
# Our own OAuth callback (the redirect URI to register with FusionSolar).
OAUTH_CALLBACK_PATH: Final = "/api/solar_cloud/oauth/callback"

ISSUE_PERMISSION: Final = "permission_{vendor}_{what}"
ISSUE_ACCOUNT_SHARED: Final = "account_shared"
ISSUE_CONTROL_PERMISSION: Final = "control_permission"


def is_oauth(data: Mapping[str, Any]) -> bool:
    """Whether entry data belong to a FusionSolar OAuth Connect entry."""
    return data.get(CONF_AUTH_MODE) == AUTH_MODE_OAUTH


def account_name(data: Mapping[str, Any]) -> str:
    """The entry.data value that names the account (part of the unique id)."""
    if is_oauth(data):
        return str(data[CONF_ACCOUNT])
    return str(data[ACCOUNT_FIELDS[str(data[CONF_VENDOR])]])
