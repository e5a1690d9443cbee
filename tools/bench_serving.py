"""Serving benchmark: the exported SavedModel against transformers and ONNX Runtime.

`run(quick, models, threads)` returns JSON-able results and
`to_markdown(results)` renders them; `tools/benchmark.py` calls both as its
"serving" section. Preparing and exporting run in fresh subprocesses
(`python bench_serving.py --worker NAME ...`); then each engine is loaded
in a process of its own, with the same threads, and the engines are
called in turn, round after round (`interleaved`).

One task per model, base size with random weights, saved by transformers
as a Hugging Face folder (tokenizer files from the real vocabularies in
`shared/assets`) that every engine loads, so all of them run the same
weights:
- `nezha`: a text classifier (`NezhaForSequenceClassification`) on
  ChnSentiCorp reviews;
- `convbert`: a token classifier (`ConvBertForTokenClassification`, five
  BIO labels) on SST-2 sentences;
- `ernie_m`: the UIE-M extractor (`ErnieMForInformationExtraction`; the
  tokenizer is the small SentencePiece model of the tests, the published
  one is not in the assets) on a prompt and an SST-2 text.
The texts are cut so that each packs into `SEQUENCE_LENGTH` (128) tokens
(the prompt's included), and the engines are called on 1, 8 and 32 of them:
- `saved_model`: `keras_encoders.export_saved_model` of the task loaded with
  `from_preset` (on TensorFlow), served by a process that loads nothing but
  TensorFlow and the tensorflow-text kernels (as TF-Serving does; Keras,
  keras_encoders, JAX and torch are blocked there, and checked absent),
  called with the raw strings: tokenization, the model and the decoding
  (labels, entities, spans) in the graph;
- `transformers`: `pipeline("text-classification")` and
  `pipeline("token-classification")` (batch size = the number of texts),
  and for UIE-M the tokenizer and `ErnieMForInformationExtraction`'s forward;
- `ort-ours`: ONNX Runtime on `keras_encoders.export_onnx` of the same task;
- `ort-transformers`: ONNX Runtime on transformers' own export
  (`torch.onnx.export`, as `benchmark.py`'s `onnxruntime` engine).
Both ONNX engines tokenize in Python with the same Hugging Face tokenizer
(the fast one where transformers has one), so that they differ by their
graphs only.
"""

import json
import math
import os
import statistics
import sys
import tempfile

import bench_common  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COUNTS = (1, 8, 32)
SMOKE_COUNTS = (1, 2)
SEQUENCE_LENGTH = 128
SMOKE_SEQUENCE_LENGTH = 24
# Timed turns per count after the warm-up call. Calls at 32 texts spread
# by up to 15% from turn to turn on a 2-core machine (4.28 to 4.98 s): a
# median of three moved a ratio by 7% between two runs of the same graph.
REPEATS = {1: 9, 8: 7, 32: 5}
TASKS = {"nezha": "text classifier", "convbert": "token classifier", "ernie_m": "UIE-M"}
ENGINES = ("saved_model", "transformers", "ort-ours", "ort-transformers")
TOKEN_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
UIE_PROMPTS = ("opinion", "movie", "actor")
# Modules the serving process must not hold (TF-Serving has none of them).
BLOCKED = ("keras", "keras_hub", "keras_encoders", "jax", "torch", "tensorflow_text")


def _asset(*parts):
    shared = os.environ.get("KERAS_ENCODERS_SHARED", os.path.join(ROOT, "..", "shared"))
    return os.path.join(shared, "assets", *parts)


def _rows(path, column=-1):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t")[column].strip() for line in f][1:]


