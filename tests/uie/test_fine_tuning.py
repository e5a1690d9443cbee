"""Fine-tuning UIE-M on converted annotations, in `extract()`'s windows.

`training_data` must cut examples into the very rows `extract()` reads
(checked on the tiny extractor of the extractor tests), and `fit` must read
files in PaddleNLP's example format as they are (`fit("train.txt")`,
`validation_data="dev.txt"`), exactly as it trains on `training_data`'s
arrays, with bad files named. Then a doccano file is made from 100 MSRA NER
sentences (`../shared/assets/data`), converted as PaddleNLP does, and a tiny
random UIE-M in PaddleNLP's convention (the one the `uie_m_*` presets use)
is fitted on the `train.txt` written: its training-set span F1
(`uie.evaluate`) must rise far above the untrained model's, and `extract()`
must then find the entities.
"""

import json

import keras
import numpy as np
import pytest
import sentencepiece

from keras_encoders import uie
from keras_encoders.models import ErnieMBackbone
from keras_encoders.models import ErnieMInformationExtractor
from keras_encoders.models import ErnieMInformationExtractorPreprocessor
from keras_encoders.models import ErnieMTokenizer
from tests.conftest import asset
from tests.models.ernie_m.test_ernie_m_information_extractor import ZH
from tests.models.ernie_m.test_ernie_m_information_extractor import checkpoint  # noqa: F401 (fixture)
from tests.models.ernie_m.test_ernie_m_information_extractor import task  # noqa: F401 (fixture)

SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
TYPES = {"NR": "人名", "NS": "地名", "NT": "机构名"}
LENGTH = 48


def msra_doccano(path, count):
    """The first `count` short MSRA sentences with entities, as doccano lines."""
    lines = []
    with open(asset("data", "msra_ner", "dev.json"), encoding="utf-8") as f:
        for row in f:
            row = json.loads(row)
            chars, tags = row["text"], row["label"]
            if not 8 <= len(chars) <= 40 or all(t == "O" for t in tags):
                continue
            spans, start = [], None
            for i, tag in enumerate(tags + ["O"]):
                if tag[:1] in ("B", "S", "O") and start is not None:
                    spans.append([start, i, TYPES[tags[start][2:]]])
                    start = None
                if tag[:1] in ("B", "S"):
                    start = i
            lines.append({"text": "".join(chars), "label": spans})
            if len(lines) == count:
                break
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return lines


def tiny_uie_m(characters, num_layers=2, num_heads=4, hidden_dim=128, sequence_length=LENGTH):
    processor = sentencepiece.SentencePieceProcessor(model_file=asset(*SPM))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    vocab = head + [p for p in pieces if p not in head + ["[MASK]"]]
    vocab += [c for c in dict.fromkeys(characters) if c not in vocab] + ["[MASK]"]
    with open(asset(*SPM), "rb") as f:
        tokenizer = ErnieMTokenizer(proto=f.read(), vocabulary=vocab)
    keras.utils.set_random_seed(0)
    backbone = ErnieMBackbone(vocabulary_size=len(vocab), num_layers=num_layers, num_heads=num_heads,
                              hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim,
                              max_sequence_length=LENGTH, dropout=0.0,
                              attention_dropout=0.0)
    preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=sequence_length)
    return ErnieMInformationExtractor(backbone, preprocessor).with_convention("paddlenlp")


def long_example():
    # ZH = "中国选手谷爱凌获得金牌" (11 characters), three times; a span across
    # the first window edge (11) is left out of every window.
    results = [{"text": "谷爱凌", "start": 4 + 11 * k, "end": 7 + 11 * k} for k in range(3)]
    results.append({"text": ZH[9:] + ZH[:2], "start": 9, "end": 13})
    return {"content": ZH * 3, "prompt": "选手", "result_list": results}


