#!/usr/bin/env python3
"""Compare Hektor with hnswlib, faiss and usearch on the same data.

Every engine builds an HNSW index with the same M and ef_construction, using
--threads-build threads (build seconds are wall time). Then, for every ef,
the queries are searched ONE AT A TIME on ONE thread, and each call is timed
with time.perf_counter_ns(). Recall@k is computed against DIR/gt.ivecs.

The peers are measured through their Python bindings, so each peer's latency
includes the cost of one Python -> C++ call (argument checks, array
conversion, result allocation). That cost is measured, printed and stored as
"call_floor_us": the p50 latency of the same search call (same k and ef) on
an index of only k vectors of the same dimension. It is NOT subtracted from anything.

Hektor is measured by its own binary (`hektor search`), which times queries
natively; run it with --hektor PATH. Without it Hektor is skipped.

    python peers.py --data DIR --out OUTDIR [--hektor target/release/hektor]
"""

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# hektor-sq8 / -f16 / -bit walk the graph on compact codes and re-rank the
# candidates with exact f32 distances (`hektor build --dtype ...`).
HEKTOR_ENGINES = ("hektor", "hektor-sq8", "hektor-f16", "hektor-bit")
ALL_ENGINES = ("hnswlib", "faiss", "usearch") + HEKTOR_ENGINES


def hektor_dtype(engine):
    """The --dtype of a hektor engine name: hektor -> f32, hektor-sq8 -> sq8."""
    return engine.split("-", 1)[1] if "-" in engine else "f32"


def hektor_index_file(engine):
    return "index.hektor" if engine == "hektor" else f"index-{hektor_dtype(engine)}.hektor"
REQUIRED_HEKTOR_KEYS = ("ef", "k", "recall", "qps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us")
RECALL_TARGET = 0.95


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pkg_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------ peers
#
# Each adapter: build(base, threads) -> None; prepare(ef) -> None (set the
# search ef, single thread); search_one(q) -> ids (the call that is timed);
# ids_of(result) -> np.ndarray of ids (untimed).


class HnswlibEngine:
    name = "hnswlib"

    def __init__(self, dim, metric, m, efc, k):
        import hnswlib

        self.hnswlib = hnswlib
        self.space = {"l2": "l2", "ip": "ip", "cosine": "cosine"}[metric]
        self.dim, self.m, self.efc, self.k = dim, m, efc, k
        self.index = None

    def build(self, base, threads):
        p = self.hnswlib.Index(space=self.space, dim=self.dim)
        p.init_index(max_elements=base.shape[0], M=self.m, ef_construction=self.efc, random_seed=100)
        p.set_num_threads(threads)
        p.add_items(base, np.arange(base.shape[0]), num_threads=threads)
        self.index = p

    def info(self):
        return {}

    def prepare(self, ef):
        self.index.set_num_threads(1)
        self.index.set_ef(ef)

    def search_one(self, q):
        return self.index.knn_query(q, k=self.k, num_threads=1)

    @staticmethod
    def ids_of(res):
        return res[0][0]


class FaissEngine:
    name = "faiss"

    def __init__(self, dim, metric, m, efc, k):
        import faiss

        self.faiss = faiss
        self.metric, self.dim, self.m, self.efc, self.k = metric, dim, m, efc, k
        self.index = None

    def transform(self, x):
        # faiss has no cosine HNSW: cosine is inner product on unit vectors.
        # Queries are normalized before timing (noted in the output).
        return common.normalize_rows(x) if self.metric == "cosine" else x

    def build(self, base, threads):
        faiss = self.faiss
        mt = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        idx = faiss.IndexHNSWFlat(self.dim, self.m, mt)
        idx.hnsw.efConstruction = self.efc
        faiss.omp_set_num_threads(threads)
        idx.add(np.ascontiguousarray(self.transform(base)))
        self.index = idx

    def info(self):
        return {"compile_options": self.faiss.get_compile_options().strip()}

    def prepare(self, ef):
        self.faiss.omp_set_num_threads(1)
        self.index.hnsw.efSearch = ef

    def search_one(self, q):
        return self.index.search(q, self.k)

    @staticmethod
    def ids_of(res):
        return res[1][0]


