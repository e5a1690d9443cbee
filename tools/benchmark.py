"""Speed and memory of the Keras encoders against the transformers reference.

Every configuration (engine x model x section) runs in a fresh subprocess
with the same thread count, so imports, compilation caches and peak memory
never leak from one measurement into the next. Engines:

- `keras-jax`, `keras-tensorflow`, `keras-torch`: the Keras models compiled
  the way a user runs them (`compile()` defaults, then `predict_on_batch` /
  `train_on_batch`), and with `jit_compile=True` (XLA on JAX/TF,
  `torch.compile` on torch) in the `jit` section;
- `hf-eager`, `hf-compile`: transformers 4.57.6 in eager PyTorch and under
  `torch.compile`;
- `onnxruntime`: the transformers model exported with `torch.onnx.export`.

Models: NEZHA, ERNIE-M and ConvBERT at their published base sizes (random
weights), and keras-hub's BERT-base (HF `BertModel` on the reference side)
as the control. Sections:

- `inference`: seconds per batch at 8x128, 1x128 and 2x512 (backbone only);
- `jit`: the same with `compile(jit_compile=True)` (Keras engines only);
- `train`: one classifier training step (forward, backward, AdamW) at 8x128;
- `train_jit`: the same step with `compile(jit_compile=True)`;
- `int8`: `backbone.quantize("int8")` speed-up and output drift vs float32;
- `preprocessing`: the tokenizer benchmark (`tools/bench_preprocessing.py`).
- `latency`: warm `predict` on 1, 2 and 8 raw strings against the direct call
  and transformers' pipeline (`tools/bench_latency.py`).
- `serving`: the exported SavedModel in a TensorFlow-only process on 1, 8
  and 32 raw texts against transformers' pipeline, and ONNX Runtime on our
  ONNX export against ONNX Runtime on transformers' (`tools/bench_serving.py`).
- `uie`: UIE-M `extract()` per backend against PaddleNLP 2.8.1's Taskflow
  (in the paddle reference venv) on the same weights and texts, spans
  compared, with an int8 row (`tools/bench_uie.py`).

Each timed figure is the median of several calls after a warm-up call whose
time is reported as the first-call (compile) time. A call is flagged
`contended` when the rest of the machine used more than `--contention`
cores on average during it (from /proc/stat minus this process' CPU time);
medians use the clean calls only, and a figure with no clean call says so.
The machine's measured float32 matmul rate and each model's analytic forward
FLOPs turn every figure into a fraction of the hardware limit.

    python tools/benchmark.py --out benchmarks            # full run
    python tools/benchmark.py --models nezha --backends jax --sections inference
    python tools/benchmark.py --smoke --out /tmp/bench    # seconds; used by tests

Outputs in `--out`: `results.json`, `results.md`, one `chart_<shape>.png` per
shape (when matplotlib is installed).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

# The shared helpers and the section scripts sit beside this file; its folder
# goes on the path also when the file is loaded by path (as the tests do).
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from bench_common import (  # noqa: E402
    BASE,
    NUM_CLASSES,
    TINY,
    hf_config,
    measure,
    onnx_session,
    peak_rss_mib,
    ratio_text,
    thread_env,
    torch_onnx_export,
)

MODELS = ("nezha", "ernie_m", "convbert", "bert")
BACKENDS = ("jax", "tensorflow", "torch")
REFERENCE_ENGINES = ("hf-eager", "hf-compile", "onnxruntime")
SECTIONS = ("inference", "jit", "train", "train_jit", "int8", "preprocessing", "latency",
            "serving", "uie")
# Sections run by their own tools/bench_*.py script, not per model.
SCRIPT_SECTIONS = ("preprocessing", "latency", "serving", "uie")
SHAPES = ((8, 128), (1, 128), (2, 512))
TRAIN_SHAPE = (8, 128)
# Timed calls per shape after the warm-up call: fewer where a call is long,
# so that a full run fits ~20 minutes on a quiet 2-core machine.
REPEATS = {(8, 128): 3, (1, 128): 5, (2, 512): 2}
TRAIN_REPEATS = 3
SMOKE_SHAPE = (2, 16)


# === Analytic FLOPs ===
def forward_flops(model, config, batch, length):
    """Multiply-add FLOPs (2 per MAC) of one backbone forward pass.

    Counts the matrix products (projections, attention, feed-forward, NEZHA's
    relative-position products, ConvBERT's convolutions) and the pooler;
    embeddings lookups, norms and softmax are negligible at these sizes.
    """
    b, n = batch, length
    d, i, layers = config["hidden_dim"], config["intermediate_dim"], config["num_layers"]
    heads = config["num_heads"]
    tokens = b * n
    if model == "convbert":
        attn_heads = max(heads // config["head_ratio"], 1)
        head_dim = (d // attn_heads) // 2
        a = attn_heads * head_dim
        k = config["conv_kernel_size"]
        groups = config["num_groups"]
        per_layer = (
            2 * tokens * d * a * 3  # query, key, value
            + 2 * b * n * n * a * 2  # scores and context
            + 2 * tokens * d * k  # depthwise key conv
            + 2 * tokens * d * a  # pointwise key conv
            + 2 * tokens * a * attn_heads * k  # dynamic kernel
            + 2 * tokens * d * a  # conv_out
            + 2 * tokens * a * k  # the dynamic convolution
            + 2 * tokens * 2 * a * d  # attention output
            + 2 * 2 * tokens * d * i // groups  # feed-forward
        )
        embed = config.get("embedding_dim") or d
        extra = 2 * tokens * embed * d if embed != d else 0
        return layers * per_layer + extra
    per_layer = (
        2 * tokens * d * d * 4  # q, k, v, output
        + 2 * b * n * n * d * 2  # scores and context
        + 2 * 2 * tokens * d * i  # feed-forward
    )
    if model == "nezha":
        rows = 2 * config["max_relative_position"] + 1
        head_dim = d // heads
        # q @ T^T and buckets @ T (this port's form of the relative terms).
        per_layer += 2 * 2 * b * heads * n * rows * head_dim
    return layers * per_layer + 2 * b * d * d  # + pooler


# === Inputs ===
def make_inputs(model, batch, length, vocabulary_size, seed=0):
    import numpy as np

    rng = np.random.RandomState(seed)
    low = 5 if vocabulary_size > 10 else 0
    ids = rng.randint(low, vocabulary_size, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    x = {"token_ids": ids, "padding_mask": mask}
    if model != "ernie_m":
        x["segment_ids"] = np.zeros_like(ids)
    return x


# === Keras engines ===
def keras_backbone(model, config):
    import keras

    keras.utils.set_random_seed(0)
    if model == "bert":
        import keras_hub

        return keras_hub.models.BertBackbone(**config)
    from keras_encoders import models

    cls = {
        "nezha": models.NezhaBackbone,
        "ernie_m": models.ErnieMBackbone,
        "convbert": models.ConvBertBackbone,
    }[model]
    return cls(**config)


def keras_classifier(model, backbone):
    if model == "bert":
        import keras_hub

        return keras_hub.models.BertTextClassifier(
            backbone, num_classes=NUM_CLASSES, preprocessor=None
        )
    from keras_encoders import models

    cls = {
        "nezha": models.NezhaTextClassifier,
        "ernie_m": models.ErnieMTextClassifier,
        "convbert": models.ConvBertTextClassifier,
    }[model]
    return cls(backbone, num_classes=NUM_CLASSES, preprocessor=None)


def run_keras(job):
    import keras
    import numpy as np

    model, section, config = job["model"], job["section"], job["config"]
    threshold, shapes = job["contention"], [tuple(s) for s in job["shapes"]]
    result = {"baseline_rss_mib": peak_rss_mib()}
    backbone = keras_backbone(model, config)
    if section in ("inference", "jit", "int8"):
        jit = True if section == "jit" else "auto"
        backbone.compile(jit_compile=jit)
        result["jit_compile"] = bool(backbone.jit_compile)
        shapes = shapes[:1] if section == "int8" else shapes
        for batch, length in shapes:
            x = make_inputs(model, batch, length, config["vocabulary_size"])
            key = f"{batch}x{length}"
            result[key] = measure(
                lambda: backbone.predict_on_batch(x),
                job["repeats"].get(key, 1), threshold,
            )
        if section == "int8":
            batch, length = shapes[0]
            x = make_inputs(model, batch, length, config["vocabulary_size"])
            reference = np.asarray(backbone.predict_on_batch(x)["sequence_output"])
            backbone.quantize("int8")
            # quantize() replaces the variables: compile again, as a user would.
            backbone.compile(jit_compile="auto")
            key = f"{batch}x{length}"
            int8 = measure(
                lambda: backbone.predict_on_batch(x), job["repeats"].get(key, 1), threshold
            )
            out = np.asarray(backbone.predict_on_batch(x)["sequence_output"])
            drift = np.abs(out.astype("float64") - reference)
            result["int8"] = {
                key: int8,
                "max_abs_drift": float(drift.max()),
                "mean_abs_drift": float(drift.mean()),
                "reference_std": float(reference.std()),
                "cosine": float(
                    np.sum(out * reference)
                    / (np.linalg.norm(out) * np.linalg.norm(reference) + 1e-30)
                ),
            }
    elif section == "train":
        classifier = keras_classifier(model, backbone)
        classifier.compile(
            optimizer=keras.optimizers.AdamW(1e-5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=job.get("jit", "auto"),
        )
        result["jit_compile"] = bool(classifier.jit_compile)
        batch, length = tuple(job["train_shape"])
        x = make_inputs(model, batch, length, config["vocabulary_size"])
        y = np.arange(batch) % NUM_CLASSES
        result[f"{batch}x{length}"] = measure(
            lambda: classifier.train_on_batch(x, y), job["train_repeats"], threshold
        )
    else:
        raise ValueError(f"Unknown section {section!r} for a Keras engine.")
    result["peak_rss_mib"] = peak_rss_mib()
    return result


# === Reference engines (transformers, torch.compile, ONNX Runtime) ===


def hf_model(model, config, classifier=False):
    import torch
    import transformers

    torch.manual_seed(0)
    prefix = {"nezha": "Nezha", "ernie_m": "ErnieM", "convbert": "ConvBert", "bert": "Bert"}
    suffix = "ForSequenceClassification" if classifier else "Model"
    cls = getattr(transformers, prefix[model] + suffix)
    return cls(hf_config(model, config)).eval()


def hf_inputs(model, x):
    import torch

    out = {
        "input_ids": torch.from_numpy(x["token_ids"]).long(),
        "attention_mask": torch.from_numpy(x["padding_mask"]).long(),
    }
    if model != "ernie_m":
        out["token_type_ids"] = torch.from_numpy(x["segment_ids"]).long()
    return out


def run_reference(job):
    import numpy as np
    import torch

    torch.set_num_threads(job["threads"])
    engine, model, section, config = job["engine"], job["model"], job["section"], job["config"]
    threshold, shapes = job["contention"], [tuple(s) for s in job["shapes"]]
    result = {"baseline_rss_mib": peak_rss_mib()}
    if section == "inference":
        net = hf_model(model, config)
        if engine == "onnxruntime":
            run = onnx_runner(model, net, config, job["threads"])
            del net
        else:
            if engine == "hf-compile":
                net = torch.compile(net)

            def run(x):
                with torch.inference_mode():
                    return net(**hf_inputs(model, x))

        for batch, length in shapes:
            x = make_inputs(model, batch, length, config["vocabulary_size"])
            key = f"{batch}x{length}"
            result[key] = measure(lambda: run(x), job["repeats"].get(key, 1), threshold)
    elif section == "train":
        net = hf_model(model, config, classifier=True).train()
        if engine == "hf-compile":
            net = torch.compile(net)
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)
        batch, length = tuple(job["train_shape"])
        x = hf_inputs(model, make_inputs(model, batch, length, config["vocabulary_size"]))
        labels = torch.from_numpy(np.arange(batch) % NUM_CLASSES).long()

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = net(**x, labels=labels).loss
            loss.backward()
            optimizer.step()

        result[f"{batch}x{length}"] = measure(step, job["train_repeats"], threshold)
    else:
        raise ValueError(f"Unknown section {section!r} for {engine}.")
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def onnx_runner(model, net, config, threads):
    x = hf_inputs(model, make_inputs(model, 2, 16, config["vocabulary_size"]))
    path = os.path.join(tempfile.mkdtemp(prefix="bench_onnx_"), "model.onnx")
    torch_onnx_export(net, x, path, ["last_hidden_state"])
    session = onnx_session(path, threads)

    def run(inputs):
        feed = {k: v.numpy() for k, v in hf_inputs(model, inputs).items()}
        return session.run(None, feed)

    return run


def run_matmul(job):
    """Sustained float32 GEMM rate of this machine (torch, same threads), FLOP/s."""
    import torch

    torch.set_num_threads(job["threads"])
    n = job["matmul_size"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    stats = measure(lambda: torch.mm(a, b), job["repeats"], job["contention"])
    seconds = stats["median_seconds"] or stats["median_all_seconds"]
    return {"size": n, "flops_per_second": 2 * n**3 / seconds, "timing": stats}


# === Worker (one configuration per process) ===
def worker(job):
    threads = job["threads"]
    if job["engine"] == "matmul":
        return run_matmul(job)
    if job["engine"].startswith("keras-"):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if job["engine"] == "keras-torch":
            import torch

            torch.set_num_threads(threads)
        return run_keras(job)
    return run_reference(job)


def spawn(job, timeout):
    """Run one job in a fresh interpreter; its JSON result (or the error)."""
    keras_engine = job["engine"].startswith("keras-")
    backend = job["engine"][len("keras-"):] if keras_engine else "torch"
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]
    start = time.time()
    try:
        proc = subprocess.run(
            command, env=thread_env(job["threads"], backend, reference=not keras_engine), capture_output=True,
            text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
            result["process_seconds"] = time.time() - start
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {"error": f"exit status {proc.returncode}", "log_tail": tail}


# === Planning ===
def parse_shapes(text):
    shapes = []
    for item in text.split(","):
        batch, _, length = item.strip().partition("x")
        shapes.append((int(batch), int(length)))
    return shapes


def inference_shapes(args):
    if args.smoke:
        return [SMOKE_SHAPE]
    return parse_shapes(args.shapes) if args.shapes else list(SHAPES)


def plan(args):
    configs = TINY if args.smoke else BASE
    shapes = inference_shapes(args)
    repeats = {f"{b}x{n}": (args.repeats or REPEATS.get((b, n), 3)) for b, n in shapes}
    if args.smoke:
        repeats = {f"{b}x{n}": args.repeats or 1 for b, n in shapes}
    train_shape = SMOKE_SHAPE if args.smoke else TRAIN_SHAPE
    base = dict(
        threads=args.threads, contention=args.contention, shapes=shapes,
        repeats=repeats, train_shape=train_shape,
        train_repeats=args.repeats or (1 if args.smoke else TRAIN_REPEATS),
    )
    jobs = []
    for model in args.models:
        config = configs[model]
        for section in args.sections:
            if section in SCRIPT_SECTIONS:
                continue
            engines = [f"keras-{b}" for b in args.backends]
            if section == "train_jit":
                for engine in engines:
                    jobs.append(dict(base, engine=engine, model=model, section="train",
                                     jit=True, config=config))
                continue
            if section in ("inference", "train"):
                engines += [e for e in args.reference if e in REFERENCE_ENGINES]
                if section == "train":
                    engines = [e for e in engines if e != "onnxruntime"]
            for engine in engines:
                jobs.append(dict(base, engine=engine, model=model, section=section, config=config))
    return jobs


def job_key(job):
    section = job["section"]
    if section == "train" and job.get("jit") is True:
        section = "train_jit"
    return f"{job['model']}|{job['engine']}|{section}"


# === Report ===
def figure(result, shape):
    entry = result.get(shape) if isinstance(result, dict) else None
    if not entry:
        return None
    return entry["median_seconds"]


def to_markdown(report):
    results, machine = report["results"], report["machine"]
    rate = machine.get("matmul_flops_per_second")
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine['processor']} ({machine['cpu_count']} CPUs, "
        f"{machine['threads']} threads per configuration), {machine['platform']}; "
        f"Python {machine['python']}.",
        f"Measured float32 matmul rate: {rate / 1e9:.1f} GFLOP/s (`%peak` uses the rate "
        "measured in the figure's own part)." if rate else "",
        parts_line(report),
        f"Mode: {'smoke (tiny configs)' if report['smoke'] else 'published base sizes, random weights'}.",
        "Seconds are medians of clean calls after one warm-up call; `(c)` marks a figure "
        "where some calls were dropped because other processes used the CPU, `n/a` one "
        "with no clean call (median of all calls in brackets). Ratios are HF eager "
        "seconds / engine seconds (>1: faster than HF eager), given only when both come "
        "from the same part of the run or from parts whose matmul rates agree within 2 %; "
        "`%peak` is analytic "
        "forward FLOPs / (seconds x matmul rate).",
        "",
    ]
    models = list(dict.fromkeys(k.split("|")[0] for k in results))
    engines = list(dict.fromkeys(k.split("|")[1] for k in results))
    shapes = report["shapes"]
    for section in ("inference", "jit", "train", "train_jit"):
        section_shapes = [report["train_shape"]] if section.startswith("train") else shapes
        present = [e for e in engines
                   if any(f"{m}|{e}|{section}" in results for m in models)]
        for shape in section_shapes:
            rows = []
            for model in models:
                ref_section = "train" if section.startswith("train") else "inference"
                ref_result = results.get(f"{model}|hf-eager|{ref_section}")
                ref = figure(ref_result, shape)
                cells = []
                for engine in present:
                    result = results.get(f"{model}|{engine}|{section}")
                    if result is None:
                        cells.append("")
                        continue
                    if "error" in result:
                        cells.append("error")
                        continue
                    entry = result.get(shape)
                    if not entry:
                        cells.append("")
                        continue
                    same = same_part(result, ref_result)
                    cells.append(format_cell(entry, ref if same else None,
                                             report["flops"].get(model, {}).get(shape),
                                             result.get("matmul_flops_per_second") or rate,
                                             train=section.startswith("train")))
                if any(cells):
                    rows.append(f"| {model} | " + " | ".join(cells) + " |")
            if rows:
                title = {"inference": "Inference", "jit": "Inference, `jit_compile=True`",
                         "train": "Training step (classifier, AdamW)",
                         "train_jit": "Training step, `jit_compile=True`"}[section]
                lines += [f"## {title}, {shape}: seconds (x HF eager, %peak)", "",
                          "| model | " + " | ".join(present) + " |",
                          "|---" * (len(present) + 1) + "|"] + rows + [""]
    # Only with figures of its own: a serving-only run has none (its
    # section renders its own tables).
    if results:
        lines += ["## Peak resident memory (MiB) and first call (s)", "",
                  "| model | engine | section | peak RSS | after imports | first call |",
                  "|---|---|---|---|---|---|"]
        for key, result in results.items():
            if "error" in result:
                lines.append(f"| {' | '.join(key.split('|'))} | error: {result['error']} | | |")
                continue
            first = [v["first_call_seconds"] for v in result.values()
                     if isinstance(v, dict) and "first_call_seconds" in v]
            lines.append(
                f"| {' | '.join(key.split('|'))} | {result['peak_rss_mib']:.0f} | "
                f"{result['baseline_rss_mib']:.0f} | {first[0]:.2f} |" if first else
                f"| {' | '.join(key.split('|'))} | {result['peak_rss_mib']:.0f} | "
                f"{result['baseline_rss_mib']:.0f} | |"
            )
    int8_rows = []
    for key, result in results.items():
        if key.endswith("|int8") and "int8" in result:
            shape = next(s for s in result["int8"] if "x" in s)
            fp32, q = figure(result, shape), result["int8"][shape]["median_seconds"]
            speed = f"{fp32 / q:.2f}x" if fp32 and q else "n/a"
            model, engine = key.split("|")[:2]
            int8_rows.append(
                f"| {model} | {engine} | {shape} | {speed} | "
                f"{result['int8']['max_abs_drift']:.3g} | {result['int8']['mean_abs_drift']:.3g} | "
                f"{result['int8']['reference_std']:.3g} | {result['int8']['cosine']:.5f} |"
            )
    if int8_rows:
        lines += ["", "## int8 (`backbone.quantize(\"int8\")`) vs float32, same process", "",
                  "| model | engine | shape | speed-up | max abs drift | mean abs drift | "
                  "output std | cosine |", "|---|---|---|---|---|---|---|---|"] + int8_rows
    lines += targets_markdown(report)
    if report.get("notes_markdown"):
        lines += ["", report["notes_markdown"].rstrip()]
    if report.get("preprocessing_markdown"):
        lines += ["", report["preprocessing_markdown"]]
    if report.get("latency_markdown"):
        lines += ["", report["latency_markdown"]]
    if report.get("serving_markdown"):
        lines += ["", report["serving_markdown"]]
    if report.get("uie_markdown"):
        lines += ["", report["uie_markdown"]]
    elif isinstance(report.get("preprocessing"), dict) and "error" in report["preprocessing"]:
        lines += ["", f"Preprocessing section not run: {report['preprocessing']['error']}"]
    return "\n".join(lines).rstrip() + "\n"


# === Targets (the ratios, computed from the results) ===
TARGET_MODELS = ("nezha", "ernie_m", "convbert")


# Parts of a merged run whose measured matmul rates differ by more than this
# were taken in different machine states: no ratios between them.
PART_RATE_TOLERANCE = 0.02


def same_part(result, other):
    """Whether two results may be compared: taken in the same part of a merged
    run, or in parts whose measured matmul rates agree within 2 % (the
    machine's speed can drift between parts; a ratio across such a drift
    would measure the machine, not the engines)."""
    if not result or not other:
        return False
    a, b = result.get("matmul_flops_per_second"), other.get("matmul_flops_per_second")
    if not a or not b:
        return a == b
    return abs(a - b) <= PART_RATE_TOLERANCE * max(a, b)


def best_seconds(results, model, engine, sections, shape, reference=None):
    """The fastest figure of `engine` over `sections` (e.g. default and jit),
    among results from the same part as `reference` when one is given."""
    found = []
    for section in sections:
        result = results.get(f"{model}|{engine}|{section}")
        if reference is not None and not same_part(result, reference):
            continue
        found.append((figure(result, shape), section))
    found = [(v, s) for v, s in found if v]
    return min(found) if found else (None, None)


def verdict(value, target, higher=True):
    if value is None:
        return "not measured"
    met = value >= target if higher else value <= target
    return "met" if met else "**missed**"


def targets_markdown(report):
    """One row per target of the benchmark issue: the measured ratio and met/missed."""
    results = report["results"]
    engines = sorted({k.split("|")[1] for k in results if k.split("|")[1].startswith("keras-")})
    rows = []
    for model in TARGET_MODELS:
        for shape in ("8x128", "2x512"):
            eager_result = results.get(f"{model}|hf-eager|inference")
            eager = figure(eager_result, shape)
            compiled_result = results.get(f"{model}|hf-compile|inference")
            compiled = figure(compiled_result, shape) if same_part(
                compiled_result, eager_result) else None
            per_backend = {e: best_seconds(results, model, e, ("inference", "jit"), shape,
                                           reference=eager_result)
                           for e in engines}
            measured = {e: v for e, v in per_backend.items() if v[0]}
            if not eager or not measured:
                continue
            best = min(measured, key=lambda e: measured[e][0])
            seconds, section = measured[best]
            ratio = eager / seconds
            rows.append((model, f"inference {shape}, best backend >= 1.15x HF eager",
                         f"{ratio_text(ratio, 1.15)} ({best}, {section})", verdict(ratio, 1.15)))
            if compiled:
                ratio = compiled / seconds
                rows.append((model, f"inference {shape}, best backend >= 1.05x HF torch.compile",
                             f"{ratio_text(ratio, 1.05)} ({best})", verdict(ratio, 1.05)))
            worst = max(measured, key=lambda e: measured[e][0])
            ratio = eager / measured[worst][0]
            rows.append((model, f"inference {shape}, every backend >= 1.0x HF eager",
                         f"slowest {ratio_text(ratio)} ({worst}, {measured[worst][1]})",
                         verdict(ratio, 1.0)))
        shape = report["train_shape"]
        eager_result = results.get(f"{model}|hf-eager|train")
        eager = figure(eager_result, shape)
        measured = {e: best_seconds(results, model, e, ("train", "train_jit"), shape,
                                    reference=eager_result)
                    for e in engines}
        measured = {e: v for e, v in measured.items() if v[0]}
        if eager and measured:
            best = min(measured, key=lambda e: measured[e][0])
            ratio = eager / measured[best][0]
            rows.append((model, f"training step {shape}, best backend >= 1.1x HF eager",
                         f"{ratio_text(ratio, 1.1)} ({best}, {measured[best][1]})", verdict(ratio, 1.1)))
        hf = results.get(f"{model}|hf-eager|inference")
        if hf and "peak_rss_mib" in hf:
            hf_model = hf["peak_rss_mib"] - hf["baseline_rss_mib"]
            for engine in engines:
                ours = results.get(f"{model}|{engine}|inference")
                if not ours or "peak_rss_mib" not in ours:
                    continue
                mine = ours["peak_rss_mib"] - ours["baseline_rss_mib"]
                rows.append((model, f"peak memory <= HF ({engine}): total / above imports",
                             f"{ours['peak_rss_mib']:.0f} vs {hf['peak_rss_mib']:.0f} MiB / "
                             f"{mine:.0f} vs {hf_model:.0f} MiB",
                             f"total {verdict(ours['peak_rss_mib'], hf['peak_rss_mib'], False)}, "
                             f"above imports {verdict(mine, hf_model, False)}"))
    for shape in report["shapes"]:
        for engine in engines:
            nezha = best_seconds(results, "nezha", engine, ("inference",), shape)[0]
            bert = best_seconds(results, "bert", engine, ("inference",), shape)[0]
            if nezha and bert:
                cost = nezha / bert - 1
                hf_n = figure(results.get("nezha|hf-eager|inference"), shape)
                hf_b = figure(results.get("bert|hf-eager|inference"), shape)
                hf_cost = f"; HF: {100 * (hf_n / hf_b - 1):+.0f}%" if hf_n and hf_b else ""
                rows.append(("nezha", f"relative positions <= +5% over BERT ({engine}, {shape})",
                             f"{100 * cost:+.0f}%{hf_cost}", verdict(cost, 0.05, False)))
            conv = best_seconds(results, "convbert", engine, ("inference",), shape)[0]
            flops = report["flops"]
            comparable = same_part(results.get(f"convbert|{engine}|inference"),
                                   results.get(f"bert|{engine}|inference"))
            if conv and bert and not comparable:
                rows.append(("convbert", f"time per FLOP vs BERT <= 1.0 ({engine}, {shape})",
                             "not comparable (parts with different matmul rates)",
                             "not measured"))
            elif conv and bert and shape in flops.get("convbert", {}) and shape in flops.get("bert", {}):
                # Time per FLOP relative to BERT: <= 1 means the convolution
                # costs no more than its share of the arithmetic.
                rel = (conv / flops["convbert"][shape]) / (bert / flops["bert"][shape])
                rows.append(("convbert", f"time per FLOP vs BERT <= 1.0 ({engine}, {shape})",
                             f"{rel:.2f}", verdict(rel, 1.0, False)))
    if not rows:
        return []
    return (["", "## Targets (from the figures above)", "",
             "| model | target | measured | |", "|---|---|---|---|"]
            + [f"| {m} | {t} | {v} | {ok} |" for m, t, v, ok in rows])


def parts_line(report):
    parts = report.get("machine_parts") or []
    if len(parts) < 2:
        return ""
    items = [f"{', '.join(p.get('parts_sections', []))} "
             f"({(p.get('matmul_flops_per_second') or 0) / 1e9:.0f} GFLOP/s)" for p in parts]
    names = sorted({p["processor"] for p in parts})
    return (f"Run in {len(parts)} parts on {' / '.join(names)}, each part measuring the "
            f"matmul rate again: " + "; ".join(items) + ".")


def format_cell(entry, ref, flops, rate, train=False):
    seconds = entry["median_seconds"]
    mark = " (c)" if entry["contended_calls"] else ""
    if seconds is None:
        return f"n/a [{entry['median_all_seconds']:.3g}]"
    parts = [f"{seconds:.3g}{mark}"]
    extra = []
    if ref:
        extra.append(f"{ref / seconds:.2f}x")
    if flops and rate:
        extra.append(f"{100 * flops * (3 if train else 1) / (seconds * rate):.0f}%")
    return parts[0] + (f" ({', '.join(extra)})" if extra else "")


def charts(report, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    results = report["results"]
    written = []
    for shape in report["shapes"]:
        models = list(dict.fromkeys(k.split("|")[0] for k in results))
        engines = [e for e in dict.fromkeys(k.split("|")[1] for k in results)
                   if any(figure(results.get(f"{m}|{e}|inference"), shape) for m in models)]
        if not engines:
            continue
        fig, ax = plt.subplots(figsize=(1.6 * len(models) + 3, 4))
        width = 0.8 / len(engines)
        for j, engine in enumerate(engines):
            values = [figure(results.get(f"{m}|{engine}|inference"), shape) or 0 for m in models]
            ax.bar([i + j * width for i in range(len(models))], values, width, label=engine)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(models))], models)
        ax.set_ylabel("seconds per batch (lower is better)")
        ax.set_title(f"Inference {shape}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out, f"chart_{shape}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def preprocessing_section(quick):
    """The tokenizer benchmark's results, or why it did not run."""
    try:
        import bench_preprocessing
    except ImportError as error:
        return {"error": f"tools/bench_preprocessing.py unavailable: {error}"}, ""
    results = bench_preprocessing.run(quick=quick)
    return results, bench_preprocessing.to_markdown(results)


def latency_section(args):
    """`predict`'s fixed cost against direct calls and transformers' pipeline."""
    import bench_latency

    results = bench_latency.run(quick=args.smoke, backends=args.backends, threads=args.threads)
    return results, bench_latency.to_markdown(results)


def serving_section(args, previous=None):
    """The exported SavedModel and ONNX models against transformers' pipeline
    and its own ONNX export (`--models` picks the tasks). With `--merge`,
    the models of `previous` (an earlier part) that this part does not
    measure again are kept."""
    import bench_serving

    results = bench_serving.run(quick=args.smoke, models=args.models, threads=args.threads,
                                contention=args.contention, timeout=args.timeout)
    if previous and previous.get("models"):
        results["models"] = {**previous["models"], **results["models"]}
    return results, bench_serving.to_markdown(results)


def serving_errors(results):
    import bench_serving

    return bench_serving.errors(results)


def uie_section(args):
    """UIE-M `extract()` against PaddleNLP's Taskflow, spans compared."""
    import bench_uie

    results = bench_uie.run(quick=args.smoke, backends=args.backends, threads=args.threads)
    return results, bench_uie.to_markdown(results)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks", help="output folder")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny configs, one shape, one timed call: checks the tool")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--reference", default=",".join(REFERENCE_ENGINES),
                        help="reference engines (hf-eager, hf-compile, onnxruntime; '' for none)")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--shapes", default=None,
                        help="inference shapes, e.g. 8x128,2x512 (default: all three)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per figure (default: per shape, fewer at 2x512)")
    parser.add_argument("--contention", type=float, default=0.25,
                        help="flag a call when other processes used more cores than this")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--merge", action="store_true",
                        help="add to the results.json already in --out (runs in parts)")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: rewrite results.md and the charts from "
                             "results.json and notes.md in --out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, allowed in (("models", MODELS), ("backends", BACKENDS),
                          ("reference", REFERENCE_ENGINES), ("sections", SECTIONS)):
        values = [v for v in getattr(args, name).split(",") if v]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            parser.error(f"--{name}: unknown {unknown}; choose from {list(allowed)}")
        setattr(args, name, values)
    return args


