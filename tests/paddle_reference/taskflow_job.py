"""Driving `taskflow_uie.py` from this side (no paddle imported here).

The UIE-M Taskflow test (`tests/models/ernie_m/test_uie_taskflow.py`) and
the benchmark's uie section (`tools/bench_uie.py`) both write a tokenizer
folder, run PaddleNLP's Taskflow on random weights in the paddle reference
venv, and compare `extract()`'s results with Taskflow's.
"""

import json
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tests", "paddle_reference", "taskflow_uie.py")
TOL = 1e-5


def venv_python():
    """The paddle reference venv's python (`KERAS_ENCODERS_PADDLE_VENV`, or
    `.venv-paddle` in the repository), or None when it is not there."""
    venv = os.environ.get("KERAS_ENCODERS_PADDLE_VENV") or os.path.join(ROOT, ".venv-paddle")
    python = os.path.join(venv, "bin", "python")
    return python if os.path.exists(python) else None


def write_tokenizer_files(folder, sentencepiece_model, characters):
    """`vocab.txt` (ERNIE-M's layout: `[CLS] [PAD] [SEP] [UNK]` first, the
    SentencePiece model's pieces, then `characters` so that they get ids of
    their own, `[MASK]` last) and `sentencepiece.bpe.model` in `folder`.
    Returns the number of tokens."""
    from tests.tiny_models import ernie_m_vocabulary

    # (Line breaks would break the file's lines.)
    tokens = ernie_m_vocabulary(sentencepiece_model, "".join(c for c in characters if c not in "\r\n"))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{t}\n" for t in tokens))
    shutil.copy(sentencepiece_model, os.path.join(folder, "sentencepiece.bpe.model"))
    return len(tokens)


def run_taskflow(python, job, workdir, timeout=900, env=None):
    """Run `taskflow_uie.py` on `job` (see its docstring) in `workdir`;
    its output: `{"results": [...], "seconds": [...]}` (a list of them, one
    per folder, for a "folders" job)."""
    job_path = os.path.join(workdir, "taskflow_job.json")
    out_path = os.path.join(workdir, "taskflow_results.json")
    with open(job_path, "w", encoding="utf-8") as f:
        json.dump(job, f, ensure_ascii=False)
    # Paddle must not see this package's settings (nor its PYTHONPATH).
    env = {k: v for k, v in (env or os.environ).items() if not k.startswith(("PYTHON", "KERAS_"))}
    done = subprocess.run([python, DRIVER, job_path, out_path], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"Taskflow failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    with open(out_path, encoding="utf-8") as f:
        return json.load(f)


def differences(ours, theirs, path="", tol=TOL):
    """Where two Taskflow-style results differ (probabilities within `tol`)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        if set(ours) != set(theirs):
            return [f"{path}: keys {sorted(ours)} != {sorted(theirs)}"]
        return [d for k in theirs for d in differences(ours[k], theirs[k], f"{path}/{k}", tol)]
    if isinstance(theirs, list) and isinstance(ours, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items != {len(theirs)}: {ours} != {theirs}"]
        return [d for i, (a, b) in enumerate(zip(ours, theirs))
                for d in differences(a, b, f"{path}[{i}]", tol)]
    if isinstance(theirs, float) and isinstance(ours, float):
        return [] if abs(ours - theirs) <= tol else [f"{path}: {ours} != {theirs}"]
    return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]


def max_probability_difference(ours, theirs):
    """The largest |probability difference| between results of the same
    structure (spans matched in order); 0.0 when there is none."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        pairs = [(ours[k], theirs[k]) for k in theirs if k in ours]
    elif isinstance(theirs, list) and isinstance(ours, list):
        pairs = list(zip(ours, theirs))
    elif isinstance(theirs, float) and isinstance(ours, float):
        return abs(ours - theirs)
    else:
        return 0.0
    return max((max_probability_difference(a, b) for a, b in pairs), default=0.0)


def count_spans(results):
    return sum(
        len(spans) + sum(count_spans([s.get("relations", {})]) for s in spans)
        for result in results for spans in result.values()
    )