class UsearchEngine:
    name = "usearch"

    def __init__(self, dim, metric, m, efc, k):
        from usearch.index import Index

        self.Index = Index
        self.umetric = {"l2": "l2sq", "ip": "ip", "cosine": "cos"}[metric]
        self.dim, self.m, self.efc, self.k = dim, m, efc, k
        self.index = None

    def build(self, base, threads):
        idx = self.Index(
            ndim=self.dim,
            metric=self.umetric,
            dtype="f32",
            connectivity=self.m,
            expansion_add=self.efc,
            expansion_search=64,
        )
        idx.add(np.arange(base.shape[0], dtype=np.uint64), base, threads=threads)
        self.index = idx

    def info(self):
        return {"hardware_acceleration": str(self.index.hardware_acceleration)}

    def prepare(self, ef):
        self.index.expansion_search = ef

    def search_one(self, q):
        return self.index.search(q, self.k, threads=1)

    @staticmethod
    def ids_of(res):
        return np.asarray(res.keys, dtype=np.int64).reshape(-1)


PEERS = {"hnswlib": HnswlibEngine, "faiss": FaissEngine, "usearch": UsearchEngine}


def query_view(engine, queries):
    """Each query as the array the engine is called with (untimed prep):
    a (1, d) contiguous float32 row for hnswlib and faiss, a (d,) vector for
    usearch."""
    if isinstance(engine, FaissEngine):
        queries = engine.transform(queries)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if isinstance(engine, UsearchEngine):
        return [queries[i] for i in range(queries.shape[0])]
    return [queries[i : i + 1] for i in range(queries.shape[0])]


def timed_pass(engine, qs):
    lat = np.empty(len(qs), dtype=np.int64)
    ids = []
    clock = time.perf_counter_ns
    search = engine.search_one
    # Python's cyclic GC would otherwise stop an arbitrary query now and
    # then; that pause is Python's, not the engine's.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for i, q in enumerate(qs):
            t0 = clock()
            res = search(q)
            t1 = clock()
            lat[i] = t1 - t0
            ids.append(res)
    finally:
        if gc_was_on:
            gc.enable()
    return lat, ids


def clock_floor_ns(reps=20000):
    clock = time.perf_counter_ns
    lat = np.empty(reps, dtype=np.int64)
    for i in range(reps):
        t0 = clock()
        t1 = clock()
        lat[i] = t1 - t0
    return float(np.median(lat))


def call_floor_us(cls, dim, metric, m, efc, k, ef, reps=3000):
    """p50 latency of the engine's search call (same k, same ef) on a tiny
    index of exactly k vectors of the same dimension, so the call returns a
    full result but does almost no graph work: what a query pays for the
    Python binding and the call itself. Returned as measured; never
    subtracted from anything."""
    rng = np.random.default_rng(7)
    tiny = rng.standard_normal((k, dim), dtype=np.float32)
    eng = cls(dim, metric, m, efc, k)
    eng.build(tiny, 1)
    eng.prepare(ef)
    q = query_view(eng, rng.standard_normal((1, dim), dtype=np.float32))[0]
    timed_pass(eng, [q] * 200)
    lat, _ = timed_pass(eng, [q] * reps)
    return float(np.median(lat)) / 1e3


