"""PaddleNLP's UIE annotation conversion and span metric (paddle venv only).

Runs in the PaddleNLP reference venv (see `setup_venv.sh`), never next to
TensorFlow or torch. Usage: `python uie_data.py JOB.json RESULTS.json`.

JOB.json: {"conversions": [{"kind": "label_studio" | "doccano", "file": str,
"args": {flag: value, ...}}, ...], "metric": [[start_probs, end_probs,
gold_start_ids, gold_end_ids], ...]}. RESULTS.json: {"conversions":
[{"train": [...], "dev": [...], "test": [...]}, ...], "metric": [[correct,
inferred, labelled, precision, recall, f1] after each batch, ...]}.

Label Studio runs `applications/information_extraction/label_studio.py`'s
steps on PaddleNLP's own `paddlenlp.utils.tools.DataConverter`: seeds, the
NumPy shuffle of the tasks, the split, one converter for all three parts.

doccano's converter (`model_zoo/uie/utils.py` in the PaddleNLP repository)
is not in the pip package. Its example construction is DataConverter's, call
for call, except that DataConverter skips the labels "属性值" / "object" and
keeps "观点词" out of the negative label set: the doccano run below reads
each line the way `utils.convert_ext_examples` / `convert_cls_examples` do,
hands it to DataConverter with an empty skip list, and follows `doccano.py`'s
steps (its NumPy shuffles of the lines and of the training examples). The
fixtures avoid "观点词" there. This makes the doccano reference PaddleNLP's
example construction and sampling, on this script's reading of the lines.
"""

import json
import os
import random
import sys

import scipy.linalg  # noqa: F401  (before paddle, whose libraries break it)
import numpy as np
import paddle
from paddlenlp.metrics import SpanEvaluator
from paddlenlp.utils.tools import DataConverter


def seed_all(seed):
    # `set_seed` of both scripts.
    paddle.seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def label_studio(path, args):
    seed_all(args["seed"])
    with open(path, encoding="utf-8") as f:
        raw = json.loads(f.read())
    if args["is_shuffle"]:
        indexes = np.random.permutation(len(raw))
        raw = [raw[i] for i in indexes]
    i1, i2, _ = args["splits"]
    p1, p2 = int(len(raw) * i1), int(len(raw) * (i1 + i2))
    converter = DataConverter(
        path, negative_ratio=args["negative_ratio"], prompt_prefix=args["prompt_prefix"],
        options=args["options"], separator=args["separator"], layout_analysis=False,
        schema_lang=args["schema_lang"], ocr_lang="ch", anno_type="text",
    )
    if args["task_type"] == "ext":
        return {
            "train": converter.convert_ext_examples(raw[:p1]),
            "dev": converter.convert_ext_examples(raw[p1:p2], is_train=False),
            "test": converter.convert_ext_examples(raw[p2:], is_train=False),
        }
    return {name: converter.convert_cls_examples(part)
            for name, part in (("train", raw[:p1]), ("dev", raw[p1:p2]), ("test", raw[p2:]))}


class DoccanoLines(DataConverter):
    """DataConverter reading doccano JSONL lines instead of Label Studio tasks."""

    def process_text_tag(self, line, task_type="ext"):
        items = json.loads(line)
        text = items["data"] if "data" in items else items["text"]
        if task_type == "cls":
            return {"text": text, "label": items["label"]}
        label = items.get("label")
        if "data" in items and isinstance(label, dict) and "entities" in label:
            entities, relations = label["entities"], label.get("relations", [])
        elif "label" in items:
            entities = [{"id": k, "start_offset": a, "end_offset": b, "label": c}
                        for k, (a, b, c) in enumerate(label)]
            relations = []
        else:
            entities, relations = items["entities"], items["relations"]
        return {"text": text, "entities": entities, "relations": relations}


def doccano(path, args):
    seed_all(args["seed"])
    with open(path, encoding="utf-8") as f:
        raw = f.readlines()
    converter = DoccanoLines(
        path, negative_ratio=args["negative_ratio"], prompt_prefix=args["prompt_prefix"],
        options=args["options"], separator=args["separator"], schema_lang=args["schema_lang"],
        anno_type="text",
    )
    converter.ignore_list = []

    def make(lines, ratio, is_train, shuffle):
        converter.negative_ratio = ratio
        if args["task_type"] == "ext":
            examples = converter.convert_ext_examples(lines, is_train=is_train)
        else:
            examples = converter.convert_cls_examples(lines)
        if shuffle:
            indexes = np.random.permutation(len(examples))
            examples = [examples[i] for i in indexes]
        return examples

    if not args["splits"]:
        return {"train": make(raw, args["negative_ratio"], True, args["is_shuffle"])}
    if args["is_shuffle"]:
        indexes = np.random.permutation(len(raw))
        raw = [raw[i] for i in indexes]
    i1, i2, _ = args["splits"]
    p1, p2 = int(len(raw) * i1), int(len(raw) * (i1 + i2))
    ext = args["task_type"] == "ext"
    return {
        "train": make(raw[:p1], args["negative_ratio"], True, args["is_shuffle"] and ext),
        "dev": make(raw[p1:p2], -1, False, False),
        "test": make(raw[p2:], -1, False, False),
    }


def metric(batches):
    evaluator = SpanEvaluator()
    out = []
    for start_probs, end_probs, gold_starts, gold_ends in batches:
        counts = evaluator.compute(
            paddle.to_tensor(start_probs, dtype="float32"), paddle.to_tensor(end_probs, dtype="float32"),
            paddle.to_tensor(gold_starts, dtype="float32"), paddle.to_tensor(gold_ends, dtype="float32"),
        )
        evaluator.update(*counts)
        out.append([evaluator.num_correct_spans, evaluator.num_infer_spans, evaluator.num_label_spans,
                    *evaluator.accumulate()])
    return out


def main(job_path, out_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    kinds = {"label_studio": label_studio, "doccano": doccano}
    results = {
        "conversions": [kinds[run["kind"]](run["file"], run["args"]) for run in job.get("conversions", [])],
        "metric": metric(job.get("metric", [])),
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    main(*sys.argv[1:3])