def test_training_rows_are_extracts_windows(task):  # noqa: F811
    model = task.with_convention("paddlenlp")  # Taskflow's windows: 16 - 2 - 3 = 11 characters
    x, y = uie.training_data(model, [long_example()], max_seq_len=16)
    rows = model.preprocessor.character_windows(["选手"], [ZH * 3], [11], 16)
    np.testing.assert_array_equal(x["token_ids"], rows["token_ids"])
    assert x["token_ids"].shape == (3, 16)
    # [CLS] 选 手 [SEP] [SEP] 中 国 选 手 谷: 谷爱凌 is tokens 9..11 of each window.
    assert [np.flatnonzero(r).tolist() for r in y["start_logits"]] == [[9]] * 3
    assert [np.flatnonzero(r).tolist() for r in y["end_logits"]] == [[11]] * 3

    # Token windows ("tokens" decoding): the same spans, where their tokens are.
    x, y = uie.training_data(task, [long_example()], max_seq_len=16)
    features = task.preprocessor.windows(["选手"], [ZH * 3], sequence_length=16)
    np.testing.assert_array_equal(x["token_ids"], features["token_ids"])
    found = [(features["token_start"][r][a], features["token_end"][r][b])
             for r in range(len(y["start_logits"]))
             for a, b in zip(np.flatnonzero(y["start_logits"][r]), np.flatnonzero(y["end_logits"][r]))]
    # Windows of 10 text tokens (one per character): 谷爱凌 whole in three of
    # them; 金牌中国 (9..13) crosses the first edge and is in none.
    assert [(int(a), int(b)) for a, b in found] == [(4, 7), (15, 18), (26, 29)]

    with pytest.raises(ValueError, match="No examples"):
        uie.training_data(task, [])


def write_examples(path, examples):
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    return str(path)


def test_fit_reads_example_files_as_they_are(tmp_path):
    """`fit("train.txt", validation_data="dev.txt")` trains exactly as
    `fit(*training_data(...))`; `evaluate` takes the file, and a list of
    example dicts, as `fit` does."""
    train = write_examples(tmp_path / "train.txt", [long_example()])
    dev_example = {"content": ZH, "prompt": "选手", "result_list": [{"text": "谷爱凌", "start": 4, "end": 7}]}
    dev = write_examples(tmp_path / "dev.txt", [dev_example])
    model = tiny_uie_m(ZH + "选手", num_layers=1, num_heads=2, hidden_dim=32, sequence_length=16)
    initial = model.get_weights()
    x, y = uie.training_data(model, train)
    assert x["token_ids"].shape == (3, 16)  # three windows of one example

    def fitted(*args, **kwargs):
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(*args, batch_size=4, epochs=2, shuffle=False, verbose=0, **kwargs)
        return history.history, model.get_weights()

    from_arrays, weights = fitted(x, y, validation_data=uie.training_data(model, dev))
    from_files, file_weights = fitted(train, validation_data=dev)
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(from_files[name], from_arrays[name], rtol=1e-5)
    for a, b in zip(file_weights, weights):
        np.testing.assert_allclose(a, b, atol=1e-6)
    loss = model.evaluate(x, y, verbose=0)
    assert model.evaluate(train, verbose=0) == pytest.approx(loss, rel=1e-5)
    assert model.evaluate([long_example()], verbose=0) == pytest.approx(loss, rel=1e-5)


