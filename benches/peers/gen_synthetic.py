#!/usr/bin/env python3
"""Generate a small Gaussian-mixture data set with exact ground truth.

Writes DIR/base.fvecs, DIR/queries.fvecs, DIR/gt.ivecs (top --gt-k ids per
query, brute force in float32 with a float64 re-rank) and DIR/meta.json.
Queries are drawn from the same mixture as the base vectors but are not in
it. Meant for testing the harness; it is not a realistic workload.

    python gen_synthetic.py --out /tmp/synth --n 20000 --dim 128 --queries 1000
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def gaussian_mixture(rng, n, dim, centers, spread):
    """Points around `centers` (c, dim) with per-cluster isotropic noise."""
    c = centers.shape[0]
    which = rng.integers(0, c, size=n)
    scale = spread * rng.uniform(0.5, 1.5, size=c).astype(np.float32)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    return (centers[which] + noise * scale[which, None]).astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=64)
    ap.add_argument("--spread", type=float, default=0.35, help="cluster std relative to centre spacing")
    ap.add_argument("--gt-k", type=int, default=100)
    ap.add_argument("--metric", choices=common.METRICS, default="l2")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    if a.n > 200_000:
        ap.error("this generator is for small test sets (n <= 200000)")

    rng = np.random.default_rng(a.seed)
    centers = rng.standard_normal((a.clusters, a.dim), dtype=np.float32)
    base = gaussian_mixture(rng, a.n, a.dim, centers, a.spread)
    queries = gaussian_mixture(rng, a.queries, a.dim, centers, a.spread)
    t0 = time.perf_counter()
    gt = common.exact_knn(base, queries, a.gt_k, a.metric)
    t_gt = time.perf_counter() - t0

    os.makedirs(a.out, exist_ok=True)
    common.write_fvecs(os.path.join(a.out, "base.fvecs"), base)
    common.write_fvecs(os.path.join(a.out, "queries.fvecs"), queries)
    common.write_ivecs(os.path.join(a.out, "gt.ivecs"), gt)
    meta = {
        "source": "synthetic gaussian mixture (gen_synthetic.py)",
        "n": a.n,
        "dim": a.dim,
        "queries": a.queries,
        "gt_k": int(gt.shape[1]),
        "metric": a.metric,
        "clusters": a.clusters,
        "spread": a.spread,
        "seed": a.seed,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"wrote {a.out}: base {base.shape}, queries {queries.shape}, gt {gt.shape} ({a.metric}, {t_gt:.1f}s)")


if __name__ == "__main__":
    main()
