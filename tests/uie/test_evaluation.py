"""Span evaluation: SpanEvaluator's numbers, PaddleNLP's types, a model's scores.

The counting is checked live against `paddlenlp.metrics.SpanEvaluator` (in
the paddle reference venv, as the annotation tests) on the same predicted
probabilities and gold 0/1 vectors, batch after batch; the per-type grouping
and the model-driven path are checked on a tiny UIE-M whose logits the test
decides (the `Oracle` of the extractor tests).
"""

import io
import json
import os
import subprocess
from contextlib import redirect_stdout

import numpy as np
import pytest

from keras_encoders import uie
from keras_encoders.uie import cli
from keras_encoders.uie import evaluation
from keras_encoders.uie import metrics
from tests.models.ernie_m.test_ernie_m_information_extractor import Oracle
from tests.models.ernie_m.test_ernie_m_information_extractor import checkpoint  # noqa: F401 (fixture)
from tests.models.ernie_m.test_ernie_m_information_extractor import task  # noqa: F401 (fixture)
from tests.models.ernie_m.test_uie_taskflow import paddle_python

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tests", "paddle_reference", "uie_data.py")


def metric_batches():
    """Probabilities away from 0.5 (no float32 ties), overlapping gold spans,
    empty rows, and a batch predicted exactly."""
    rng = np.random.default_rng(0)
    batches = []
    for b in range(5):
        probs = rng.choice([0.1, 0.3, 0.7, 0.9], size=(2, 6, 20), p=[0.45, 0.4, 0.1, 0.05])
        # Half of the gold positions are predicted ones: partly right.
        gold = np.where(rng.random((2, 6, 20)) < 0.5, probs > 0.5, rng.random((2, 6, 20)) < 0.1)
        gold = gold.astype("float32")
        if b == 3:
            gold[:] = 0
        if b == 4:
            gold = (probs > 0.5).astype("float32")
        batches.append([probs[0].tolist(), probs[1].tolist(), gold[0].tolist(), gold[1].tolist()])
    return batches


def ours(batches):
    total, out = metrics.SpanCounts(), []
    for start_probs, end_probs, gold_starts, gold_ends in batches:
        for row in zip(start_probs, end_probs, gold_starts, gold_ends):
            total.add(metrics.span_counts(*[np.flatnonzero(np.asarray(x) > 0.5).tolist() for x in row]))
        out.append([total.correct, total.inferred, total.labelled, *total.scores()])
    return out