# === Preparing a Hugging Face folder (torch process) ===
def _ernie_m_tokenizer_files(directory):
    """ERNIE-M's layout (`[CLS] [PAD] [SEP] [UNK]` first, `[MASK]` last)
    around the tests' SentencePiece model, as `tests/models/ernie_m` builds it."""
    import shutil

    import sentencepiece

    spm = _asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
    processor = sentencepiece.SentencePieceProcessor(model_file=spm)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    tokens = head + [p for p in pieces if p not in head + ["[MASK]"]] + ["[MASK]"]
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{t}\n" for t in tokens))
    shutil.copy(spm, os.path.join(directory, "sentencepiece.bpe.model"))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "tokenizer_class": "ErnieMTokenizer",
                   "model_max_length": 512}, f)
    return len(tokens)


def hf_tokenizer(model, directory):
    """The Hugging Face tokenizer of the folder (ERNIE-M has no fast one)."""
    import transformers

    if model == "ernie_m":
        from transformers.models.deprecated.ernie_m import tokenization_ernie_m

        return tokenization_ernie_m.ErnieMTokenizer(
            os.path.join(directory, "sentencepiece.bpe.model"),
            vocab_file=os.path.join(directory, "vocab.txt"),
        )
    return transformers.AutoTokenizer.from_pretrained(directory)


def _hf_class(model):
    import transformers

    if model == "ernie_m":
        try:
            return transformers.ErnieMForInformationExtraction
        except AttributeError:  # later releases keep it only under `deprecated`
            from transformers.models.deprecated.ernie_m import ErnieMForInformationExtraction

            return ErnieMForInformationExtraction
    return {"nezha": transformers.NezhaForSequenceClassification,
            "convbert": transformers.ConvBertForTokenClassification}[model]


def _fit(count, units, joiner, length, limit):
    """Texts built from consecutive `units` (words or characters), each the
    longest that packs into `length` tokens (`count(text)` says how many)."""
    texts, start = [], 0
    for _ in range(limit):
        low, high = 1, len(units) - start
        while low < high:  # the most units that fit
            middle = (low + high + 1) // 2
            if count(joiner.join(units[start:start + middle])) <= length:
                low = middle
            else:
                high = middle - 1
        texts.append(joiner.join(units[start:start + low]))
        start += low
    return texts


def worker_prepare(model, directory, quick):
    """A random base-size (tiny when `quick`) task with its tokenizer as a
    Hugging Face folder, transformers' ONNX export of it, and the texts."""
    import torch
    import transformers

    sizes = bench_common.TINY if quick else bench_common.BASE
    config = bench_common.hf_config(model, sizes[model])
    if model == "nezha":
        transformers.BertTokenizerFast(_asset("vocab", "bert-base-chinese-vocab.txt")).save_pretrained(directory)
    elif model == "convbert":
        transformers.ConvBertTokenizerFast(
            _asset("vocab", "bert-base-uncased-vocab.txt")).save_pretrained(directory)
        config.id2label = dict(enumerate(TOKEN_LABELS))
        config.label2id = {name: i for i, name in enumerate(TOKEN_LABELS)}
    else:
        config.vocab_size = _ernie_m_tokenizer_files(directory)
    tokenizer = hf_tokenizer(model, directory)
    config.vocab_size = len(tokenizer)
    torch.manual_seed(0)
    net = _hf_class(model)(config).eval()
    with torch.no_grad():
        # Non-zero biases and LayerNorm shifts, as a trained model has:
        # transformers initializes them to 0, and tf2onnx drops an add of
        # a zero constant, which would spare our graph work a real
        # checkpoint's graph does.
        for param in net.parameters():
            param.add_(0.02 * torch.randn_like(param))
    net.save_pretrained(directory)

    length = SMOKE_SEQUENCE_LENGTH if quick else SEQUENCE_LENGTH
    limit = max(SMOKE_COUNTS if quick else COUNTS)
    prompts = [UIE_PROMPTS[i % len(UIE_PROMPTS)] for i in range(limit)]
    if model == "nezha":
        units = list("".join(_rows(_asset("data", "chnsenticorp", "dev.tsv"))))
        joiner, count = "", lambda text: len(tokenizer(text)["input_ids"])
    else:
        units = " ".join(_rows(_asset("data", "sst2", "dev.tsv"))).split()
        joiner, count = " ", lambda text: len(tokenizer(text)["input_ids"])
        if model == "ernie_m":  # the longest prompt counts
            longest = max(UIE_PROMPTS, key=lambda p: len(tokenizer(p)["input_ids"]))
            count = lambda text: len(tokenizer(longest, text)["input_ids"])  # noqa: E731
    texts = _fit(count, units, joiner, length, limit)
    with open(os.path.join(directory, "texts.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": texts, "prompts": prompts}, f, ensure_ascii=False)

    feed = tokenizer(prompts[:2], texts[:2]) if model == "ernie_m" else tokenizer(texts[:2])
    x = {k: torch.tensor(v) for k, v in tokenizer.pad(feed, return_tensors="pt").items()}
    # Named as our export's outputs (ErnieMForInformationExtraction returns logits).
    outputs = ["start_logits", "end_logits"] if model == "ernie_m" else ["logits"]
    bench_common.torch_onnx_export(net, x, os.path.join(directory, "transformers.onnx"), outputs)
    return {"tokens": [count(t) for t in texts[:4]]}


