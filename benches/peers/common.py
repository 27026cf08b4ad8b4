"""Shared helpers for the peer benchmark: fvecs/ivecs I/O, exact ground
truth, recall and latency percentiles. numpy only."""

import math
import os

import numpy as np


# ---------------------------------------------------------------- vecs I/O
#
# .fvecs / .ivecs (the TEXMEX format): every row is a little-endian int32
# dimension d followed by d little-endian float32 (fvecs) or int32 (ivecs)
# values. All rows of a file have the same d.


class VecsFormatError(ValueError):
    pass


def _read_vecs(path, value_dtype):
    raw = np.fromfile(path, dtype="<i4")
    if raw.size == 0:
        raise VecsFormatError(f"{path}: empty file")
    d = int(raw[0])
    if d <= 0 or d > 1 << 20:
        raise VecsFormatError(f"{path}: bad dimension {d} in the first row")
    if raw.size % (d + 1) != 0:
        raise VecsFormatError(
            f"{path}: {raw.size * 4} bytes is not a whole number of rows of "
            f"4 + {d}*4 bytes (truncated file, or rows of different dimension)"
        )
    rows = raw.reshape(-1, d + 1)
    bad = np.nonzero(rows[:, 0] != d)[0]
    if bad.size:
        raise VecsFormatError(
            f"{path}: row {int(bad[0])} has dimension {int(rows[bad[0], 0])}, "
            f"the first row has {d}"
        )
    return np.ascontiguousarray(rows[:, 1:]).view(value_dtype)


def read_fvecs(path):
    x = _read_vecs(path, "<f4").astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise VecsFormatError(f"{path}: contains NaN or infinite values")
    return x


def read_ivecs(path):
    return _read_vecs(path, "<i4").astype(np.int32, copy=False)


def _write_vecs(path, x, dtype):
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"need a non-empty 2-d array, got shape {x.shape}")
    n, d = x.shape
    out = np.empty((n, d + 1), dtype="<i4")
    out[:, 0] = d
    out[:, 1:] = np.ascontiguousarray(x, dtype=dtype).view("<i4")
    tmp = f"{path}.tmp"
    out.tofile(tmp)
    os.replace(tmp, path)


def write_fvecs(path, x):
    _write_vecs(path, x, "<f4")


def write_ivecs(path, x):
    _write_vecs(path, x, "<i4")


# ----------------------------------------------------------- ground truth

METRICS = ("l2", "ip", "cosine")


def normalize_rows(x):
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def exact_knn(base, queries, k, metric, chunk=256):
    """Exact top-k ids of `base` for every query, by brute force in float32
    chunks. l2 = squared Euclidean, ip = largest dot product, cosine =
    largest cosine similarity. Ties are broken by the smaller id."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    base = np.asarray(base, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    k = min(k, base.shape[0])
    if metric == "cosine":
        base = normalize_rows(base)
        queries = normalize_rows(queries)
    base_sq = (base * base).sum(axis=1) if metric == "l2" else None
    out = np.empty((queries.shape[0], k), dtype=np.int32)
    for s in range(0, queries.shape[0], chunk):
        q = queries[s : s + chunk]
        dots = q @ base.T  # (chunk, n), float32
        if metric == "l2":
            # ||q||^2 is the same for the whole row: drop it.
            dist = base_sq[None, :] - 2.0 * dots
        else:
            dist = -dots
        # Shortlist k + margin candidates from the float32 scores, then
        # re-rank the shortlist in float64 so that float32 rounding of
        # ||b||^2 - 2 q.b cannot reorder near ties; ties go to the smaller id.
        kk = min(base.shape[0], k + 32)
        part = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        for r in range(q.shape[0]):
            cand = part[r]
            b = base[cand].astype(np.float64)
            qq = q[r].astype(np.float64)
            if metric == "l2":
                exact = ((b - qq) ** 2).sum(axis=1)
            else:
                exact = -(b @ qq)
            order = np.lexsort((cand, exact))
            out[s + r] = cand[order[:k]]
    return out


# ------------------------------------------------------ recall, percentiles


def recall_at_k(found, gt, k):
    """Mean over queries of |found[:k] ∩ gt[:k]| / k. `found` may hold -1
    (or any id not in gt) for missing results."""
    found = np.asarray(found)
    gt = np.asarray(gt)
    if found.shape[0] != gt.shape[0]:
        raise ValueError(f"{found.shape[0]} result rows but {gt.shape[0]} gt rows")
    if gt.shape[1] < k:
        raise ValueError(f"ground truth has only {gt.shape[1]} neighbours, need k={k}")
    hits = 0
    for f, g in zip(found[:, :k], gt[:, :k]):
        hits += len(set(f.tolist()) & set(g.tolist()))
    return hits / (k * gt.shape[0])


PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile_nearest_rank(samples, p):
    """Nearest-rank percentile: the smallest sample such that at least p% of
    the samples are <= it. p=100 is the max. No interpolation, so every
    value reported is one a query really took."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    s = np.sort(np.asarray(samples))
    if s.size == 0:
        raise ValueError("no samples")
    return s[nearest_rank(p, s.size) - 1]


def nearest_rank(p, n):
    """1-based rank of the p-th percentile of n samples: ceil(p/100 * n),
    rounded first so that 99.9% of 1000 is 999, not 1000 (99.9 / 100 * 1000
    is 999.0000000000001 in floating point)."""
    return min(n, max(1, math.ceil(round(p * n / 100.0, 6))))


def latency_summary_us(lat_ns):
    """p50/p90/p99/p99.9/max and mean in microseconds, and QPS, from per-query
    latencies in ns measured back to back on one thread."""
    lat = np.asarray(lat_ns, dtype=np.float64)
    out = {
        "p50_us": percentile_nearest_rank(lat, 50.0) / 1e3,
        "p90_us": percentile_nearest_rank(lat, 90.0) / 1e3,
        "p99_us": percentile_nearest_rank(lat, 99.0) / 1e3,
        "p999_us": percentile_nearest_rank(lat, 99.9) / 1e3,
        "max_us": float(lat.max()) / 1e3,
        "mean_us": float(lat.mean()) / 1e3,
    }
    out["qps"] = lat.size / (lat.sum() / 1e9)
    return {k: float(v) for k, v in out.items()}
