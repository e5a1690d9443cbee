"""Run PaddleNLP's UIE-M Taskflow on tiny random checkpoints (paddle venv only).

Runs in the PaddleNLP reference venv (see `setup_venv.sh`), never next to
TensorFlow or torch. Usage: `python taskflow_uie.py JOB.json RESULTS.json`.

JOB.json:
    {"folders": [{"path": str,   # a UIE-M folder, or one holding vocab.txt
                                 # and sentencepiece.bpe.model to build it in
                  "model": {"vocab_size": int, "hidden_size": int,
                            "num_hidden_layers": int, "num_attention_heads":
                            int, "seed": int, "head_scale": float,
                            "head_bias": float}},   # (only to build it)
                 ...],
     "runs": [{"schema": ..., "schema_lang": "ch"|"en", "max_seq_len": int,
               "texts": [str, ...]}, ...]}

For a folder with a "model", the script first writes a `UIEM` with random
weights into it (its `model_state.pdparams`, `config.json` and the tokenizer
files, as `Taskflow(task_path=folder)` reads them): the span heads are
scaled by `head_scale` and shifted by `head_bias` so that some
probabilities cross 0.5. A folder without one is used as it is (e.g. one
written by `keras_encoders.export_to_paddlenlp`). Then it runs
`Taskflow("information_extraction", model="uie-m-base", task_path=folder,
...)` for each run and writes the results: one list of runs per folder.
(The older job form, `{"folder": str, "model": {...}, "runs": [...]}`,
builds and runs that one folder and writes its list of runs.)

One change to Taskflow: its `get_span` returns a Python set, which Taskflow
iterates; the order (spans within a window, and so which span of a window
a classification prompt votes for) then depends on the float hashes of the
probabilities, i.e. on their last bits. The set is sorted here by end
position (its content unchanged), the order `extract()` uses.
"""

import json
import sys

import scipy.linalg  # noqa: F401  (before paddle, whose libraries break it)
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
    model.save_pretrained(folder)
    tokenizer = ErnieMTokenizer(
        vocab_file=f"{folder}/vocab.txt",
        sentencepiece_model_file=f"{folder}/sentencepiece.bpe.model",
        do_lower_case=False,
    )
    tokenizer.save_pretrained(folder)


def main(job_path, out_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    folders = job.get("folders") or [{"path": job["folder"], "model": job["model"]}]
    results = []
    for folder in folders:
        if "model" in folder:
            build(folder["path"], folder["model"])
        results.append([])
        for run in job["runs"]:
            ie = Taskflow(
                "information_extraction",
                model="uie-m-base",
                task_path=folder["path"],
                schema=run["schema"],
                schema_lang=run["schema_lang"],
                max_seq_len=run["max_seq_len"],
                batch_size=8,
            )
            results[-1].append(ie(run["texts"]))
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(results if "folders" in job else results[0], f, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
