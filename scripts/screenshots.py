"""Screenshots of Solar Cloud in the running Home Assistant of scripts/develop.

Opens the frontend in headless Chromium, logs in as demo / demo and saves a screenshot of each
page a new user sees under screenshots/ (git ignores it), to look for unnamed entities, raw
keys, missing units and wrong icons:

- ``integration``: the integration page with its entries;
- ``config-flow``: the first config-flow dialog, the vendor step, and the credentials step of
  every vendor (for FusionSolar OAuth Connect: where that choice leads);
- ``options``: the options form of the first entry; ``reconfigure``: every entry's reconfigure
  form;
- ``controls``: the more-info dialog and the entity settings of the first select and the first
  number of every vendor;
- ``repairs``: the repairs page, and the first Solar Cloud issue when one is raised;
- ``energy``: the Energy dashboard; ``devices``: every Solar Cloud device page.

Every flow it opens is aborted again, so nothing new is configured. Pick a subset with
``--only`` (for example ``--only config-flow controls``).

Needs Chromium (Debian: ``apt-get install chromium``) and Playwright's Python package
(``.venv/bin/pip install playwright``; it drives the system Chromium, no browser download).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
EN = ROOT / "custom_components" / "solar_cloud" / "translations" / "en.json"
SETTLE_MS = 4000
GROUPS = (
    "integration",
    "config-flow",
    "options",
    "reconfigure",
    "controls",
    "repairs",
    "energy",
    "devices",
)
VIEWPORT = {"width": 1400, "height": 1000}
TALL = {"width": 1400, "height": 2400}
SUBMIT = re.compile(r"^(Submit|Next)$")

# The Solar Cloud entities the frontend knows: [entity_id, config entry id, translation key].
_ENTITIES_JS = """() => {
    const hass = document.querySelector("home-assistant").hass;
    return Object.values(hass.entities)
        .filter(e => e.platform === "solar_cloud")
        .map(e => [
            e.entity_id,
            (hass.devices[e.device_id] || {config_entries: [null]}).config_entries[0],
            e.translation_key || null,
        ]);
}"""
_ENTRIES_JS = """async () => {
    const hass = document.querySelector("home-assistant").hass;
    const entries = await hass.callWS({type: "config_entries/get", domain: "solar_cloud"});
    return entries.map(e => [e.entry_id, e.title]);
}"""
# Abort every Solar Cloud config, options or repair flow still in progress.
_ABORT_JS = """async () => {
    const hass = document.querySelector("home-assistant").hass;
    const flows = await hass.callWS({type: "config_entries/flow/progress"});
    const ours = flows.filter(f => f.handler === "solar_cloud");
    for (const flow of ours) {
        await hass.callApi("DELETE", `config/config_entries/flow/${flow.flow_id}`);
    }
    return ours.length;
}"""
_MORE_INFO_JS = """([entityId, view]) => {
    document.querySelector("home-assistant").dispatchEvent(new CustomEvent("hass-more-info", {
        detail: {entityId, view}, bubbles: true, composed: true,
    }));
}"""


def _slug(text: str) -> str:
    return re.sub(r"[\W_]+", "-", text).strip("-").lower()


class Shooter:
    """One logged-in browser page and the screenshots taken with it."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.taken: list[str] = []

    async def save(self, name: str) -> None:
        await self.page.wait_for_timeout(SETTLE_MS)
        await self.page.screenshot(path=str(OUT / f"{name}.png"))
        self.taken.append(name)
        print(f"screenshots/{name}.png")

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)
        await self.page.wait_for_timeout(SETTLE_MS)

    async def shot(self, name: str, path: str) -> None:
        await self.goto(path)
        await self.save(name)

    async def close_dialog(self) -> None:
        await self.page.keyboard.press("Escape")
        await self.page.wait_for_timeout(1000)

    async def abort_flows(self) -> None:
        if aborted := await self.page.evaluate(_ABORT_JS):
            print(f"screenshots: aborted {aborted} open flow(s)")

    async def submit(self) -> None:
        await self.page.get_by_role("button", name=SUBMIT).click()

    # -- groups ---------------------------------------------------------------------------

    async def integration(self) -> None:
        await self.shot("integration", "/config/integrations/integration/solar_cloud")

    async def config_flow(self) -> None:
        vendors: dict[str, str] = json.loads(EN.read_text(encoding="utf-8"))["selector"]["vendor"][
            "options"
        ]
        # The frontend asks first whether to set it up; the vendor step follows.
        await self.goto("/config/integrations/dashboard/add?domain=solar_cloud")
        await self.save("config-flow")
        await self.page.get_by_role("button", name="OK").click()
        await self.save("config-flow-vendor")
        await self.close_dialog()
        await self.abort_flows()
        # Then once per vendor, from the integration page's add button (the dashboard's
        # ?domain= link does not always open the dialog again).
        for key, label in vendors.items():
            await self.goto("/config/integrations/integration/solar_cloud")
            await self.page.get_by_role("button", name="Add hub").click()
            await self.page.wait_for_timeout(SETTLE_MS)
            await self.page.get_by_text(label, exact=True).click()
            await self.submit()
            await self.save(f"config-flow-{_slug(key)}")
            await self.close_dialog()
            await self.abort_flows()

    def _entry(self, index: int) -> Any:
        """An entry's row on the integration page (the entry itself, not its devices)."""
        return (
            self.page.locator("ha-config-entry-row")
            .nth(index)
            .locator("ha-md-list-item.config_entry")
        )

    async def options(self) -> None:
        await self.goto("/config/integrations/integration/solar_cloud")
        # The cog beside the entry's menu.
        await self._entry(0).locator(":scope > ha-icon-button[slot=end]").first.click()
        await self.save("options")
        await self.close_dialog()
        await self.abort_flows()

    async def reconfigure(self) -> None:
        """The reconfigure form of every entry (each vendor has its own fields)."""
        await self.goto("/config/integrations/integration/solar_cloud")
        count = await self.page.locator("ha-config-entry-row").count()
        for index in range(count):
            await self.goto("/config/integrations/integration/solar_cloud")
            entry = self._entry(index)
            title = await entry.locator("div[slot=headline]").inner_text()
            await entry.locator("ha-dropdown ha-icon-button[slot=trigger]").first.click()
            await self.page.wait_for_timeout(500)
            await entry.locator("ha-dropdown-item[value=reconfigure]").first.click()
            await self.save(f"reconfigure-{_slug(title.split()[0])}")
            await self.close_dialog()
            await self.abort_flows()

    async def controls(self) -> None:
        entities = await self.page.evaluate(_ENTITIES_JS)
        entries = dict(await self.page.evaluate(_ENTRIES_JS))
        for domain in ("select", "number"):
            seen: set[str] = set()
            for entity_id, entry_id, _key in sorted(entities, key=lambda e: e[0]):
                if not entity_id.startswith(f"{domain}.") or entry_id in seen:
                    continue
                seen.add(entry_id)
                # The entry's title starts with the vendor's name: "FusionSolar demo ...".
                vendor = _slug(str(entries.get(entry_id, entry_id)).split()[0])
                for view in ("info", "settings"):
                    await self.goto("/config/integrations/integration/solar_cloud")
                    await self.page.evaluate(_MORE_INFO_JS, [entity_id, view])
                    await self.save(f"{domain}-{view}-{vendor}")
                    await self.close_dialog()

    async def repairs(self) -> None:
        await self.shot("repairs", "/config/repairs")
        issues = await self.page.evaluate(
            """async () => {
                const hass = document.querySelector("home-assistant").hass;
                const r = await hass.callWS({type: "repairs/list_issues"});
                return r.issues.filter(i => i.domain === "solar_cloud" && !i.ignored)
                    .map(i => i.translation_key);
            }"""
        )
        print(f"screenshots: Solar Cloud repair issues: {issues or 'none'}")
        if issues:
            await self.page.get_by_text("Solar Cloud").first.click()
            await self.save("repairs-issue")
            await self.close_dialog()
            await self.abort_flows()

    async def energy(self) -> None:
        await self.shot("energy", "/energy")

    async def devices(self) -> None:
        devices = await self.page.evaluate(
            """() => Object.values(document.querySelector("home-assistant").hass.devices)
                .filter(d => d.identifiers.some(i => i[0] === "solar_cloud"))
                .map(d => [d.id, d.name_by_user || d.name])"""
        )
        # Tall enough for the Controls, Configuration and Diagnostic cards below the sensors.
        await self.page.set_viewport_size(TALL)
        try:
            for device_id, name in sorted(devices, key=lambda d: str(d[1])):
                await self.shot(f"device-{_slug(str(name))}", f"/config/devices/device/{device_id}")
        finally:
            await self.page.set_viewport_size(VIEWPORT)


