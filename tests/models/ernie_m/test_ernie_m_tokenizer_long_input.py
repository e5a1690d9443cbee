"""ERNIE-M tokenization of long documents: memory linear in the input length.

The measurement runs in a fresh subprocess (peak resident memory, which sees
TensorFlow's allocations), and the same subprocess checks the ids against
Hugging Face's tokenizer on the whole long string.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import asset

# The tokenizer's algorithm runs in TensorFlow ops under every backend.
pytestmark = pytest.mark.backend_independent

SPIECE = ("sentencepiece", "hf_transformers_fixtures", "spiece.model")
# Extra peak memory allowed for a 200 KB string. Linear code needs ~80 MiB
# here (~500 MiB for 1 MB); the quadratic version needed over 3 GiB at 100 KB.
LIMIT_MIB = 250
SIZE = 200_000

WORKER = r"""
import json, resource, sys
import sentencepiece
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer

model, size = sys.argv[1], int(sys.argv[2])
sp = sentencepiece.SentencePieceProcessor(model_file=model)
vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
vocab += ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
tokenizer = ErnieMTokenizer(proto=model, vocabulary=vocab, lowercase=True)
unit = "The quick brown fox 92000 jumps, 我爱北京天安门。 Ünïcödé … ㍿ [MASK] "
text = unit * (size // len(unit.encode("utf-8")) + 1)
tokenizer.tokenize_with_offsets([unit])  # trace and warm up first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ids, starts, ends = tokenizer.tokenize_with_offsets([text])
extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
ids = [int(i) for i in ids[0]]
# Reference computed after the measurement, so it cannot inflate it.
from transformers.models.deprecated.ernie_m import tokenization_ernie_m
vocab_path = sys.argv[3]
with open(vocab_path, "w", encoding="utf-8") as f:
    f.write("".join(t + "\n" for t in vocab))
ref = tokenization_ernie_m.ErnieMTokenizer(model, vocab_file=vocab_path, do_lower_case=True)
want = ref(text, add_special_tokens=False)["input_ids"]
short = [int(i) for i in tokenizer([unit * 3])[0]]
print(json.dumps({
    "extra_mib": extra, "bytes": len(text.encode("utf-8")), "equal": ids == want,
    "num": len(ids), "num_ref": len(want), "last_end": int(ends[0][-1]),
    "chars": len(text.rstrip()), "prefix": ids[: len(short)] == short,
}))
"""


def test_long_string_memory_is_linear_and_ids_match(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", WORKER, asset(*SPIECE), str(SIZE), str(tmp_path / "vocab.txt")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bytes"] >= SIZE
    assert result["extra_mib"] < LIMIT_MIB, result
    # Ids equal Hugging Face's on the whole string, and the start of the long
    # string tokenizes as the same text on its own (concatenation semantics).
    assert result["equal"], result
    assert result["prefix"], result
    assert result["last_end"] == result["chars"], result