def run_peer(name, base, queries, gt, a):
    cls = PEERS[name]
    dim = base.shape[1]
    eng = cls(dim, a.metric, a.m, a.ef_construction, a.k)
    log(f"[{name}] building: n={base.shape[0]} dim={dim} M={a.m} efc={a.ef_construction} threads={a.threads_build}")
    t0 = time.perf_counter()
    eng.build(base, a.threads_build)
    build_s = time.perf_counter() - t0
    log(f"[{name}] built in {build_s:.2f}s {eng.info() or ''}")
    qs = query_view(eng, queries)
    floor = call_floor_us(cls, dim, a.metric, a.m, a.ef_construction, a.k, min(a.ef))
    log(f"[{name}] call floor (p50 of the same search call on a {a.k}-vector index): {floor:.2f} us")
    rows = []
    for ef in a.ef:
        eng.prepare(ef)
        timed_pass(eng, qs[: min(len(qs), a.warmup)])  # warm-up, untimed
        lat, res = timed_pass(eng, qs)
        ids = np.full((len(qs), a.k), -1, dtype=np.int64)
        for i, r in enumerate(res):
            got = eng.ids_of(r)[: a.k]
            ids[i, : got.size] = got
        row = {"engine": name, "ef": ef, "k": a.k, "recall": common.recall_at_k(ids, gt, a.k)}
        row.update(common.latency_summary_us(lat))
        row["build_s"] = build_s
        row["call_floor_us"] = floor
        row["info"] = eng.info()
        rows.append(row)
        log(f"[{name}] ef={ef}: recall@{a.k}={row['recall']:.4f} p50={row['p50_us']:.1f}us p99={row['p99_us']:.1f}us")
    return rows


# ----------------------------------------------------------------- hektor


def hektor_build_cmd(binary, data_dir, out_dir, a, engine="hektor"):
    return [
        binary, "build",
        "--input", os.path.join(data_dir, "base.fvecs"),
        "--metric", a.metric,
        "--dtype", hektor_dtype(engine),
        "--m", str(a.m),
        "--ef-construction", str(a.ef_construction),
        "--threads", str(a.threads_build),
        "--output", os.path.join(out_dir, hektor_index_file(engine)),
    ]  # fmt: skip


def hektor_search_cmd(binary, data_dir, out_dir, a, engine="hektor"):
    return [
        binary, "search",
        "--index", os.path.join(out_dir, hektor_index_file(engine)),
        "--queries", os.path.join(data_dir, "queries.fvecs"),
        "--k", str(a.k),
        "--ef", ",".join(str(e) for e in a.ef),
        "--ground-truth", os.path.join(data_dir, "gt.ivecs"),
        "--warmup", str(a.warmup),
        "--json",
    ]  # fmt: skip


def parse_hektor_json_lines(text, want_ef, want_k, engine="hektor"):
    """Parse `hektor search --json` stdout: one JSON object per ef per line.
    Lines that do not start with '{' are ignored (and returned) so a stray
    log line does not break the run; a JSON line missing a key, or a set of
    ef values different from the one asked for, is an error."""
    rows, ignored = [], []
    for ln, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if not s.startswith("{"):
            ignored.append(s)
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(f"hektor search: line {ln} is not valid JSON: {e}: {s[:200]}") from None
        missing = [key for key in REQUIRED_HEKTOR_KEYS if key not in obj]
        if missing:
            raise ValueError(f"hektor search: line {ln} lacks {', '.join(missing)}: {s[:200]}")
        if int(obj["k"]) != want_k:
            raise ValueError(f"hektor search: line {ln} has k={obj['k']}, asked for {want_k}")
        row = {"engine": engine, "ef": int(obj["ef"]), "k": int(obj["k"]), "recall": float(obj["recall"])}
        for key in ("qps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"):
            row[key] = float(obj[key])
        if "mean_us" in obj:
            row["mean_us"] = float(obj["mean_us"])
        rows.append(row)
    got = sorted(r["ef"] for r in rows)
    if got != sorted(want_ef):
        raise ValueError(f"hektor search: got results for ef {got}, asked for {sorted(want_ef)}")
    return sorted(rows, key=lambda r: want_ef.index(r["ef"])), ignored


