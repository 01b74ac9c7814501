"""Constants of the Solar Cloud integration."""

from __future__ import annotations

from typing import Final

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

ISSUE_PERMISSION: Final = "permission_{vendor}_{what}"
ISSUE_ACCOUNT_SHARED: Final = "account_shared"