async def _shoot(base: str, chromium: str, groups: list[str]) -> int:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("screenshots: .venv/bin/pip install playwright (and apt-get install chromium)")
        return 1
    OUT.mkdir(exist_ok=True)
    failed: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = await browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(15000)
        await page.goto(base + "/")
        await page.wait_for_selector("input[name=username]", timeout=60000)
        await page.fill("input[name=username]", "demo")
        await page.fill("input[name=password]", "demo")
        await page.keyboard.press("Enter")
        await page.wait_for_timeout(SETTLE_MS)
        shooter = Shooter(page, base)
        try:
            for group in groups:
                try:
                    await getattr(shooter, group.replace("-", "_"))()
                except Exception as err:  # one broken page must not stop the rest
                    failed.append(group)
                    print(f"screenshots: {group} failed: {err}", file=sys.stderr)
                    await page.screenshot(path=str(OUT / f"failed-{group}.png"))
        finally:
            await page.goto(base + "/config/integrations/integration/solar_cloud")
            await page.wait_for_timeout(SETTLE_MS)
            await shooter.abort_flows()
            await browser.close()
    if failed:
        print(f"screenshots: failed: {', '.join(failed)} (see screenshots/failed-*.png)")
    return 1 if failed else 0


def main() -> int:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="the groups to take"
    )
    args = parser.parse_args()
    groups = [group for group in GROUPS if group in args.only]
    return asyncio.run(_shoot(args.url.rstrip("/"), args.chromium, groups))


if __name__ == "__main__":
    sys.exit(main())
