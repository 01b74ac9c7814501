"""Simulated days of polling against the vendor simulators, measured.

Each run sets up one account with N plants (with the devices each simulator gives a plant)
and lets one coordinator per plant poll it on the integration's own rhythm for D simulated
days. The clock is virtual: it jumps from one due poll to the next, so a week takes minutes.
The simulator runs in a child process on loopback and reads the same virtual clock, so the
client's CPU time is measured apart from the simulator's.

Printed per run: calls per endpoint per day against the vendor's allowance, real-time calls
against the minimum that 5-minute freshness needs, rate-limit refusals, p95 data age, wall
time to set up, client CPU time per poll round and peak memory. ``--json PATH`` writes the
same figures as a list of runs.

The statistics backfill runs beside the polls (``--history-days``, default 30; ``--no-history``
turns it off): its calls are in the per-endpoint figures and the refusals, and each run prints
its reads by reason, how often the history share said wait, hours that never arrived and when
every day of the depth had been read.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import json
import math
import multiprocessing
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY = 86400.0
# Monday 2026-06-01 00:00 UTC: a summer week.
START = 1_780_272_000.0
SAMPLE_EVERY = 60.0
# Home Assistant schedules a coordinator's next refresh at the whole second in which the last
# one ended, plus the interval, plus a fraction of a second fixed per coordinator.
HA_OFFSET = (0.05, 0.5)
VENDORS = ("huawei_fusionsolar", "sungrow_isolarcloud", "saj", "shinemonitor")
# The simulator's default app keys.
SUNGROW_APPKEY = "APPKEY0123456789ABCDEF0123456789"
SUNGROW_ACCESS_KEY = "ACCESSKEY0123456789abcdef012345"
SAJ_APP_ID = "SAJAPPID0001"
SAJ_APP_SECRET = "0123456789abcdef0123456789abcdef"
SHINE_KEY = "0123456789ABCDEF"
# Real-time endpoints, whose calls are compared with the minimum for 5-minute freshness.
REALTIME = {
    "huawei_fusionsolar": ("getStationRealKpi", "getDevRealKpi"),
    "sungrow_isolarcloud": ("getDeviceRealTimeData", "getPVInverterRealTimeData"),
    "saj": ("/plant/list", "/plant/data", "/device/inverter/datasigns"),
    "shinemonitor": (
        "queryDeviceStatus",
        "queryPlantCurrentData",
        "queryDeviceLastData",
        "querySPDeviceLastData",
    ),
}


@dataclass
class Run:
    """The figures of one run."""

    vendor: str
    plants: int
    devices: int
    days: float
    calls: dict[str, float] = field(default_factory=dict)
    calls_per_day: dict[str, float] = field(default_factory=dict)
    allowance: dict[str, float] = field(default_factory=dict)
    min_calls: float = 0.0
    realtime_calls: float = 0.0
    ratio: float = 0.0
    refusals: int = 0
    p95_age_s: float = 0.0
    max_age_s: float = 0.0
    rounds: int = 0
    setup_s: float = 0.0
    cpu_ms_per_poll: float = 0.0
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0
    # With --controls: control tasks by outcome, and control requests refused for the quota.
    control_tasks: dict[str, int] = field(default_factory=dict)
    control_refusals: int = 0
    control_held_s: float = 0.0
    # The statistics backfill (on unless --no-history): reads by reason, what they cost, whether
    # every hour arrived, and when the history before the start was complete.
    history_days: int = 0
    history_reads: dict[str, int] = field(default_factory=dict)
    history_share_waits: int = 0
    history_failures: int = 0
    history_hours: int = 0
    history_missing_hours: int = 0
    history_complete_after_h: float | None = None
    history_days_read: int = 0
    history_days_wanted: int = 0


class _Dispatcher:
    """Battery dispatch as an automation would send it, per plant and day (``--controls``).

    Each day: the controls are looked up again (as Home Assistant does daily); at 02:00 a forced
    charge of 30 minutes (stopped by the caller where the cloud does not end it); at 08:00 a
    select (the working mode, else the first one) switched to another option, at 09:00 back.
    Tasks are polled in their own rhythm; one task per plant at a time, as in Home Assistant.
    """

    def __init__(self, client: Any, account: Any, clock: Callable[[], float]) -> None:
        self.client = client
        self.account = account
        self.clock = clock
        self.specs: dict[str, list[Any]] = {}
        self.events: list[tuple[float, int, str, str, Any]] = []
        self.polls: list[tuple[float, int, Any]] = []
        self.busy: dict[str, Any] = {}
        self.outcomes: dict[str, int] = {}
        self.refusals = 0
        # Virtual time the dispatch spent waiting for control allowances: it runs in line with
        # the polling loop here (Home Assistant runs it beside the polls), so this much of the
        # data age is the bench's own.
        self.held = 0.0
        self._seq = 0

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def _push(self, when: float, plant: str, what: str, arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.events, (when, self._seq, plant, what, arg))

    def plan(
        self, plants: list[str], start: float, days: float, offset: Callable[[str], float]
    ) -> None:
        for day in range(math.ceil(days)):
            base = start + day * DAY
            for plant in plants:
                o = offset(plant)
                if day:
                    self._push(base + o, plant, "discover")
                self._push(base + 2 * 3600 + o, plant, "force")
                self._push(base + 8 * 3600 + o, plant, "switch")
                self._push(base + 9 * 3600 + o, plant, "switch")

    def next_time(self) -> float:
        times = [self.events[0][0]] if self.events else []
        if self.polls:
            times.append(self.polls[0][0])
        return min(times) if times else math.inf

    async def discover(self, plant_id: str) -> None:
        from custom_components.solar_cloud.api.errors import RateLimitedError, SolarCloudError

        plant = self.account.plants[plant_id]
        devices = [d for d in self.account.devices.values() if d.plant_id == plant_id]
        try:
            specs, _reasons = await self.client.async_get_controls(plant, devices)
            if specs:
                await self.client.async_read_controls(plant, specs)
        except RateLimitedError:
            self.refusals += 1
            return
        except SolarCloudError:
            self._count("look-up failed")
            return
        self.specs[plant_id] = specs

    async def _start(self, plant_id: str, start: Callable[[], Any]) -> None:
        from custom_components.solar_cloud.api.errors import RateLimitedError, SolarCloudError

        if plant_id in self.busy:
            self._count("skipped (task running)")
            return
        try:
            task = await start()
        except RateLimitedError:
            self.refusals += 1
            return
        except SolarCloudError:
            self._count("refused")
            return
        self._count("started")
        self._track(plant_id, task)

    def _track(self, plant_id: str, task: Any) -> None:
        if task.done:
            self._count(task.state.value)
            return
        self.busy[plant_id] = task
        self._seq += 1
        heapq.heappush(self.polls, (self.clock() + task.poll_interval, self._seq, task))

    async def run_due(self, now: float) -> None:
        start = self.clock()
        try:
            await self._run_due(now)
        finally:
            self.held += self.clock() - start

    async def _run_due(self, now: float) -> None:
        from custom_components.solar_cloud.api.controls import (
            BATTERY_WORKING_MODE,
            ControlKind,
            ForceRequest,
        )
        from custom_components.solar_cloud.api.errors import RateLimitedError, SolarCloudError

        while self.polls and self.polls[0][0] <= now:
            _t, _n, task = heapq.heappop(self.polls)
            try:
                task = await self.client.async_poll_task(task)
            except RateLimitedError:
                self.refusals += 1
            except SolarCloudError:
                pass
            if task.done:
                self.busy.pop(task.plant_id, None)
                self._count(task.state.value)
            elif self.clock() - task.started_at > task.timeout:
                self.busy.pop(task.plant_id, None)
                self._count("timed_out")
            else:
                self._seq += 1
                heapq.heappush(self.polls, (self.clock() + task.poll_interval, self._seq, task))
        while self.events and self.events[0][0] <= now:
            _t, _n, plant_id, what, _arg = heapq.heappop(self.events)
            plant = self.account.plants[plant_id]
            specs = self.specs.get(plant_id) or []
            devices = [d for d in self.account.devices.values() if d.plant_id == plant_id]
            if what == "discover":
                await self.discover(plant_id)
            elif what == "force" and specs and self.client.can_force(plant, devices):
                request = ForceRequest(discharge=False, power_w=1000.0, duration_min=30.0)
                await self._start(
                    plant_id,
                    lambda p=plant, r=request: self.client.async_start_force(p, None, r),
                )
                if not self.client.force_limits_native:
                    self._push(self.clock() + 1800, plant_id, "stop")
            elif what == "stop":
                await self._start(plant_id, lambda p=plant: self.client.async_stop_force(p, None))
            elif what == "switch":
                selects = [s for s in specs if s.kind is ControlKind.SELECT]
                selects.sort(key=lambda s: s.key != BATTERY_WORKING_MODE)
                if not selects:
                    continue
                spec = selects[0]
                current = (await self.client.async_read_controls(plant, [spec])).get(
                    (spec.device_id, spec.key)
                )
                options = [o for o in spec.options if o not in (current, "forced")]
                if options:
                    await self._start(
                        plant_id,
                        lambda p=plant, c=spec, v=options[0]: self.client.async_start_control(
                            p, c, v
                        ),
                    )


# -- the simulator process -----------------------------------------------------------------------


class _History:
    """The statistics backfill beside the polls, as Home Assistant runs it (``HistoryPlanner``).

    Each round makes every read that is due, until the history share says wait; the hours read
    are kept per plant so that the run can tell whether any hour went missing.
    """

    def __init__(self, client: Any, account: Any, clock: Callable[[], float], depth: int) -> None:
        from custom_components.solar_cloud.api.history import HistoryPlanner

        self.client = client
        self.account = account
        self.clock = clock
        self.planner = HistoryPlanner(client.history_plan(list(account.plants.values())), depth)
        self.due = clock() + 30.0
        self.reads: dict[str, int] = {}
        self.share_waits = 0
        self.failures = 0
        self.hours: dict[str, set[float]] = {}
        self.complete_at: float | None = None
        self.start = clock()

    def _zones(self) -> dict[str, Any]:
        from datetime import UTC
        from zoneinfo import ZoneInfo

        from custom_components.solar_cloud.api.values import parse_offset

        zones: dict[str, Any] = {}
        for plant in self.account.plants.values():
            label = plant.time_zone or ""
            zones[plant.id] = ZoneInfo(label) if "/" in label else parse_offset(label) or UTC
        return zones

    async def run_due(self, now: float) -> None:
        from datetime import UTC

        from custom_components.solar_cloud.api.errors import RateLimitedError, SolarCloudError

        if now < self.due:
            return
        plants = list(self.account.plants.values())
        self.planner.set_plants(self._zones(), now)
        self.planner.plan = self.client.history_plan(plants)
        for _ in range(50):
            now = self.clock()
            job = self.planner.next_job(now)
            if job is None:
                self.due = now + self.planner.next_due_in(now)
                break
            chosen = [self.account.plants[p] for p in job.plants]
            try:
                days = await self.client.async_get_energy_days(chosen, job.day, UTC)
            except RateLimitedError as err:
                self.share_waits += 1
                self.due = now + max(60.0, err.retry_after or 0.0)
                break
            except SolarCloudError:
                self.failures += 1
                self.due = now + 300.0
                break
            reason = job.reason.name.lower()
            self.reads[reason] = self.reads.get(reason, 0) + 1
            ended = self.clock() - 3600.0
            for plant_id, energy in days.items():
                got = self.hours.setdefault(plant_id, set())
                got.update(h.timestamp() for h in energy.hours if h.timestamp() <= ended)
            self.planner.record(job, self.clock())
        else:
            self.due = self.clock() + 1.0
        if self.complete_at is None:
            progress = self.planner.progress(self.clock())
            if progress and all(p["read"] == p["days"] for p in progress.values()):
                self.complete_at = self.clock()

    def missing_hours(self, end: float) -> int:
        """Hours from the start of the run that never came, up to the last hour that the
        current day's refresh must have read by ``end`` (the history before the start, still
        being read, is reported apart)."""
        missing = 0
        refresh = self.planner.plan.refresh
        # Without current-day reads a day comes once it has settled, the next day.
        lag = refresh + 2 * 3600.0 if math.isfinite(refresh) else DAY + 4 * 3600.0
        last = math.floor((end - lag) / 3600.0) * 3600.0
        for got in self.hours.values():
            if got:
                first = max(min(got), math.floor(self.start / 3600.0) * 3600.0)
                expected = int((last - first) // 3600.0) + 1
                missing += max(0, expected - sum(1 for h in got if first <= h <= last))
        return missing


def _serve(vendor: str, port: int, plants: int, now: Synchronized[float], ready: Any) -> None:
    from aiohttp import web

    from tests.simulators.huawei import HuaweiSimulator
    from tests.simulators.saj import SajSimulator
    from tests.simulators.shinemonitor import ShineMonitorSimulator
    from tests.simulators.sungrow import SungrowSimulator

    sim: HuaweiSimulator | SungrowSimulator | SajSimulator | ShineMonitorSimulator
    if vendor == "shinemonitor":
        # The simulator's default limit: 300 calls a minute per account.
        sim = ShineMonitorSimulator(
            plants=plants,
            username="bench",
            password="bench",
            company_key=SHINE_KEY,
            clock=lambda: now.value,
        )
    elif vendor == "saj":
        sim = SajSimulator(plants=plants, clock=lambda: now.value)
    elif vendor == "sungrow_isolarcloud":
        sim = SungrowSimulator(
            plants=plants, username="bench", password="bench", clock=lambda: now.value
        )
    else:
        sim = HuaweiSimulator(
            plants=plants, username="bench", system_code="bench", clock=lambda: now.value
        )

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"calls": dict(sim.calls), "refusals": dict(sim.refusals), "logins": sim.logins}
        )

    app = sim.make_app()
    app.router.add_get("/_bench/stats", stats)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- one run ----------------------------------------------------------------------------------


def _allowances(plants: int, devices_by_type: dict[int, int]) -> dict[str, float]:
    """The vendor document's allowances per day for this inventory."""
    per_100 = math.ceil(plants / 100)
    dev_calls = sum(math.ceil(n / 100) for n in devices_by_type.values())
    return {
        "login": 5 * 144,
        "stations": 24,
        "getDevList": per_100 + 24,
        "getStationRealKpi": per_100 * 288,
        "getDevRealKpi": dev_calls * 288,
        "getAlarmList": per_100 * 48,
    }


