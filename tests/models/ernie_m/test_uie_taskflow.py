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
texts, at `max_seq_len` 512 and 128. The exported SavedModel, asked one
schema type per request, must give Taskflow's answers on the windowed texts
too.

Back to Paddle: in the same PaddleNLP process, Taskflow also runs on a
folder `export_to_paddlenlp` wrote for a UIE-M made here, and must answer as
that extractor's `extract()` does, on the same texts and schemas. Its
weights are drawn with NumPy, so it is the same model on every backend, and
`extract()` is checked against Taskflow on each backend above: this check
runs on one backend (`EXPORT_BACKEND`; the writer's own tests run on all).

Without the venv the tests skip, except under CI (`CI=true`), where they fail.
"""

import keras
import pytest
import tensorflow as tf

from keras_encoders import export_to_paddlenlp
from keras_encoders.convert import conversion
from keras_encoders.models import ErnieMInformationExtractor
from tests.conftest import asset, missing_reference
from tests.paddle_reference import taskflow_job
from tests.tiny_models import tiny_uie_m

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
# Sibling types of one name, at the top and below it: Taskflow gives the
# answers to a type's child prompts to the j-th span found under that name
# there, which is the first copy of a span, or a span of another subject.
REPEATED = ("ch", ["时间", {"选手": ["国籍", {"国籍": ["年龄"]}]}, {"时间": ["选手"]}, {"选手": ["年龄"]}],
            [ZH, ZH_LONG])
EXPORT_BACKEND = "tensorflow"


def paddle_python():
    """The paddle reference venv's python, or skip (fail under CI)."""
    python = taskflow_job.venv_python()
    if python is None:
        missing_reference(
            "No PaddleNLP reference venv: build it with "
            "tests/paddle_reference/setup_venv.sh (or point "
            "KERAS_ENCODERS_PADDLE_VENV at one)."
        )
    return python


@pytest.fixture(scope="module")
def taskflow(tmp_path_factory):
    """Taskflow's results per run on two folders, in one PaddleNLP process:
    `"paddle"`, a `UIEM` PaddleNLP writes itself, and `"exported"`, a UIE-M
    made here (weights drawn with NumPy) and written by
    `export_to_paddlenlp`, with the same tokenizer files. Returns
    `{name: (folder, {run: results})}` and the extractor exported (both
    `None` off `EXPORT_BACKEND`)."""
    python = paddle_python()
    root = tmp_path_factory.mktemp("uie_taskflow")
    folder = root / "uie_m_tiny"
    vocab_size = taskflow_job.write_tokenizer_files(str(folder), asset(*SPM), CJK)
    folders = [{"path": str(folder),
                "model": {"vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "seed": 0, "head_scale": 35.0, "head_bias": -6.0}}]
    made_here = exported = None
    if keras.backend.backend() == EXPORT_BACKEND:
        tokens = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
        made_here = tiny_uie_m(asset(*SPM), tokens, hidden_dim=32, num_layers=2, num_heads=4, seed=1,
                               head_scale=35.0, head_bias=-15.0)
        exported = export_to_paddlenlp(made_here, str(root / "exported"))
        folders.append({"path": exported})
    job = {
        "folders": folders,
        "runs": [
            {"schema": SCHEMAS[name][1], "schema_lang": SCHEMAS[name][0],
             "max_seq_len": length, "texts": SCHEMAS[name][2]}
            for name, length in RUNS
        ] + [{"schema": REPEATED[1], "schema_lang": REPEATED[0], "max_seq_len": 128, "texts": REPEATED[2]}],
    }
    paddle, *ours = taskflow_job.run_taskflow(python, job, str(root))
    return {"paddle": (str(folder), dict(zip(RUNS + [("repeated", 128)], paddle["results"]))),
            "exported": (exported, dict(zip(RUNS, ours[0]["results"])) if ours else None)}, made_here


@pytest.fixture(scope="module")
def reference(taskflow, tmp_path_factory):
    """(Taskflow's results per run, our Taskflow-mode extractor) for the
    folder PaddleNLP wrote, converted here."""
    folder, results = taskflow[0]["paddle"]
    output = str(tmp_path_factory.mktemp("uie_taskflow_preset") / "preset")
    converted = conversion.convert_checkpoint(folder, output, quiet=True)
    task = ErnieMInformationExtractor.from_preset(converted.output)
    return results, task.with_convention("paddlenlp")


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


def test_sibling_types_of_one_name_give_taskflow_answers(reference):
    expected, task = reference
    lang, schema, texts = REPEATED
    theirs = expected[("repeated", 128)]
    got = task.extract(texts, schema, schema_lang=lang, max_seq_len=128)
    problems = differences(got, theirs)
    assert not problems, "\n".join(problems[:20])
    # Each repeated type found spans twice over, and their child types found
    # answers: a subject with several spans, so that answers can cross over.
    for result in theirs:
        for name in ("时间", "选手"):
            assert len(result[name]) >= 4 and any("relations" in s for s in result[name])
    assert any("年龄" in n.get("relations", {}) for result in theirs
               for s in result["选手"] for n in s.get("relations", {}).get("国籍", []))
    # The other decodings give each span the answers to its own prompts:
    # the first "选手" type's children to the first copies, the second's to
    # the second.
    corrected = task.extract(texts, schema, schema_lang=lang, max_seq_len=128, decoding="taskflow_corrected")
    for result in corrected:
        spans = result["选手"]
        half = len(spans) // 2
        assert [s["text"] for s in spans[:half]] == [s["text"] for s in spans[half:]]
        assert {k for s in spans[:half] for k in s.get("relations", {})} == {"国籍"}
        assert {k for s in spans[half:] for k in s.get("relations", {})} == {"年龄"}


@pytest.mark.parametrize("name,length", RUNS)
def test_taskflow_on_an_exported_folder_answers_as_extract(taskflow, name, length):
    """Back to Paddle: a UIE-M made here, written by `export_to_paddlenlp`
    (no paddle involved) and loaded by `Taskflow(task_path=...)`, answers as
    `extract()` in the Taskflow decoding: the same spans, relations and
    order, probabilities within 1e-5."""
    folders, made_here = taskflow
    if made_here is None:
        pytest.skip(f"the exported model is the same on every backend: checked on {EXPORT_BACKEND}")
    _, expected = folders["exported"]
    lang, schema, texts = SCHEMAS[name]
    got = made_here.extract(texts, schema, schema_lang=lang, max_seq_len=length, decoding="taskflow")
    problems = differences(got, expected[(name, length)])
    assert not problems, "\n".join(problems[:20])
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


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_saved_model_gives_taskflow_answers_on_long_texts(reference, name, tmp_path):
    """The SavedModel, asked as `extract()` asks (one schema type per
    request: the top-level types, then each relation's prompts built from
    the spans found), gives Taskflow's answers on windowed texts at
    `max_seq_len` 128."""
    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("SavedModel export runs on TensorFlow or JAX")
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    from keras_encoders.export import export_saved_model

    expected, task = reference
    lang, schema, texts = SCHEMAS[name]
    theirs = expected[(name, 128)]
    export_saved_model(task, str(tmp_path / "uie"), max_seq_len=128)
    serve = tf.saved_model.load(str(tmp_path / "uie")).signatures["serving_default"]

    def ask(prompts, strings):
        out = serve(prompt=tf.constant(prompts), text=tf.constant(strings))
        found = []
        for r in range(len(prompts)):
            spans = []
            for k in range(int(out["span_count"][r])):
                span = {"text": out["span_text"][r, k].numpy().decode(),
                        "probability": float(out["span_probability"][r, k])}
                if not (out["span_voted"][r, k] or out["span_in_prompt"][r, k]):
                    span.update(start=int(out["span_start"][r, k]), end=int(out["span_end"][r, k]))
                spans.append(span)
            found.append(spans)
        return found

    (subject, children), other = next(iter(schema[0].items())), schema[1]
    problems, checked = [], 0
    for prompt in (subject, other):
        for text, spans, result in zip(texts, ask([prompt] * len(texts), texts), theirs):
            want = [{k: v for k, v in s.items() if k != "relations"} for s in result.get(prompt, [])]
            problems += differences(spans, want, f"{prompt}|{text[:10]}")
            checked += len(want)
    for child in children:
        asked = [(text, s) for text, result in zip(texts, theirs) for s in result.get(subject, [])]
        prompts = [task.relation_prompt(s["text"], child, lang) for _, s in asked]
        for (text, s), spans in zip(asked, ask(prompts, [t for t, _ in asked])):
            want = s.get("relations", {}).get(child, [])
            problems += differences(spans, want, f"{child} of {s['text']}|{text[:10]}")
            checked += len(want)
    assert not problems, problems[:20]
    assert checked > 10