def test_fit_names_bad_example_files(tmp_path):
    model = tiny_uie_m(ZH + "选手")
    model.compile()
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file.*PaddleNLP's format"):
        model.fit(str(tmp_path / "missing.txt"))
    bad = write_examples(tmp_path / "bad.txt", [long_example(), {"content": ZH, "prompt": "选手",
                                                                 "result_list": [{"text": "中国", "start": 1, "end": 3}]}])
    with pytest.raises(uie.AnnotationError, match=r"bad.txt, line 2: result_list\[0\]: `text` '中国' "
                                                  r"is not the content's characters 1..3"):
        model.fit(bad)
    (tmp_path / "broken.txt").write_text('{"content": "x", "prompt": 3, "result_list": []}\n')
    with pytest.raises(uie.AnnotationError, match="broken.txt, line 1: `prompt` must be a string"):
        model.fit(tmp_path / "broken.txt", validation_data=bad)  # a pathlib.Path works too
    with pytest.raises(uie.AnnotationError, match="broken.txt, line 1"):
        model.fit([long_example()], validation_data=str(tmp_path / "broken.txt"))
    with pytest.raises(uie.AnnotationError, match=r"example 0: has no `prompt`"):
        model.fit([{"content": ZH, "result_list": []}])
    with pytest.raises(ValueError, match="`x` holds examples in PaddleNLP's format.*leave `y`"):
        model.fit([long_example()], {"start_logits": np.zeros((3, 48))})
    with pytest.raises(ValueError, match=r"predict\(\) takes .*uie.evaluate\(extractor, path\)"):
        model.predict(bad)


# ~15 s on TensorFlow on CI's CPUs; JAX (compiling) and torch take 2 to 10
# times that there: by default it runs on TensorFlow, elsewhere with --run-large.
@(pytest.mark.large if keras.config.backend() != "tensorflow" else lambda test: test)
def test_fine_tuned_uie_m_learns_msra_entities(tmp_path):
    lines = msra_doccano(tmp_path / "msra.jsonl", 100)
    examples = uie.convert_doccano(str(tmp_path / "msra.jsonl"), splits=[], negative_ratio=1)["train"]
    uie.save_examples({"train": examples}, str(tmp_path))
    characters = "".join(x["text"] for x in lines) + "".join(TYPES.values())
    model = tiny_uie_m(characters, num_layers=1, num_heads=2, hidden_dim=64)
    assert model.decoding == "taskflow" and model.preprocessor.convention == "paddlenlp"
    train = str(tmp_path / "train.txt")
    before = uie.evaluate(model, train, max_seq_len=LENGTH)["all_classes"]
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train, batch_size=16, epochs=20, verbose=0)
    after = uie.evaluate(model, train, max_seq_len=LENGTH, debug=True)
    # Measured: before 0.004 to 0.01; after 0.56 to 0.63 on TensorFlow, JAX
    # and torch (215 examples, 280 steps; far fewer steps learn nothing).
    assert after["all_classes"]["f1"] > 0.4 and after["all_classes"]["f1"] > before["f1"] + 0.35
    assert all(after[name]["f1"] > 0 for name in TYPES.values())
    # `extract()` (Taskflow's windows and decoding) finds the gold entities.
    texts = [x["text"] for x in lines[:20]]
    gold = {(k, label, text[a:b]) for k, text in enumerate(texts) for a, b, label in lines[k]["label"]}
    found = {(k, name, span["text"]) for k, result in enumerate(model.extract(texts, list(TYPES.values())))
             for name, spans in result.items() for span in spans}
    # Measured: 9, 10 and 14 of the 23 (torch, TensorFlow, JAX).
    assert len(gold & found) > 0.25 * len(gold)


def test_tuned_model_reloads_in_its_convention(tmp_path):
    """Fit on converted examples in PaddleNLP's convention, save, reload: the
    convention and the decoding come back, and so do the answers."""
    model = tiny_uie_m(ZH + "选手")
    x, y = uie.training_data(model, [long_example()], max_seq_len=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model.save_to_preset(str(tmp_path / "tuned"))
    loaded = ErnieMInformationExtractor.from_preset(str(tmp_path / "tuned"))
    assert loaded.decoding == "taskflow" and loaded.preprocessor.convention == "paddlenlp"
    expected, got = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in ("start_logits", "end_logits"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5)
    texts, schema = [ZH * 3], ["选手"]
    assert loaded.extract(texts, schema, threshold=0.05, max_seq_len=16) == model.extract(
        texts, schema, threshold=0.05, max_seq_len=16
    )