async def _run(
    vendor: str, plants: int, days: float, controls: bool = False, history_days: int | None = 30
) -> Run:
    import aiohttp

    from custom_components.solar_cloud.api.account import AccountMemory, CloudAccount
    from custom_components.solar_cloud.api.huawei import HuaweiClient
    from custom_components.solar_cloud.api.quota import Quota
    from custom_components.solar_cloud.api.saj import SajClient
    from custom_components.solar_cloud.api.shinemonitor import ShineMonitorClient
    from custom_components.solar_cloud.api.sungrow import SungrowClient

    if vendor not in VENDORS:
        raise SystemExit(f"no simulator for {vendor}")
    context = multiprocessing.get_context("fork")
    now = context.Value("d", START)
    ready = context.Event()
    port = _free_port()
    server = context.Process(target=_serve, args=(vendor, port, plants, now, ready), daemon=True)
    server.start()
    if not ready.wait(30):
        raise SystemExit("the simulator did not start")

    def clock() -> float:
        return float(now.value)

    def advance(to: float) -> None:
        now.value = max(now.value, to)

    async def sleep(seconds: float) -> None:
        advance(clock() + seconds)
        await asyncio.sleep(0)

    run = Run(vendor=vendor, plants=plants, devices=0, days=days)
    url = f"http://127.0.0.1:{port}"
    wall_start = time.perf_counter()
    try:
        async with aiohttp.ClientSession() as session:
            quota = Quota(clock=clock, sleep=sleep)
            memory = AccountMemory(quota=quota)
            client: HuaweiClient | SungrowClient | SajClient | ShineMonitorClient
            if vendor == "shinemonitor":
                client = ShineMonitorClient(
                    session,
                    url,
                    "bench",
                    "bench",
                    SHINE_KEY,
                    quota=quota,
                    session_state=memory.session,
                    clock=clock,
                )
            elif vendor == "saj":
                client = SajClient(
                    session,
                    url,
                    SAJ_APP_ID,
                    SAJ_APP_SECRET,
                    quota=quota,
                    session_state=memory.session,
                    clock=clock,
                )
            elif vendor == "sungrow_isolarcloud":
                client = SungrowClient(
                    session,
                    url,
                    SUNGROW_APPKEY,
                    SUNGROW_ACCESS_KEY,
                    "bench",
                    "bench",
                    quota=quota,
                    session_state=memory.session,
                    clock=clock,
                    sleep=sleep,
                )
            else:
                client = HuaweiClient(
                    session,
                    url,
                    "bench",
                    "bench",
                    quota=quota,
                    session_state=memory.session,
                    clock=clock,
                )
            account = CloudAccount(client, memory=memory, clock=clock)
            t0 = time.perf_counter()
            await account.async_setup()
            ids = sorted(account.plants)
            await asyncio.gather(*(account.async_get_plant_data(p) for p in ids))
            run.setup_s = round(time.perf_counter() - t0, 3)
            run.devices = len(account.devices)
            types: dict[int, int] = {}
            for device in account.devices.values():
                types[int(device.type_code)] = types.get(int(device.type_code), 0) + 1
            if isinstance(client, ShineMonitorClient):
                round_cost = client.calls_per_round(
                    list(account.plants.values()), list(account.devices.values())
                )
            elif isinstance(client, SajClient):
                # The plant list (statuses, 100 plants a page), each plant's data, each inverter.
                round_cost = math.ceil(plants / 100) + plants + len(account.devices)
            elif isinstance(client, SungrowClient):
                # Plant points and each device type, 50 keys per call.
                round_cost = client.calls_per_round(
                    list(account.plants.values()), list(account.devices.values())
                )
            else:
                round_cost = math.ceil(plants / 100) + sum(
                    math.ceil(n / 100) for n in types.values()
                )

            end = START + days * DAY
            offsets = {
                p: HA_OFFSET[0] + (HA_OFFSET[1] - HA_OFFSET[0]) * (i % 97) / 97
                for i, p in enumerate(ids)
            }
            due = {p: math.floor(clock()) + offsets[p] + account.period for p in ids}
            dispatcher: _Dispatcher | None = None
            if controls and hasattr(client, "async_get_controls"):
                dispatcher = _Dispatcher(client, account, clock)
                for p in ids:
                    await dispatcher.discover(p)
                dispatcher.plan(ids, START, days, lambda p: 60.0 * (ids.index(p) % 60))
            history: _History | None = None
            if history_days is not None and hasattr(client, "async_get_energy_days"):
                history = _History(client, account, clock, history_days)
            ages: list[float] = []
            # When each round's data arrived. A round can spend virtual time waiting for
            # room in an allowance, so a sample taken inside it must see the data of the
            # round before, not the one that ended after the sample's moment.
            arrivals: list[float] = []
            next_sample = START + SAMPLE_EVERY
            cpu = 0.0
            failures = 0
            while True:
                step = min(due.values())
                if dispatcher is not None:
                    step = min(step, dispatcher.next_time())
                if history is not None:
                    step = min(step, history.due)
                if memory.realtime_at is not None and (
                    not arrivals or arrivals[-1] != memory.realtime_at
                ):
                    arrivals.append(memory.realtime_at)
                while next_sample <= min(step, end):
                    index = bisect.bisect_right(arrivals, next_sample)
                    if index:
                        ages.append(next_sample - arrivals[index - 1])
                    next_sample += SAMPLE_EVERY
                if step >= end:
                    break
                advance(step)
                if dispatcher is not None:
                    await dispatcher.run_due(clock())
                if history is not None:
                    await history.run_due(clock())
                batch = [p for p in ids if due[p] <= step]
                rounds_before = account.rounds
                c0 = time.process_time()
                results = await asyncio.gather(
                    *(account.async_get_plant_data(p) for p in batch), return_exceptions=True
                )
                cpu += time.process_time() - c0 if account.rounds > rounds_before else 0.0
                failures += sum(isinstance(r, BaseException) for r in results)
                finished = math.floor(clock())
                for p in batch:
                    due[p] = finished + offsets[p] + account.period
            run.rounds = account.rounds
            if history is not None:
                run.history_days = history.planner.depth_days
                run.history_reads = dict(sorted(history.reads.items()))
                run.history_share_waits = history.share_waits
                run.history_failures = history.failures
                run.history_hours = sum(len(h) for h in history.hours.values())
                run.history_missing_hours = history.missing_hours(end)
                progress = history.planner.progress(clock()).values()
                run.history_days_read = sum(p["read"] for p in progress)
                run.history_days_wanted = sum(p["days"] for p in progress)
                if history.complete_at is not None:
                    run.history_complete_after_h = round((history.complete_at - START) / 3600, 1)
            if dispatcher is not None:
                run.control_tasks = dict(sorted(dispatcher.outcomes.items()))
                run.control_refusals = dispatcher.refusals
                run.control_held_s = round(dispatcher.held, 1)
            async with session.get(f"{url}/_bench/stats") as response:
                stats = await response.json()
    finally:
        server.kill()
        server.join()
    run.wall_s = round(time.perf_counter() - wall_start, 1)
    calls: dict[str, int] = stats["calls"]
    run.calls = {k: float(v) for k, v in sorted(calls.items())}
    run.calls_per_day = {k: round(v / days, 1) for k, v in run.calls.items()}
    if vendor == "saj":
        # The document states no number for the hourly and daily allowances.
        run.allowance = {}
    elif vendor == "shinemonitor":
        # No documented limit; the simulator refuses past 300 calls a minute.
        run.allowance = {"all calls": 300 * 1440}
        run.calls_per_day["all calls"] = round(sum(calls.values()) / days, 1)
    elif vendor == "sungrow_isolarcloud":
        # One hourly cap for every call of the app (2000 on the basic plan).
        run.allowance = {"all calls": 2000 * 24}
        run.calls_per_day["all calls"] = round(sum(calls.values()) / days, 1)
    else:
        run.allowance = _allowances(plants, types)
    run.refusals = sum(stats["refusals"].values()) + failures
    run.min_calls = float(round_cost * days * DAY / 300.0)
    run.realtime_calls = float(sum(calls.get(name, 0) for name in REALTIME[vendor]))
    # Set-up's own round comes on top of the days' rounds.
    run.ratio = round(run.realtime_calls / run.min_calls, 3)
    ages.sort()
    run.p95_age_s = round(ages[int(0.95 * (len(ages) - 1))], 1) if ages else 0.0
    run.max_age_s = round(ages[-1], 1) if ages else 0.0
    run.cpu_ms_per_poll = round(1000 * cpu / max(1, run.rounds - 1), 2)
    run.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return run


