"""Per-pixel composite statistics of the independent reference (numpy + hdstats only; no code
shared with the Swift pipeline).

A bin's observations are a stack (bands, n, H, W) of harmonised uint16 DN with 0 = invalid; an
observation is valid in every band or in none. Per pixel, over the k valid values of one band:

- `median`: odd k the middle value, even k (a + b + 1) // 2 of the two middle values.
- `mean`: sum / k rounded half up, in integers: (2*sum + k) // (2*k).
- `min`, `max`.
- `pNN` (NN = 0..100): numpy's default ("linear") percentile, rounded half up, computed exactly
  in integers: with v sorted, num = (k-1)*NN, i = num // 100, f = num % 100,
  value = (100*v[i] + f*(v[i+1] - v[i]) + 50) // 100 (v[i+1] only when f > 0). Each one is
  checked against np.percentile(method="linear") in float64 (|diff| <= 1e-6 before rounding).
  So p50 == median, p0 == min, p100 == max, bit for bit.
- `geomedian` (all bands together), via hdstats: X = np.float32(DN) * np.float32(1e-4)
  (reflectance, float32; NaN for invalid observations),
  observations in time order, gm = hdstats.nangeomedian_pcm(X, nocheck=True) at hdstats' own
  defaults (eps = 1e-7, maxiters = 1000: converged, where odc-algo's eps = 0.1 * scale = 1e-5
  stops up to ~100 DN short of the minimum); band arrays uint16
  floor(float64(gm) * 10000 + 0.5) clipped to 1..65535. It also gives the MADs (float32, the
  numpy nanmedian over the valid observations of a per-observation distance to gm):
  smad = hdstats.smad_pcm(X, gm) (1 - cosine similarity), emad = hdstats.emad_pcm(X, gm) * 10000
  (Euclidean distance, in DN like odc-algo, which scales emad back by 1/scale),
  bcmad = hdstats.bcmad_pcm(X, gm) (Bray-Curtis).

- `medoid` (all bands together): per pixel the valid observation i (time order) with the least
  S_i = sum over valid j of sqrt(sum_b (v_ib - v_jb)^2), on the stored DN (reflectance x 10000,
  the same order as on reflectance): int64 squares, float64 sqrt, the sum over j in time order
  (a plain loop: numpy's pairwise sum would group differently); ties go to the earliest
  (np.argmin's first minimum). Band arrays: that observation's DN unchanged; `medoid_time`
  (int32): its solar day, days since 1970-01-01, MEDOID_TIME_FILL where k = 0.

- spectral indices (`indices`): per observation, the expression over the bands as reflectance
  (float64 DN / 10000), evaluated by walking Python's own parse of it (`ast`: + - * /, unary
  minus, numbers, band names); observations where it is not finite (a division by zero) or
  invalid are dropped; then each per-band statistic of the composite (median, mean, min, max,
  pNN; geomedian and medoid do not apply to one value) over the remaining k values in float64,
  rounded to float32: median = middle value or (a + b) / 2 of the two middle ones; mean = sum in
  time order (a plain loop) / k; pNN: h = ((k-1)*NN) / 100, i = floor(h), f = h - i,
  v[i] + f*(v[i+1] - v[i]) (v[i] when f == 0), checked against np.percentile(method="linear").
  Arrays `INDEX` with one statistic, `INDEX_STAT` with several; NaN where k = 0. The built-in
  names: INDEX_CATALOGUE (Awesome Spectral Indices formulas, its default constants).

uint16 outputs are 0 and float32 outputs NaN where k = 0. `count` (uint16) is k.

Naming (as the cube names its arrays): with one statistic the per-band arrays keep the band
names; with several they are `BAND_STAT` (`red_median`, `red_p10`, `red_geomedian`). `smad`,
`emad`, `bcmad` and `medoid_time` are never suffixed; `count` is always there. Order: statistic
by statistic as listed, the geomedian's bands before its MADs, the medoid's before its time,
`count` last.
"""
from __future__ import annotations

import re

import numpy as np

