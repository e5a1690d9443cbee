"""Annotation import against PaddleNLP 2.8.1, live.

doccano and Label Studio fixtures are built here (entities, relations, an
event, opinions with sentiment, classification projects, Chinese and English
schemas) and converted both by this package and, in a subprocess of the
paddle reference venv, by PaddleNLP (`tests/paddle_reference/uie_data.py`).
Every split must match example for example, negatives and their order
included, for the same seed. Bad files must fail with the line and field
named. Without the venv the live tests skip, except under CI.
"""

import json
import os
import subprocess

import pytest

from keras_encoders import uie
from keras_encoders.uie import annotations
from tests.models.ernie_m.test_uie_taskflow import paddle_python

# Annotation import is pure Python, the same under every backend.
pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tests", "paddle_reference", "uie_data.py")

PEOPLE = ["谷爱凌", "苏翊鸣", "武大靖", "任子威", "徐梦桃", "齐广璞", "高亭宇", "范可新"]
PLACES = ["北京", "张家口", "延庆", "崇礼"]
EVENTS = ["大跳台", "单板滑雪", "短道速滑", "空中技巧"]


def zh_record(k):
    """A text with entities, relations, an event and an opinion; (text,
    entities [(id, start, end, label)], relations [(from, to, type)])."""
    person, place, event = PEOPLE[k % 8], PLACES[k % 4], EVENTS[(k // 2) % 4]
    parts, entities = [], []

    def add(piece, label=None):
        start = sum(map(len, parts))
        parts.append(piece)
        if label:
            entities.append((len(entities), start, start + len(piece), label))
            return len(entities) - 1

    t = add(f"{k + 1}月{k + 3}日", "时间")
    add("，")
    p = add(person, "选手")
    add("在")
    w = add(place, "地点")
    add("获得")
    e = add(event, "项目") if k % 3 else add(event)
    add("冠军")
    win = add("夺冠", "夺冠事件")
    relations = [(p, w, "比赛地点"), (win, p, "夺冠者"), (win, t, "夺冠时间")]
    if k % 3:
        relations.append((p, e, "参赛项目"))
    add("，表现")
    aspect = add("表现力", "评价维度##" + ("正向" if k % 2 else "负向"))
    add("很")
    opinion = add("出色" if k % 2 else "一般", "观点")
    relations.append((aspect, opinion, "观点"))
    if k % 4 == 0:
        relations = []  # texts with entities only
    return "".join(parts), entities, relations


EN_PEOPLE = ["Steve", "Tim", "Ada", "Linus", "Grace", "Ken"]
EN_ORGS = ["Apple", "Google", "Nokia"]


def en_record(k):
    person, org = EN_PEOPLE[k % 6], EN_ORGS[k % 3]
    text = f"In {1990 + k}, {person} joined {org} as CEO."
    year = text.index(str(1990 + k))
    p, o = text.index(person), text.index(org)
    entities = [(0, year, year + 4, "Time"), (1, p, p + len(person), "Person"),
                (2, o, o + len(org), "Company")]
    relations = [(1, 2, "Company"), (1, 0, "Time")] if k % 3 else []
    return text, entities, relations


def doccano_line(record, layout):
    text, entities, relations = record
    if layout == "triples":
        return {"text": text, "label": [[a, b, c] for _, a, b, c in entities]}
    return {
        "text": text,
        "entities": [{"id": i, "start_offset": a, "end_offset": b, "label": c} for i, a, b, c in entities],
        "relations": [{"id": n, "from_id": f, "to_id": t, "type": r} for n, (f, t, r) in enumerate(relations)],
    }


def label_studio_task(k, record):
    """Label Studio's labels: "观点词" for opinions, and "属性值" (which
    PaddleNLP makes no entity examples of) for the events' items."""
    text, entities, relations = record
    names = {"观点": "观点词", "项目": "属性值"}
    result = [{"id": f"e{k}-{i}", "type": "labels", "from_name": "label", "to_name": "text",
               "value": {"start": a, "end": b, "text": text[a:b],
                         "labels": [names.get(c, c)]}}
              for i, a, b, c in entities]
    result += [{"from_id": f"e{k}-{f}", "to_id": f"e{k}-{t}", "type": "relation", "direction": "right",
                "labels": [r]} for f, t, r in relations]
    return {"id": 100 + k, "data": {"text": text}, "annotations": [{"id": k, "result": result}]}


SENTIMENTS = ["正向", "负向", "中性"]


def classification_texts(n):
    return [(f"第{k}条评论：这家店的服务{'很好' if k % 3 == 0 else '一般'}。", SENTIMENTS[k % 3]) for k in range(n)]


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return str(path)


def fixtures(folder):
    """(kind, file, args) for every conversion checked."""
    zh = [zh_record(k) for k in range(14)]
    en = [en_record(k) for k in range(9)]
    files = {
        "doccano_zh": write(folder / "zh.jsonl", "".join(
            json.dumps(doccano_line(r, "triples" if k == 5 else "relations"), ensure_ascii=False) + "\n"
            for k, r in enumerate(zh))),
        "doccano_en": write(folder / "en.jsonl", "".join(
            json.dumps(doccano_line(r, "relations")) + "\n" for r in en)),
        "doccano_cls": write(folder / "cls.jsonl", "".join(
            json.dumps({"text": t, "label": [c]}, ensure_ascii=False) + "\n" for t, c in classification_texts(10))),
        "ls_zh": write(folder / "zh.json", json.dumps(
            [label_studio_task(k, r) for k, r in enumerate(zh)], ensure_ascii=False)),
        "ls_en": write(folder / "en.json", json.dumps([label_studio_task(k, r) for k, r in enumerate(en)])),
        "ls_cls": write(folder / "cls.json", json.dumps([
            {"id": k, "data": {"text": t}, "annotations": [{"result": [
                {"type": "choices", "value": {"choices": [c]}}]}]}
            for k, (t, c) in enumerate(classification_texts(10))], ensure_ascii=False)),
    }
    base = {"negative_ratio": 5, "splits": [0.6, 0.2, 0.2], "task_type": "ext", "options": ["正向", "负向"],
            "prompt_prefix": "情感倾向", "is_shuffle": True, "seed": 1000, "separator": "##", "schema_lang": "ch"}
    cls = {**base, "task_type": "cls", "options": SENTIMENTS}
    return [
        ("doccano", files["doccano_zh"], base),
        ("doccano", files["doccano_zh"], {**base, "negative_ratio": 2, "seed": 7}),
        ("doccano", files["doccano_zh"], {**base, "splits": [], "negative_ratio": 1}),
        ("doccano", files["doccano_en"], {**base, "schema_lang": "en", "negative_ratio": 3,
                                          "prompt_prefix": "Sentiment"}),
        ("doccano", files["doccano_cls"], cls),
        ("label_studio", files["ls_zh"], base),
        ("label_studio", files["ls_zh"], {**base, "negative_ratio": 1, "seed": 3}),
        ("label_studio", files["ls_en"], {**base, "schema_lang": "en", "negative_ratio": 3}),
        ("label_studio", files["ls_cls"], {**cls, "splits": [0.5, 0.3, 0.2]}),
    ]


def ours(kind, path, args):
    convert = uie.convert_doccano if kind == "doccano" else uie.convert_label_studio
    return convert(path, **args)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    python = paddle_python()
    folder = tmp_path_factory.mktemp("uie_data")
    runs = fixtures(folder)
    job = {"conversions": [{"kind": k, "file": f, "args": a} for k, f, a in runs]}
    (folder / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KERAS_"))}
    done = subprocess.run([python, DRIVER, str(folder / "job.json"), str(folder / "out.json")],
                          cwd=str(folder), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    theirs = json.loads((folder / "out.json").read_text(encoding="utf-8"))["conversions"]
    return list(zip(runs, theirs))


@pytest.mark.parametrize("run", range(9))
def test_examples_match_paddlenlp(reference, run):
    (kind, path, args), theirs = reference[run]
    mine = ours(kind, path, args)
    assert sorted(mine) == sorted(theirs)
    for split in theirs:
        a, b = mine[split], theirs[split]
        positives = [e for e in b if e["result_list"]]
        # Positives first (the clearest failure), then everything in order.
        assert [e for e in a if e["result_list"]] == positives, split
        assert a == b, split
        # PaddleNLP's own files pass the checks `fit("train.txt")` and
        # `read_examples` make: files converted there are kept as they are.
        for k, example in enumerate(b):
            annotations.check_example(example, f"{split} example {k}")
    # The fixtures exercise what they claim to: positives, negatives and
    # classification prompts in every split; relations where there are some.
    everything = [e for split in theirs.values() for e in split]
    assert all(theirs[s] for s in theirs)
    if args["task_type"] == "ext":
        assert any(not e["result_list"] for e in theirs["train"])
        joiner = "的" if args["schema_lang"] == "ch" else " of "
        assert any(joiner in e["prompt"] and e["result_list"] for e in everything)
        if args["schema_lang"] == "ch":
            assert any("[" in e["prompt"] for e in everything)
    else:
        assert all(e["result_list"][0]["start"] < 0 for e in everything)


def test_training_negatives_are_sampled_and_seeded(tmp_path):
    """With a small ratio not all negatives are kept, and the seed decides
    which (the live test then shows they are PaddleNLP's)."""
    path = fixtures(tmp_path)[0][1]
    args = {"negative_ratio": 1, "splits": [1.0, 0.0, 0.0]}
    full = uie.convert_doccano(path, negative_ratio=-1, splits=[1.0, 0.0, 0.0], is_shuffle=False)["train"]
    a = uie.convert_doccano(path, seed=1, is_shuffle=False, **args)["train"]
    b = uie.convert_doccano(path, seed=2, is_shuffle=False, **args)["train"]
    negatives = [[json.dumps(e, ensure_ascii=False) for e in x if not e["result_list"]] for x in (full, a, b)]
    assert len(negatives[1]) < len(negatives[0])
    assert negatives[1] != negatives[2]
    assert a == uie.convert_doccano(path, seed=1, is_shuffle=False, **args)["train"]


def test_command_line_writes_paddlenlp_files(tmp_path):
    path = fixtures(tmp_path)[0][1]
    out = tmp_path / "out"
    from keras_encoders.uie import cli
    cli.main(["doccano", "--doccano_file", path, "--save_dir", str(out), "--splits", "0.6", "0.2", "0.2",
              "--negative_ratio", "5", "--seed", "1000"])
    expected = uie.convert_doccano(path, splits=[0.6, 0.2, 0.2])
    for split in ("train", "dev", "test"):
        lines = (out / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == expected[split]
    index = json.loads((out / "sample_index.json").read_text())
    assert sorted(index["train_ids"] + index["dev_ids"] + index["test_ids"]) == list(range(14))
    assert uie.read_examples(str(out / "train.txt")) == expected["train"]


BAD_DOCCANO = [
    ({"text": "北京", "label": [[0, 5, "地点"]]}, "line 2: entity 0 ('地点'): offsets 0..5 are out of range"),
    ({"text": "北京", "label": [[1, 1, "地点"]]}, "line 2: entity 0 ('地点'): offsets 1..1 are out of range"),
    ({"text": "北京张家口", "label": [[0, 2, "地点"], [1, 3, "地点"]]}, "line 2: entity 1 ('地点') at 1..3 overlaps"),
    ({"text": "  ", "label": []}, "line 2: `text` is empty"),
    ({"text": "北京", "entities": [{"id": 0, "start_offset": 0, "end_offset": 2, "label": "地点"}],
      "relations": [{"id": 0, "from_id": 0, "to_id": 9, "type": "位于"}]},
     "line 2: relation 0 ('位于'): `to_id` 9 is not the id of an entity"),
    ({"text": "北京", "entities": [{"id": 0, "start_offset": 0, "label": "地点"}], "relations": []},
     "line 2: entity 0 has no `end_offset`"),
    ({"text": "北京", "label": [[0, 2, "地点##很好"]]}, "line 2: class '很好' is not one of the options"),
    # Wrong types where objects, lists or ids belong (found by mutating good
    # lines; they raised TypeError, AttributeError or KeyError).
    ({"text": "北京", "entities": None, "relations": []}, "line 2: `entities` must be a list, got NoneType"),
    ({"text": "北京", "entities": [None], "relations": []}, "line 2: `entity 0` must be a JSON object, got NoneType"),
    ({"text": "北京", "entities": [{"id": [1], "start_offset": 0, "end_offset": 2, "label": "地点"}], "relations": []},
     "line 2: `entity 0.id` must be a string or an integer id, got [1]"),
    ({"text": "北京", "entities": [{"id": 0, "start_offset": 0, "end_offset": 2, "label": "地点"}], "relations": [1]},
     "line 2: `relation 0` must be a JSON object, got int"),
    ({"text": "北京", "entities": [{"id": 0, "start_offset": 0, "end_offset": 2, "label": "地点"}],
      "relations": [{"id": 0, "from_id": [0], "to_id": 0, "type": "位于"}]},
     "line 2: `relation 0.from_id` must be a string or an integer id, got [0]"),
    ({"data": "北京", "label": {"entities": 5, "relations": []}}, "line 2: `label.entities` must be a list, got int"),
]


@pytest.mark.parametrize("bad, message", BAD_DOCCANO)
def test_bad_doccano_lines_are_named(tmp_path, bad, message):
    good = {"text": "上海", "label": [[0, 2, "地点"]]}
    path = write(tmp_path / "bad.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in (good, bad)))
    with pytest.raises(uie.AnnotationError, match="bad.jsonl, " + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("`", "`")):
        uie.convert_doccano(path, splits=[])


def test_bad_label_studio_tasks_are_named(tmp_path):
    good = label_studio_task(0, zh_record(1))
    unknown = json.loads(json.dumps(good))
    unknown["annotations"][0]["result"][-1]["to_id"] = "nowhere"
    empty = {"id": 7, "data": {"text": ""}, "annotations": [{"result": []}]}
    image = {"id": 8, "data": {"image": "a.png"}, "annotations": [{"result": []}]}
    def changed(edit):
        task = json.loads(json.dumps(good))
        edit(task["annotations"][0]["result"])
        return task

    not_an_object = dict(good, annotations=[[0, 2, "地点"]])
    cases = [
        (unknown, r"task 1 \(id 100\): relation \d+ \('观点'\): `to_id` 'nowhere' is not the id"),
        (not_an_object, r"task 1 \(id 100\): `annotations\[0\]` must be a JSON object, got list"),
        (changed(lambda r: r.append("x")), r"`annotations\[0\]\.result\[\d+\]` must be a JSON object, got str"),
        (changed(lambda r: r[0]["value"].update(labels={"a": 1})),
         r"`annotations\[0\]\.result\[0\]\.value\.labels` must be a non-empty list of names"),
        (changed(lambda r: r[-1].update(to_id=["a"])),
         r"`annotations\[0\]\.result\[\d+\]\.to_id` must be a string or an integer id, got \['a'\]"),
        (empty, r"task 1 \(id 7\): `data.text` is empty"),
        (image, r"task 1 \(id 8\): is an image task"),
    ]
    for bad, message in cases:
        path = write(tmp_path / "bad.json", json.dumps([good, bad], ensure_ascii=False))
        with pytest.raises(uie.AnnotationError, match=message):
            uie.convert_label_studio(path, splits=[], is_shuffle=False)


def test_bad_arguments(tmp_path):
    path = fixtures(tmp_path)[0][1]
    with pytest.raises(ValueError, match="add up to 1"):
        uie.convert_doccano(path, splits=[0.5, 0.2, 0.2])
    with pytest.raises(ValueError, match="three ratios"):
        uie.convert_doccano(path, splits=[0.5, 0.5])
    with pytest.raises(ValueError, match="schema_lang"):
        uie.convert_doccano(path, schema_lang="fr")
    with pytest.raises(ValueError, match="task_type"):
        annotations.read_doccano(path, task_type="rel")


def test_command_line_reports_bad_files(tmp_path, capsys):
    from keras_encoders.uie import cli
    path = write(tmp_path / "bad.jsonl", json.dumps({"text": "北京", "label": [[0, 9, "地点"]]}) + "\n")
    assert cli.main(["doccano", "--doccano_file", path, "--save_dir", str(tmp_path / "out")]) == 2
    assert "bad.jsonl, line 1: entity 0 ('地点'): offsets 0..9 are out of range" in capsys.readouterr().err
    assert not (tmp_path / "out" / "train.txt").exists()
