"""Constants of the Solar Cloud integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "solar_cloud"

CONF_VENDOR: Final = "vendor"
CONF_SERVER: Final = "server"
CONF_SYSTEM_CODE: Final = "system_code"
CONF_PLANTS: Final = "plants"
# Plants the user left out when choosing; plants the cloud lists later and that are in neither
# list are new and are added automatically.
CONF_EXCLUDED_PLANTS: Final = "excluded_plants"

VENDOR_HUAWEI: Final = "huawei_fusionsolar"
VENDORS: Final = (VENDOR_HUAWEI,)
VENDOR_NAMES: Final = {VENDOR_HUAWEI: "FusionSolar"}
MANUFACTURERS: Final = {VENDOR_HUAWEI: "Huawei"}

ISSUE_PERMISSION: Final = "permission_{vendor}_{what}"
ISSUE_ACCOUNT_SHARED: Final = "account_shared"
