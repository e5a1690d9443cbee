"""UIE-M against PaddleNLP's own Taskflow, live.

A tiny `UIEM` with random weights (span heads scaled so that probabilities
cross 0.5) is written by PaddleNLP itself, next to a small SentencePiece
model and an ERNIE-M `vocab.txt`, and run through
`Taskflow("information_extraction", task_path=...)` (PaddleNLP 2.8.1 on
paddlepaddle 2.6.2) in a subprocess of the paddle reference venv (built by
`tests/paddle_reference/setup_venv.sh`; paddle cannot share a process or a
venv with TensorFlow and torch). The same folder is converted with this
package's converter, set up with `with_convention("paddlenlp")`, and
`extract()` must give Taskflow's answers exactly: the same spans in the same
order with the same text, start, end and relations, probabilities within
1e-5, for Chinese and English schemas with relations, short and windowed
texts, at `max_seq_len` 512 and 128. The exported SavedModel must find the
spans `extract()` finds.

Without the venv the tests skip, except under CI (`CI=true`), where they fail.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_encoders.convert import conversion
from keras_encoders.models import ErnieMInformationExtractor
from tests.conftest import asset
from tests.paddle_reference import taskflow_job

SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")

ZH = "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！"
ZH_LONG = (ZH + "谷爱凌, 中国选手, 年龄18岁。") * 4  # ~230 characters: windowed at 128
EN = "In 1997, Steve became the CEO of Apple, 2 years after he returned."
EN_LONG = " ".join([EN, "Tim Cook followed him in 2011 , at age 50 ."] * 4)  # ~450 characters
CJK = "".join(dict.fromkeys(ZH + ZH_LONG + "选手国籍年龄时间的情感倾向正负"))

SCHEMAS = {
    "zh": ("ch", [{"选手": ["国籍", "年龄"]}, "时间"], [ZH, ZH_LONG, EN]),
    "en": ("en", [{"Person": ["Company", "Position"]}, "Time"], [EN, EN_LONG, ZH]),
}
RUNS = [(name, length) for name in SCHEMAS for length in (512, 128)]


def paddle_python():
    """The paddle reference venv's python, or skip (fail under CI)."""
    python = taskflow_job.venv_python()
    if python is None:
        message = (
            "No PaddleNLP reference venv: build it with "
            "tests/paddle_reference/setup_venv.sh (or point "
            "KERAS_ENCODERS_PADDLE_VENV at one)."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(Taskflow's results per run, our Taskflow-mode extractor)."""
    python = paddle_python()
    root = tmp_path_factory.mktemp("uie_taskflow")
    folder = root / "uie_m_tiny"
    vocab_size = taskflow_job.write_tokenizer_files(str(folder), asset(*SPM), CJK)
    job = {
        "folder": str(folder),
        "model": {"vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "seed": 0, "head_scale": 35.0, "head_bias": -6.0},
        "runs": [
            {"schema": SCHEMAS[name][1], "schema_lang": SCHEMAS[name][0],
             "max_seq_len": length, "texts": SCHEMAS[name][2]}
            for name, length in RUNS
        ],
    }
    results = taskflow_job.run_taskflow(python, job, str(root))["results"]
    converted = conversion.convert_checkpoint(str(folder), str(root / "preset"), quiet=True)
    task = ErnieMInformationExtractor.from_preset(converted.output)
    return dict(zip(RUNS, results)), task.with_convention("paddlenlp")


differences = taskflow_job.differences
count_spans = taskflow_job.count_spans


@pytest.mark.parametrize("name,length", RUNS)
def test_extract_gives_taskflow_answers(reference, name, length):
    expected, task = reference
    lang, schema, texts = SCHEMAS[name]
    got = task.extract(texts, schema, schema_lang=lang, max_seq_len=length)
    problems = differences(got, expected[(name, length)])
    assert not problems, "\n".join(problems[:20])
    # The check has something to check: spans, relations, windows.
    theirs = expected[(name, length)]
    assert count_spans(theirs) > 10
    assert any("relations" in s for result in theirs for spans in result.values() for s in spans)


def test_the_settings_matter(reference):
    """Each part of the PaddleNLP convention changes the answers here; the
    corrected decoding differs from Taskflow only where its bugs bite."""
    expected, task = reference
    lang, schema, texts = SCHEMAS["zh"]
    theirs = expected[("zh", 128)]

    def spans_of(results):
        for result in results:
            for spans in result.values():
                for s in spans:
                    yield s
                    yield from spans_of([s.get("relations", {})])

    # Taskflow's empty spans from special positions are reproduced above.
    assert any(s["text"] == "" for run in expected.values() for s in spans_of(run))
    hugging_face = task.with_convention("transformers")
    assert differences(hugging_face.extract(texts, schema, max_seq_len=128, decoding="taskflow"), theirs)
    # [PAD] at its index instead of PaddleNLP's position 0.
    config = {**task.backbone.get_config(), "pad_position_id": None}
    indexed = type(task)(type(task.backbone).from_config(config), task.preprocessor, decoding="taskflow")
    indexed.set_weights(task.get_weights())
    assert differences(indexed.extract(texts, schema, max_seq_len=128), theirs)
    corrected = task.extract(texts, schema, max_seq_len=128, decoding="taskflow_corrected")
    assert differences(corrected, theirs)

    def check(results, text):
        for spans in results.values():
            for s in spans:
                assert s["text"], s  # no empty spans from special positions
                if "start" in s:
                    assert text[s["start"]: s["end"]] == s["text"]
                check(s.get("relations", {}), text)

    for result, text in zip(corrected, texts):
        check(result, text)


def test_windows_lose_no_character_when_corrected(reference):
    _, task = reference
    preprocessor = task.preprocessor
    prompt, text = "选手", "中国选手谷爱凌获得金牌" * 15  # one token per character
    # Taskflow: 128 - len(prompt) - 3 characters, one token too many for 4 specials.
    lost = preprocessor.character_windows([prompt], [text], [128 - len(prompt) - 3], 128)
    kept = preprocessor.character_windows([prompt], [text], [128 - len(prompt) - 4], 128)
    for features, missing in ((lost, True), (kept, False)):
        ends = [
            int(features["token_end"][w][features["in_text"][w]].max())
            for w in range(len(features["example_index"]))
        ]
        sizes = [len(t) for t in features["window_text"]]
        assert any(e < n for e, n in zip(ends, sizes)) == missing, (ends, sizes)
    # Every row is padded to the full length, with [CLS] masked and [PAD] attended.
    assert kept["token_ids"].shape[1] == 128
    mask = kept["padding_mask"][-1]
    assert mask[0] == 0 and mask[-1] == 1 and kept["token_ids"][-1, -1] == 1


def test_saved_model_finds_the_spans_extract_finds(reference, tmp_path):
    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("SavedModel export runs on TensorFlow or JAX")
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    from keras_encoders.export import export_saved_model

    _, task = reference
    lang, schema, _ = SCHEMAS["zh"]
    texts = [ZH, EN]
    found = task.extract(texts, schema, schema_lang=lang, max_seq_len=512)
    # Each (prompt, text) extract() asked in one window, with its answers:
    # the top-level types and the relations of their spans.
    cases = []
    for text, result in zip(texts, found):
        for name in ("选手", "时间"):
            cases.append((name, text, result.get(name, [])))
        for span in result.get("选手", []):
            for child in ("国籍", "年龄"):
                prompt = task.relation_prompt(span["text"], child, "zh")
                cases.append((prompt, text, span.get("relations", {}).get(child, [])))
    # A classification-style answer is a vote over windows, not one window's spans.
    cases = [c for c in cases if all("start" in s for s in c[2])]
    assert sum(len(c[2]) for c in cases) > 3
    export_saved_model(task, str(tmp_path / "uie"))
    serve = tf.saved_model.load(str(tmp_path / "uie")).signatures["serving_default"]
    out = serve(prompt=tf.constant([c[0] for c in cases]), text=tf.constant([c[1] for c in cases]))
    for r, (prompt, text, spans) in enumerate(cases):
        n = int(np.sum(out["span_start"][r].numpy() >= 0))
        served = [
            {"text": out["span_text"][r, k].numpy().decode(), "start": int(out["span_start"][r, k]),
             "end": int(out["span_end"][r, k]), "probability": float(out["span_probability"][r, k])}
            for k in range(n)
        ]
        spans = [{k: v for k, v in s.items() if k != "relations"} for s in spans]
        problems = differences(served, spans, f"{prompt}|{text[:10]}")
        assert not problems, problems
