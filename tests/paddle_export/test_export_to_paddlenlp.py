"""`export_to_paddlenlp`: ours -> PaddleNLP UIE-M folder -> ours, without paddle.

A tiny UIE-M made here is written as a PaddleNLP folder and read back with
this package's own converter (its hostile-safe `.pdparams` reader): the
same weights, bit for bit, and the same settings. The `.pdparams` file holds
nothing but NumPy arrays in a dict (its only globals are NumPy's array
reconstructors) and loads with plain `pickle` too. Settings the folder
cannot hold are refused by name. That PaddleNLP's Taskflow loads the folder
and answers as `extract()` does is checked live in
`tests/models/ernie_m/test_uie_taskflow.py`.
"""

import io
import json
import os
import pickle
import pickletools
from contextlib import redirect_stdout

import keras
import numpy as np
import pytest

import keras_encoders
from keras_encoders.convert import sources
from keras_encoders.convert.readers.paddle_params import load_paddle_state_dict
from keras_encoders.models import ErnieMBackbone
from keras_encoders.models import ErnieMInformationExtractor
from keras_encoders.paddle_export import UnsupportedExportError
from keras_encoders.paddle_export import save_paddle_state_dict
from keras_encoders.uie import cli
from tests.conftest import asset
from tests.tiny_models import ernie_m_vocabulary
from tests.tiny_models import tiny_uie_m

SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
GLOBALS = {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


@pytest.fixture(scope="module")
def extractor():
    return tiny_uie_m(asset(*SPM), ernie_m_vocabulary(asset(*SPM), "中国选手"))


@pytest.fixture(scope="module")
def folder(extractor, tmp_path_factory):
    return keras_encoders.export_to_paddlenlp(extractor, str(tmp_path_factory.mktemp("paddle") / "uie"))


def read_back(folder):
    """The folder through the converter, as `keras-encoders-convert` reads it."""
    src = sources.open_source(folder)
    model, _ = sources.build_model(src)
    return src, src.family.saved_form(src, model)


def test_round_trip_gives_the_same_weights_and_settings(extractor, folder):
    assert sorted(os.listdir(folder)) == [
        "config.json", "model_state.pdparams", "sentencepiece.bpe.model", "special_tokens_map.json",
        "tokenizer_config.json", "vocab.txt",
    ]
    src, model = read_back(folder)
    assert src.architecture == "ErnieMForInformationExtraction" and not src.notes
    assert isinstance(model, ErnieMInformationExtractor)
    assert [w.path for w in model.weights] == [w.path for w in extractor.weights]
    for ours, back in zip(extractor.weights, model.weights):
        assert np.array_equal(keras.ops.convert_to_numpy(back.value),
                              keras.ops.convert_to_numpy(ours.value)), ours.path

    def settings(config):
        return {k: v for k, v in config.items() if k != "name"}

    assert settings(model.backbone.get_config()) == settings(extractor.backbone.get_config())
    assert model.decoding == extractor.decoding == "taskflow"
    assert model.preprocessor.convention == "paddlenlp"
    tokenizer, ours = model.preprocessor.tokenizer, extractor.preprocessor.tokenizer
    assert settings(tokenizer.get_config()) == settings(ours.get_config())
    assert tokenizer.get_vocabulary() == ours.get_vocabulary() and tokenizer.proto == ours.proto
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    assert config["architectures"] == ["UIEM"] and config["model_type"] == "ernie_m"
    with open(os.path.join(folder, "tokenizer_config.json")) as f:
        assert json.load(f)["tokenizer_class"] == "ErnieMTokenizer"


def test_the_pdparams_file_holds_only_arrays_and_names(folder):
    path = os.path.join(folder, "model_state.pdparams")
    with open(path, "rb") as f:
        data = f.read()
    found = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(arg)
        assert op.name not in ("STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1"), op.name
    assert data[:2] == b"\x80\x04" and found == GLOBALS
    plain = pickle.loads(data)  # what paddle.load unpickles
    names = plain.pop("StructuredToParameterName@@")
    assert set(names) == set(plain) and all(isinstance(v, str) for v in names.values())
    assert names["ernie_m.embeddings.word_embeddings.weight"] == "embedding_0.w_0"
    assert names["linear_start.bias"].endswith(".b_0")
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in plain.values())
    ours = load_paddle_state_dict(path)
    assert list(ours) == list(plain)
    assert all(np.array_equal(ours[k], plain[k]) for k in plain)
    # PaddleNLP's names and layouts: (in, out) Linear weights, no transposes.
    assert plain["ernie_m.encoder.layers.0.linear1.weight"].shape == (16, 64)
    assert "ernie_m.encoder.layers.0.self_attn.q_proj.weight" in plain