def test_counts_and_scores_are_span_evaluators(tmp_path):
    python = paddle_python()
    batches = metric_batches()
    (tmp_path / "job.json").write_text(json.dumps({"metric": batches}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KERAS_"))}
    done = subprocess.run([python, DRIVER, str(tmp_path / "job.json"), str(tmp_path / "out.json")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    theirs = json.loads((tmp_path / "out.json").read_text())["metric"]
    mine = ours(batches)
    assert mine == theirs  # counts and P/R/F1, exactly
    # The fixture is not trivial: some wrong, some right, overlaps counted.
    assert 0 < theirs[2][0] < min(theirs[2][1:3]) and theirs[-1][0] > theirs[3][0]


def test_pairing_and_counts_by_hand():
    # get_span's example: starts [1, 2, 10], ends [4, 12] -> (2, 4), (10, 12).
    assert metrics.pair_positions([1, 2, 10], [4, 12]) == {(2, 4), (10, 12)}
    # Gold spans (2, 4) and (2, 6) share a start: 2 labelled (ends), but only
    # the pair (2, 4) can be found; (3, 6) is the pair predicted from 2, 3 and 6.
    assert metrics.span_counts([2], [4], [2, 2], [4, 6]) == (1, 1, 2)
    assert metrics.span_counts([3, 2], [6], [2, 2], [4, 6]) == (0, 1, 2)
    assert metrics.span_counts([], [], [], []) == (0, 0, 0)
    assert metrics.SpanCounts().scores() == (0.0, 0.0, 0.0)
    assert metrics.SpanCounts(1, 2, 4).scores() == pytest.approx((0.5, 0.25, 1 / 3))


def test_types_as_paddlenlp_debug():
    def ex(prompt, spans=1):
        return {"content": "x", "prompt": prompt, "result_list": [{"start": 0, "end": 1}] * spans}

    examples = [ex("时间"), ex("时间"), ex("选手", 0), ex("情感倾向[负向,正向]"), ex("情感倾向[正向,负向]"),
                ex("谷爱凌的国籍"), ex("苏翊鸣的国籍"), ex("谷爱凌的年龄"), ex("谷爱凌的年龄")]
    groups = metrics.type_groups(examples)
    assert list(groups) == ["时间", "情感倾向[正向,负向]", "国籍", "年龄"]
    assert [len(v) for v in groups.values()] == [2, 2, 2, 1]  # a repeated relation prompt is dropped, as there
    en = [ex("Company of Steve"), ex("Company of Tim"), ex("Time of Steve"), ex("Person")]
    assert {k: len(v) for k, v in metrics.type_groups(en, "en").items()} == {"Person": 1, "Company": 2, "Time": 1}


def test_reader_cuts_long_examples_around_spans():
    content = "甲乙丙丁戊己庚辛壬癸" * 3
    example = {"content": content, "prompt": "选手",
               "result_list": [{"text": content[6:9], "start": 6, "end": 9},
                               {"text": content[20:22], "start": 20, "end": 22}]}
    pieces = evaluation.split_example(example, max_seq_len=13)  # 8 characters a piece
    assert "".join(p["content"] for p in pieces) == content
    assert [len(p["content"]) for p in pieces] == [6, 8, 8, 8]  # cut back to 6: no span split
    for piece in pieces:
        for r in piece["result_list"]:
            assert piece["content"][r["start"]:r["end"]] == r["text"]
    assert sum(len(p["result_list"]) for p in pieces) == 2
    assert example["result_list"][0]["start"] == 6  # the caller's example is untouched
    with pytest.raises(ValueError, match="max_seq_len=5 leaves no room"):
        evaluation.split_example(example, max_seq_len=5)


ZH = "中国选手谷爱凌获得金牌"
PROMPT = "情感倾向[正向,负向]"


def examples_file(tmp_path):
    examples = [
        {"content": ZH, "prompt": "选手", "result_list": [{"text": "谷爱凌", "start": 4, "end": 7}]},
        {"content": ZH, "prompt": "国籍", "result_list": []},
        {"content": ZH * 3, "prompt": "选手", "result_list": [
            {"text": "谷爱凌", "start": 4 + 11 * k, "end": 7 + 11 * k} for k in range(3)]},
        {"content": ZH[4:], "prompt": PROMPT, "result_list": [
            {"text": "正向", "start": PROMPT.rfind("正向") - len(PROMPT) - 1,
             "end": PROMPT.rfind("正向") - len(PROMPT) + 1}]},
    ]
    path = tmp_path / "dev.txt"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    return str(path)


def test_model_scores_with_known_logits(task, tmp_path):  # noqa: F811
    model = Oracle(backbone=task.backbone, preprocessor=task.preprocessor)
    path = examples_file(tmp_path)
    # Finds every 谷爱凌 (right) and 金牌 (wrong), and 正向 in the prompt.
    model.rules = {"选手": [("谷爱凌", 0.9, 0.9, "text"), ("金牌", 0.9, 0.9, "text")],
                   PROMPT: [("正向", 0.9, 0.8, "prompt")]}
    report = uie.evaluate(model, path, max_seq_len=24, debug=True)
    # 24 tokens: the long text is read in pieces of 24 - 2 - 3 characters.
    assert report["all_classes"] == {"precision": 5 / 9, "recall": 1.0, "f1": pytest.approx(2 * (5 / 9) / (14 / 9)),
                                     "correct": 5, "inferred": 9, "labelled": 5}
    assert report["选手"]["correct"] == 4 and report["选手"]["inferred"] == 8
    assert report["情感倾向[正向,负向]"]["precision"] == 1.0
    assert "国籍" not in report  # negatives are not a type (as --debug)
    model.rules = {"时间": [("谷爱凌", 0.9, 0.9, "text")]}  # no example asks for 时间: nothing found
    assert uie.evaluate(model, path, max_seq_len=24)["all_classes"]["f1"] == 0.0


def test_command_line_evaluates_a_saved_preset(task, tmp_path):  # noqa: F811
    path = examples_file(tmp_path)
    task.save_to_preset(str(tmp_path / "preset"))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["evaluate", "--model_path", str(tmp_path / "preset"), "--test_path", path,
                         "--max_seq_len", "32", "--debug", "--limit", "0.3"]) == 0
    printed = json.loads(out.getvalue().strip().splitlines()[-1])
    expected = uie.evaluate(task, path, max_seq_len=32, debug=True, limit=0.3)
    assert printed == expected
    assert "Class Name: 选手" in out.getvalue()


def test_bad_example_files(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text(json.dumps({"content": "北京", "prompt": "地点", "result_list": [{"start": 0, "end": 3}]}) + "\n")
    with pytest.raises(uie.AnnotationError, match=r"bad.txt, line 1: result_list\[0\]: offsets 0..3"):
        uie.read_examples(str(bad))
    bad.write_text(json.dumps({"content": "北京", "result_list": []}) + "\n")
    assert cli.main(["evaluate", "--model_path", "unused", "--test_path", str(bad)]) == 2
    assert "line 1: has no `prompt`" in capsys.readouterr().err