def run_hektor(binary, data_dir, out_dir, a, engine="hektor"):
    tag = f"[{engine}]"
    cmd = hektor_build_cmd(binary, data_dir, out_dir, a, engine)
    log(tag + " " + " ".join(cmd))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    build_s = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"hektor build failed ({p.returncode}):\n{p.stderr[-4000:]}")
    log(f"{tag} built in {build_s:.2f}s (wall time of the build command, includes process start and file write)")
    cmd = hektor_search_cmd(binary, data_dir, out_dir, a, engine)
    log(tag + " " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"hektor search failed ({p.returncode}):\n{p.stderr[-4000:]}")
    rows, ignored = parse_hektor_json_lines(p.stdout, a.ef, a.k, engine)
    for s in ignored:
        log(f"{tag} (non-JSON stdout line ignored) {s[:200]}")
    for r in rows:
        r["build_s"] = build_s
        r["call_floor_us"] = None
        log(f"{tag} ef={r['ef']}: recall@{a.k}={r['recall']:.4f} p50={r['p50_us']:.1f}us p99={r['p99_us']:.1f}us")
    return rows


# ----------------------------------------------------------------- report


def best_at_target(rows, engine, target=RECALL_TARGET):
    """The row of `engine` with the smallest ef whose recall >= target."""
    mine = sorted((r for r in rows if r["engine"] == engine), key=lambda r: r["ef"])
    for r in mine:
        if r["recall"] >= target:
            return r
    return None


def summary_lines(rows, engines, k, target=RECALL_TARGET):
    out = []
    best = {}
    for e in engines:
        r = best_at_target(rows, e, target)
        best[e] = r
        if r is None:
            mx = max((x["recall"] for x in rows if x["engine"] == e), default=float("nan"))
            out.append(f"{e}: recall@{k} >= {target} not reached (best {mx:.4f})")
        else:
            out.append(
                f"{e}: smallest ef with recall@{k} >= {target} is {r['ef']} "
                f"(recall {r['recall']:.4f}): p50 {r['p50_us']:.1f} us, p99 {r['p99_us']:.1f} us"
            )
    b = best.get("hnswlib")
    for e in HEKTOR_ENGINES:
        if e not in engines or "hnswlib" not in engines:
            continue
        h = best.get(e)
        if h is not None and b is not None:
            out.append(
                f"{e} / hnswlib at recall@{k} >= {target}: p50 {h['p50_us'] / b['p50_us']:.2f}x, "
                f"p99 {h['p99_us'] / b['p99_us']:.2f}x (below 1 = Hektor faster; hnswlib includes its Python call floor)"
            )
        else:
            out.append(f"{e} / hnswlib ratio: n/a (one of them does not reach recall@{k} >= {target})")
    return out


def fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown_table(rows, k):
    hdr = f"| engine | ef | recall@{k} | qps | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | build s | call floor µs |"
    lines = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | {fmt(r['p50_us'])} | "
            f"{fmt(r['p90_us'])} | {fmt(r['p99_us'])} | {fmt(r['p999_us'])} | {fmt(r['max_us'])} | "
            f"{fmt(r['build_s'], 2)} | {fmt(r.get('call_floor_us'), 2)} |"
        )
    return "\n".join(lines)