# === Our exports (TensorFlow process) ===
TASK_CLASSES = {"nezha": "NezhaTextClassifier", "convbert": "ConvBertTokenClassifier",
                "ernie_m": "ErnieMInformationExtractor"}


def worker_export(model, directory, quick):
    """`export_saved_model` and `export_onnx` of the task `from_preset` loads."""
    import time

    import keras_encoders
    from keras_encoders import models

    cls = getattr(models, TASK_CLASSES[model])
    length = SMOKE_SEQUENCE_LENGTH if quick else SEQUENCE_LENGTH
    preprocessor = cls.preprocessor_cls.from_preset(directory, sequence_length=length)
    task = cls.from_preset(directory, preprocessor=preprocessor)
    start = time.perf_counter()
    keras_encoders.export_saved_model(task, os.path.join(directory, "saved_model"))
    middle = time.perf_counter()
    keras_encoders.export_onnx(task, os.path.join(directory, "ours.onnx"))
    return {"saved_model_export_s": middle - start,
            "onnx_export_s": time.perf_counter() - middle}


# === Engines (each in its own process) ===
def _texts(directory, n):
    with open(os.path.join(directory, "texts.json"), encoding="utf-8") as f:
        data = json.load(f)
    return data["prompts"][:n], data["texts"][:n]


def engine_saved_model(model, directory, threads, kernels):
    """The serving call of the SavedModel, in a process that may not import
    Keras (TF-Serving has none of it); `finish` checks that it did not."""
    # Nothing of Keras may be needed to serve: block it outright.
    for name in BLOCKED:
        sys.modules[name] = None
    import glob

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    # The tensorflow-text kernels, without its Python package (which imports
    # Keras): what TF-Serving links in.
    for library in sorted(glob.glob(os.path.join(kernels, "*.so"))):
        tf.load_op_library(library)
    serve = tf.saved_model.load(os.path.join(directory, "saved_model")).signatures["serving_default"]

    def call(prompts, texts):
        if model == "ernie_m":
            out = serve(prompt=tf.constant(prompts), text=tf.constant(texts))
        else:
            out = serve(text=tf.constant(texts))
        return {k: v.numpy() for k, v in out.items()}

    def finish():
        loaded = sorted({m.split(".")[0] for m, module in sys.modules.items()
                         if module is not None and m.split(".")[0] in BLOCKED})
        if loaded:
            raise RuntimeError(f"the serving process imported {loaded}")
        return {"modules": loaded}

    return call, finish