MADS = ("smad", "emad", "bcmad")
MEDOID_TIME = "medoid_time"
MEDOID_TIME_FILL = np.int32(np.iinfo(np.int32).min)   # no observation
SIMPLE = ("median", "mean", "min", "max", "geomedian", "medoid")
ACROSS_BANDS = ("geomedian", "medoid")     # statistics that do not apply to one index value
# Awesome Spectral Indices (spyndex) formulas over Earth Search common names, default constants:
# NDVI, NDWI (McFeeters), NBR (N, S2 = swir22), NDMI (N, S1 = swir16), EVI (g 2.5, C1 6, C2 7.5,
# L 1), SAVI (L 0.5).
INDEX_CATALOGUE = {
    "ndvi": "(nir - red) / (nir + red)",
    "ndwi": "(green - nir) / (green + nir)",
    "nbr": "(nir - swir22) / (nir + swir22)",
    "ndmi": "(nir - swir16) / (nir + swir16)",
    "evi": "2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)",
    "savi": "(1.0 + 0.5) * (nir - red) / (nir + red + 0.5)",
}
GEOMEDIAN_EPS = 1e-7       # hdstats' default (reflectance); odc-algo's 1e-5 stops short
GEOMEDIAN_MAXITERS = 1000
SCALE = np.float32(1e-4)   # DN -> reflectance
_PNN = re.compile(r"p(\d{1,3})")
_SENTINEL = np.iinfo(np.int64).max


# ---------------------------------------------------------------- names

def parse_statistic(raw: str) -> str:
    """The canonical name of a statistic: case-insensitive, `p010` -> `p10`."""
    name = str(raw).strip().lower()
    if name in SIMPLE:
        return name
    m = _PNN.fullmatch(name)
    if m and 0 <= int(m.group(1)) <= 100:
        return f"p{int(m.group(1))}"
    raise ValueError(f"unknown statistic {raw!r}; expected median, mean, min, max, pNN (0-100), geomedian or medoid")


def parse_composite(composite) -> list[str]:
    """Canonical statistic names from a list or a comma-separated string; refuses repeats."""
    raw = [s for s in composite.split(",") if s.strip()] if isinstance(composite, str) else list(composite)
    names: list[str] = []
    for r in raw:
        n = parse_statistic(r)
        if n in names:
            raise ValueError(f"statistic {n!r} is listed twice")
        names.append(n)
    if not names:
        raise ValueError("composite needs at least one statistic")
    return names


def band_array_name(band: str, stat: str, several: bool) -> str:
    return f"{band}_{stat}" if several else band


def parse_indices(indices) -> list[tuple[str, str]]:
    """(name, expression) pairs from a dict, a list of names / (name, expression) pairs, or a
    comma-separated string of `name` or `name=expression`; names alone come from the catalogue."""
    if isinstance(indices, str):
        indices = [tuple(p.split("=", 1)) if "=" in p else p.strip() for p in indices.split(",") if p.strip()]
    items = list(indices.items()) if isinstance(indices, dict) else list(indices or [])
    out = []
    for it in items:
        name, expr = (it, None) if isinstance(it, str) else (it[0].strip(), it[1])
        expr = expr if expr and str(expr).strip() else INDEX_CATALOGUE.get(name)
        if expr is None:
            raise ValueError(f"index {name!r} is not in the catalogue; give its expression")
        out.append((name, expr))
    return out


def index_statistics(composite) -> list[str]:
    return [s for s in parse_composite(composite) if s not in ACROSS_BANDS]


def index_array_names(composite=("median",), indices=()) -> list[str]:
    several = len(parse_composite(composite)) > 1
    return [f"{name}_{s}" if several else name for name, _ in parse_indices(indices)
            for s in index_statistics(composite)]


def output_names(bands, composite=("median",), indices=()) -> list[str]:
    """Every array the cube holds for `bands`, `composite` and `indices`, in order, `count` last."""
    stats = parse_composite(composite)
    several = len(stats) > 1
    names: list[str] = []
    for s in stats:
        names += [band_array_name(b, s, several) for b in bands]
        if s == "geomedian":
            names += list(MADS)
        if s == "medoid":
            names.append(MEDOID_TIME)
    return names + index_array_names(stats, indices) + ["count"]


def output_kinds(bands, composite=("median",)) -> dict[str, str]:
    """Array name -> the statistic that writes it (`count` -> "count", MADs -> their own name)."""
    stats = parse_composite(composite)
    several = len(stats) > 1
    kinds: dict[str, str] = {}
    for s in stats:
        kinds.update({band_array_name(b, s, several): s for b in bands})
        if s == "geomedian":
            kinds.update({m: m for m in MADS})
        if s == "medoid":
            kinds[MEDOID_TIME] = MEDOID_TIME
    kinds["count"] = "count"
    return kinds


