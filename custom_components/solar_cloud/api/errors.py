"""Error classes shared by every vendor client.

Each vendor code maps onto exactly one of these, so the Home Assistant layer reacts to the class,
never to a vendor's number.
"""

from __future__ import annotations


class SolarCloudError(Exception):
    """Base class of every error the clients raise.

    ``code`` is the vendor's own code (for logs and translated messages), ``vendor_message`` the
    vendor's text when it sent one. Neither ever holds a secret.
    """

    def __init__(
        self,
        message: str = "",
        *,
        code: str | int | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        self.code = None if code is None else str(code)
        self.vendor_message = vendor_message


class AuthError(SolarCloudError):
    """The credentials are wrong, locked, disabled or expired: the user must act."""


class RateLimitedError(SolarCloudError):
    """The call allowance is used up; ``retry_after`` seconds until the next window opens."""

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float,
        code: str | int | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(message, code=code, vendor_message=vendor_message)
        self.retry_after = max(0.0, retry_after)


class TransientError(SolarCloudError):
    """Network failure, timeout, HTTP 5xx or a busy cloud: try again later."""


class PermissionDeniedError(SolarCloudError):
    """The account may not use this interface or plant; only the vendor portal can fix it."""


class CommandRejectedError(SolarCloudError):
    """The cloud refused or failed a control command."""


class ProtocolError(SolarCloudError):
    """The reply could not be understood (not JSON, wrong shape, unexpected request error)."""
