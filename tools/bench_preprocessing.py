"""Preprocessing benchmark: tokenizer throughput, first trace, predict latency.

`run(quick)` returns JSON-able results and `to_markdown(results)` renders
them; `tools/benchmark.py` calls both as its "preprocessing" section. Every
measurement runs in a fresh subprocess (`python bench_preprocessing.py
--worker NAME ...`), so import caches, traced graphs and peak memory of one
measurement never leak into another, and each backend gets its own process.

Measured:
- strings/s tokenizing ChnSentiCorp reviews (NEZHA) and SST-2 sentences
  (ConvBERT, ERNIE-M), eager batches and a `tf.data` map, against
  transformers' fast (Rust) and slow (Python) tokenizers (ERNIE-M has only a
  slow one);
- seconds of the first trace of each tokenizer's graph;
- warm `predict` on 2 strings, NEZHA text classifier vs keras-hub's
  `BertTextClassifier` at the same tiny size, `sequence_length=128`, with the
  bert-base-chinese vocabulary, per backend; and the preprocessor alone;
- extra peak memory (resident set) tokenizing a 1 MB string with ERNIE-M.

Assets (vocabularies, SentencePiece model, data sets) are read from the
shared assets folder: `$KERAS_ENCODERS_SHARED/assets`.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from bench_common import section_main  # beside this script

BACKENDS = ("jax", "torch", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _assets():
    shared = os.environ.get(
        "KERAS_ENCODERS_SHARED", os.path.join(ROOT, "..", "shared")
    )
    return os.path.join(shared, "assets")


def _asset(*parts):
    return os.path.join(_assets(), *parts)


def _texts(name, n):
    path = {"nezha": ("data", "chnsenticorp", "dev.tsv")}.get(
        name, ("data", "sst2", "dev.tsv")
    )
    with open(_asset(*path), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    texts = [row[-1] for row in rows if row[-1]]
    return (texts * (n // len(texts) + 1))[:n]


# === Workers (each runs in its own process) ===
def _ernie_m_files(directory):
    import sentencepiece

    model = _asset("sentencepiece", "hf_transformers_fixtures", "spiece.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    tokens = head + [p for p in pieces if p not in head] + ["[MASK]"]
    vocab = os.path.join(directory, "ernie_m_vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    return model, vocab


def _tokenizers(name, directory):
    """(ours, HF fast or None, HF slow)."""
    import transformers

    from keras_encoders import models

    if name == "nezha":
        vocab = _asset("vocab", "bert-base-chinese-vocab.txt")
        return (
            models.NezhaTokenizer(vocabulary=vocab),
            transformers.BertTokenizerFast(vocab),
            transformers.BertTokenizer(vocab),
        )
    if name == "convbert":
        vocab = _asset("vocab", "convbert-vocab-as-published.txt")
        return (
            models.ConvBertTokenizer(vocabulary=vocab),
            transformers.ConvBertTokenizerFast(vocab),
            transformers.ConvBertTokenizer(vocab),
        )
    from transformers.models.deprecated.ernie_m import tokenization_ernie_m

    model, vocab = _ernie_m_files(directory)
    return (
        models.ErnieMTokenizer(proto=model, vocabulary=vocab),
        None,
        tokenization_ernie_m.ErnieMTokenizer(model, vocab_file=vocab),
    )


def _rate(fn, n, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def _keras_hub_tokenizer(name):
    """keras-hub's own WordPiece tokenizer on the same vocabulary (None for
    ERNIE-M: keras-hub has no ERNIE-M piece splitting)."""
    import keras_hub

    files = {"nezha": "bert-base-chinese-vocab.txt", "convbert": "convbert-vocab-as-published.txt"}
    if name not in files:
        return None
    vocabulary = _asset("vocab", files[name])
    with open(vocabulary, encoding="utf-8") as f:
        # keras-hub needs unique tokens (the published ConvBERT file repeats some).
        tokens = list(dict.fromkeys(line.rstrip("\r\n") for line in f))
    return keras_hub.tokenizers.BertTokenizer(vocabulary=tokens, lowercase=True)


def _pipeline_figures(tokenizer, texts, n, repeats):
    """Eager strings/s, tf.data strings/s and a new pipeline's first batch."""
    import tensorflow as tf

    tokenizer(texts[:2])  # warm

    def through_tf_data():
        ds = tf.data.Dataset.from_tensor_slices(texts).batch(32).map(tokenizer)
        for _ in ds:
            pass

    start = time.perf_counter()
    ds = tf.data.Dataset.from_tensor_slices(texts[:32]).batch(32).map(tokenizer)
    next(iter(ds))
    first_batch = time.perf_counter() - start
    return {
        "eager_per_s": _rate(lambda: tokenizer(texts), n, repeats),
        "tf_data_per_s": _rate(through_tf_data, n, repeats),
        "tf_data_first_batch_s": first_batch,
    }


