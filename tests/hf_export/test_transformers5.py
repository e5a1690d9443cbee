"""`export_to_transformers` for transformers 5.x: ConvBERT (the one family
5.x still ships) loads there with the matching `ConvBert*` class, computes our
outputs, and Hugging Face (4.57) -> ours -> Hugging Face (5.x) gives the same
tensors.

transformers 5.x cannot share the process with the suite's 4.57: it lives in
a folder of its own (tests/transformers5_reference/setup.sh, which .ci/run
runs) put in front of this venv on PYTHONPATH, and one subprocess loads every
exported folder. Without the folder the test skips, except under CI
(`CI=true`), where it fails.

What 5.x changed that the export had to handle, found here: nothing in the
weight names or the config keys (its configs are typed, `@strict`, and
accept ours); `dtype` is now the config's name for `torch_dtype` (we write
`dtype`, which 4.57 reads too); `AutoTokenizer` gives a `BertTokenizer` built
by the tokenizers library from `vocab.txt` and `tokenizer_config.json` (no
`tokenizer.json` needed), with our ids. The other way, 5.x's `save_pretrained`
writes the tokenizer as `tokenizer.json` only (no `vocab.txt`): the weights
it saves load here, its tokenizer not yet (`from_preset` names the missing
`vocab.txt`).
"""

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import max_abs_diff, missing_reference, to_numpy
from tests.hf_export.hf_references import CASES
from tests.hf_export.hf_references import TEXTS
from tests.hf_export.hf_references import TOL
from tests.hf_export.hf_references import keras_class
from tests.hf_export.hf_references import outputs
from tests.hf_export.hf_references import round_trip
from tests.hf_export.hf_references import task_batch
from tests.hf_export.hf_references import torch_inputs
from tests.hf_export.hf_references import write_tokenizer_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADER = os.path.join(ROOT, "tests", "transformers5_reference", "load_exports.py")
ARCHITECTURES = [architecture for family, architecture in CASES if family == "convbert"]


def transformers5_path():
    """The folder holding transformers 5.x, or skip (fail under CI)."""
    path = os.environ.get("KERAS_ENCODERS_TRANSFORMERS5") or os.path.join(ROOT, ".transformers5")
    if not os.path.isdir(os.path.join(path, "transformers")):
        missing_reference(
            f"No transformers 5.x reference at {path}: build it with "
            "tests/transformers5_reference/setup.sh (or point "
            "KERAS_ENCODERS_TRANSFORMERS5 at one)."
        )
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Every ConvBERT architecture exported, and what transformers 5.x makes
    of it: `(ours, theirs, results)`, `ours[architecture]` = (the 4.57
    original, our outputs, our tokenizer ids, the batch, its folder),
    `theirs[architecture]` = (5.x's outputs, its state dict, its report),
    `results` the subprocess's report (version, file)."""
    path = transformers5_path()
    tokenizer_files = write_tokenizer_files(tmp_path_factory)
    root = tmp_path_factory.mktemp("transformers5")
    jobs, ours = [], {}
    for architecture in ARCHITECTURES:
        folder = root / architecture
        original, task, tokenizer = round_trip("convbert", architecture, folder, tokenizer_files)
        x = task_batch("convbert", architecture)
        np.savez(folder / "inputs.npz", **{k: v.numpy() for k, v in torch_inputs(x).items()})
        ids = [[int(i) for i in to_numpy(tokenizer(text))] for text in TEXTS]
        ours[architecture] = (original, to_numpy(task(x, training=False)), ids, x, folder)
        jobs.append({"architecture": architecture, "folder": str(folder / "out"),
                     "inputs": str(folder / "inputs.npz"), "texts": TEXTS,
                     "saved": str(folder / "saved_by_5")})
    with open(root / "jobs.json", "w", encoding="utf-8") as f:
        json.dump(jobs, f)
    env = dict(os.environ, PYTHONPATH=path)
    began = time.monotonic()
    done = subprocess.run([sys.executable, LOADER, str(root / "jobs.json"), str(root)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"transformers 5.x loaded {len(jobs)} exports in {time.monotonic() - began:.1f} s")
    with open(root / "results.json", encoding="utf-8") as f:
        results = json.load(f)
    theirs = {}
    for architecture in ARCHITECTURES:
        with np.load(root / f"{architecture}.outputs.npz") as out, \
                np.load(root / f"{architecture}.state.npz") as state:
            theirs[architecture] = (
                SimpleNamespace(**{k: out[k] for k in out.files}),
                {k: state[k] for k in state.files},
                results["jobs"][architecture],
            )
    return ours, theirs, results


def test_the_reference_is_transformers5(loaded):
    _, _, results = loaded
    assert results["version"].startswith("5."), results["version"]
    assert results["file"].startswith(transformers5_path()), results["file"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_loads_in_transformers5_with_our_outputs(architecture, loaded):
    ours, theirs = loaded[0][architecture], loaded[1][architecture]
    original, got, ids, x, _ = ours
    reference, state, report = theirs
    assert not any(report["loading_info"].values()), report["loading_info"]
    assert report["architectures"] == [architecture]
    assert report["id2label"] == {str(k): v for k, v in original.config.id2label.items()}
    # Hugging Face 4.57 -> ours -> Hugging Face 5.x: the same tensors.
    before = {k: v.numpy() for k, v in original.state_dict().items()}
    assert sorted(before) == sorted(state)
    for key in before:
        np.testing.assert_array_equal(before[key], state[key], err_msg=key)
    # Our outputs on a padded batch.
    for name, mine, expected in outputs(architecture, got, x, reference):
        assert max_abs_diff(mine, expected) <= TOL, name
    # The tokenizer written beside the weights gives our ids.
    assert report["ids"] == ids


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_what_transformers5_saves_loads_back(architecture, loaded):
    """5.x -> ours: the folder 5.x's `save_pretrained` writes (its config
    adds `dtype`, `tie_word_embeddings`, `bos_token_id` ...) loads with our
    `from_preset` and computes the same outputs. Its tokenizer is another
    matter: 5.x saves only `tokenizer.json` (no `vocab.txt`), which our
    ConvBERT tokenizer does not read yet, so the weights are loaded here
    without a preprocessor."""
    _, got, _, x, folder = loaded[0][architecture]
    cls = keras_class("convbert", architecture)
    kwargs = {} if architecture.endswith("Model") else {"preprocessor": None}
    again = cls.from_preset(str(folder / "saved_by_5"), **kwargs)
    assert not os.path.exists(folder / "saved_by_5" / "vocab.txt")
    mine = to_numpy(again(x, training=False))
    mine, expected = (mine, got) if isinstance(got, dict) else ({"logits": mine}, {"logits": got})
    for name in expected:
        assert max_abs_diff(mine[name], expected[name]) <= TOL, name