def plot(rows, engines, key, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "hektor-peers"  # stable ids in the SVG
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = {"hnswlib": "o", "faiss": "s", "usearch": "^", "hektor": "D",
               "hektor-sq8": "P", "hektor-f16": "v", "hektor-bit": "*"}  # fmt: skip
    for e in engines:
        mine = sorted((r for r in rows if r["engine"] == e), key=lambda r: r["ef"])
        if not mine:
            continue
        xs = [r["recall"] for r in mine]
        ys = [r[key] for r in mine]
        (line,) = ax.plot(xs, ys, marker=markers.get(e, "x"), label=e)
        for r, x, y in zip(mine, xs, ys):
            ax.annotate(f"ef={r['ef']}", (x, y), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color=line.get_color())  # fmt: skip
    ax.set_yscale("log")
    from matplotlib.ticker import LogLocator, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(plt.NullFormatter())
    k = rows[0]["k"] if rows else 10
    ax.set_xlabel(f"recall@{k}")
    ax.set_ylabel(f"{key.replace('_us', '')} latency (µs, log scale)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


# ------------------------------------------------------------------- main


def parse_int_list(s):
    try:
        vals = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {s!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"need positive integers: {s!r}")
    return vals


def parse_engines(s):
    names = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in names if x not in ALL_ENGINES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown engine(s) {bad}; choose from {','.join(ALL_ENGINES)}")
    return names


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with base.fvecs, queries.fvecs, gt.ivecs")
    ap.add_argument("--out", required=True, help="output folder (results.md, results.json, SVG plots)")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", type=parse_int_list, default=[16, 32, 64, 128, 256])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads-build", type=int, default=2)
    ap.add_argument("--metric", choices=common.METRICS, default=None,
                    help="default: DIR/meta.json's metric if present, else l2")  # fmt: skip
    ap.add_argument("--engines", type=parse_engines, default=list(ALL_ENGINES))
    ap.add_argument("--hektor", default=None, help="path to the hektor binary (else Hektor is skipped)")
    ap.add_argument("--max-queries", type=int, default=None, help="use only the first N queries")
    ap.add_argument("--warmup", type=int, default=1000,
                    help="untimed queries before each ef's timed pass, the same for every engine (Hektor's too)")
    return ap


def main(argv=None):
    ap = build_parser()
    a = ap.parse_args(argv)

    meta_path = os.path.join(a.data, "meta.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    if a.metric is None:
        a.metric = meta.get("metric", "l2")
    elif meta.get("metric") and meta["metric"] != a.metric:
        log(f"WARNING: --metric {a.metric} but {meta_path} says the ground truth is for {meta['metric']}")
    if any(ef < a.k for ef in a.ef):
        ap.error(f"every ef must be >= k={a.k} (hnswlib refuses ef < k)")

    base = common.read_fvecs(os.path.join(a.data, "base.fvecs"))
    queries = common.read_fvecs(os.path.join(a.data, "queries.fvecs"))
    gt = common.read_ivecs(os.path.join(a.data, "gt.ivecs"))
    if a.max_queries:
        queries, gt = queries[: a.max_queries], gt[: a.max_queries]
    if queries.shape[1] != base.shape[1]:
        ap.error(f"queries have dim {queries.shape[1]}, base has {base.shape[1]}")
    if gt.shape[0] != queries.shape[0]:
        ap.error(f"gt has {gt.shape[0]} rows for {queries.shape[0]} queries")
    if gt.shape[1] < a.k:
        ap.error(f"gt has {gt.shape[1]} neighbours per query, need k={a.k}")
    if gt.min() < 0 or gt.max() >= base.shape[0]:
        ap.error(f"gt ids out of range [0, {base.shape[0]})")
    os.makedirs(a.out, exist_ok=True)
    log(f"data: {a.data}: base {base.shape}, queries {queries.shape}, gt {gt.shape}, metric {a.metric}")

    engines = list(a.engines)
    skipped = {}
    for e in (e for e in engines if e in HEKTOR_ENGINES):
        if not a.hektor:
            skipped[e] = "no --hektor binary given"
        elif not (os.path.isfile(a.hektor) and os.access(a.hektor, os.X_OK)):
            skipped[e] = f"{a.hektor} is not an executable file"
    for e in ("hnswlib", "faiss", "usearch"):
        if e in engines:
            mod = {"hnswlib": "hnswlib", "faiss": "faiss", "usearch": "usearch"}[e]
            try:
                __import__(mod)
            except ImportError as exc:
                skipped[e] = f"cannot import {mod}: {exc}"
    for e, why in skipped.items():
        log(f"*** SKIPPING {e}: {why}")
    engines = [e for e in engines if e not in skipped]

    clock_ns = clock_floor_ns()
    load_start = os.getloadavg()
    rows = []
    for e in engines:
        if e in HEKTOR_ENGINES:
            # A failing hektor (the binary is young) must not throw away the
            # peers' results: report it as skipped, loudly.
            try:
                rows += run_hektor(os.path.abspath(a.hektor), a.data, a.out, a, e)
            except (RuntimeError, ValueError, OSError) as exc:
                skipped[e] = f"FAILED: {exc}"
                log(f"*** {e.upper()} FAILED: {exc}")
        else:
            rows += run_peer(e, base, queries, gt, a)
    engines = [e for e in engines if e not in skipped]

    load_end = os.getloadavg()
    versions = {
        "hnswlib": pkg_version("hnswlib"),
        "faiss": pkg_version("faiss-cpu"),
        "usearch": pkg_version("usearch"),
        "numpy": pkg_version("numpy"),
        "python": platform.python_version(),
    }
    summary = summary_lines(rows, engines, a.k)
    title = (
        f"n={base.shape[0]} dim={base.shape[1]} {a.metric} M={a.m} efc={a.ef_construction} k={a.k}, "
        f"{queries.shape[0]} queries one at a time on 1 thread"
    )
    notes = [
        "Latency: each query timed alone with time.perf_counter_ns() around one search call, "
        "back to back on one thread; percentiles are nearest-rank; qps = queries / sum of latencies.",
        "Peers (hnswlib, faiss, usearch) are called through their Python bindings: their latencies include "
        "one Python->C++ call. 'call floor' is the p50 of the same search call (same k and ef) on an index "
        "of only k vectors of the same dimension: the binding's cost with almost no graph work. It is "
        "reported, not subtracted.",
        f"perf_counter_ns() pair itself costs about {clock_ns:.0f} ns here (median), also not subtracted.",
        "Python's garbage collector is off during each timed pass.",
        f"With {queries.shape[0]} queries, p99.9 is latency number {common.nearest_rank(99.9, queries.shape[0])} "
        f"of the {queries.shape[0]} sorted ones (the max below 1000 queries); single outliers of a few ms are usually the OS scheduler "
        "(other processes on the machine), not the engine.",
        f"1-minute load average: {load_start[0]:.2f} at start, {load_end[0]:.2f} at end "
        f"({os.cpu_count()} CPUs).",
        "Hektor is timed by its own binary (hektor search --json), without Python in the loop.",
        "Build seconds: wall time of the index build with the given threads (for Hektor: the whole "
        "`hektor build` process, including reading the input and writing the index).",
    ]
    if a.metric == "cosine" and "faiss" in engines:
        notes.append("faiss has no cosine HNSW: base and queries are L2-normalized before building/timing and IP is used.")

    lines = [f"# Peer comparison: {title}", ""]
    lines.append(f"CPU: {cpu_model()}; build threads: {a.threads_build}; versions: "
                 + ", ".join(f"{k} {v}" for k, v in versions.items() if v))  # fmt: skip
    lines.append("")
    lines.append(markdown_table(rows, a.k))
    lines.append("")
    lines.append(f"## Summary (smallest ef reaching recall@{a.k} >= {RECALL_TARGET})")
    lines.append("")
    lines += [f"- {s}" for s in summary]
    lines.append("")
    if skipped:
        lines.append("## Skipped")
        lines.append("")
        lines += [f"- {e}: {why}" for e, why in skipped.items()]
        lines.append("")
    lines.append("## Notes")
    lines.append("")
    lines += [f"- {n}" for n in notes]
    md = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    result = {
        "data": os.path.abspath(a.data),
        "dataset": {"n": int(base.shape[0]), "dim": int(base.shape[1]), "queries": int(queries.shape[0]),
                    "gt_k": int(gt.shape[1]), "meta": meta},  # fmt: skip
        "params": {"metric": a.metric, "m": a.m, "ef_construction": a.ef_construction, "ef": a.ef, "k": a.k,
                   "threads_build": a.threads_build, "search_threads": 1, "warmup": a.warmup},  # fmt: skip
        "cpu": cpu_model(),
        "versions": versions,
        "clock_pair_ns": clock_ns,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "skipped": skipped,
        "rows": rows,
        "summary": summary,
        "notes": notes,
    }
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    if rows:
        plot(rows, engines, "p50_us", os.path.join(a.out, "recall_vs_p50.svg"), title)
        plot(rows, engines, "p99_us", os.path.join(a.out, "recall_vs_p99.svg"), title)
    print(md)
    log(f"wrote {a.out}/results.md, results.json, recall_vs_p50.svg, recall_vs_p99.svg")
    return result


if __name__ == "__main__":
    main()
