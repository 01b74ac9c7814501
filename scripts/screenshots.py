"""Screenshots of Solar Cloud in the running Home Assistant of scripts/develop.

Opens the frontend in headless Chromium, logs in as demo / demo and saves a screenshot of each
page a new user sees (the integration, the first config-flow step, every Solar Cloud device,
the Energy dashboard) under screenshots/ (git ignores it), to look for unnamed entities, raw
keys, missing units and wrong icons.

Needs Chromium (Debian: ``apt-get install chromium``) and Playwright's Python package
(``.venv/bin/pip install playwright``; it drives the system Chromium, no browser download).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SETTLE_MS = 4000


async def _shoot(base: str, chromium: str) -> int:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("screenshots: .venv/bin/pip install playwright (and apt-get install chromium)")
        return 1
    OUT.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await page.goto(base + "/")
        await page.wait_for_selector("input[name=username]", timeout=60000)
        await page.fill("input[name=username]", "demo")
        await page.fill("input[name=password]", "demo")
        await page.keyboard.press("Enter")
        await page.wait_for_timeout(SETTLE_MS)

        async def shot(name: str, path: str) -> None:
            await page.goto(base + path)
            await page.wait_for_timeout(SETTLE_MS)
            await page.screenshot(path=str(OUT / f"{name}.png"))
            print(f"screenshots/{name}.png")

        await shot("integration", "/config/integrations/integration/solar_cloud")
        await shot("config-flow", "/config/integrations/dashboard/add?domain=solar_cloud")
        # The frontend asks first whether to set it up; the vendor step follows.
        await page.get_by_role("button", name="OK").click()
        await page.wait_for_timeout(SETTLE_MS)
        await page.screenshot(path=str(OUT / "config-flow-vendor.png"))
        print("screenshots/config-flow-vendor.png")
        await shot("energy", "/energy")
        devices = await page.evaluate(
            """() => Object.values(document.querySelector("home-assistant").hass.devices)
                .filter(d => d.identifiers.some(i => i[0] === "solar_cloud"))
                .map(d => [d.id, d.name_by_user || d.name])"""
        )
        for device_id, name in sorted(devices, key=lambda d: str(d[1])):
            slug = re.sub(r"\W+", "-", str(name)).strip("-").lower()
            await shot(f"device-{slug}", f"/config/devices/device/{device_id}")
        await browser.close()
    return 0


def main() -> int:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    return asyncio.run(_shoot(args.url.rstrip("/"), args.chromium))


if __name__ == "__main__":
    sys.exit(main())