def _child(
    vendor: str, plants: int, days: float, controls: bool, history: int | None, out: Any
) -> None:
    out.send(asdict(asyncio.run(_run(vendor, plants, days, controls, history))))


def run_isolated(
    vendor: str, plants: int, days: float, controls: bool = False, history: int | None = 30
) -> dict[str, Any]:
    """One run in a process of its own, so that its memory figure is its own."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(vendor, plants, days, controls, history, child))
    process.start()
    result: dict[str, Any] = parent.recv()
    process.join()
    return result


def _print(run: dict[str, Any], out: Callable[[str], None]) -> None:
    out(
        f"\n{run['vendor']}: {run['plants']} plants, {run['devices']} devices, "
        f"{run['days']:g} days ({run['rounds']} rounds, {run['wall_s']} s wall)"
    )
    out(f"  {'endpoint':<20} {'calls/day':>10} {'allowance/day':>14} {'use':>6}")
    for name, per_day in run["calls_per_day"].items():
        allowance = run["allowance"].get(name)
        use = f"{100 * per_day / allowance:5.1f}%" if allowance else "     -"
        out(f"  {name:<20} {per_day:>10.1f} {allowance or '-':>14} {use}")
    out(
        f"  real-time calls {run['realtime_calls']:.0f} / minimum {run['min_calls']:.0f} "
        f"= {run['ratio']:.3f}"
    )
    out(f"  rate-limit refusals {run['refusals']}")
    if run.get("control_tasks"):
        tasks = ", ".join(f"{k} {v}" for k, v in run["control_tasks"].items())
        out(f"  control tasks: {tasks}; refused for the quota {run['control_refusals']}")
        out(f"  dispatch waited {run['control_held_s']} s (in line with the polls here)")
    if run.get("history_reads"):
        reads = ", ".join(f"{k} {v}" for k, v in run["history_reads"].items())
        complete = run["history_complete_after_h"]
        out(
            f"  history ({run['history_days']} days deep): reads {reads}; "
            f"share waits {run['history_share_waits']}, failures {run['history_failures']}; "
            f"{run['history_hours']} plant-hours, {run['history_missing_hours']} missing since "
            f"the start; plant-days read {run['history_days_read']}/{run['history_days_wanted']}"
            f", all after {complete if complete is not None else '-'} h"
        )
    out(f"  data age p95 {run['p95_age_s']} s (max {run['max_age_s']} s)")
    out(
        f"  set-up {run['setup_s']} s, CPU {run['cpu_ms_per_poll']} ms per round, "
        f"peak RSS {run['peak_rss_mb']} MB"
    )


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--vendor", action="append", default=None, choices=VENDORS, help="vendor (repeatable)"
    )
    parser.add_argument(
        "--plants", type=int, action="append", default=None, help="plant count (repeatable)"
    )
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--json", type=Path, default=None, help="write the runs to this file")
    parser.add_argument(
        "--controls",
        action="store_true",
        help="also dispatch the batteries every day (forced charge, select switches)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=30,
        help="days of history the statistics backfill imports before the start (default 30)",
    )
    parser.add_argument(
        "--no-history", action="store_true", help="run without the statistics backfill"
    )
    args = parser.parse_args()
    history = None if args.no_history else args.history_days
    vendors = args.vendor or list(VENDORS)
    runs = []
    for vendor in vendors:
        # The iSolarCloud basic plan (2000 calls an hour) is sized for homes and small fleets.
        default = [1, 10, 100, 1000] if vendor == "huawei_fusionsolar" else [1, 10, 100]
        for plants in args.plants or default:
            run = run_isolated(vendor, plants, args.days, args.controls, history)
            _print(run, print)
            runs.append(run)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2) + "\n")
    worst = {
        "refusals": sum(r["refusals"] + r["control_refusals"] for r in runs),
        "history_missing_hours": sum(r["history_missing_hours"] for r in runs),
        "ratio": max(r["ratio"] for r in runs),
        "p95_age_s": max(r["p95_age_s"] for r in runs),
    }
    print(f"\nall runs: {json.dumps(worst)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