def test_pdparams_writer_keeps_dtypes_shapes_and_order(tmp_path):
    rng = np.random.default_rng(0)
    state = {
        "a.linear1.weight": np.asfortranarray(rng.normal(size=(3, 300))).astype("float32"),
        "a.norm1.bias": rng.normal(size=(7,)).astype(">f4"),
        "emb.word_embeddings.weight": rng.normal(size=(70000, 2)).astype("float16"),
        "x.ids": np.arange(5, dtype="int64")[None],
        "scalar.weight": np.array(3.0, dtype="float32"),
        "flag.weight": np.array([True, False]),
        "empty.weight": np.zeros((0, 4), "float32"),
        "deep.weight": rng.normal(size=(2, 3, 2, 2)),
    }
    path = save_paddle_state_dict(state, str(tmp_path / "x.pdparams"))
    with open(path, "rb") as f:
        plain = pickle.load(f)
    ours = load_paddle_state_dict(path)
    for loaded in (plain, ours):
        assert [k for k in loaded if "@@" not in k] == list(state)
        for key, value in state.items():
            assert loaded[key].shape == value.shape, key
            assert loaded[key].dtype == value.dtype.newbyteorder("="), key
            assert np.array_equal(loaded[key], value), key
    with pytest.raises(TypeError, match="Only numeric arrays"):
        save_paddle_state_dict({"x": np.array(["a"], dtype=object)}, str(tmp_path / "y.pdparams"))


def test_the_command_line_writes_the_same_folder(extractor, folder, tmp_path):
    extractor.save_to_preset(str(tmp_path / "preset"))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["export-paddle", "--model_path", str(tmp_path / "preset"),
                         "--output_dir", str(tmp_path / "paddle")]) == 0
    assert "task_path" in out.getvalue()
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as a, open(tmp_path / "paddle" / name, "rb") as b:
            assert a.read() == b.read(), name


def rebuilt(extractor, **backbone_overrides):
    config = {**extractor.backbone.get_config(), **backbone_overrides}
    task = ErnieMInformationExtractor(ErnieMBackbone.from_config(config), extractor.preprocessor,
                                      decoding="taskflow")
    return task


def test_what_the_folder_cannot_hold_is_refused(extractor, tmp_path, capsys):
    refusals = [
        (extractor.with_convention("transformers"),
         r"pad_position_id is None \(Taskflow's: 0\).*convention is 'transformers'.*"
         r"with_convention\('paddlenlp'\)"),
        (rebuilt(extractor, intermediate_dim=48), r"intermediate_dim=48 \(it can only hold 64\)"),
        (rebuilt(extractor, layer_norm_epsilon=1e-12), r"layer_norm_epsilon=1e-12"),
        (rebuilt(extractor, pad_token_id=3), r"pad_token_id=3 \(it can only hold 1\)|pad_token_id is 3"),
        (ErnieMInformationExtractor(extractor.backbone), "no preprocessor"),
        (keras_encoders.models.ErnieMTextClassifier(extractor.backbone, num_classes=2),
         "got a ErnieMTextClassifier"),
    ]
    for model, message in refusals:
        with pytest.raises(UnsupportedExportError, match=message):
            keras_encoders.export_to_paddlenlp(model, str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")  # nothing written before the checks pass

    lora = rebuilt(extractor)
    lora.backbone.enable_lora(2)
    with pytest.raises(UnsupportedExportError, match="lora"):
        keras_encoders.export_to_paddlenlp(lora, str(tmp_path / "out"))

    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "model_config.json").write_text("{}")
    with pytest.raises(UnsupportedExportError, match="model_config.json"):
        keras_encoders.export_to_paddlenlp(extractor, str(stale))
    preset = tmp_path / "preset"
    extractor.with_convention("transformers").save_to_preset(str(preset))
    assert cli.main(["export-paddle", "--model_path", str(preset), "--output_dir", str(tmp_path / "o")]) == 2
    assert "with_convention('paddlenlp')" in capsys.readouterr().err
