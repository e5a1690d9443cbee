"""Latency benchmark: the fixed cost of one `predict` call on a few texts.

`run(quick)` returns JSON-able results and `to_markdown(results)` renders
them; `tools/benchmark.py` calls both as its "latency" section. Each
measurement runs in a fresh subprocess (`python bench_latency.py --worker
NAME ...`), each backend in its own.

One NEZHA text classifier per size (tiny and base, random weights) is saved
by transformers as a Hugging Face folder; every engine loads that folder, so
all of them run the same weights:
- Keras, per backend: warm `task.predict(texts)` on 1, 2 and 8 raw
  ChnSentiCorp reviews (`sequence_length=128`), against the direct call
  (`preprocessor(texts)` then the task on its outputs) and the backbone
  alone on the packed inputs;
- transformers: `pipeline("text-classification")` on the same texts (its
  default: one text at a time, truncated to 128 tokens), and its direct call
  (tokenizer + model, padded to 128).
Threads: every engine uses the same count (`--threads`, default all cores).
"""

import os
import statistics
import time

from bench_common import section_main, section_worker, thread_env  # beside this script

BACKENDS = ("jax", "torch", "tensorflow")
COUNTS = (1, 2, 8)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Targets of the latency issue: predict <= 1.2 x (direct call) + 20 ms under
# one batch; tiny: <= 5 x transformers' pipeline; base, one text: <= 1.1 x
# the backbone's own time.
SIZES = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
}


def _asset(*parts):
    shared = os.environ.get("KERAS_ENCODERS_SHARED", os.path.join(ROOT, "..", "shared"))
    return os.path.join(shared, "assets", *parts)


def _reviews(n):
    with open(_asset("data", "chnsenticorp", "dev.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [row[-1] for row in rows if row[-1]][:n]


def _median_seconds(fn, repeats):
    fn()
    fn()  # warm: traces, compilations and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# === Workers (each runs in its own process) ===
def worker_prepare(size, directory):
    """A random NEZHA classifier and its tokenizer as a Hugging Face folder."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.NezhaConfig(vocab_size=21128, num_labels=2, **SIZES[size])
    transformers.NezhaForSequenceClassification(config).eval().save_pretrained(directory)
    vocab = _asset("vocab", "bert-base-chinese-vocab.txt")
    transformers.BertTokenizerFast(vocab).save_pretrained(directory)
    return {"directory": directory}


def worker_keras(directory, repeats, threads):
    import keras

    from keras_encoders import models

    preprocessor = models.NezhaTextClassifierPreprocessor.from_preset(
        directory, sequence_length=128
    )
    task = models.NezhaTextClassifier.from_preset(directory, preprocessor=preprocessor)
    result = {"backend": keras.config.backend()}
    for n in COUNTS:
        texts = _reviews(n)
        packed = preprocessor(texts)
        result[str(n)] = {
            "predict_s": _median_seconds(lambda: task.predict(texts, verbose=0), repeats),
            "direct_s": _median_seconds(lambda: task(preprocessor(texts)), repeats),
            "backbone_s": _median_seconds(lambda: task.backbone(packed), repeats),
        }
    return result


def worker_transformers(directory, repeats, threads):
    import torch
    import transformers

    torch.set_num_threads(threads)
    pipe = transformers.pipeline("text-classification", model=directory, device=-1)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.NezhaForSequenceClassification.from_pretrained(directory).eval()

    def direct(texts):
        with torch.no_grad():
            batch = tokenizer(texts, padding="max_length", truncation=True, max_length=128,
                              return_tensors="pt")
            return model(**batch).logits

    result = {"backend": "transformers"}
    for n in COUNTS:
        texts = _reviews(n)
        result[str(n)] = {
            "pipeline_s": _median_seconds(
                lambda: pipe(texts, truncation=True, max_length=128), repeats
            ),
            "direct_s": _median_seconds(lambda: direct(texts), repeats),
        }
    return result


WORKERS = {"prepare": worker_prepare, "keras": worker_keras, "transformers": worker_transformers}


# === Driver ===
def _spawn(worker, args, backend="torch", threads=None, timeout=1800):
    # Workers other than Keras' are transformers' (which would import
    # TensorFlow and JAX too unless told not to).
    env = thread_env(threads or os.cpu_count(), backend, reference=worker != "keras")
    return section_worker(os.path.abspath(__file__), worker, args, env, timeout)


def run(quick=False, backends=BACKENDS, threads=None):
    """Every size and engine, each in a fresh subprocess; JSON-able results.

    `quick=True` measures the tiny size with 2 repeats (a smoke test).
    """
    import tempfile

    threads = threads or os.cpu_count()
    repeats = 2 if quick else 15
    results = {"quick": quick, "threads": threads, "sizes": {}}
    with tempfile.TemporaryDirectory() as root:
        for size in ("tiny",) if quick else tuple(SIZES):
            directory = os.path.join(root, size)
            prepared = _spawn("prepare", {"size": size, "directory": directory})
            if "error" in prepared:
                results["sizes"][size] = {"error": prepared["error"]}
                continue
            job = {"directory": directory, "repeats": repeats, "threads": threads}
            engines = {"transformers": _spawn("transformers", job, threads=threads)}
            for backend in backends:
                engines[f"keras-{backend}"] = _spawn("keras", job, backend=backend,
                                                     threads=threads)
            results["sizes"][size] = engines
    return results


def verdicts(size, keras_figures, hf_figures, n):
    """(ratio, target, met) per target that applies to this row."""
    figures = keras_figures[str(n)]
    rows = [("predict / (direct + 20 ms)",
             figures["predict_s"] / (figures["direct_s"] + 0.020), 1.2)]
    if size == "tiny" and hf_figures and str(n) in hf_figures:
        rows.append(("predict / HF pipeline", figures["predict_s"] / hf_figures[str(n)]["pipeline_s"], 5.0))
    if size == "base" and n == 1:
        rows.append(("predict / backbone", figures["predict_s"] / figures["backbone_s"], 1.1))
    return [(name, ratio, target, ratio <= target) for name, ratio, target in rows]


def to_markdown(results):
    lines = ["## Latency", "",
             f"Warm calls on 1, 2 and 8 ChnSentiCorp reviews, NEZHA text classifier, "
             f"`sequence_length=128`, median seconds, {results.get('threads')} threads; "
             "every engine loads the same Hugging Face folder.", "",
             "| size | engine | texts | predict s | direct s | backbone s | HF pipeline s | "
             "HF direct s | targets (ratio <= target) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, engines in results.get("sizes", {}).items():
        if "error" in engines:
            lines.append(f"| {size} | error: {engines['error']} | | | | | | | |")
            continue
        hf = engines.get("transformers", {})
        hf = None if "error" in hf else hf
        for engine, figures in engines.items():
            if engine == "transformers":
                continue
            if "error" in figures:
                lines.append(f"| {size} | {engine} | error: {figures['error']} | | | | | | |")
                continue
            for n in COUNTS:
                f = figures[str(n)]
                h = hf[str(n)] if hf else {}
                checks = "; ".join(
                    f"{name} {ratio:.2f} <= {target} {'met' if met else 'MISSED'}"
                    for name, ratio, target, met in verdicts(size, figures, hf, n)
                )
                lines.append(
                    f"| {size} | {engine} | {n} | {f['predict_s']:.4f} | {f['direct_s']:.4f} | "
                    f"{f['backbone_s']:.4f} | {h.get('pipeline_s', float('nan')):.4f} | "
                    f"{h.get('direct_s', float('nan')):.4f} | {checks} |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section_main(WORKERS, run, to_markdown, ROOT)
