"""UIE-M benchmark: `extract()` against PaddleNLP 2.8.1's Taskflow.

`run(quick, backends, threads)` returns JSON-able results and
`to_markdown(results)` renders them; `tools/benchmark.py` calls both as its
"uie" section. Each engine runs in a fresh subprocess with the same threads.

One random UIE-M of ERNIE-M base size (12 layers, hidden 768, 250002 ids)
is written by PaddleNLP itself as a UIE-M folder, through the Taskflow
test's driver (`tests/paddle_reference/taskflow_uie.py`, run in the paddle
reference venv: `KERAS_ENCODERS_PADDLE_VENV`), with a small SentencePiece
model whose `vocab.txt` gives every character of the texts an id of its
own. Its span heads have realistic margins (the driver's "aim"): residual
branches scaled down so that states keep their token's identity, as a
trained model's do, and start / end heads fitted by ridge least squares on
the states of the benchmark's own windows to fire on a few frequent
characters and English words (`STARTS`, `ENDS`) with logits near +-10.
Spans are then found in most texts, and their probabilities, far from the
threshold, measure the engines' float32 agreement rather than amplify it
(a random head scaled up until something crosses 0.5 puts whole rows at
the threshold; the margins seen are in the results, "aim"). The same
folder is converted once into a Keras preset. Then, on 32
texts (~11k characters: CMRC 2018 paragraphs and MSRA NER sentences in
Chinese, XNLI premises and paragraphs of them in English, from
`../shared/assets`) and a four-type Chinese schema at `max_seq_len` 512:

- Taskflow (`Taskflow("information_extraction", task_path=...)`,
  `num_threads` and `batch_size` 16): one call on all texts after an
  untimed call on 4 of them;
- `extract()` per backend (`with_convention("paddlenlp")`, the `uie_m_*`
  presets' mode, `batch_size` 16): a first call on all texts (compiling
  its shapes) and a second one, timed;
- the reduced-precision row: the JAX model after `backbone.quantize("int8")`
  (the backend where Keras' int8 is fast), first and second call, in the
  JAX worker.

Texts per second come from the second calls (Taskflow's timed call); every
result is compared with Taskflow's in the same run: differing spans (text,
offsets, relations, order; probabilities within 1e-5) and the largest
probability difference. Targets (issue 19): the best backend at least 2x
Taskflow's texts per second, every backend at least 1x, at identical spans.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from bench_common import ratio_text, section_main, section_worker, thread_env  # beside this script

BACKENDS = ("jax", "tensorflow", "torch")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCHEMA = ["人物", "地点", "组织机构", "时间"]
MAX_SEQ_LEN = 512
BATCH_SIZE = 16
SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
# UIE-M's heads on random weights: aimed (`taskflow_uie.aim`; the texts,
# prompts and length are added in `run`). The residual branches scaled by
# `residual_scale` keep each token's identity in its states, and the heads,
# fitted on those states, fire on the first token of each of STARTS / ENDS
# with logits near +-10 (and at least 4.5 from 0 on every real token of
# the fitted rows): spans on frequent characters and English words, in
# every text, whose probabilities float32 rounding barely moves.
# Spans such as "中国", "天津", "2007年", "住院", "I was", "he was" (in every
# kind of text: ~130 per prompt on the 32 texts).
STARTS = ["在", "中", "天", "住", "卫", "2", "I", "the", "he", "she"]
ENDS = ["年", "国", "津", "院", "站", "was", "and"]
AIM = dict(starts=STARTS, ends=ENDS, residual_scale=0.05, scale=10.0, fit_prompts=1)
MODELS = {
    "base": dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, seed=0, aim=AIM),
    # (Hidden 128: at 32, the few states leave the heads no margin.)
    "tiny": dict(vocab_size=4000, hidden_size=128, num_hidden_layers=2,
                 num_attention_heads=4, seed=0, aim=AIM),
}
# The reduced-precision row: int8 where Keras' int8 matmuls are fast.
PRECISION = ("jax", "int8")
TARGETS = (("best backend", 2.0), ("every backend", 1.0))


def _asset(*parts):
    shared = os.environ.get("KERAS_ENCODERS_SHARED", os.path.join(ROOT, "..", "shared"))
    return os.path.join(shared, "assets", *parts)


def benchmark_texts(quick=False):
    """32 texts, ~11k characters: in turn a long Chinese paragraph (CMRC
    2018, 600-1000 characters), a short Chinese sentence (MSRA NER), a
    short English sentence (XNLI premise) and an English paragraph (XNLI
    premises joined to 400+ characters). `quick`: the first 4, cut to 60."""
    with open(_asset("data", "cmrc2018", "cmrc2018_dev.json"), encoding="utf-8") as f:
        data = json.load(f)["data"]
    paragraphs = dict.fromkeys(p["context"] for a in data for p in a["paragraphs"])
    long_zh = [c for c in paragraphs if 600 <= len(c) <= 1000][:8]
    with open(_asset("data", "msra_ner", "dev.json"), encoding="utf-8") as f:
        sentences = ("".join(json.loads(line)["text"]) for line in f)
        short_zh = [s for s in sentences if len(s) >= 20][:8]
    with open(_asset("data", "xnli", "dev-en.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    premises = list(dict.fromkeys(row[0] for row in rows))
    short_en = [p for p in premises if len(p) >= 60][:8]
    long_en, current = [], ""
    for premise in (p for p in premises if p not in short_en):
        current = f"{current} {premise}".strip()
        if len(current) >= 400:
            long_en.append(current)
            current = ""
        if len(long_en) == 8:
            break
    texts = [t for group in zip(long_zh, short_zh, short_en, long_en) for t in group]
    return [t[:60] for t in texts[:4]] if quick else texts


# === Worker (one per backend, in its own process) ===
def worker_keras(folder, preset, texts, max_seq_len, threads, precision=None):
    """`extract()` twice (first and timed call) on every text, in float32 and
    then, if asked, after `backbone.quantize(precision)`. The first worker
    also converts the PaddleNLP folder into the preset (no transformers
    check: the spans are checked against Taskflow itself)."""
    import keras

    from keras_encoders.convert import conversion
    from keras_encoders.models import ErnieMInformationExtractor

    result = {"backend": keras.config.backend(), "rows": []}
    if not os.path.exists(preset):
        start = time.perf_counter()
        conversion.convert_checkpoint(folder, preset, reference=False, quiet=True)
        result["conversion_s"] = time.perf_counter() - start
    task = ErnieMInformationExtractor.from_preset(preset).with_convention("paddlenlp")
    for name in ("float32", precision) if precision else ("float32",):
        if name != "float32":
            task.backbone.quantize(name)
            task.compile()  # quantize() replaced the variables: new compiled steps
        row = {"precision": name}
        for key in ("first_s", "seconds"):
            start = time.perf_counter()
            row["results"] = task.extract(texts, SCHEMA, max_seq_len=max_seq_len,
                                          batch_size=BATCH_SIZE, verbose=0)
            row[key] = time.perf_counter() - start
        result["rows"].append(row)
    return result


WORKERS = {"keras": worker_keras}


# === Driver ===
def _spawn(worker, args, backend="tensorflow", threads=None, timeout=1800):
    env = thread_env(threads or os.cpu_count(), backend)
    return section_worker(os.path.abspath(__file__), worker, args, env, timeout, tail=3)


def run(quick=False, backends=BACKENDS, threads=None):
    """Taskflow and every backend on the same weights and texts; JSON-able
    results. `quick=True`: a tiny model, 4 short texts, `max_seq_len` 64."""
    sys.path.insert(0, ROOT)
    from tests.paddle_reference import taskflow_job

    threads = threads or os.cpu_count()
    texts = benchmark_texts(quick)
    size = "tiny" if quick else "base"
    results = {"quick": quick, "threads": threads, "size": size, "model": MODELS[size],
               "schema": SCHEMA, "max_seq_len": 64 if quick else MAX_SEQ_LEN,
               "texts": len(texts), "characters": sum(map(len, texts)), "engines": {}}
    python = taskflow_job.venv_python()
    if python is None:
        results["error"] = ("no PaddleNLP reference venv (tests/paddle_reference/setup_venv.sh; "
                            "KERAS_ENCODERS_PADDLE_VENV)")
        return results
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "uie_m")
        model = dict(MODELS[size])
        vocab = taskflow_job.write_tokenizer_files(folder, _asset(*SPM), "".join(texts + SCHEMA))
        model["vocab_size"] = max(model["vocab_size"], vocab)
        # The heads are fitted on rows Taskflow runs: the first schema type
        # as the prompt, every text, cut into Taskflow's windows.
        model["aim"] = dict(model["aim"], prompts=SCHEMA, texts=texts,
                            max_seq_len=results["max_seq_len"])
        job = {"folder": folder, "model": model, "runs": [{
            "schema": SCHEMA, "schema_lang": "ch", "max_seq_len": results["max_seq_len"],
            "texts": texts, "batch_size": BATCH_SIZE, "num_threads": threads, "warmup_texts": 4,
        }]}
        start = time.perf_counter()
        try:
            out = taskflow_job.run_taskflow(python, job, root, timeout=1800,
                                            env=thread_env(threads))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            # The traceback's end, past PaddleNLP's warnings.
            text = str(error)
            results["error"] = "Taskflow: " + text[text.rfind("Traceback"):][-1500:]
            return results
        reference = out["results"][0]
        results["aim"] = out.get("aim")
        results["engines"]["taskflow"] = {
            "seconds": out["seconds"][0], "process_s": time.perf_counter() - start,
            "spans": taskflow_job.count_spans(reference),
        }
        preset = os.path.join(root, "preset")
        for backend in backends:
            precision = PRECISION[1] if backend == PRECISION[0] or (quick and backend == backends[0]) else None
            job = {"folder": folder, "preset": preset, "texts": texts, "threads": threads,
                   "max_seq_len": results["max_seq_len"], "precision": precision}
            start = time.perf_counter()
            figures = _spawn("keras", job, backend=backend, threads=threads)
            if "error" in figures:
                results["engines"][f"keras-{backend}"] = figures
                continue
            if "conversion_s" in figures:
                results["conversion_s"] = figures["conversion_s"]
            for row in figures["rows"]:
                name = f"keras-{backend}" + ("" if row["precision"] == "float32" else f"-{row['precision']}")
                ours = row.pop("results")
                row["process_s"] = time.perf_counter() - start
                row["spans"] = taskflow_job.count_spans(ours)
                row["differences"] = len(taskflow_job.differences(ours, reference))
                # The same spans (text, offsets, relations, order) at any probability.
                row["span_differences"] = len(taskflow_job.differences(ours, reference, tol=1.0))
                row["max_probability_difference"] = (
                    taskflow_job.max_probability_difference(ours, reference))
                results["engines"][name] = row
    return results


def verdicts(results):
    """`(target, measured, met)` rows: float32 backends against Taskflow,
    at identical spans."""
    engines = results.get("engines", {})
    taskflow = engines.get("taskflow")
    if not taskflow:
        return []
    rate = results["texts"] / taskflow["seconds"]
    speeds = {name: results["texts"] / e["seconds"] / rate for name, e in engines.items()
              if name.startswith("keras-") and "error" not in e and e["precision"] == "float32"}
    if not speeds:
        return []
    rows = []
    best = max(speeds, key=speeds.get)
    worst = min(speeds, key=speeds.get)
    for (label, target), name in zip(TARGETS, (best, worst)):
        same = engines[name]["differences"] == 0
        rows.append((f"{label} >= {target}x Taskflow's texts/s, identical spans",
                     f"{ratio_text(speeds[name], target)} ({name}), "
                     f"{engines[name]['differences']} differences",
                     speeds[name] >= target and same))
    return rows


def to_markdown(results):
    lines = ["## UIE-M extraction against Taskflow", ""]
    if "error" in results:
        return "\n".join(lines + [f"Not measured: {results['error']}", ""])
    model = results["model"]
    lines += [
        f"{results['texts']} texts ({results['characters']} characters, Chinese and English, "
        f"short and long), schema {results['schema']}, `max_seq_len` {results['max_seq_len']}, "
        f"batch size {BATCH_SIZE}, {results['threads']} threads; one random UIE-M "
        f"({model['num_hidden_layers']} layers, hidden {model['hidden_size']}, "
        f"{model['vocab_size']} ids) written by PaddleNLP and converted once. Texts/s from "
        "the timed call (Keras: the second call on the texts; the first, which compiles "
        "its shapes, in its own column); spans compared with Taskflow's in the same run "
        "(a difference: a span, offset, relation or order that differs, or a probability "
        "off by more than 1e-5; \"of which spans\": those that are not probabilities).",
    ]
    aim = results.get("aim")
    if aim:
        aimed = min((h["min_abs_logit_aimed"] for h in aim.values()
                     if h["min_abs_logit_aimed"] is not None), default=float("nan"))
        lines[-1] += (
            " The span heads are aimed at chosen tokens (`taskflow_uie.aim`): on the fitted "
            f"rows (the first prompt, every window) the smallest |logit| at those tokens is "
            f"{aimed:.2f}, over all tokens {min(h['min_abs_logit'] for h in aim.values()):.2f}, and "
            f"{max(h['fraction_below_3'] for h in aim.values()):.2%} of tokens are under 3.")
    lines += [
        "",
        "| engine | precision | first call s | timed call s | texts/s | vs Taskflow | spans | "
        "differences from Taskflow | of which spans | max abs probability difference |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    engines = results["engines"]
    taskflow = engines.get("taskflow")
    rate = results["texts"] / taskflow["seconds"] if taskflow else None
    for name, e in engines.items():
        if "error" in e:
            lines.append(f"| {name} | error: {e['error']} | | | | | | | | |")
            continue
        texts_s = results["texts"] / e["seconds"]
        if name == "taskflow":
            lines.append(f"| taskflow (PaddleNLP 2.8.1) | float32 | | {e['seconds']:.2f} | "
                         f"{texts_s:.3f} | 1.00x | {e['spans']} | | | |")
            continue
        ratio = f"{texts_s / rate:.2f}x" if rate else ""
        lines.append(
            f"| {name} | {e['precision']} | {e['first_s']:.2f} | {e['seconds']:.2f} | "
            f"{texts_s:.3f} | {ratio} | {e['spans']} | {e['differences']} | "
            f"{e['span_differences']} | {e['max_probability_difference']:.2e} |")
    rows = verdicts(results)
    if rows:
        lines += ["", "| target | measured | |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {'met' if ok else 'MISSED'} |" for t, m, ok in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section_main(WORKERS, run, to_markdown, ROOT)
