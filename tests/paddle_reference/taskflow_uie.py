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
                            "calibrate": {...},
                            # optional, instead of the three above: a
                            # model with realistic margins, see `aim`
                            "aim": {"prompts": [str, ...], "texts": [str, ...],
                                    "max_seq_len": int, "starts": [str, ...],
                                    "ends": [str, ...], "residual_scale": float,
                                    "scale": float, "fit_prompts": int}}},   # (only to build it)
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
probabilities cross 0.5. With "aim" instead, the model has realistic
margins: every layer's attention and feed-forward output weights and biases
are multiplied by "residual_scale" (so that states keep their token's
identity), then the heads are fitted as `aim` says, to fire on chosen tokens
with logits far from 0, so that float32 differences between engines flip no
threshold and move probabilities by far less than 1e-5. A folder without
one is used as it is (e.g. one written by
`keras_encoders.export_to_paddlenlp`). Then it runs
`Taskflow("information_extraction", model="uie-m-base", task_path=folder,
...)` for each run and writes, per folder, `{"results": [results of each
run], "seconds": [wall seconds of each run's call on all its texts]}` (and
"aim": the fitted heads' margins, see `aim`, for an aimed model): a
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
    aim_spec = dict(spec.get("aim", {}))
    residual_scale = aim_spec.pop("residual_scale", 1.0)
    with paddle.no_grad():
        for name, param in model.named_parameters():
            # Non-trivial LayerNorms and biases, as a trained model has.
            param.set_value(param + 0.05 * paddle.randn(param.shape, dtype=param.dtype))
            # An aimed model's residual branches (attention and feed-forward
            # outputs) are scaled down: at random weights they are a few
            # times the residual stream, and with hundreds of identical
            # [PAD]s attended they pull every position to the same state.
            # Smaller, they leave each position its token's identity, as a
            # trained model's states keep it, so that heads can tell tokens
            # apart with wide margins.
            if name.endswith(("self_attn.out_proj.weight", "self_attn.out_proj.bias",
                              "linear2.weight", "linear2.bias")):
                param.set_value(param * residual_scale)
        for head in (model.linear_start, model.linear_end):
            head.weight.set_value(head.weight * spec.get("head_scale", 1.0))
            head.bias.set_value(paddle.full_like(head.bias, spec.get("head_bias", 0.0)))
    tokenizer = ErnieMTokenizer(
        vocab_file=f"{folder}/vocab.txt",
        sentencepiece_model_file=f"{folder}/sentencepiece.bpe.model",
        do_lower_case=False,
    )
    if "calibrate" in spec:
        calibrate(model, tokenizer, **spec["calibrate"])
    margins = aim(model, tokenizer, **aim_spec) if aim_spec else None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return margins


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


def aim(model, tokenizer, prompts, texts, max_seq_len, starts, ends, scale=10.0, fit_prompts=None):
    """Fit the start and end heads (ridge least squares on the hidden
    states, numpy) so that starts fire on the first token of each of
    `starts` and ends on that of each of `ends`, on the rows Taskflow will
    run: each of `prompts` with each text cut as Taskflow cuts it
    (`max_seq_len - len(max(prompts)) - 3` characters), padded to
    `max_seq_len` (only the first `fit_prompts` prompts, if given: each
    costs a forward pass over all the texts, and the states of a text's
    tokens barely depend on the prompt). Targets are +1 / -1 and the fit is multiplied by `scale`,
    so that logits sit near +-`scale`: probabilities then saturate, and
    float32 differences between engines move them by far less than 1e-5.
    (Scaling one random head instead, as `head_scale` does, makes every
    logit a small difference of large numbers, near the threshold.)
    Returns the margins seen on those rows: per head, the smallest |logit|
    over the real tokens, at the aimed tokens, the fraction of real tokens
    below 3, and the [PAD]s' largest logit."""
    window = max_seq_len - len(max(prompts)) - 3
    pieces = [t[i:i + window] for t in texts for i in range(0, len(t), window)]
    rows = [(p, t) for p in prompts[:fit_prompts] for t in pieces]
    hidden, ids = [], []
    with paddle.no_grad():
        for b in range(0, len(rows), 16):
            batch = rows[b:b + 16]
            encoded = tokenizer(text=[p for p, _ in batch], text_pair=[t for _, t in batch],
                                truncation=True, max_seq_len=max_seq_len,
                                pad_to_max_seq_len=True, return_position_ids=True)
            sequence, _ = model.ernie_m(
                input_ids=paddle.to_tensor(encoded["input_ids"]),
                position_ids=paddle.to_tensor(encoded["position_ids"]),
            )
            hidden.append(sequence.numpy().astype(np.float64).reshape(-1, sequence.shape[-1]))
            ids.append(np.asarray(encoded["input_ids"]).reshape(-1))
    hidden, ids = np.concatenate(hidden), np.concatenate(ids)
    hidden = np.concatenate([hidden, np.ones_like(hidden[:, :1])], 1)
    real = ids != tokenizer.pad_token_id
    margins = {}
    for name, head, words in (("start", model.linear_start, starts), ("end", model.linear_end, ends)):
        aimed = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w))[0] for w in words]
        hit = np.isin(ids, aimed)
        target = np.where(hit, 1.0, -1.0)
        # Positives are few: weighted up so the fit does not give them up.
        weight = np.where(hit, 5.0, 1.0)
        for _ in range(4):
            a = hidden * weight[:, None]
            # Ridge: small weights keep float32 rounding small in the logits.
            solution = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ (target * weight))
            # Least squares spends its effort on positions already far on
            # the right side; those it leaves near 0 or on the wrong side
            # count more in the next round (a crude maximum-margin fit).
            weight = weight * np.where(target * (hidden @ solution) < 0.5, 3.0, 1.0)
        solution = solution * scale
        head.weight.set_value(paddle.to_tensor(solution[:-1, None].astype("float32")))
        head.bias.set_value(paddle.to_tensor(solution[-1:].astype("float32")))
        logits = hidden @ solution
        margins[name] = {
            "aimed_tokens": int(hit.sum()),
            "positive": int((logits[real] > 0).sum()),
            "min_abs_logit": float(np.abs(logits[real]).min()),
            "min_abs_logit_aimed": float(np.abs(logits[hit]).min()) if hit.any() else None,
            "fraction_below_3": float((np.abs(logits[real]) < 3).mean()),
            "max_pad_logit": float(logits[~real].max()),
        }
    return margins


def main(job_path, out_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    folders = job.get("folders") or [{"path": job["folder"], "model": job["model"]}]
    outputs = []
    for folder in folders:
        margins = build(folder["path"], folder["model"]) if "model" in folder else None
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
        outputs.append({"results": results, "seconds": seconds,
                        **({"aim": margins} if margins else {})})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(outputs if "folders" in job else outputs[0], f, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
