"""Run PaddleNLP's UIE-M Taskflow on tiny random checkpoints (paddle venv only).

Runs in the PaddleNLP reference venv (see `setup_venv.sh`), never next to
TensorFlow or torch. Usage: `python taskflow_uie.py JOB.json RESULTS.json`.

JOB.json:
    {"folders": [{"path": str,   # a UIE-M folder, or one holding vocab.txt
                                 # and sentencepiece.bpe.model to build it in
                  "model": {"vocab_size": int, "hidden_size": int,
                            "num_hidden_layers": int, "num_attention_heads":
                            int, "seed": int, "head_scale": float,
                            "head_bias": float,
                            # optional: {"prompt", "texts", "max_seq_len",
                            # "rate"}, see `calibrate`
                            "calibrate": {...}}},   # (only to build it)
                 ...],
     "runs": [{"schema": ..., "schema_lang": "ch"|"en", "max_seq_len": int,
               "texts": [str, ...],
               # optional: Taskflow's batch_size (8) and num_threads (its
               # default), and texts of an untimed first call (0)
               "batch_size": int, "num_threads": int, "warmup_texts": int},
              ...]}

For a folder with a "model", the script first writes a `UIEM` with random
weights into it (its `model_state.pdparams`, `config.json` and the tokenizer
files, as `Taskflow(task_path=folder)` reads them): the span heads are
scaled by `head_scale` and shifted by `head_bias` so that some
probabilities cross 0.5. A folder without one is used as it is (e.g. one
written by `keras_encoders.export_to_paddlenlp`). Then it runs
`Taskflow("information_extraction", model="uie-m-base", task_path=folder,
...)` for each run and writes, per folder, `{"results": [results of each
run], "seconds": [wall seconds of each run's call on all its texts]}`: a
list of them for a "folders" job. (The single-folder job form, `{"folder":
str, "model": {...}, "runs": [...]}`, writes that folder's dict alone.)

One change to Taskflow: its `get_span` returns a Python set, which Taskflow
iterates; the order (spans within a window, and so which span of a window
a classification prompt votes for) then depends on the float hashes of the
probabilities, i.e. on their last bits. The set is sorted here by end
position (its content unchanged), the order `extract()` uses.
"""

import json
import sys
import time

import scipy.linalg  # noqa: F401  (before paddle, whose libraries break it)
import numpy as np
import paddle
from paddlenlp import Taskflow
from paddlenlp.taskflow import information_extraction
from paddlenlp.transformers import ErnieMConfig, ErnieMTokenizer, UIEM

_get_span = information_extraction.get_span


def _spans_by_position(*args, **kwargs):
    # Each end position closes at most one span: a total order.
    return sorted(_get_span(*args, **kwargs), key=lambda span: span[1][0])


information_extraction.get_span = _spans_by_position


def build(folder, spec):
    paddle.seed(spec["seed"])
    config = ErnieMConfig(
        vocab_size=spec["vocab_size"],
        hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        intermediate_size=4 * spec["hidden_size"],
        max_position_embeddings=514,
    )
    model = UIEM(config)
    model.eval()
    with paddle.no_grad():
        for name, param in model.named_parameters():
            # Non-trivial LayerNorms and biases, as a trained model has.
            param.set_value(param + 0.05 * paddle.randn(param.shape, dtype=param.dtype))
        for head in (model.linear_start, model.linear_end):
            head.weight.set_value(head.weight * spec["head_scale"])
            head.bias.set_value(paddle.full_like(head.bias, spec["head_bias"]))
    tokenizer = ErnieMTokenizer(
        vocab_file=f"{folder}/vocab.txt",
        sentencepiece_model_file=f"{folder}/sentencepiece.bpe.model",
        do_lower_case=False,
    )
    if "calibrate" in spec:
        calibrate(model, tokenizer, **spec["calibrate"])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def calibrate(model, tokenizer, prompt, texts, max_seq_len, rate):
    """Shift each head's bias so that a fraction `rate` of the positions of
    `[CLS] prompt [SEP] text [SEP]` rows pass probability 0.5. (A deep
    random encoder gives nearly the same state at every position, so a
    fixed bias finds spans everywhere or nowhere.)"""
    encoded = tokenizer(text=[prompt] * len(texts), text_pair=texts, truncation=True,
                        max_seq_len=max_seq_len, pad_to_max_seq_len=True,
                        return_position_ids=True)
    with paddle.no_grad():
        sequence, _ = model.ernie_m(
            input_ids=paddle.to_tensor(encoded["input_ids"]),
            position_ids=paddle.to_tensor(encoded["position_ids"]),
        )
        for head in (model.linear_start, model.linear_end):
            logits = head(sequence).numpy().reshape(-1)
            cut = float(np.quantile(logits, 1.0 - rate))
            head.bias.set_value(head.bias - cut)


def main(job_path, out_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    folders = job.get("folders") or [{"path": job["folder"], "model": job["model"]}]
    outputs = []
    for folder in folders:
        if "model" in folder:
            build(folder["path"], folder["model"])
        results, seconds = [], []
        for run in job["runs"]:
            options = {"num_threads": run["num_threads"]} if "num_threads" in run else {}
            ie = Taskflow(
                "information_extraction",
                model="uie-m-base",
                task_path=folder["path"],
                schema=run["schema"],
                schema_lang=run["schema_lang"],
                max_seq_len=run["max_seq_len"],
                batch_size=run.get("batch_size", 8),
                **options,
            )
            if run.get("warmup_texts"):
                ie(run["texts"][: run["warmup_texts"]])
            start = time.perf_counter()
            results.append(ie(run["texts"]))
            seconds.append(time.perf_counter() - start)
        outputs.append({"results": results, "seconds": seconds})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(outputs if "folders" in job else outputs[0], f, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
