"""Mask filters of the independent reference (plain numpy; written from docs/compositing.md,
"Mask filters", not from the Swift code).

Per observation (after solar-day fusion), on the whole target grid:

- the masked plane: pixels where some scene of the day has data and the observation has no
  valid value (that is, the pixel has data and an invalid class);
- each filter `[operation, r]` in order, with the disk of radius r = every offset (dy, dx)
  with dx² + dy² ≤ r², and outside the grid counting as not masked:
  erosion: masked where every pixel of the disk around it is masked;
  dilation: masked where any pixel of the disk around it is masked;
  opening = erosion then dilation; closing = dilation then erosion;
- the pixels of the filtered plane are dropped from the observation (all its bands become 0).
"""
from __future__ import annotations

import numpy as np

OPERATIONS = ("erosion", "dilation", "opening", "closing")


def parse_filters(filters) -> list[tuple[str, int]]:
    """[(operation, radius)] from a list of pairs or a string "opening:2,dilation:3"."""
    if isinstance(filters, str):
        filters = [tuple(p.split(":")) for p in filters.split(",") if p.strip()]
    out = []
    for op, r in filters or []:
        op, r = str(op).strip().lower(), int(r)
        if op not in OPERATIONS:
            raise ValueError(f"unknown mask filter operation {op!r}; expected one of {OPERATIONS}")
        if r < 0:
            raise ValueError(f"mask filter radius must be >= 0, got {r}")
        out.append((op, r))
    return out


def disk(r: int) -> list[tuple[int, int]]:
    """Every offset (dy, dx) with dx² + dy² ≤ r²."""
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dx * dx + dy * dy <= r * r]


def _shifted(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = m[y + dy, x + dx], False outside the grid."""
    h, w = m.shape
    out = np.zeros_like(m)
    ys, ye = max(0, -dy), min(h, h - dy)
    xs, xe = max(0, -dx), min(w, w - dx)
    if ys < ye and xs < xe:
        out[ys:ye, xs:xe] = m[ys + dy:ye + dy, xs + dx:xe + dx]
    return out


def erosion(m: np.ndarray, r: int) -> np.ndarray:
    out = np.ones_like(m, dtype=bool)
    for dy, dx in disk(r):
        out &= _shifted(m, dy, dx)
    return out


def dilation(m: np.ndarray, r: int) -> np.ndarray:
    out = np.zeros_like(m, dtype=bool)
    for dy, dx in disk(r):
        out |= _shifted(m, dy, dx)
    return out


def apply_filters(masked: np.ndarray, filters) -> np.ndarray:
    m = masked.astype(bool)
    for op, r in parse_filters(filters):
        if op == "erosion":
            m = erosion(m, r)
        elif op == "dilation":
            m = dilation(m, r)
        elif op == "opening":
            m = dilation(erosion(m, r), r)
        else:
            m = erosion(dilation(m, r), r)
    return m