def _cpu_name():
    """The processor's model name and its widest vector extension (figures
    differ between AVX-512 and AVX2 machines; compare ratios)."""
    name, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name in ("", platform.machine()):
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = value.split()
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return f"{name}, {vector}" if vector else name


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        result = worker(json.loads(args.worker))
        print("BENCH_RESULT " + json.dumps(result), flush=True)
        return 0
    if args.render:
        return render(args.out)
    os.makedirs(args.out, exist_ok=True)
    shapes = [SMOKE_SHAPE] if args.smoke else list(SHAPES)  # the report's columns
    train_shape = SMOKE_SHAPE if args.smoke else TRAIN_SHAPE
    machine = {
        "processor": _cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "loadavg_start": os.getloadavg(),
    }
    matmul = spawn(dict(engine="matmul", threads=args.threads, contention=args.contention,
                        matmul_size=256 if args.smoke else args.matmul_size,
                        repeats=2 if args.smoke else 10), args.timeout)
    machine["matmul_flops_per_second"] = matmul.get("flops_per_second")
    configs = TINY if args.smoke else BASE
    report = {
        "smoke": args.smoke,
        "machine": machine,
        "shapes": [f"{b}x{n}" for b, n in shapes],
        "train_shape": f"{train_shape[0]}x{train_shape[1]}",
        "flops": {
            m: {f"{b}x{n}": forward_flops(m, configs[m], b, n)
                for b, n in set(shapes) | set(inference_shapes(args)) | {train_shape}}
            for m in args.models
        },
        "results": {},
    }
    previous = os.path.join(args.out, "results.json")
    if args.merge and os.path.exists(previous):
        with open(previous) as f:
            old = json.load(f)
        if old.get("smoke") != args.smoke:
            raise SystemExit("--merge: the results in --out are from a different mode.")
        report["results"] = old["results"]
        report["machine_parts"] = old.get("machine_parts", [old["machine"]])
        for model, flops in old["flops"].items():
            report["flops"].setdefault(model, flops)
        for key in ("preprocessing", "preprocessing_markdown", "latency", "latency_markdown",
                    "serving", "serving_markdown", "uie", "uie_markdown"):
            if key in old:
                report[key] = old[key]
    for job in plan(args):
        key = job_key(job)
        print(f"[benchmark] {key} ...", file=sys.stderr, flush=True)
        report["results"][key] = spawn(job, args.timeout)
        # The rate of this part: %peak stays right when parts are merged.
        report["results"][key]["matmul_flops_per_second"] = machine["matmul_flops_per_second"]
        if "error" in report["results"][key]:
            print(f"[benchmark] {key}: {report['results'][key]}", file=sys.stderr, flush=True)
    if "preprocessing" in args.sections:
        report["preprocessing"], report["preprocessing_markdown"] = preprocessing_section(
            quick=args.smoke
        )
    if "latency" in args.sections:
        report["latency"], report["latency_markdown"] = latency_section(args)
    if "serving" in args.sections:
        report["serving"], report["serving_markdown"] = serving_section(args, report.get("serving"))
        report["serving_errors"] = errors = serving_errors(report["serving"])
        for error in errors:
            print(f"[benchmark] serving: {error}", file=sys.stderr, flush=True)
    if "uie" in args.sections:
        report["uie"], report["uie_markdown"] = uie_section(args)
    machine["loadavg_end"] = os.getloadavg()
    machine["parts_sections"] = args.sections
    report.setdefault("machine_parts", []).append(dict(machine))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    render(args.out)
    failed = any("error" in r for r in report["results"].values())
    return 1 if failed or report.get("serving_errors") else 0


def rendered_markdown(out):
    """results.md's text from `out`'s results.json (and notes.md, when present)."""
    with open(os.path.join(out, "results.json")) as f:
        report = json.load(f)
    notes = os.path.join(out, "notes.md")
    if os.path.exists(notes):
        with open(notes, encoding="utf-8") as f:
            report["notes_markdown"] = f.read()
    if report.get("serving"):  # rendered again: merged parts
        import bench_serving

        report["serving_markdown"] = bench_serving.to_markdown(report["serving"])
    return report, to_markdown(report)


def render(out):
    """results.md (with notes.md, when present) and the charts from results.json."""
    report, text = rendered_markdown(out)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    report_charts = charts(report, out)
    print(f"[benchmark] wrote results.md and {len(report_charts)} charts to {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