def is_float_output(name: str) -> bool:
    return name in MADS


def output_dtype(name: str):
    """The numpy type of an output array: float32 MADs, int32 dates, else uint16."""
    return np.float32 if name in MADS else np.int32 if name == MEDOID_TIME else np.uint16


def output_fill(name: str):
    """What an output holds where no observation is valid."""
    return np.nan if name in MADS else MEDOID_TIME_FILL if name == MEDOID_TIME else 0


# ---------------------------------------------------------------- order statistics and mean

def sorted_valid(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """obs (n, H, W), 0 = invalid -> (values int64 sorted ascending with the valid ones first and
    a sentinel after them, count)."""
    count = (obs > 0).sum(axis=0)
    s = np.where(obs > 0, obs.astype(np.int64), _SENTINEL)
    s.sort(axis=0)
    return s, count


def _take(s: np.ndarray, idx: np.ndarray) -> np.ndarray:
    idx = np.clip(idx, 0, max(s.shape[0] - 1, 0))
    return np.take_along_axis(s, idx[None], axis=0)[0]


def percentile_exact100(s: np.ndarray, count: np.ndarray, q: int) -> np.ndarray:
    """100 x numpy's linear percentile of the valid values, exactly (int64); 0 where count = 0."""
    k = np.maximum(count, 1).astype(np.int64)
    num = (k - 1) * q
    i, f = num // 100, num % 100
    vi = _take(s, i)
    vj = np.where(f > 0, _take(s, np.minimum(i + 1, k - 1)), vi)
    return np.where(count > 0, 100 * vi + f * (vj - vi), 0)


def check_percentile_against_numpy(s: np.ndarray, count: np.ndarray, q: int, exact100: np.ndarray) -> None:
    """Self-check: the exact formula is np.percentile(method="linear") (float64), to 1e-6."""
    for k in np.unique(count[count > 0]):
        sel = count == k
        vals = s[:k][:, sel].astype(np.float64)      # the k valid values of those pixels, sorted
        ref = np.percentile(vals, q, axis=0, method="linear")
        diff = np.abs(ref - exact100[sel] / 100.0)
        if diff.size and diff.max() > 1e-6:
            raise AssertionError(f"p{q}: exact percentile differs from numpy's by {diff.max()} (k = {k})")


def band_statistic(s: np.ndarray, count: np.ndarray, stat: str) -> np.ndarray:
    """One order statistic or the mean of one band (s, count from `sorted_valid`), uint16."""
    has = count > 0
    if s.shape[0] == 0:
        return np.zeros(count.shape, np.uint16)
    if stat == "median":
        lo = _take(s, np.maximum(count - 1, 0) // 2)
        hi = _take(s, np.where(has, count // 2, 0))
        v = (lo + hi + 1) // 2
    elif stat == "min":
        v = s[0]
    elif stat == "max":
        v = _take(s, count - 1)
    elif stat == "mean":
        total = np.where(s != _SENTINEL, s, 0).sum(axis=0)
        k = np.maximum(count, 1).astype(np.int64)
        v = (2 * total + k) // (2 * k)
    elif stat.startswith("p"):
        q = int(stat[1:])
        e100 = percentile_exact100(s, count, q)
        check_percentile_against_numpy(s, count, q, e100)
        v = (e100 + 50) // 100
    else:
        raise ValueError(f"not a per-band statistic: {stat!r}")
    return np.where(has, v, 0).astype(np.uint16)


# ---------------------------------------------------------------- geomedian and MADs

def geomedian_with_mads(stack: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """stack (bands, n, H, W) uint16, 0 = invalid -> (gm uint16 (bands, H, W), {smad, emad, bcmad}:
    float32 (H, W)), 0 / NaN where no observation is valid. Only pixels with data are computed."""
    nb, n, h, w = stack.shape
    gm_dn = np.zeros((nb, h, w), np.uint16)
    mads = {m: np.full((h, w), np.nan, np.float32) for m in MADS}
    valid = stack[0] > 0                                   # (n, H, W)
    has = valid.any(axis=0)
    if n == 0 or not has.any():
        return gm_dn, mads
    import hdstats  # needs scipy < 1.15 (imports scipy.signal.cwt)

    obs = stack[:, :, has]                                 # (bands, n, P)
    ok = valid[:, has]                                     # (n, P)
    refl = obs.astype(np.float32) * SCALE
    refl[:, ~ok] = np.nan
    X = np.ascontiguousarray(refl.transpose(2, 0, 1)[None])   # (1, P, bands, n)

    # hdstats quirks, handled here: Weiszfeld starts from the nanmean, and when every valid
    # observation coincides with it nangeomedian_pcm does not return it. With no invalid
    # observation in the stack (e.g. n == 1) it breaks out before setting its result (garbage:
    # seen -1e30, or zeros for three identical observations); with NaNs in the stack it
    # alternates between the observation and 0 every iteration, so it is right only because
    # maxiters (1000) is even. The geometric median of identical points (in particular of a
    # single one, k == 1) is that point, so such pixels take it directly.
    first = np.argmax(ok, axis=0)                          # the first valid observation
    first_obs = np.take_along_axis(obs, first[None, None], axis=1)[:, 0]   # (bands, P)
    same = ((obs == first_obs[:, None]) | ~ok[None]).all(axis=(0, 1))
    gm = np.empty((X.shape[1], nb), np.float32)
    gm[same] = (first_obs.astype(np.float32) * SCALE).T[same]
    rest = ~same
    if rest.any():
        gm[rest] = hdstats.nangeomedian_pcm(X[:, rest], eps=GEOMEDIAN_EPS, maxiters=GEOMEDIAN_MAXITERS,
                                            nocheck=True)[0]
    if not np.isfinite(gm).all():
        raise AssertionError("hdstats geomedian is not finite for a pixel with data")
    G = np.ascontiguousarray(gm[None])                     # (1, P, bands)
    # nocheck=False (default): numpy nanmedian over the observations, skipping invalid ones.
    mads["smad"][has] = hdstats.smad_pcm(X, G)[0]
    mads["emad"][has] = hdstats.emad_pcm(X, G)[0] * np.float32(10000)
    mads["bcmad"][has] = hdstats.bcmad_pcm(X, G)[0]
    gm_dn[:, has] = np.clip(np.floor(gm.astype(np.float64) * 10000 + 0.5), 1, 65535).astype(np.uint16).T
    return gm_dn, mads


# ---------------------------------------------------------------- medoid

def medoid(stack: np.ndarray, days) -> tuple[np.ndarray, np.ndarray]:
    """stack (bands, n, H, W) uint16 in time order, 0 = invalid; days (n,) solar days ->
    (bands (bands, H, W) uint16, medoid_time (H, W) int32), 0 / MEDOID_TIME_FILL where none."""
    nb, n, h, w = stack.shape
    valid = stack[0] > 0
    if n == 0:
        return np.zeros((nb, h, w), np.uint16), np.full((h, w), MEDOID_TIME_FILL, np.int32)
    v = stack.astype(np.int64)
    sums = np.full((n, h, w), np.inf)
    for i in range(n):
        total = np.zeros((h, w))
        for j in range(n):                      # in time order, one addition at a time
            d = np.sqrt(((v[:, i] - v[:, j]) ** 2).sum(axis=0).astype(np.float64))
            total = total + np.where(valid[j], d, 0.0)
        sums[i] = np.where(valid[i], total, np.inf)
    best = np.argmin(sums, axis=0)              # the first least sum: the earliest on ties
    has = valid.any(axis=0)
    bands = np.take_along_axis(stack, best[None, None], axis=1)[:, 0]
    days = np.asarray(days, np.int64)
    time = np.where(has, days[best], MEDOID_TIME_FILL).astype(np.int32)
    return np.where(has[None], bands, 0).astype(np.uint16), time


# ---------------------------------------------------------------- spectral indices

def evaluate_expression(expr: str, refl: dict) -> np.ndarray:
    """The expression over float64 reflectance arrays, by walking Python's parse tree."""
    import ast

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            a, b = walk(node.left), walk(node.right)
            with np.errstate(divide="ignore", invalid="ignore"):
                return {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}[type(node.op)](a, b)
        if isinstance(node, ast.UnaryOp) and type(node.op) in (ast.USub, ast.UAdd):
            v = walk(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return np.float64(node.value)
        if isinstance(node, ast.Name) and node.id in refl:
            return refl[node.id]
        raise ValueError(f"unsupported in an index expression: {ast.dump(node)[:60]}")

    return walk(ast.parse(expr, mode="eval"))


def index_values(stack: np.ndarray, bands, expr: str) -> np.ndarray:
    """(n, H, W) float64: the index of every observation, NaN where invalid or not finite."""
    refl = {b: stack[i].astype(np.float64) / 10000 for i, b in enumerate(bands)}
    v = np.broadcast_to(evaluate_expression(expr, refl), stack.shape[1:]).astype(np.float64)
    return np.where((stack[0] > 0) & np.isfinite(v), v, np.nan)


def float_statistics(values: np.ndarray, stats) -> dict[str, np.ndarray]:
    """Each statistic of the non-NaN values along axis 0 (time order), float32, NaN where none."""
    n = values.shape[0]
    ok = ~np.isnan(values)
    k = ok.sum(axis=0)
    has = k > 0
    s = np.sort(values, axis=0)                        # NaN sorts last: the k values first
    total = np.zeros(values.shape[1:])
    for j in range(n):                                 # in time order, one addition at a time
        total = total + np.where(ok[j], values[j], 0.0)
    kk = np.maximum(k, 1)

    def at(i):
        return np.take_along_axis(s, np.clip(i, 0, max(n - 1, 0))[None], axis=0)[0] if n else np.zeros(k.shape)

    out = {}
    for st in stats:
        if st == "median":
            v = np.where(k % 2 == 1, at(kk // 2), (at(kk // 2 - 1) + at(kk // 2)) / 2)
        elif st == "mean":
            v = total / kk
        elif st == "min":
            v = at(np.zeros_like(k))
        elif st == "max":
            v = at(kk - 1)
        else:
            q = int(st[1:])
            h = ((kk - 1) * q) / 100.0
            i = np.floor(h).astype(np.int64)
            f = h - i
            with np.errstate(invalid="ignore"):
                v = np.where(f == 0, at(i), at(i) + f * (at(np.minimum(i + 1, kk - 1)) - at(i)))
            for kv in np.unique(k[has]):              # self-check against numpy
                sel = k == kv
                ref = np.percentile(s[:kv][:, sel], q, axis=0, method="linear")
                if np.abs(ref - v[sel]).max(initial=0) > 1e-12:
                    raise AssertionError(f"index p{q}: differs from np.percentile (k = {kv})")
        out[st] = np.where(has, v, np.nan).astype(np.float32)
    return out


# ---------------------------------------------------------------- one bin

def composite_stack(stack: np.ndarray, bands, composite=("median",), days=None, indices=()) -> dict[str, np.ndarray]:
    """Every output array of one time bin from its observation stack (bands, n, H, W) in time
    order, named and ordered as in `output_names`: uint16 (H, W), float32 for the MADs, int32
    for `medoid_time`. `days`: each observation's solar day (days since 1970-01-01), needed by
    the medoid."""
    bands = list(bands)
    stats = parse_composite(composite)
    stack = np.asarray(stack)
    if stack.ndim != 4 or stack.shape[0] != len(bands):
        raise ValueError(f"stack must be (bands={len(bands)}, n, H, W), got {stack.shape}")
    ok = stack > 0
    if stack.shape[1] and not (ok == ok[:1]).all():
        raise ValueError("an observation must be valid (nonzero) in every band or in none")
    several = len(stats) > 1
    h, w = stack.shape[2:]
    out: dict[str, np.ndarray] = {}
    order = [s for s in stats if s not in ("geomedian", "medoid")]
    for b, band in enumerate(bands):
        if not order:
            break
        s, count = sorted_valid(stack[b])
        for st in order:
            out[band_array_name(band, st, several)] = band_statistic(s, count, st)
    if "geomedian" in stats:
        gm, mads = geomedian_with_mads(stack)
        for b, band in enumerate(bands):
            out[band_array_name(band, "geomedian", several)] = gm[b]
        out.update(mads)
    if "medoid" in stats:
        if days is None or len(days) != stack.shape[1]:
            raise ValueError("the medoid needs the day of every observation")
        md, when = medoid(stack, days)
        for b, band in enumerate(bands):
            out[band_array_name(band, "medoid", several)] = md[b]
        out[MEDOID_TIME] = when
    for name, expr in parse_indices(indices):
        per = float_statistics(index_values(stack, bands, expr), index_statistics(stats))
        for st, arr in per.items():
            out[f"{name}_{st}" if several else name] = arr
    out["count"] = (ok[0].sum(axis=0) if stack.shape[1] else np.zeros((h, w), int)).astype(np.uint16)
    return {name: out[name] for name in output_names(bands, stats, indices)}