def worker_tokenizers(name, n, repeats, directory):
    start = time.perf_counter()
    ours, fast, slow = _tokenizers(name, directory)
    build = time.perf_counter() - start
    start = time.perf_counter()
    ours.tokenize_graph().get_concrete_function()
    first_trace = time.perf_counter() - start
    texts = _texts(name, n)
    keras_hub_tokenizer = _keras_hub_tokenizer(name)
    result = {
        "tokenizer": name,
        "strings": n,
        "build_s": build,
        "first_trace_s": first_trace,
        **_pipeline_figures(ours, texts, n, repeats),
        "keras_hub": (
            _pipeline_figures(keras_hub_tokenizer, texts, n, repeats)
            if keras_hub_tokenizer is not None else None
        ),
        "hf_slow_per_s": _rate(lambda: slow(texts), n, repeats),
        "hf_fast_per_s": _rate(lambda: fast(texts), n, repeats) if fast else None,
        "graph_ops": len(
            ours.tokenize_graph().get_concrete_function().graph.get_operations()
        ),
    }
    return result


def worker_predict(repeats, hidden_dim, num_layers):
    import keras
    import keras_hub

    from keras_encoders import models

    vocab = _asset("vocab", "bert-base-chinese-vocab.txt")
    texts = ["我爱北京天安门，今天天气很好。", "这家酒店的服务态度非常好"]
    size = dict(num_layers=num_layers, num_heads=2, hidden_dim=hidden_dim,
                intermediate_dim=4 * hidden_dim)
    keras.utils.set_random_seed(0)
    tokenizer = models.NezhaTokenizer(vocabulary=vocab)
    ours = models.NezhaTextClassifier(
        models.NezhaBackbone(vocabulary_size=tokenizer.vocabulary_size(), **size),
        num_classes=2,
        preprocessor=models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=128),
    )
    hub_tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
    hub = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(
            vocabulary_size=hub_tokenizer.vocabulary_size(), max_sequence_length=128, **size
        ),
        num_classes=2,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(
            hub_tokenizer, sequence_length=128
        ),
    )
    result = {"backend": keras.config.backend()}
    for label, task in (("keras_encoders", ours), ("keras_hub_bert", hub)):
        start = time.perf_counter()
        task.predict(texts, verbose=0)
        first = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            task.predict(texts, verbose=0)
            times.append(time.perf_counter() - start)
        task.preprocessor(texts)
        pre = []
        for _ in range(repeats):
            start = time.perf_counter()
            task.preprocessor(texts)
            pre.append(time.perf_counter() - start)
        result[label] = {
            "first_predict_s": first,
            "warm_predict_s": statistics.median(times),
            "preprocessor_s": statistics.median(pre),
        }
    return result


def worker_memory(size, directory):
    import resource

    from keras_encoders import models

    model, vocab = _ernie_m_files(directory)
    tokenizer = models.ErnieMTokenizer(proto=model, vocabulary=vocab)
    unit = "The quick brown fox 92000 jumps, 我爱北京天安门。 Ünïcödé … "
    text = unit * (size // len(unit.encode("utf-8")) + 1)
    tokenizer.tokenize_with_offsets([unit])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    ids, _, _ = tokenizer.tokenize_with_offsets([text])
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bytes": len(text.encode("utf-8")),
        "tokens": len(ids[0]),
        "extra_peak_mib": (after - before) / 1024,
        "seconds": seconds,
    }


def worker_quick(directory):
    """The smoke test's measurements, in one process (small sizes)."""
    return {
        "tokenizers": [worker_tokenizers("nezha", 64, 1, directory)],
        "memory": worker_memory(20_000, directory),
    }


