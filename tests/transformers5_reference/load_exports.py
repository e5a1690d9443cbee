"""Runs in the transformers 5.x reference environment (a subprocess of
tests/hf_export/test_transformers5.py): loads each exported folder with the
`transformers` class its `config.json` names, and writes what it computes.

    python load_exports.py JOBS.json RESULTS_DIR

JOBS.json lists `{"architecture", "folder", "inputs", "texts", "saved"}`:
`inputs` an `.npz` of the transformers inputs (`input_ids`, `attention_mask`,
...), `saved` the folder to `save_pretrained` the loaded model and tokenizer
in. For each job RESULTS_DIR gets `<architecture>.outputs.npz` (every tensor of the
model's output) and `<architecture>.state.npz` (the loaded state dict), and
`results.json` the version, the loading info and the tokenizer's ids.

It imports only torch, numpy and transformers (no Keras, no keras_encoders),
so the environment's transformers is the one that loads the folders.
"""

import json
import os
import sys

import numpy as np
import torch
import transformers


def main(jobs_path, results_dir):
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    results = {"version": transformers.__version__, "file": transformers.__file__, "jobs": {}}
    for job in jobs:
        architecture = job["architecture"]
        cls = getattr(transformers, architecture)
        model, info = cls.from_pretrained(job["folder"], output_loading_info=True)
        model.eval()
        with np.load(job["inputs"]) as inputs:
            x = {name: torch.tensor(inputs[name], dtype=torch.long) for name in inputs.files}
        with torch.no_grad():
            output = model(**x)
        prefix = os.path.join(results_dir, architecture)
        np.savez(prefix + ".outputs.npz", **{k: v.numpy() for k, v in output.items()})
        np.savez(prefix + ".state.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
        tokenizer = transformers.AutoTokenizer.from_pretrained(job["folder"])
        # As a transformers 5.x user saves it, for the way back (5.x -> ours).
        model.save_pretrained(job["saved"])
        tokenizer.save_pretrained(job["saved"])
        results["jobs"][architecture] = {
            "loading_info": {k: sorted(map(str, v)) for k, v in info.items()},
            "architectures": model.config.architectures,
            "id2label": {str(k): v for k, v in model.config.id2label.items()},
            "tokenizer": type(tokenizer).__name__,
            "ids": [tokenizer(t, add_special_tokens=False)["input_ids"] for t in job["texts"]],
        }
    with open(os.path.join(results_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
