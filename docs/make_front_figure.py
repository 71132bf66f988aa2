"""Make ``docs/front_figure.png``, the README's figure, from committed experiment figures.

Left: three panels of the Dirac-GAN lab (``experiments/results/dirac_gan/dirac_gan.png``,
made by ``python experiments/dirac_gan.py``): the one-update vector field and the
trajectory of the alternating GAN (circles the equilibrium), the simultaneous GAN
(spirals out) and the R1 penalty (converges). Right: seed 0's samples of
``stacked_digits_best`` (``experiments/results/stacked_digits/samples_and_modes.png``,
made by ``python experiments/stacked_digits.py``). Only crops and pastes: no number
is recomputed. Run from the repository root: ``python docs/make_front_figure.py``.
"""

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DIRAC = ROOT / "experiments/results/dirac_gan/dirac_gan.png"
DIGITS = ROOT / "experiments/results/stacked_digits/samples_and_modes.png"
OUT = ROOT / "docs/front_figure.png"

# dirac_gan.png is a 4 x 4 grid of panels of 440 x 418 pixels (1760 x 1672 in all).
PANEL_W, PANEL_H = 440, 418
DIRAC_PANELS = [(0, 0), (0, 1), (1, 1)]  # (row, column): alternating, simultaneous, R1
# samples_and_modes.png (576 x 576): the right column's sample grid, "best", with its title.
DIGITS_BOX = (300, 0, 576, 262)


def panel(image: Image.Image, row: int, col: int) -> Image.Image:
    """The panel at (row, col) of the Dirac-GAN figure's grid."""
    left, top = col * PANEL_W, row * PANEL_H
    return image.crop((left, top, left + PANEL_W, top + PANEL_H))


def compose() -> Image.Image:
    """The Dirac-GAN panels in a row, then the digits grid scaled to the panels' height."""
    dirac = Image.open(DIRAC).convert("RGB")
    tiles = [panel(dirac, r, c) for r, c in DIRAC_PANELS]
    digits = Image.open(DIGITS).convert("RGB").crop(DIGITS_BOX)
    scale = PANEL_H / digits.height
    tiles.append(digits.resize((round(digits.width * scale), PANEL_H), Image.NEAREST))
    out = Image.new("RGB", (sum(t.width for t in tiles), PANEL_H), "white")
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width
    return out


if __name__ == "__main__":
    compose().save(OUT, optimize=True)
    print(f"wrote {OUT.relative_to(ROOT)}")