WORKERS = {
    "quick": worker_quick,
    "tokenizers": worker_tokenizers,
    "predict": worker_predict,
    "memory": worker_memory,
}


# === Driver ===
def _spawn(worker, args, backend="tensorflow", timeout=1800):
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p
    )
    command = [sys.executable, os.path.abspath(__file__), "--worker", worker]
    command += [json.dumps(args)]
    out = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick=False):
    """All measurements, each in a fresh subprocess; JSON-able results.

    `quick=True` runs a few small measurements only (a smoke test: well under
    a minute); the full run takes several minutes per backend.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        if quick:
            result = _spawn("quick", {"directory": directory})
            if "error" in result:
                result = {"tokenizers": [result], "memory": result}
            return {"quick": True, "predict": [], **result}
        return {
            "quick": False,
            "tokenizers": [
                _spawn("tokenizers", {"name": name, "n": 1000, "repeats": 5,
                                      "directory": directory})
                for name in ("nezha", "convbert", "ernie_m")
            ],
            "predict": [
                _spawn("predict", {"repeats": 5, "hidden_dim": 32, "num_layers": 2},
                       backend=backend)
                for backend in BACKENDS
            ],
            "memory": _spawn("memory", {"size": 1_000_000, "directory": directory}),
        }


def _fmt(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _keras_hub_cells(figures):
    if not figures:
        return "— | — |"
    return (
        f"{_fmt(figures['eager_per_s'], 0)} / {_fmt(figures['tf_data_per_s'], 0)} | "
        f"{_fmt(figures['tf_data_first_batch_s'])} |"
    )


def to_markdown(results):
    lines = ["## Preprocessing", ""]
    lines += [
        "| tokenizer | eager strings/s | tf.data strings/s | HF fast strings/s | "
        "HF slow strings/s | first trace s | tf.data first batch s | graph ops | "
        "keras-hub eager / tf.data strings/s | keras-hub first batch s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results.get("tokenizers", []):
        if "error" in row:
            lines.append(f"| error: {row['error']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {row['tokenizer']} | {_fmt(row['eager_per_s'], 0)} | "
            f"{_fmt(row['tf_data_per_s'], 0)} | {_fmt(row['hf_fast_per_s'], 0)} | "
            f"{_fmt(row['hf_slow_per_s'], 0)} | {_fmt(row['first_trace_s'])} | "
            f"{_fmt(row['tf_data_first_batch_s'])} | {row['graph_ops']} | "
            + _keras_hub_cells(row.get("keras_hub"))
        )
    if results.get("predict"):
        lines += [
            "",
            "Warm `predict` on 2 strings (median), NEZHA vs keras-hub BERT, same "
            "tiny size, `sequence_length=128`, bert-base-chinese vocabulary:",
            "",
            "| backend | keras_encoders predict s | keras-hub predict s | "
            "keras_encoders preprocessor s | keras-hub preprocessor s | "
            "first predict s (ours / keras-hub) |",
            "|---|---|---|---|---|---|",
        ]
        for row in results["predict"]:
            if "error" in row:
                lines.append(f"| error: {row['error']} | | | | | |")
                continue
            ours, hub = row["keras_encoders"], row["keras_hub_bert"]
            lines.append(
                f"| {row['backend']} | {_fmt(ours['warm_predict_s'], 3)} | "
                f"{_fmt(hub['warm_predict_s'], 3)} | {_fmt(ours['preprocessor_s'], 3)} | "
                f"{_fmt(hub['preprocessor_s'], 3)} | {_fmt(ours['first_predict_s'])} / "
                f"{_fmt(hub['first_predict_s'])} |"
            )
    memory = results.get("memory") or {}
    if "extra_peak_mib" in memory:
        lines += [
            "",
            f"ERNIE-M on one {memory['bytes']:,}-byte string: {memory['tokens']:,} "
            f"tokens, {_fmt(memory['extra_peak_mib'], 0)} MiB extra peak memory, "
            f"{_fmt(memory['seconds'])} s.",
        ]
    elif memory:
        lines += ["", f"ERNIE-M memory: error {memory.get('error')}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section_main(WORKERS, run, to_markdown, ROOT)
