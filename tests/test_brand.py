"""The brand images Home Assistant (2026.3+) and HACS show for the integration."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "solar_cloud" / "brand"


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_icons_are_square_transparent_pngs(prefix: str) -> None:
    for name, side in ((f"{prefix}icon.png", 256), (f"{prefix}icon@2x.png", 512)):
        with Image.open(BRAND / name) as image:
            assert image.format == "PNG"
            assert image.size == (side, side), name
            assert image.mode == "RGBA", name
            # Transparent around the drawing, and the drawing fills most of the square.
            assert image.getpixel((0, 0))[3] == 0
            box = image.getbbox()
            assert box is not None
            assert box[2] - box[0] > 0.7 * side


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_logos_have_the_sizes_the_brand_rules_ask(prefix: str) -> None:
    for name, low, high in ((f"{prefix}logo.png", 128, 256), (f"{prefix}logo@2x.png", 256, 512)):
        with Image.open(BRAND / name) as image:
            assert image.format == "PNG"
            assert image.mode == "RGBA"
            assert low <= min(image.size) <= high, name
            assert image.getbbox() is not None