def engine_transformers(model, directory, threads):
    import torch
    import transformers

    torch.set_num_threads(threads)
    if model == "ernie_m":
        tokenizer = hf_tokenizer(model, directory)
        net = _hf_class(model).from_pretrained(directory).eval()

        def call(prompts, texts):
            with torch.inference_mode():
                batch = tokenizer(prompts, texts, padding=True, truncation=True,
                                  max_length=512, return_tensors="pt")
                return net(**batch)
    else:
        task = {"nezha": "text-classification", "convbert": "token-classification"}[model]
        pipe = transformers.pipeline(task, model=directory, device=-1)

        def call(prompts, texts):
            return pipe(texts, batch_size=len(texts))

    return call, dict


def engine_onnxruntime(model, directory, threads, graph):
    """ONNX Runtime on one of the two exports; `finish` returns the outputs
    on two texts, which the driver compares between the graphs."""
    import numpy as np

    tokenizer = hf_tokenizer(model, directory)
    session = bench_common.onnx_session(os.path.join(directory, f"{graph}.onnx"), threads)
    names = {i.name for i in session.get_inputs()}

    def call(prompts, texts):
        pair = (prompts, texts) if model == "ernie_m" else (texts,)
        x = tokenizer(*pair, padding=True, truncation=True, max_length=512,
                      return_attention_mask=True, return_tensors="np")
        if graph == "ours":  # Keras' names, int32
            feed = {"token_ids": x["input_ids"], "padding_mask": x["attention_mask"],
                    "segment_ids": x.get("token_type_ids")}
            feed = {k: np.asarray(v, "int32") for k, v in feed.items() if k in names}
        else:
            feed = {k: np.asarray(v, "int64") for k, v in x.items() if k in names}
        return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))

    def finish():
        # The outputs on two texts, by name (the same in both graphs).
        outputs = call(*_texts(directory, 2))
        return {"sample": {k: np.asarray(v, "float64").tolist() for k, v in outputs.items()}}

    return call, finish


ENGINE_MAKERS = {"saved_model": engine_saved_model, "transformers": engine_transformers,
                 "ort-ours": engine_onnxruntime, "ort-transformers": engine_onnxruntime}


