"""The reference's composite statistics (scripts/world/refstats.py) against naive per-pixel
Python, hand-worked geomedian/MAD examples, the array naming rule and compare's bars."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import world_testkit  # noqa: F401  (puts scripts/ on sys.path)
from world.compare import compare, print_report
from world.refstats import composite_stack, output_names, parse_composite, parse_statistic

ORDER_STATS = ["median", "mean", "min", "max", "p0", "p1", "p5", "p10", "p25", "p33", "p50", "p66", "p75",
               "p90", "p99", "p100"]
EDGE_VALUES = [1, 2, 3, 7, 100, 1000, 1001, 65534, 65535]


# ---------------------------------------------------------------- naive per-pixel Python

def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def naive(values: list[int], stat: str) -> int:
    v = sorted(values)
    k = len(v)
    if k == 0:
        return 0
    if stat == "median":
        return v[k // 2] if k % 2 else (v[k // 2 - 1] + v[k // 2] + 1) // 2
    if stat == "mean":
        return half_up(Fraction(sum(v), k))
    if stat == "min":
        return v[0]
    if stat == "max":
        return v[-1]
    q = int(stat[1:])
    h = Fraction((k - 1) * q, 100)
    i = math.floor(h)
    value = Fraction(v[i]) if h == i else v[i] + (h - i) * (v[i + 1] - v[i])
    return half_up(value)


def random_stack(rng, bands: int, n: int, h: int = 6, w: int = 7) -> np.ndarray:
    """(bands, n, h, w) uint16 with ties, 1 and 65535, and per-pixel valid counts 0..n
    (pixel 0: none valid, 1: one, 2: two, 3: all 65535, 4: all 1)."""
    pool = np.concatenate([EDGE_VALUES, rng.integers(1, 65536, 6)])
    vals = rng.choice(pool, size=(bands, n, h, w)).astype(np.uint16)
    k = rng.integers(0, n + 1, size=(h, w))
    k.flat[:5] = [0, min(1, n), min(2, n), n, n]
    ok = np.zeros((n, h, w), bool)
    for p in range(h * w):
        r, c = divmod(p, w)
        ok[rng.permutation(n)[:k[r, c]], r, c] = True
    vals[:, :, 0, 3] = 65535
    vals[:, :, 0, 4] = 1
    return np.where(ok[None], vals, 0).astype(np.uint16)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8])
def test_order_statistics_match_naive_python(n):
    rng = np.random.default_rng(100 + n)
    stack = random_stack(rng, 2, n)
    bands = ["red", "nir"]
    out = composite_stack(stack, bands, ORDER_STATS)
    assert list(out) == output_names(bands, ORDER_STATS)
    _, _, h, w = stack.shape
    counts_seen = set()
    for b, band in enumerate(bands):
        for r in range(h):
            for c in range(w):
                values = [int(x) for x in stack[b, :, r, c] if x > 0]
                counts_seen.add(len(values))
                assert out["count"][r, c] == len(values)
                for stat in ORDER_STATS:
                    got = int(out[f"{band}_{stat}"][r, c])
                    assert got == naive(values, stat), (band, stat, values, got)
        assert (out[f"{band}_p50"] == out[f"{band}_median"]).all()
        assert (out[f"{band}_p0"] == out[f"{band}_min"]).all()
        assert (out[f"{band}_p100"] == out[f"{band}_max"]).all()
        for stat in ORDER_STATS:
            assert out[f"{band}_{stat}"].dtype == np.uint16
    assert {0, min(1, n), min(2, n)} <= counts_seen


def test_p50_is_the_median_bit_for_bit_on_many_pixels():
    rng = np.random.default_rng(5)
    for n in range(1, 12):
        stack = random_stack(rng, 1, n, 20, 20)
        out = composite_stack(stack, ["red"], ["median", "p50", "p0", "min", "p100", "max"])
        np.testing.assert_array_equal(out["red_p50"], out["red_median"])
        np.testing.assert_array_equal(out["red_p0"], out["red_min"])
        np.testing.assert_array_equal(out["red_p100"], out["red_max"])


def test_percentile_and_mean_by_hand():
    obs = np.array([[10, 20, 0, 65535, 1], [30, 0, 0, 65535, 2], [0, 0, 0, 65534, 2], [40, 0, 0, 0, 0]],
                   np.uint16)[None, :, None, :]
    out = composite_stack(obs, ["red"], ["p10", "p25", "p90", "mean", "median"])
    # {10, 30, 40}: p10 h = 0.2 -> 10 + 0.2*20 = 14; p25 h = 0.5 -> 20; p90 h = 1.8 -> 30 + 8 = 38.
    # {20}: 20 everywhere. {}: 0. {65534, 65535, 65535}: p10 h = 0.2 -> 65534.2 -> 65534,
    # p25 65534.5 -> 65535 (half up). {1, 2, 2}: p10 1.2 -> 1, p25 1.5 -> 2, mean 5/3 -> 2.
    np.testing.assert_array_equal(out["red_p10"][0], [14, 20, 0, 65534, 1])
    np.testing.assert_array_equal(out["red_p25"][0], [20, 20, 0, 65535, 2])
    np.testing.assert_array_equal(out["red_p90"][0], [38, 20, 0, 65535, 2])
    np.testing.assert_array_equal(out["red_mean"][0], [27, 20, 0, 65535, 2])  # 80/3 = 26.67
    np.testing.assert_array_equal(out["red_median"][0], [30, 20, 0, 65535, 2])
    np.testing.assert_array_equal(out["count"][0], [3, 1, 0, 3, 3])
    half = np.array([[1], [2]], np.uint16)[None, :, None, :]       # mean 1.5 -> 2, median 2
    out = composite_stack(half, ["red"], ["mean", "median", "p49"])
    assert out["red_mean"][0, 0] == 2 and out["red_median"][0, 0] == 2 and out["red_p49"][0, 0] == 1


# ---------------------------------------------------------------- geomedian and MADs

BANDS4 = ["red", "green", "blue", "nir"]


def stack_of(*pixels) -> np.ndarray:
    """(4, n, 1, len(pixels)): each pixel a list of n observations (4 DN values or None)."""
    n = max(len(p) for p in pixels)
    out = np.zeros((4, n, 1, len(pixels)), np.uint16)
    for j, obs in enumerate(pixels):
        for i, o in enumerate(obs):
            if o is not None:
                out[:, i, 0, j] = o
    return out


def naive_mads(obs_dn, gm_dn) -> tuple[float, float, float]:
    """smad, emad (DN), bcmad by hand (float64): medians over the observations of 1 - cos,
    Euclidean distance and Bray-Curtis distance to gm."""
    g = np.asarray(gm_dn, float) * 1e-4
    s, e, b = [], [], []
    for o in obs_dn:
        x = np.asarray(o, float) * 1e-4
        s.append(1 - x @ g / (np.linalg.norm(x) * np.linalg.norm(g)))
        e.append(np.linalg.norm(x - g) * 1e4)
        b.append(np.abs(x - g).sum() / np.abs(x + g).sum())
    return float(np.median(s)), float(np.median(e)), float(np.median(b))


def geo(stack, composite=("geomedian",)):
    return composite_stack(stack, BANDS4, composite)


def gm_at(out, j) -> list[int]:
    return [int(out[b][0, j]) for b in BANDS4]


def test_geomedian_of_two_observations_is_their_midpoint():
    a, b = [1000, 2000, 3000, 4000], [1200, 2400, 2800, 4400]
    out = geo(stack_of([a, b], [a, None, b], [None, b, a, None]))
    for j in range(3):
        assert gm_at(out, j) == [1100, 2200, 2900, 4200]
    smad, emad, bcmad = naive_mads([a, b], [1100, 2200, 2900, 4200])
    assert emad == pytest.approx(math.dist(a, b) / 2)
    for j in range(3):
        assert out["smad"][0, j] == pytest.approx(smad, rel=1e-4)
        assert out["emad"][0, j] == pytest.approx(emad, rel=1e-5)
        assert out["bcmad"][0, j] == pytest.approx(bcmad, rel=1e-5)
        assert out["count"][0, j] == 2
    for m in ("smad", "emad", "bcmad"):
        assert out[m].dtype == np.float32


def test_geomedian_of_identical_or_single_observations_is_that_observation():
    a = [812, 1234, 65535, 1]
    # n = 1 (hdstats returns garbage there), three identical (hdstats: zeros), with an invalid
    # one, a single valid among four (hdstats: right only for even maxiters), nothing valid.
    cases = [stack_of([a]), stack_of([a, a, a], [a, None, a], [None, None, a, None], [None, None, None])]
    for stack in cases:
        out = geo(stack)
        for j in range(stack.shape[3]):
            if out["count"][0, j] == 0:
                assert gm_at(out, j) == [0, 0, 0, 0]
                assert all(np.isnan(out[m][0, j]) for m in ("smad", "emad", "bcmad"))
                continue
            assert gm_at(out, j) == a
            assert out["emad"][0, j] == 0 and out["bcmad"][0, j] == 0
            assert abs(out["smad"][0, j]) < 1e-6


def test_geomedian_of_collinear_points_is_the_middle_one():
    """Three points on a line: the geometric median is the middle point; emad = the median of
    the distances {|b-a|, 0, |c-b|} = the smaller of the outer ones."""
    a = np.array([1000, 2000, 1500, 3000])
    d = np.array([30, -20, 10, 50])
    pts = [list(a), list(a + 2 * d), list(a + 7 * d)]
    out = geo(stack_of(pts, [pts[2], None, pts[0], pts[1]]))
    for j in range(2):
        assert np.abs(np.array(gm_at(out, j)) - pts[1]).max() <= 1
        smad, emad, bcmad = naive_mads(pts, pts[1])
        assert out["emad"][0, j] == pytest.approx(2 * np.linalg.norm(d), rel=2e-3)
        assert out["emad"][0, j] == pytest.approx(emad, rel=2e-3)
        assert out["smad"][0, j] == pytest.approx(smad, rel=2e-2)
        assert out["bcmad"][0, j] == pytest.approx(bcmad, rel=2e-3)


def weiszfeld(points: np.ndarray, iters=20000) -> np.ndarray:
    """The geometric median in float64 by plain Weiszfeld iteration (points (k, bands))."""
    y = points.mean(axis=0)
    for _ in range(iters):
        dist = np.linalg.norm(points - y, axis=1)
        if (dist < 1e-12).any():
            break
        w = 1 / dist
        y1 = (points * w[:, None]).sum(axis=0) / w.sum()
        if np.linalg.norm(y1 - y) < 1e-12:
            break
        y = y1
    return y


def test_geomedian_agrees_with_plain_weiszfeld_band_by_band():
    """Random spectra with very different band magnitudes (catches band/observation mix-ups)."""
    rng = np.random.default_rng(9)
    n, w = 6, 12
    base = np.array([400, 900, 2500, 6000])[:, None, None, None]
    stack = (base + rng.integers(-300, 300, size=(4, n, 1, w))).astype(np.uint16)
    stack[:, rng.random((n, 1, w)) < 0.3] = 0
    out = geo(stack, ["geomedian", "median"])
    for j in range(w):
        ok = stack[0, :, 0, j] > 0
        if ok.sum() == 0:
            continue
        pts = stack[:, ok, 0, j].T.astype(float)
        true = weiszfeld(pts * 1e-4) * 1e4
        got = np.array([out[f"{b}_geomedian"][0, j] for b in BANDS4])
        assert np.abs(got - true).max() <= 3, (j, got, true)
        smad, emad, bcmad = naive_mads(pts, true)
        assert out["emad"][0, j] == pytest.approx(emad, rel=2e-2, abs=0.5)
        assert out["bcmad"][0, j] == pytest.approx(bcmad, rel=2e-2, abs=1e-4)


# ---------------------------------------------------------------- names

def test_naming_rule():
    assert output_names(["red", "nir"]) == ["red", "nir", "count"]
    assert output_names(["red", "nir"], ["p25"]) == ["red", "nir", "count"]
    assert output_names(["red", "nir"], "median,P10,p090") == [
        "red_median", "nir_median", "red_p10", "nir_p10", "red_p90", "nir_p90", "count"]
    assert output_names(["red", "nir"], ["geomedian"]) == ["red", "nir", "smad", "emad", "bcmad", "count"]
    assert output_names(["red", "nir"], ["mean", "geomedian", "max"]) == [
        "red_mean", "nir_mean", "red_geomedian", "nir_geomedian", "smad", "emad", "bcmad", "red_max", "nir_max",
        "count"]
    assert [parse_statistic(s) for s in ("p0", "p05", "p100", "MEDIAN", "p010")] == ["p0", "p5", "p100", "median", "p10"]
    for bad in ("p101", "p", "p1.5", "p-1", "mode", "p0100"):
        with pytest.raises(ValueError):
            parse_statistic(bad)
    with pytest.raises(ValueError, match="twice"):
        parse_composite(["p10", "p010"])
    with pytest.raises(ValueError):
        parse_composite([])
    out = composite_stack(np.zeros((2, 0, 2, 3), np.uint16), ["red", "nir"], ["p5", "geomedian"])
    assert list(out) == output_names(["red", "nir"], ["p5", "geomedian"])
    assert not out["red_p5"].any() and np.isnan(out["smad"]).all() and not out["count"].any()


# ---------------------------------------------------------------- compare's bars

def cube_and_ref(composite):
    rng = np.random.default_rng(3)
    stack = random_stack(rng, 4, 5, 40, 50)
    ref = {k: v[None] for k, v in composite_stack(stack, BANDS4, composite).items()}
    return {k: v.copy() for k, v in ref.items()}, ref


def test_compare_bars_per_statistic(capsys):
    composite = ["median", "p10", "geomedian"]
    names = [n for n in output_names(BANDS4, composite) if n != "count"]
    cube, ref = cube_and_ref(composite)
    rep = compare(cube, ref, names, composite=composite)
    assert print_report(rep) and rep.ok
    assert len(rep.bands) == 12 and [m.name for m in rep.mads] == ["smad", "emad", "bcmad"]
    assert "verdict: PASS" in capsys.readouterr().out

    has = ref["count"] > 0
    idx = tuple(a[0] for a in np.nonzero(has))
    # Geomedian: ±1 DN anywhere passes, and 2 DN on one pixel of the ~1700 with data (< 0.1%);
    # on three pixels (> 0.1%) it fails.
    r = ref["red_geomedian"].astype(np.int64)
    step = np.where(r < 65534, 1, -1)              # stay within 1..65535
    cube["red_geomedian"][has] = (r + step)[has]
    assert compare(cube, ref, names, composite=composite).ok
    three = tuple(a[:3] for a in np.nonzero(has))
    cube["red_geomedian"][idx] = r[idx] + 2 * step[idx]
    assert compare(cube, ref, names, composite=composite).ok
    cube["red_geomedian"][three] = r[three] + 2 * step[three]
    rep = compare(cube, ref, names, composite=composite)
    assert not rep.ok and rep.bands[8].max_abs_diff == 2 and rep.bands[8].bar == "geomedian"
    cube["red_geomedian"][...] = ref["red_geomedian"]
    # Order statistics are exact, even the median among several statistics.
    cube["nir_median"][idx] += 1
    assert not compare(cube, ref, names, composite=composite).ok
    cube["nir_median"][...] = ref["nir_median"]
    # MADs: relative 5e-5 everywhere passes; 1e-3 on one pixel (< 0.1%) passes, on three
    # fails; a NaN mismatch fails.
    cube["emad"] = (ref["emad"].astype(np.float64) * (1 + 5e-5)).astype(np.float32)
    assert compare(cube, ref, names, composite=composite).ok
    cube["emad"][idx] = ref["emad"][idx] * np.float32(1.001) + np.float32(1)
    assert compare(cube, ref, names, composite=composite).ok
    cube["emad"][three] = ref["emad"][three] * np.float32(1.001) + np.float32(1)
    rep = compare(cube, ref, names, composite=composite)
    assert not rep.ok and rep.mads[1].max_rel_diff > 1e-3
    cube["emad"][...] = ref["emad"]
    cube["smad"][~has] = 0
    rep = compare(cube, ref, names, composite=composite)
    assert not rep.ok and rep.mads[0].nan_mismatch == int((~has).sum())
    cube["smad"][...] = ref["smad"]
    assert compare(cube, ref, names, composite=composite).ok
    # Without `composite`, the names tell the statistics apart.
    assert compare(cube, ref, names).ok
    assert [b.bar for b in compare(cube, ref, names).bands][:8] == ["exact"] * 8


def test_compare_keeps_the_default_median_bar():
    cube, ref = cube_and_ref(["median"])
    has = ref["count"] > 0
    idx = tuple(a[0] for a in np.nonzero(has))
    cube["red"][idx] += 1       # one pixel ±1: within ±1 DN everywhere, ≥ 99.9% exact
    for composite in (None, ["median"]):
        rep = compare(cube, ref, BANDS4, composite=composite)
        assert rep.ok and rep.bands[0].bar == "median"
    # The same difference in a single-statistic p25 cube (plain band names too) fails.
    cube, ref = cube_and_ref(["p25"])
    cube["red"][idx] += 1
    assert not compare(cube, ref, BANDS4, composite=["p25"]).ok


# ---------------------------------------------------------------- medoid

def test_medoid_matches_naive_python_and_ties_go_to_the_earliest():
    from world.refstats import MEDOID_TIME, MEDOID_TIME_FILL
    rng = np.random.default_rng(24)
    for n in (0, 1, 2, 3, 6):
        stack = random_stack(rng, 3, n)
        days = [19_700 + 3 * i for i in range(n)]
        out = composite_stack(stack, ["red", "green", "nir"], ["medoid"], days)
        assert list(out) == ["red", "green", "nir", MEDOID_TIME, "count"]
        assert out[MEDOID_TIME].dtype == np.int32 and out["red"].dtype == np.uint16
        _, _, h, w = stack.shape
        for r in range(h):
            for c in range(w):
                obs = [i for i in range(n) if stack[0, i, r, c] > 0]
                if not obs:
                    assert out[MEDOID_TIME][r, c] == MEDOID_TIME_FILL and out["red"][r, c] == 0
                    continue
                vec = {i: [int(v) for v in stack[:, i, r, c]] for i in obs}
                sums = {i: sum(math.dist(vec[i], vec[j]) for j in obs) for i in obs}
                best = min(obs, key=lambda i: (sums[i], i))
                # Only near-ties could tell float order apart; none of these sums are that close.
                close = [i for i in obs if abs(sums[i] - sums[best]) < 1e-9 * max(sums[best], 1)]
                if len(close) == 1 or sums[close[0]] == sums[close[1]]:
                    assert [int(v) for v in (out["red"][r, c], out["green"][r, c], out["nir"][r, c])] == vec[best]
                    assert out[MEDOID_TIME][r, c] == days[best]
    # A symmetric square: every sum ties exactly; the earliest wins.
    sq = np.array([[30, 10], [10, 10], [10, 30], [30, 30]], np.uint16).T[:, :, None, None]
    out = composite_stack(sq, ["a", "b"], ["medoid"], [5, 6, 7, 8])
    assert (out["a"][0, 0], out["b"][0, 0], out[MEDOID_TIME][0, 0]) == (30, 10, 5)
    with pytest.raises(ValueError, match="day of every observation"):
        composite_stack(sq, ["a", "b"], ["medoid"])


# ---------------------------------------------------------------- spectral indices

def test_indices_match_naive_python():
    from world.refstats import INDEX_CATALOGUE
    rng = np.random.default_rng(7)
    stack = random_stack(rng, 3, 6)
    stack[2, :, 1, :] = stack[0, :, 1, :]          # red == nir: "red / (nir - red)" undefined on row 1
    bands = ["red", "blue", "nir"]
    stats = ["median", "mean", "p10", "p90", "min", "max", "geomedian"]
    out = composite_stack(stack, bands, stats, indices={"ndvi": None, "q": "red / (nir - red)"})
    assert [n for n in out if n.startswith(("ndvi", "q_"))] == [f"{i}_{s}" for i in ("ndvi", "q") for s in stats[:-1]]
    _, n, h, w = stack.shape
    dropped = 0
    for r in range(h):
        for c in range(w):
            obs = [i for i in range(n) if stack[0, i, r, c] > 0]
            red, blue, nir = ([float(stack[b, i, r, c]) / 10000 for i in obs] for b in range(3))
            ndvi = [(x - y) / (x + y) for x, y in zip(nir, red)]
            q = [x / (y - x) for x, y in zip(red, nir) if y != x]
            dropped += len(obs) - len(q)
            for name, vals in (("ndvi", ndvi), ("q", q)):
                for st in stats[:-1]:
                    got = out[f"{name}_{st}"][r, c]
                    if not vals:
                        assert np.isnan(got)
                        continue
                    v, k = sorted(vals), len(vals)
                    if st == "median":
                        want = v[k // 2] if k % 2 else (v[k // 2 - 1] + v[k // 2]) / 2
                    elif st == "mean":
                        want = sum(vals) / k
                    elif st in ("min", "max"):
                        want = v[0] if st == "min" else v[-1]
                    else:
                        want = float(np.percentile(v, int(st[1:])))
                    assert abs(float(got) - want) <= 1e-6 * abs(want) + 1e-12, (name, st, vals, got)
    assert dropped > 0
    assert INDEX_CATALOGUE["evi"].startswith("2.5 * (nir - red)")
    with pytest.raises(ValueError, match="unsupported"):
        composite_stack(stack, bands, ["median"], indices={"x": "red ** 2"})
