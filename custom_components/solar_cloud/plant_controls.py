"""Controls of one plant: discovery, validated writes as followed tasks, read-back.

One task runs per plant at a time. A write waits for the vendor's task to end (polled in the
vendor's rhythm) for up to ``WAIT_LIMIT``; a task still running then goes on in the background
and the plant's ``last_command`` sensor follows it. The values shown are those read back from the
cloud after a task succeeded, never the value that was asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .api.controls import (
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    MAX_TOU_WINDOWS,
    SET_TIME_OF_USE,
    STOP_FORCED_CHARGE,
    ControlClient,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
    TouWindow,
    tou_overlap,
)
from .api.errors import (
    CommandRejectedError,
    PermissionDeniedError,
    RateLimitedError,
    SolarCloudError,
)
from .api.models import Device, Plant, Reading
from .const import DOMAIN
from .memory import schedule_save

if TYPE_CHECKING:
    from .coordinator import PlantCoordinator

_LOGGER = logging.getLogger(__name__)

# How long an action or an entity waits for its task before letting it run on in the background.
WAIT_LIMIT = 15 * 60.0
MAX_FORCE_POWER_W = 100_000.0
MAX_FORCE_MINUTES = 24 * 60.0
# Controls are looked up again: soon after a failed look-up, daily otherwise (a permission granted
# at the vendor, a battery added).
REDISCOVER_AFTER_FAILURE = 30 * 60.0
REDISCOVER_EVERY = 24 * 3600.0
# A stop that Home Assistant sends and the cloud refuses is sent again after STOP_RETRY; the user
# is told (repair issue) from the STOP_FAILURES_REPORTED-th refusal on.
STOP_RETRY = 5 * 60.0
STOP_FAILURES_REPORTED = 2
# After a failed or timed-out task the value is read again this much later.
LATE_READ_BACK = 10 * 60.0

type ControlKey = tuple[str, str]


def supports_controls(client: object) -> bool:
    """Whether a vendor client implements the controls protocol."""
    return all(
        callable(getattr(client, name, None))
        for name in ("async_get_controls", "async_read_controls", "async_start_control")
    )


class PlantControls:
    """The controls of one plant and the task in flight."""

    def __init__(
        self,
        hass: HomeAssistant,
        coordinator: PlantCoordinator,
        client: ControlClient,
        forces: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.hass = hass
        # Where a forced charge that Home Assistant has to end is remembered across restarts.
        self._forces = forces if forces is not None else {}
        self.coordinator = coordinator
        self.client = client
        self.plant_id = coordinator.plant_id
        self.specs: dict[ControlKey, ControlSpec] = {}
        self.values: dict[ControlKey, Reading] = {}
        self.reasons: dict[str, str] = {}
        self.can_force = False
        self.can_set_time_of_use = False
        self.task: ControlTask | None = None
        self.last: ControlTask | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._scheduled_stop: CALLBACK_TYPE | None = None
        self._soc_watch: CALLBACK_TYPE | None = None
        # Every task being followed, so that unloading stops following them.
        self._follows: set[asyncio.Future[ControlTask]] = set()
        self._loaded_at: float | None = None
        self._load_ok = False
        self._loading: asyncio.Task[None] | None = None
        self._unsub_rediscover: CALLBACK_TYPE | None = None
        self._late_read: CALLBACK_TYPE | None = None
        self._stop_failures = 0

    # -- set-up -------------------------------------------------------------------------------

    @property
    def _plant(self) -> Plant:
        return self.coordinator.data.plant

    def _devices(self) -> list[Device]:
        return list(self.coordinator.data.devices.values())

    async def async_load(self) -> None:
        """Find the plant's controls and read their values; a failure keeps what was known."""
        if self._unsub_rediscover is None:
            self._unsub_rediscover = self.coordinator.async_add_listener(self._maybe_rediscover)
        self._loaded_at = time.monotonic()
        self._load_ok = False
        try:
            specs, reasons = await self.client.async_get_controls(self._plant, self._devices())
            self.can_force = self.client.can_force(self._plant, self._devices())
            self.can_set_time_of_use = self.client.can_set_time_of_use(self._plant)
            values = await self.client.async_read_controls(self._plant, specs) if specs else {}
        except PermissionDeniedError as err:
            self.reasons = {"controls": f"no control permission ({err.code})"}
            self._load_ok = True  # the answer is known; asked again with the daily look-up
            return
        except SolarCloudError as err:
            _LOGGER.debug("Controls of plant %s not available: %s", self.plant_id, err)
            self.reasons = {"controls": f"not available: {err}"}
            return
        self._load_ok = True
        self.specs = {(s.device_id, s.key): s for s in specs}
        self.values = dict(values)
        self.reasons = dict(reasons)
        self._rearm_force()
        self._notify()

    def _rearm_force(self) -> None:
        """A forced charge begun before a restart is ended as it would have been."""
        saved = self._forces.get(self.plant_id)
        if saved is None or self._scheduled_stop is not None or self._soc_watch is not None:
            return
        device_id = saved.get("device_id")
        until, target = saved.get("until"), saved.get("target_soc")
        discharge = bool(saved.get("discharge"))
        if isinstance(until, int | float):
            self._arm_force(device_id, discharge, until=float(until))
        elif isinstance(target, int | float):
            self._arm_force(device_id, discharge, target_soc=float(target))
        else:
            self._forget_force()

    @callback
    def _maybe_rediscover(self) -> None:
        """After a coordinator update: look the controls up again when that is due."""
        if self._loading is not None or (self.task is not None and not self.task.done):
            return
        due = REDISCOVER_EVERY if self._load_ok else REDISCOVER_AFTER_FAILURE
        if self._loaded_at is not None and time.monotonic() - self._loaded_at < due:
            return

        async def load() -> None:
            try:
                await self.async_load()
            finally:
                self._loading = None

        self._loading = self.hass.async_create_background_task(
            load(), f"{DOMAIN} controls of {self.plant_id}"
        )

    @callback
    def add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when a value or the task changes."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    @callback
    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    @callback
    def async_shutdown(self) -> None:
        """Stop timers and watchers (the entry is unloading)."""
        for cancel in (self._scheduled_stop, self._soc_watch, self._late_read):
            if cancel is not None:
                cancel()
        self._scheduled_stop = self._soc_watch = self._late_read = None
        if self._unsub_rediscover is not None:
            self._unsub_rediscover()
            self._unsub_rediscover = None
        if self._loading is not None:
            self._loading.cancel()
        for follow in list(self._follows):
            follow.cancel()

    # -- writes -------------------------------------------------------------------------------

    def validate(self, spec: ControlSpec, value: Reading) -> Reading:
        """The value in the form the client takes, or ServiceValidationError."""
        if spec.kind is ControlKind.SELECT:
            if value not in spec.options:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="invalid_option",
                    translation_placeholders={
                        "value": str(value),
                        "options": ", ".join(spec.options),
                    },
                )
            return value
        number = float(cast(float, value))
        low = spec.minimum if spec.minimum is not None else float("-inf")
        high = spec.maximum if spec.maximum is not None else float("inf")
        if not low <= number <= high:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="out_of_range",
                translation_placeholders={
                    "value": f"{number:g}",
                    "minimum": f"{low:g}",
                    "maximum": f"{high:g}",
                },
            )
        return number

    async def async_set(self, spec: ControlSpec, value: Reading) -> ControlTask:
        """Write one control value and follow its task."""
        checked = self.validate(spec, value)
        return await self._run(
            lambda: self.client.async_start_control(self._plant, spec, checked),
            spec=spec,
            value=checked,
        )

    def validate_force(self, request: ForceRequest) -> None:
        """Power, duration and target SOC checked before anything is sent."""
        if not self.can_force:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="force_unsupported"
            )
        placeholders = {"power": f"{request.power_w:g}", "maximum": f"{MAX_FORCE_POWER_W:g}"}
        if not 0 < request.power_w <= MAX_FORCE_POWER_W:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_power",
                translation_placeholders=placeholders,
            )
        if (request.duration_min is None) == (request.target_soc is None):
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="duration_or_soc"
            )
        if request.duration_min is not None and not 1 <= request.duration_min <= MAX_FORCE_MINUTES:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="invalid_duration"
            )
        if request.target_soc is not None:
            soc = self.coordinator.data.readings.get("battery_soc")
            reached = isinstance(soc, int | float) and (
                soc <= request.target_soc if request.discharge else soc >= request.target_soc
            )
            if not 0 <= request.target_soc <= 100 or reached:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="invalid_target_soc",
                    translation_placeholders={
                        "target": f"{request.target_soc:g}",
                        "soc": "?" if soc is None else str(soc),
                    },
                )

    async def async_force(self, device_id: str | None, request: ForceRequest) -> ControlTask:
        """Start a forced charge or discharge and follow its task."""
        self.validate_force(request)
        task = await self._run(
            lambda: self.client.async_start_force(self._plant, device_id, request),
            device_id=device_id,
            action=FORCE_DISCHARGE if request.discharge else FORCE_CHARGE,
            value=request.power_w,
        )
        if task.state is TaskState.SUCCESS and not self.client.force_limits_native:
            self._limit_force(device_id, request)
        return task

    async def async_stop(self, device_id: str | None) -> ControlTask:
        """End a forced charge or discharge (it may replace the forced task still running)."""
        if not self.can_force:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="force_unsupported"
            )
        self._cancel_limits()
        running = self.task
        if running is not None and running.action in (FORCE_CHARGE, FORCE_DISCHARGE):
            self.task = None  # the stop ends it
        task = await self._run(
            lambda: self.client.async_stop_force(self._plant, device_id),
            device_id=device_id,
            action=STOP_FORCED_CHARGE,
        )
        if task.state is TaskState.SUCCESS:
            self._forget_force()
        return task

    def validate_time_of_use(self, windows: list[TouWindow]) -> None:
        """At most MAX_TOU_WINDOWS windows, each with a length, none overlapping another."""
        if not self.can_set_time_of_use:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="time_of_use_unsupported"
            )

        def invalid(reason: str) -> ServiceValidationError:
            return ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_windows",
                translation_placeholders={"reason": reason},
            )

        if not 1 <= len(windows) <= MAX_TOU_WINDOWS:
            raise invalid(f"{len(windows)} windows given, 1 to {MAX_TOU_WINDOWS} allowed")
        for window in windows:
            if window.start == window.end:
                raise invalid(f"{window.start}-{window.end} has no length")
            if not window.days:
                raise invalid(f"{window.start}-{window.end} has no days")
        if (pair := tou_overlap(windows)) is not None:
            first, second = pair
            raise invalid(f"{first.start}-{first.end} and {second.start}-{second.end} overlap")

    async def async_set_time_of_use(self, windows: list[TouWindow]) -> ControlTask:
        """Switch the plant to time of use with these windows and follow the task."""
        self.validate_time_of_use(windows)
        return await self._run(
            lambda: self.client.async_set_time_of_use(self._plant, windows),
            action=SET_TIME_OF_USE,
        )

    def _limit_force(self, device_id: str | None, request: ForceRequest) -> None:
        """The vendor cannot end the force by itself: stop it after the time or at the SOC."""
        if request.duration_min is not None:
            self._arm_force(
                device_id, request.discharge, until=time.time() + request.duration_min * 60
            )
        else:
            self._arm_force(device_id, request.discharge, target_soc=request.target_soc)

    def _arm_force(
        self,
        device_id: str | None,
        discharge: bool,
        *,
        until: float | None = None,
        target_soc: float | None = None,
    ) -> None:
        """End the force at ``until`` (wall clock) or at ``target_soc``; remembered for restarts."""
        self._cancel_limits()
        self._forces[self.plant_id] = {
            "device_id": device_id,
            "discharge": discharge,
            "until": until,
            "target_soc": target_soc,
        }
        schedule_save(self.hass)

        async def stop() -> None:
            try:
                await self.async_stop(device_id)
            except HomeAssistantError as err:
                self._stop_refused(device_id, discharge, err)

        if until is not None:

            @callback
            def elapsed(_now: object) -> None:
                self._scheduled_stop = None
                self.hass.async_create_task(stop(), f"{DOMAIN} end force {self.plant_id}")

            self._scheduled_stop = async_call_later(
                self.hass, max(0.0, until - time.time()), elapsed
            )
        else:
            target = cast(float, target_soc)

            @callback
            def check() -> None:
                soc = self.coordinator.data.readings.get("battery_soc")
                if not isinstance(soc, int | float):
                    return
                if (soc <= target) if discharge else (soc >= target):
                    self._cancel_limits()
                    self.hass.async_create_task(stop(), f"{DOMAIN} end force {self.plant_id}")

            self._soc_watch = self.coordinator.async_add_listener(check)
            check()

    def _stop_refused(self, device_id: str | None, discharge: bool, err: Exception) -> None:
        """The stop Home Assistant sent did not end the force: try again, and tell the user."""
        self._stop_failures += 1
        _LOGGER.warning(
            "Could not end the forced %s of plant %s (attempt %s, again in %s min): %s",
            "discharge" if discharge else "charge",
            self.plant_id,
            self._stop_failures,
            round(STOP_RETRY / 60),
            err,
        )
        if self._stop_failures >= STOP_FAILURES_REPORTED:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._stop_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="force_not_ended",
                translation_placeholders={"plant": self._plant.name, "reason": str(err)},
            )
        self._arm_force(device_id, discharge, until=time.time() + STOP_RETRY)

    @property
    def _stop_issue_id(self) -> str:
        return f"force_not_ended_{self.coordinator.config_entry.entry_id}_{self.plant_id}"

    def _forget_force(self) -> None:
        self._stop_failures = 0
        ir.async_delete_issue(self.hass, DOMAIN, self._stop_issue_id)
        if self._forces.pop(self.plant_id, None) is not None:
            schedule_save(self.hass)

    def _cancel_limits(self) -> None:
        if self._scheduled_stop is not None:
            self._scheduled_stop()
            self._scheduled_stop = None
        if self._soc_watch is not None:
            self._soc_watch()
            self._soc_watch = None

    async def _run(
        self,
        start: Callable[[], Awaitable[ControlTask]],
        *,
        spec: ControlSpec | None = None,
        device_id: str | None = None,
        action: str = "",
        value: Reading = None,
    ) -> ControlTask:
        if self.task is not None and not self.task.done:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="task_running",
                translation_placeholders={"action": self.task.action},
            )
        try:
            task = await start()
        except SolarCloudError as err:
            # Refused before a task existed: last_command shows the refusal all the same.
            now = time.time()
            self.last = ControlTask(
                id="",
                plant_id=self.plant_id,
                device_id=spec.device_id if spec is not None else device_id,
                action=spec.key if spec is not None else action,
                value=value,
                state=TaskState.FAILED,
                started_at=now,
                poll_interval=0.0,
                timeout=0.0,
                finished_at=now,
                reason=_reason(err),
            )
            self._notify()
            raise _refusal(err) from err
        self.task = self.last = task
        self._notify()
        deadline = time.monotonic() + WAIT_LIMIT
        follow = asyncio.ensure_future(self._follow(task, spec))
        self._follows.add(follow)
        follow.add_done_callback(self._follows.discard)
        try:
            task = await asyncio.wait_for(
                asyncio.shield(follow), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            # Still running: it goes on in the background; last_command follows it.
            return task
        except asyncio.CancelledError:
            if not follow.cancelled():
                raise
            # Unloaded while waiting: the task runs on in the cloud, no longer followed.
            return task
        return self._outcome(task)

    async def _follow(self, task: ControlTask, spec: ControlSpec | None) -> ControlTask:
        """Poll the task in the vendor's rhythm until it ends or times out; read back."""
        # On Home Assistant's own clock: the task's times are the client's.
        followed_since = time.monotonic()
        while not task.done:
            await self._sleep(max(1.0, task.poll_interval))
            if time.monotonic() - followed_since > task.timeout:
                task.state = TaskState.TIMED_OUT
                task.finished_at = task.started_at + (time.monotonic() - followed_since)
                task.reason = f"no result within {task.timeout:g} s"
                break
            try:
                task = await self.client.async_poll_task(task)
            except SolarCloudError as err:
                # A failed status query is not a failed task: ask again next time.
                _LOGGER.debug("Status of task %s unknown for now: %s", task.id, err)
            self.last = task
            self._notify()
        if self.task is task or (self.task is not None and self.task.id == task.id):
            self.task = None
        self.last = task
        if task.state is TaskState.SUCCESS:
            await self._read_back(spec)
        else:
            # The device may still take the value late: look again once it has had the time.
            self._read_back_later(spec)
        self._notify()
        return task

    def _read_back_later(self, spec: ControlSpec | None) -> None:
        @callback
        def due(_now: object) -> None:
            self._late_read = None
            if self.task is None or self.task.done:
                self.hass.async_create_background_task(
                    self._read_back(spec), f"{DOMAIN} read back {self.plant_id}"
                )

        if self._late_read is not None:
            self._late_read()
        self._late_read = async_call_later(self.hass, LATE_READ_BACK, due)

    async def _read_back(self, spec: ControlSpec | None) -> None:
        specs = [spec] if spec is not None else list(self.specs.values())
        if not specs:
            await self.coordinator.async_request_refresh()
            return
        try:
            values = await self.client.async_read_controls(self._plant, specs)
        except SolarCloudError as err:
            _LOGGER.debug("Read-back of plant %s failed: %s", self.plant_id, err)
        else:
            # A value the cloud cannot give now does not replace the one known.
            self.values.update({key: v for key, v in values.items() if v is not None})
        await self.coordinator.async_request_refresh()

    async def _sleep(self, seconds: float) -> None:
        """Wait on Home Assistant's clock (so that tests can move time)."""
        done = asyncio.Event()

        @callback
        def wake(_now: object) -> None:
            done.set()

        cancel = async_call_later(self.hass, seconds, wake)
        try:
            await done.wait()
        finally:
            cancel()

    def _outcome(self, task: ControlTask) -> ControlTask:
        if task.state is TaskState.FAILED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="task_failed",
                translation_placeholders={"action": task.action, "reason": task.reason or "?"},
            )
        if task.state is TaskState.TIMED_OUT:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="task_timed_out",
                translation_placeholders={"action": task.action, "reason": task.reason or "?"},
            )
        return task

    def diagnostics(self) -> dict[str, object]:
        """Controls offered, why others are not, and the latest task."""
        return {
            "controls": [f"{device}:{key}" for device, key in sorted(self.specs)],
            "not_offered": {k: v for k, v in self.reasons.items() if not k.endswith(":range")},
            # Offered, with a narrower range than the vendor's hint (and why).
            "range_notes": {
                k.removesuffix(":range"): v for k, v in self.reasons.items() if k.endswith(":range")
            },
            "can_force": self.can_force,
            "can_set_time_of_use": self.can_set_time_of_use,
            "last_task": None if self.last is None else task_summary(self.last),
        }


def task_summary(task: ControlTask) -> dict[str, Reading]:
    """What the last_command sensor and action responses show of a task."""
    return {
        "task_id": task.id,
        "action": task.action,
        "value": task.value,
        "status": task.state.value,
        "reason": task.reason,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
    }


def _refusal(err: SolarCloudError) -> HomeAssistantError:
    """The translated error of a command the cloud refused before it became a task."""
    if isinstance(err, CommandRejectedError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_rejected",
            translation_placeholders={"reason": _reason(err)},
        )
    if isinstance(err, PermissionDeniedError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="control_permission",
            translation_placeholders={"code": err.code or "?"},
        )
    if isinstance(err, RateLimitedError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="rate_limited",
            translation_placeholders={"retry_after": str(round(err.retry_after))},
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="cloud_unavailable",
        translation_placeholders={"error": str(err)},
    )


def _reason(err: SolarCloudError) -> str:
    parts = [p for p in (err.code, err.vendor_message) if p]
    return " ".join(parts) or str(err)


ACTIONS = (FORCE_CHARGE, FORCE_DISCHARGE, STOP_FORCED_CHARGE, SET_TIME_OF_USE)