def worker_engine(engine, model, directory, counts, contention, **options):
    """One engine kept loaded while the driver interleaves the engines'
    calls: once loaded it prints `BENCH_READY`, then answers the lines of
    stdin until `end`:
    - `warm N`: the first call on N texts (tracing, allocations), timed
      (`BENCH_WARM {json}`);
    - `call N`: two timed calls on N texts, one after the other
      (`BENCH_CALL {"after_idle": ..., "steady": ...}`).
    It returns its peak memory and what the engine's `finish` adds."""
    call, finish = ENGINE_MAKERS[engine](model, directory, **options)
    texts = {n: _texts(directory, n) for n in counts}
    print("BENCH_READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "end":
            break
        command, n = line.split()
        timed = lambda n=int(n): bench_common.timed(  # noqa: E731
            lambda: call(*texts[n]), contention)
        if command == "warm":
            print("BENCH_WARM " + json.dumps(timed()), flush=True)
        else:
            pair = {key: timed() for key in ("after_idle", "steady")}
            print("BENCH_CALL " + json.dumps(pair), flush=True)
    return {"peak_rss_mib": bench_common.peak_rss_mib(), **finish()}


def sample_difference(engines):
    """Max |difference| between the two ONNX graphs' outputs on the same
    two texts (the same weights: a large value means an export is wrong)."""
    import numpy as np

    samples = [(engines.get(f"ort-{g}") or {}).get("sample") for g in ("ours", "transformers")]
    if not all(samples):
        return None
    shared = [k for k in samples[0] if k in samples[1]]
    if not shared:
        return None
    return max(float(np.max(np.abs(np.asarray(samples[0][k]) - np.asarray(samples[1][k]))))
               for k in shared)


WORKERS = {"prepare": worker_prepare, "export": worker_export, "engine": worker_engine}


# === Driver ===
def _spawn(worker, args, backend="torch", threads=None, timeout=1800):
    env = bench_common.thread_env(threads or os.cpu_count(), backend,
                                  reference=worker != "export")
    return bench_common.section_worker(os.path.abspath(__file__), worker, args, env, timeout,
                                       tail=3)


def tf_text_kernels():
    """The folder of the tensorflow-text kernel libraries (found without
    importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec("tensorflow_text")
    return os.path.join(spec.submodule_search_locations[0], "python", "ops")


class EngineFailed(Exception):
    """An engine process died or went silent: `lines` says why."""

    def __init__(self, lines):
        super().__init__(lines)
        self.lines = lines


class EngineProcess:
    """A `worker_engine` process, driven over its stdin and stdout. A thread
    reads its stdout into a queue, so that a line another library printed
    there never blocks the reply behind it."""

    def __init__(self, args, env, timeout):
        import queue
        import subprocess
        import threading

        self.timeout = timeout
        self.log = tempfile.TemporaryFile("w+")
        command = [sys.executable, os.path.abspath(__file__), "--worker", "engine",
                   json.dumps(args)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env)
        self.output = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("BENCH_READY")

    def _read(self):
        for line in self.proc.stdout:
            self.output.put(line)
        self.output.put(None)  # the process closed its output

    def _next_line(self):
        """The next line it printed; None once it closed its output."""
        import queue

        try:
            return self.output.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            raise EngineFailed([f"silent for {self.timeout} s"]) from None

    def _failed(self):
        self.proc.wait()
        self.log.seek(0)
        return EngineFailed(self.log.read().strip().splitlines()[-3:] or ["failed"])

    def expect(self, prefix):
        """The rest of the next line that starts with `prefix`."""
        while (line := self._next_line()) is not None:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise self._failed()

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except OSError:  # it died: the next `expect` says why
            pass

    def warm(self, n):
        """The first, timed call on `n` texts (`worker_engine`)."""
        self.send(f"warm {n}")
        return json.loads(self.expect("BENCH_WARM"))

    def call(self, n):
        """Two timed calls on `n` texts (`worker_engine`)."""
        self.send(f"call {n}")
        return json.loads(self.expect("BENCH_CALL"))

    def finish(self):
        """The worker's result (its last line) once it has ended."""
        self.send("end")
        last = None
        while (line := self._next_line()) is not None:
            last = line
        if self.proc.wait() != 0 or last is None:
            raise self._failed()
        return json.loads(last)


def _engine_options():
    """Each engine's options and Keras backend."""
    return {"saved_model": ({"kernels": tf_text_kernels()}, "tensorflow"),
            "transformers": ({}, "torch"),
            "ort-ours": ({"graph": "ours"}, "torch"),
            "ort-transformers": ({"graph": "transformers"}, "torch")}


def _settle(quiet=0.1, step=0.05, limit=2.0):
    """Wait until the machine is idle (under `quiet` busy cores over `step`
    seconds, at most `limit` seconds): the engine called before may still
    spin its threads (OpenMP, ONNX Runtime and Eigen pools spin a while
    after their work before they sleep), which would slow the next one."""
    import time

    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = bench_common.system_busy_seconds()
        time.sleep(step)
        after = bench_common.system_busy_seconds()
        if before is None or (after - before) / step < quiet:
            return


def interleaved(job, counts, repeats, threads, timeout):
    """Every engine's timings on `job`'s model, the engines all loaded at
    once (each in its own process) and called in turn, in the order A B C D
    then D C B A, so that a machine that slows down or speeds up during the
    run weighs on every engine alike. (One process after the other, two
    runs of the same code once disagreed by 17% on one engine's figure.)

    Each turn is two calls. The first comes after the machine has been
    idle while the other engines ran, and pays for it: threads asleep,
    caches cold (TensorFlow, which runs a graph of ~2,000 small ops, the
    most: ERNIE-M's SavedModel took 0.105 s at 1 text after 0.3 s idle
    against 0.094 s back to back, transformers 0.087 s against 0.084 s).
    The second is a call in a steady stream, what a busy server answers
    and what the engines were timed on one after the other: the figures
    and targets come from these; the first calls' medians are kept as
    `after_idle_median_seconds`. The counts run one after the other, fewer
    texts first, each after a warm-up call of every engine (its
    `first_call_seconds`)."""
    engines, live = {}, {}
    for name, (options, backend) in _engine_options().items():
        env = bench_common.thread_env(threads, backend, reference=name != "saved_model")
        try:
            live[name] = EngineProcess({**job, "engine": name, "counts": list(counts),
                                        "threads": threads, **options}, env, timeout)
        except EngineFailed as failed:
            engines[name] = {"error": failed.lines}
    calls = {name: {str(n): [] for n in counts} for name in live}
    after_idle = {name: {str(n): [] for n in counts} for name in live}
    first = {name: {} for name in live}

    def turn(name, step):
        """`step(process)` on engine `name` once the machine is idle; an
        engine that fails is dropped, with its error as its result."""
        _settle()
        try:
            return step(live[name])
        except EngineFailed as failed:
            engines[name] = {"error": failed.lines}
            del live[name]

    # Count by count, fewer texts first, as when each count ran on its own.
    for n in counts:
        for name in list(live):
            first[name][str(n)] = turn(name, lambda process, n=n: process.warm(n))
        for round_ in range(repeats[str(n)]):
            order = list(live) if round_ % 2 == 0 else list(live)[::-1]
            for name in order:
                pair = turn(name, lambda process, n=n: process.call(n)) if name in live else None
                if pair:
                    calls[name][str(n)].append(pair["steady"])
                    after_idle[name][str(n)].append(pair["after_idle"]["seconds"])
    for name, process in live.items():
        try:
            final = process.finish()
        except EngineFailed as failed:
            engines[name] = {"error": failed.lines}
            continue
        engines[name] = {str(n): bench_common.summarize(first[name][str(n)], calls[name][str(n)])
                         for n in counts}
        for n in counts:
            engines[name][str(n)]["after_idle_median_seconds"] = statistics.median(
                after_idle[name][str(n)])
        engines[name].update(final)
    return {name: engines[name] for name in ENGINES if name in engines}


def run(quick=False, models=tuple(TASKS), threads=None, contention=0.25, timeout=1800):
    """Every model's task on every engine: preparing and exporting each in a
    fresh subprocess, then the engines interleaved (`interleaved`).

    `quick=True` measures tiny models on 1 and 2 short texts, one call each
    (a smoke test).
    """
    threads = threads or os.cpu_count()
    counts = SMOKE_COUNTS if quick else COUNTS
    repeats = {str(n): 1 if quick else REPEATS[n] for n in counts}
    results = {"quick": quick, "threads": threads, "counts": list(counts),
               "sequence_length": SMOKE_SEQUENCE_LENGTH if quick else SEQUENCE_LENGTH,
               "interleaved": True, "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as root:
        for model in [m for m in models if m in TASKS]:
            print(f"[benchmark] serving {model} ...", file=sys.stderr, flush=True)
            directory = os.path.join(root, model)
            os.makedirs(directory)
            spawn = lambda worker, job, **kw: _spawn(  # noqa: E731
                worker, {"model": model, "directory": directory, **job},
                threads=threads, timeout=timeout, **kw)
            entry = {"task": TASKS[model], "prepare": spawn("prepare", {"quick": quick})}
            if "error" not in entry["prepare"]:
                entry["export"] = spawn("export", {"quick": quick}, backend="tensorflow")
            results["models"][model] = entry
            if "error" in entry["prepare"] or "error" in entry["export"]:
                continue
            job = {"model": model, "directory": directory, "contention": contention}
            engines = entry["engines"] = interleaved(job, counts, repeats, threads, timeout)
            entry["onnx_max_abs_difference"] = sample_difference(engines)
            entry["loadavg_end"] = os.getloadavg()
    return results


def _entry(engine, n):
    """An engine's figures at `n` texts ({} when it has none)."""
    return (engine or {}).get(str(n)) or {}


def seconds(engine, n, every=False):
    """The median of the clean calls, else (or with `every`) of all calls."""
    entry = _entry(engine, n)
    return (None if every else entry.get("median_seconds")) or entry.get("median_all_seconds")


def contended(engine, n):
    return _entry(engine, n).get("median_seconds") is None


# Two-sided 95% quantiles of Student's t by degrees of freedom (turns - 1);
# past 20, 20's (slightly wide).
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
       2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)


def paired_interval(ours, theirs, n, every=False):
    """The 95% interval of theirs / ours from the turns: each turn called the
    two engines next to each other, so a turn's ratio is free of the drift
    between turns, and the spread of the turns' ratios is the run's own
    noise. (low, high) of the geometric mean, from Student's t on the log
    ratios; turns with a contended call on either side are left out unless
    `every`. None with fewer than two turns."""
    pairs = zip(_entry(ours, n).get("calls") or [], _entry(theirs, n).get("calls") or [])
    logs = [math.log(b["seconds"] / a["seconds"]) for a, b in pairs
            if every or not (a["contended"] or b["contended"])]
    if len(logs) < 2:
        return None
    half = T95[min(len(logs) - 1, len(T95)) - 1] * statistics.stdev(logs) / math.sqrt(len(logs))
    mean = statistics.fmean(logs)
    return math.exp(mean - half), math.exp(mean + half)


def verdict_text(ratio, interval):
    """"met" at 1.0x or above; "parity" below it when the turns' interval
    still holds 1.0x (the run cannot tell the two apart: the issue's
    "equal to"); "**missed**" when the whole interval lies below."""
    if ratio is not None and ratio >= 1.0:
        return "met"
    if ratio is not None and interval and interval[1] >= 1.0:
        return "parity"
    return "**missed**"


def verdicts(results):
    """(model, target, measured ratio, 95% interval, verdict) per target of
    the serving issue: the SavedModel >= 1.0x transformers at 1 and 8
    texts, ONNX Runtime on our export >= 1.0x on transformers' export at
    every count. The ratio is of the medians; the interval is of the
    turns' paired ratios (`paired_interval`), which decides "parity"
    (`verdict_text`). A ratio from figures with no clean call is marked
    "(contended)"."""
    rows = []
    for model, entry in results.get("models", {}).items():
        engines = entry.get("engines", {})
        pairs = [("saved_model", "transformers", "SavedModel >= 1.0x transformers", n)
                 for n in results["counts"][:2]]
        pairs += [("ort-ours", "ort-transformers",
                   "ORT on our ONNX >= 1.0x ORT on transformers' export", n)
                  for n in results["counts"]]
        for ours, theirs, target, n in pairs:
            noisy = contended(engines.get(ours), n) or contended(engines.get(theirs), n)
            # Like with like: all calls on both sides when either has no clean one.
            a, b = (seconds(engines.get(e), n, every=noisy) for e in (ours, theirs))
            ratio = b / a if a and b else None
            # Only interleaved runs pair their calls (older runs timed one engine after the other).
            interval = (paired_interval(engines.get(ours), engines.get(theirs), n, every=noisy)
                        if results.get("interleaved") else None)
            rows.append((model, f"{target}, {n} texts" + (" (contended)" if noisy else ""),
                         ratio, interval, verdict_text(ratio, interval)))
    return rows


def _cell(engine, n, reference):
    if not engine or "error" in engine:
        return "error" if engine else ""
    entry = engine.get(str(n))
    value = entry["median_seconds"]
    if value is None:
        return f"n/a [{entry['median_all_seconds']:.3g}]"
    mark = " (c)" if entry["contended_calls"] else ""
    ratio = f" ({reference / value:.2f}x)" if reference else ""
    return f"{value:.4g}{mark}{ratio}"


def errors(results):
    """'model stage: message' for every stage or engine that failed."""
    found = []
    for model, entry in results.get("models", {}).items():
        stages = {k: entry[k] for k in ("prepare", "export") if k in entry}
        for name, value in {**stages, **entry.get("engines", {})}.items():
            if "error" in value:
                found.append(f"{model} {name}: {value['error']}")
    return found


def to_markdown(results):
    length = results.get("sequence_length")
    lines = ["## Serving", "",
             f"Raw strings to answers, base sizes (random weights), texts of about {length} "
             f"tokens, median seconds per call, {results.get('threads')} threads; in brackets: "
             "transformers' seconds / the engine's (>1: faster than transformers). "
             "`saved_model`: our SavedModel in a TensorFlow-only process (tokenizer, model and "
             "decoding in the graph); `transformers`: its pipeline (UIE-M: tokenizer + "
             "forward); `ort-*`: ONNX Runtime on our export and on transformers' own "
             "(`torch.onnx.export`), both tokenized by the same Hugging Face tokenizer. "
             "`(c)` marks figures where calls other processes slowed were left out.", "",
             "| model | task | texts | " + " | ".join(ENGINES) + " |",
             "|---" * (len(ENGINES) + 3) + "|"]
    for model, entry in results.get("models", {}).items():
        failed = [f"{k}: {entry[k]['error']}" for k in ("prepare", "export")
                  if "error" in entry.get(k, {})]
        if failed:
            lines.append(f"| {model} | {entry['task']} | error: {'; '.join(failed)} |"
                         + " |" * len(ENGINES))
            continue
        engines = entry["engines"]
        for n in results["counts"]:
            hf = engines.get("transformers")
            reference = None if contended(hf, n) else seconds(hf, n)
            cells = [_cell(engines.get(e), n, reference) for e in ENGINES]
            lines.append(f"| {model} | {entry['task']} | {n} | " + " | ".join(cells) + " |")
    idle = [(model, n, [_entry(entry["engines"].get(e), n).get(
                "after_idle_median_seconds") for e in ENGINES])
            for model, entry in results.get("models", {}).items() if "engines" in entry
            for n in results["counts"]]
    if any(v is not None for *_, row in idle for v in row):
        lines += ["", "Median seconds of the first call of each turn, after the machine sat "
                  "idle while the other engines ran (threads asleep, caches cold); the figures "
                  "above are the calls right after it, as in a steady stream of requests:", "",
                  "| model | texts | " + " | ".join(ENGINES) + " |",
                  "|---" * (len(ENGINES) + 2) + "|"]
        lines += [f"| {model} | {n} | " + " | ".join("" if v is None else f"{v:.4g}" for v in row)
                  + " |" for model, n, row in idle]
    differences = [f"{model} {entry['onnx_max_abs_difference']:.2g}"
                   for model, entry in results.get("models", {}).items()
                   if entry.get("onnx_max_abs_difference") is not None]
    if differences:
        lines += ["", "Max |difference| between the outputs of the two ONNX graphs on the "
                  "same two texts (same weights; above ~1e-4, an export is wrong): "
                  + ", ".join(differences) + "."]
    failed = [f"- {error}" for error in errors(results)]
    if failed:
        lines += [""] + failed
    rows = verdicts(results)
    if rows:
        lines += ["", "Targets: \"measured\" is the ratio of the two engines' medians; the "
                  "interval is the 95% interval of the geometric mean of the turns' own ratios "
                  "(each turn called the two engines one after the other), so it need not hold "
                  "the ratio of the medians. \"parity\": under 1.0x, but the interval holds "
                  "1.0x: the run cannot tell the two apart.", "",
                  "| model | target | measured | 95% interval | |", "|---|---|---|---|---|"]
        lines += [f"| {m} | {t} | {'n/a' if r is None else bench_common.ratio_text(r)} | "
                  f"{'' if i is None else f'{i[0]:.2f}-{i[1]:.2f}x'} | {v} |"
                  for m, t, r, i, v in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    bench_common.section_main(WORKERS, run, to_markdown, ROOT)
