"""Draw the integration's brand images (custom_components/solar_cloud/brand/).

A sun rising behind a cloud; the logo adds the name. Drawn at four times the size and scaled
down for smooth edges, on a transparent background, in a light and a dark variant:

    .venv/bin/python scripts/brand.py

The logo's text needs DejaVu Sans Bold (Debian: fonts-dejavu-core).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "custom_components" / "solar_cloud" / "brand"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SCALE = 4

SUN = (249, 168, 37, 255)
RAY = (255, 193, 7, 255)
CLOUD = {"light": (255, 255, 255, 255), "dark": (207, 216, 220, 255)}
EDGE = {"light": (38, 50, 56, 255), "dark": (236, 239, 241, 255)}
TEXT = {"light": (38, 50, 56, 255), "dark": (236, 239, 241, 255)}


def _icon(size: int, variant: str) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = big / 256

    # The sun, upper right, with twelve rays.
    cx, cy, r = 150 * unit, 100 * unit, 52 * unit
    for i in range(12):
        angle = math.tau * i / 12
        inner, outer = r + 10 * unit, r + 34 * unit
        half = math.tau / 48
        draw.polygon(
            [
                (cx + inner * math.cos(angle - half), cy + inner * math.sin(angle - half)),
                (cx + outer * math.cos(angle), cy + outer * math.sin(angle)),
                (cx + inner * math.cos(angle + half), cy + inner * math.sin(angle + half)),
            ],
            fill=RAY,
        )
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)

    # The cloud, lower left, in front of the sun: three lobes on a rounded base.
    line = round(9 * unit)
    lobes = [(84, 150, 44), (132, 128, 52), (180, 156, 38)]
    base = (34 * unit, 150 * unit, 222 * unit, 206 * unit)
    outline = EDGE[variant]
    for x, y, lr in lobes:
        draw.ellipse(
            (
                (x - lr) * unit - line,
                (y - lr) * unit - line,
                (x + lr) * unit + line,
                (y + lr) * unit + line,
            ),
            fill=outline,
        )
    draw.rounded_rectangle(
        (base[0] - line, base[1] - line, base[2] + line, base[3] + line),
        radius=28 * unit + line,
        fill=outline,
    )
    for x, y, lr in lobes:
        draw.ellipse(
            ((x - lr) * unit, (y - lr) * unit, (x + lr) * unit, (y + lr) * unit),
            fill=CLOUD[variant],
        )
    draw.rounded_rectangle(base, radius=28 * unit, fill=CLOUD[variant])
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int, variant: str) -> Image.Image:
    icon = _icon(height, variant)
    font = ImageFont.truetype(FONT, round(height * 0.42))
    text = "Solar Cloud"
    left, top, right, bottom = font.getbbox(text)
    gap = round(height * 0.12)
    width = height + gap + (right - left)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.alpha_composite(icon, (0, 0))
    draw = ImageDraw.Draw(image)
    draw.text(
        (height + gap - left, (height - (bottom - top)) / 2 - top),
        text,
        font=font,
        fill=TEXT[variant],
    )
    return image


def main() -> None:
    """Write every brand image."""
    OUT.mkdir(parents=True, exist_ok=True)
    for variant, prefix in (("light", ""), ("dark", "dark_")):
        _icon(256, variant).save(OUT / f"{prefix}icon.png", optimize=True)
        _icon(512, variant).save(OUT / f"{prefix}icon@2x.png", optimize=True)
        _logo(128, variant).save(OUT / f"{prefix}logo.png", optimize=True)
        _logo(256, variant).save(OUT / f"{prefix}logo@2x.png", optimize=True)


if __name__ == "__main__":
    main()
