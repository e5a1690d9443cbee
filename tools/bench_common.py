"""What `benchmark.py` and its section scripts (`bench_*.py`) share.

Timing under contention (a call is flagged when the rest of the machine
used more than a threshold of cores meanwhile), the thread settings every
measured process gets, the section scripts' worker protocol, ratios as
text, and the reference side's models: the published base configurations,
their transformers configs, transformers' own ONNX export and ONNX Runtime
sessions. `benchmark.py` runs the sections; the sections import only this
module, so the imports run one way.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time


# === Models (reference side and Keras side alike) ===
# Published base configurations (random weights), in keras_encoders terms.
BASE = {
    "nezha": dict(vocabulary_size=21128, num_layers=12, num_heads=12, hidden_dim=768,
                  intermediate_dim=3072, max_relative_position=64),
    "ernie_m": dict(vocabulary_size=250002, num_layers=12, num_heads=12, hidden_dim=768,
                    intermediate_dim=3072, max_sequence_length=514),
    "convbert": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                     intermediate_dim=3072, embedding_dim=768, head_ratio=2,
                     conv_kernel_size=9, num_groups=1, max_sequence_length=512),
    "bert": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=3072, max_sequence_length=512),
}
TINY = {
    "nezha": dict(BASE["nezha"], vocabulary_size=100, num_layers=1, num_heads=2,
                  hidden_dim=16, intermediate_dim=32, max_relative_position=4),
    "ernie_m": dict(BASE["ernie_m"], vocabulary_size=100, num_layers=1, num_heads=2,
                    hidden_dim=16, intermediate_dim=32, max_sequence_length=64),
    "convbert": dict(BASE["convbert"], vocabulary_size=100, num_layers=1, num_heads=2,
                     hidden_dim=16, intermediate_dim=32, embedding_dim=16,
                     conv_kernel_size=3, max_sequence_length=64),
    "bert": dict(BASE["bert"], vocabulary_size=100, num_layers=1, num_heads=2,
                 hidden_dim=16, intermediate_dim=32, max_sequence_length=64),
}
NUM_CLASSES = 2


# === Timing under contention ===
def system_busy_seconds():
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn, threshold):
    """Run `fn()` once: wall seconds and the cores other processes used meanwhile."""
    busy0, own0, t0 = system_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    busy1, own1 = system_busy_seconds(), _own_cpu_seconds()
    other = None
    if busy0 is not None:
        other = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall, 1e-9)
    return {
        "seconds": wall,
        "other_cores": other,
        "contended": bool(other is not None and other > threshold),
    }


def summarize(first, calls):
    clean = [c["seconds"] for c in calls if not c["contended"]]
    return {
        "first_call_seconds": first["seconds"],
        "median_seconds": statistics.median(clean) if clean else None,
        "median_all_seconds": statistics.median(c["seconds"] for c in calls),
        "calls": calls,
        "contended_calls": sum(c["contended"] for c in calls),
    }


def measure(fn, repeats, threshold):
    first = timed(fn, threshold)
    return summarize(first, [timed(fn, threshold) for _ in range(repeats)])


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ratio_text(ratio, target=1.0):
    """`ratio` as "1.23x": two decimals, or as many as it takes to show on
    which side of `target` it lies (0.9994 would print as a met "1.00x")."""
    for digits in (2, 3, 4):
        text = f"{ratio:.{digits}f}"
        if (float(text) >= target) == (ratio >= target):
            break
    return text + "x"


# === Processes: threads and section workers ===
def thread_env(threads, backend=None, reference=False):
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS"):
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    flags = env.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        env["XLA_FLAGS"] = (flags + f" --xla_cpu_multi_thread_eigen=true "
                            f"intra_op_parallelism_threads={threads}").strip()
    if backend:
        env["KERAS_BACKEND"] = backend
    if reference:
        # transformers would otherwise import TensorFlow and JAX too, which
        # inflates the reference's resident memory.
        env.update(USE_TF="0", USE_TORCH="1", USE_FLAX="0", USE_JAX="0")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, env.get("PYTHONPATH")) if p
    )
    return env


def section_main(workers, run, to_markdown, root):
    """The command line of a section script (`bench_*.py`): `--worker NAME
    JSON` runs one of its workers (from the repository `root`) and prints
    its JSON result; otherwise the whole section runs (`--quick`: smoke)."""
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        sys.path.insert(0, root)
        print(json.dumps(workers[sys.argv[2]](**json.loads(sys.argv[3]))))
    else:
        results = run(quick="--quick" in sys.argv)
        print(to_markdown(results))
        print(json.dumps(results, indent=1))


def section_worker(script, worker, args, env, timeout, tail=1):
    """Run a section script's worker (`script --worker NAME JSON`) in a fresh
    interpreter: its JSON result, or `{"error": [the last stderr lines]}`."""
    command = [sys.executable, script, "--worker", worker, json.dumps(args)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": [f"timed out after {timeout} s"]}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-tail:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# === Reference engines: transformers' configs, its ONNX export, ONNX Runtime ===
def hf_config(model, config):
    import transformers

    common = dict(
        vocab_size=config["vocabulary_size"],
        hidden_size=config["hidden_dim"],
        num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"],
        intermediate_size=config["intermediate_dim"],
        num_labels=NUM_CLASSES,
    )
    if model == "nezha":
        return transformers.NezhaConfig(
            max_relative_position=config["max_relative_position"],
            max_position_embeddings=max(512, config.get("max_sequence_length", 512)),
            **common,
        )
    if model == "ernie_m":
        return transformers.ErnieMConfig(
            max_position_embeddings=config["max_sequence_length"], **common
        )
    if model == "convbert":
        return transformers.ConvBertConfig(
            embedding_size=config["embedding_dim"], head_ratio=config["head_ratio"],
            conv_kernel_size=config["conv_kernel_size"], num_groups=config["num_groups"],
            max_position_embeddings=config["max_sequence_length"], **common,
        )
    return transformers.BertConfig(
        max_position_embeddings=config["max_sequence_length"], **common
    )


def torch_onnx_export(net, x, path, output_names):
    """transformers' own ONNX export of `net` (`torch.onnx.export`, the
    TorchScript exporter), called on the example inputs `x` (a dict of
    torch tensors), batch and length dynamic."""
    import inspect

    import torch

    # The graph's inputs follow `forward`'s parameters, and `input_names`
    # names them in that order: a tokenizer's order (token_type_ids before
    # attention_mask) would swap the two names.
    order = list(inspect.signature(net.forward).parameters)
    x = {name: x[name] for name in sorted(x, key=order.index)}
    names = list(x)
    dynamic = {name: {0: "batch", 1: "length"} for name in names}
    with torch.no_grad():
        torch.onnx.export(
            net, (), path, kwargs=dict(x), input_names=names, output_names=output_names,
            dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )


def onnx_session(path, threads):
    """An ONNX Runtime CPU session on `threads` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
