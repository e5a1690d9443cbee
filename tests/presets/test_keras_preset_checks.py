"""Hostile Keras presets (what `save_to_preset` writes, then edited): every
one is refused with the documented error naming the file and the field,
before anything large is built or read, and the process goes on. Memory is
bounded by a fixed ceiling (tracemalloc's peak, and the process's peak RSS,
which would grow by gigabytes if the model or `/dev/zero` were allocated)."""

import json
import os
import resource
import shutil
import warnings

import keras
import numpy as np
import pytest

import keras_encoders  # noqa: F401  (installs the preset checks)
from keras_encoders import models
from keras_encoders.convert.errors import CheckpointFormatError
from keras_encoders.utils import text_utils
from tests.conftest import asset
from tests.conftest import to_numpy
from tests.convert.test_hostile_checkpoints import MiB
from tests.convert.test_hostile_checkpoints import assert_refused
from tests.convert.test_hostile_checkpoints import tiny_nezha_dir  # noqa: F401  (fixture)
from tests.convert.test_hostile_checkpoints import with_config
from tests.tiny_models import tiny_backbone
from tests.tiny_models import tiny_batch
from tests.tiny_models import tiny_classifier

SPM = ("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
BACKBONES = {"nezha": models.NezhaBackbone, "convbert": models.ConvBertBackbone, "ernie_m": models.ErnieMBackbone}


def refused(fn, error, *fragments):
    """`assert_refused` with a fixed memory ceiling, Python and process-wide."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    message = assert_refused(fn, error, *fragments, limit=16 * MiB)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 256 * MiB, f"peak RSS grew {grown / MiB:.0f} MiB while refusing: {message}"
    return message


@pytest.fixture(scope="module")
def backbone_presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbones")
    for model in BACKBONES:
        tiny_backbone(model).save_to_preset(str(root / model))
    return root


@pytest.fixture(scope="module")
def classifier_preset(tmp_path_factory):
    """A tiny ERNIE-M classifier preset: task.json, tokenizer.json,
    preprocessor.json and both tokenizer assets (vocabulary, SentencePiece)."""
    import sentencepiece

    spm = asset(*SPM)
    processor = sentencepiece.SentencePieceProcessor(model_file=spm)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    tokens = head + [p for p in pieces if p not in head] + ["[MASK]"]
    tokenizer = models.ErnieMTokenizer(proto=spm, vocabulary=tokens)
    preprocessor = models.ErnieMTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = models.ErnieMBackbone(
        vocabulary_size=len(tokens), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8,
    )
    task = models.ErnieMTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    path = tmp_path_factory.mktemp("classifier") / "preset"
    task.save_to_preset(str(path))
    return path


def edited(source, tmp_path, file_name, change):
    """A copy of the preset at `source` with `change(json)` applied to one file."""
    folder = tmp_path / "preset"
    shutil.copytree(source, folder)
    path = folder / file_name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return str(folder)


def set_backbone(**fields):
    def change(config):
        config["config"].update(fields)
        return config
    return change


BAD_CONFIGS = {
    "zero-heads": ({"num_heads": 0}, "num_heads"),
    "nan-epsilon": ({"layer_norm_epsilon": float("nan")}, "layer_norm_epsilon"),
    "negative-epsilon": ({"layer_norm_epsilon": -1}, "layer_norm_epsilon"),
    "million-layers": ({"num_layers": 1_000_000}, "num_layers"),
    "string-vocabulary": ({"vocabulary_size": "50"}, "vocabulary_size"),
    "indivisible-heads": ({"num_heads": 3}, "hidden_dim"),
    # null reached the layers as None (a TypeError, or Keras' "could not be
    # deserialized properly"); only the arguments whose default is None may be.
    "null-dropout": ({"dropout": None}, "dropout"),
    "null-epsilon": ({"layer_norm_epsilon": None}, "layer_norm_epsilon"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("model", sorted(BACKBONES))
def test_bad_backbone_config_names_file_and_field(backbone_presets, tmp_path, model, case):
    fields, name = BAD_CONFIGS[case]
    folder = edited(backbone_presets / model, tmp_path, "config.json", set_backbone(**fields))
    refused(
        lambda: BACKBONES[model].from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), f"field {name!r}",
    )


ENORMOUS = {
    "deep-and-wide": dict(num_layers=1000, num_heads=64, hidden_dim=4096, intermediate_dim=16384),
    "huge-vocabulary": dict(vocabulary_size=5_000_000, num_heads=64, hidden_dim=65536),
}


@pytest.mark.parametrize("case", sorted(ENORMOUS))
@pytest.mark.parametrize("model", sorted(BACKBONES))
def test_config_its_weights_cannot_hold_is_refused(backbone_presets, tmp_path, model, case):
    fields = dict(ENORMOUS[case])
    if model == "convbert":
        fields["embedding_dim"] = fields["hidden_dim"]
    folder = edited(backbone_presets / model, tmp_path, "config.json", set_backbone(**fields))
    refused(
        lambda: BACKBONES[model].from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), os.path.join(folder, "model.weights.h5"),
        "does not match its weights",
    )
    # Without weights, the documented ceiling applies instead.
    refused(
        lambda: BACKBONES[model].from_preset(folder, load_weights=False), CheckpointFormatError,
        os.path.join(folder, "config.json"), "allow_parameters",
    )


def test_genuine_presets_still_load(backbone_presets, classifier_preset):
    for model, cls in BACKBONES.items():
        assert cls.from_preset(str(backbone_presets / model)).count_params() > 0
    task = models.ErnieMTextClassifier.from_preset(str(classifier_preset))
    assert np.asarray(task.predict(["hello world"], verbose=0)).shape == (1, 2)


def test_bad_backbone_in_task_json_names_it(classifier_preset, tmp_path):
    def change(task):
        task["config"]["backbone"]["config"]["num_heads"] = 0
        return task

    folder = edited(classifier_preset, tmp_path, "task.json", change)
    refused(
        lambda: models.ErnieMTextClassifier.from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "task.json"), "field 'num_heads'",
    )


def tokenizer_field(path_in_json, field, value):
    def change(config):
        node = config
        for key in path_in_json:
            node = node[key]
        node["config"][field] = value
        return config
    return change


TOKENIZER_FIELDS = {
    "tokenizer-vocabulary": ("tokenizer.json", (), "vocabulary", models.ErnieMTokenizer),
    "tokenizer-proto": ("tokenizer.json", (), "proto", models.ErnieMTokenizer),
    "preprocessor-vocabulary": (
        "preprocessor.json", ("config", "tokenizer"), "vocabulary", models.ErnieMTextClassifierPreprocessor,
    ),
    "task-proto": (
        "task.json", ("config", "preprocessor", "config", "tokenizer"), "proto", models.ErnieMTextClassifier,
    ),
}


@pytest.mark.parametrize("case", sorted(TOKENIZER_FIELDS))
@pytest.mark.parametrize("target", ["/dev/zero", "link"])
def test_tokenizer_config_naming_a_file_is_refused(classifier_preset, tmp_path, case, target):
    file_name, where, field, cls = TOKENIZER_FIELDS[case]
    if target == "link":
        os.symlink("/dev/zero", tmp_path / "zero")
        target = str(tmp_path / "zero")
    folder = edited(classifier_preset, tmp_path, file_name, tokenizer_field(where, field, target))
    kwargs = {"num_classes": 2} if cls is models.ErnieMTextClassifier else {}
    refused(
        lambda: cls.from_preset(folder, **kwargs), CheckpointFormatError,
        os.path.join(folder, file_name), f"field {field!r}",
    )


@pytest.mark.parametrize("asset_name", ["vocabulary.txt", "vocabulary.spm"])
@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_asset_linked_out_of_the_preset_is_refused(classifier_preset, tmp_path, asset_name, target):
    folder = tmp_path / "preset"
    shutil.copytree(classifier_preset, folder)
    path = folder / "assets" / "tokenizer" / asset_name
    if target == "outside":
        target = str(tmp_path / "elsewhere")
        shutil.copy(path, target)
    os.remove(path)
    os.symlink(target, path)
    refused(
        lambda: models.ErnieMTokenizer.from_preset(str(folder)), ValueError,
        str(path), "outside the preset folder",
    )


@pytest.mark.parametrize("asset_name", ["vocabulary.txt", "vocabulary.spm"])
def test_absurdly_large_asset_is_refused_unread(classifier_preset, tmp_path, asset_name):
    folder = tmp_path / "preset"
    shutil.copytree(classifier_preset, folder)
    path = folder / "assets" / "tokenizer" / asset_name
    with open(path, "r+b") as f:  # sparse: no disk, and no read before the refusal
        f.truncate(text_utils.MAX_TOKENIZER_FILE_BYTES + 1)
    refused(
        lambda: models.ErnieMTokenizer.from_preset(str(folder)), ValueError,
        str(path), f"{text_utils.MAX_TOKENIZER_FILE_BYTES:,}",
    )


@pytest.mark.parametrize("file_name", ["config.json", "tokenizer.json"])
def test_preset_json_linked_to_a_device_is_refused(classifier_preset, tmp_path, file_name):
    folder = tmp_path / "preset"
    shutil.copytree(classifier_preset, folder)
    os.remove(folder / file_name)
    os.symlink("/dev/zero", folder / file_name)
    refused(
        lambda: models.ErnieMTokenizer.from_preset(str(folder)), CheckpointFormatError,
        os.path.join(str(folder), file_name), "not a regular file",
    )


def test_presets_in_the_hub_cache_layout_load(classifier_preset, tmp_path):
    """The hub cache's snapshot folders link every file into `blobs/`: those
    links stay inside the preset's repository and are followed."""
    snapshot = tmp_path / "models--someone--tiny" / "snapshots" / "0123abc"
    blobs = tmp_path / "models--someone--tiny" / "blobs"
    blobs.mkdir(parents=True)
    for directory, _, files in os.walk(classifier_preset):
        for name in files:
            source = os.path.join(directory, name)
            relative = os.path.relpath(source, classifier_preset)
            blob = blobs / relative.replace(os.sep, "_")
            shutil.copy(source, blob)
            os.makedirs(os.path.dirname(snapshot / relative), exist_ok=True)
            os.symlink(blob, snapshot / relative)
    tokenizer = models.ErnieMTokenizer.from_preset(str(snapshot))
    assert tokenizer.vocabulary_size() > 0


def test_tokenizer_constructors_read_only_bounded_regular_files():
    refused(lambda: models.NezhaTokenizer(vocabulary="/dev/zero"), ValueError, "/dev/zero", "not a regular file")
    refused(lambda: models.ErnieMTokenizer(proto="/dev/zero"), ValueError, "/dev/zero", "not a regular file")


def test_hf_config_its_weights_cannot_hold_is_refused(tiny_nezha_dir, tmp_path):  # noqa: F811
    change = lambda c: {**c, **dict(num_hidden_layers=1000, hidden_size=4096,  # noqa: E731
                                   num_attention_heads=64, intermediate_size=16384)}
    folder = with_config(tmp_path, tiny_nezha_dir, change)
    refused(
        lambda: models.NezhaBackbone.from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), "model.safetensors", "does not match its weights",
    )
    refused(
        lambda: models.NezhaBackbone.from_preset(folder, load_weights=False), CheckpointFormatError,
        os.path.join(folder, "config.json"), "allow_parameters",
    )


@pytest.mark.parametrize("model,kind", [("nezha", "tf1"), ("ernie_m", "paddle")])
def test_original_checkpoint_config_its_tensors_cannot_fill_is_refused(model, kind):
    """TF1 and Paddle checkpoints are read first: a config.json that describes
    more than the tensors read is refused before the backbone is built."""
    from keras_encoders.convert import sources

    config = dict(vocab_size=50, hidden_size=4096, num_hidden_layers=1000,
                  num_attention_heads=64, intermediate_size=16384, max_position_embeddings=66)
    src = sources.CheckpointSource(
        kind=kind, location="ckpt/config.json", path="ckpt/model", model_type=model, config=config,
        architecture=sources.FAMILIES[model].base_architecture, tokenizer_files={},
        tokenizer_settings={}, tensors={"w": np.zeros((64, 64), "float32")},
    )
    refused(lambda: sources.build_model(src), CheckpointFormatError,
            "ckpt/config.json", "ckpt/model", "16,384 bytes", "does not match its weights")


@pytest.fixture(scope="module")
def quantized_presets(tmp_path_factory):
    """Tiny int8 backbones, and a classifier on an int8 backbone, saved as presets."""
    root = tmp_path_factory.mktemp("quantized")
    saved = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layers without int8 kernels stay float
        for model in BACKBONES:
            backbone = tiny_backbone(model, num_layers=2)
            backbone.quantize("int8")
            backbone.save_to_preset(str(root / model))
            saved[model] = backbone
        task = tiny_classifier("nezha")
        task.backbone.quantize("int8")
        task.save_to_preset(str(root / "classifier"))
        saved["classifier"] = task
    return root, saved


def assert_same_weights(got, want):
    assert [(w.path, str(w.dtype)) for w in got.weights] == [(w.path, str(w.dtype)) for w in want.weights]
    assert any("int8" in str(w.dtype) for w in got.weights)
    for a, b in zip(got.weights, want.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


@pytest.mark.parametrize("model", sorted(BACKBONES))
def test_quantized_backbone_presets_reload(quantized_presets, tmp_path, model):
    """An int8 backbone's preset (a policy map of int8 layers) passes the
    size check at one byte per parameter and is rebuilt in int8 (keras-hub's
    own backbone loader would build it in float32 and fail on its weights).
    The reloaded backbone saves again (Keras 3.15 fails on layers built with
    a policy map) and that preset reloads the same."""
    root, saved = quantized_presets
    loaded = BACKBONES[model].from_preset(str(root / model))
    assert_same_weights(loaded, saved[model])
    x = tiny_batch(model)
    np.testing.assert_array_equal(to_numpy(loaded(x)["sequence_output"]),
                                  to_numpy(saved[model](x)["sequence_output"]))
    loaded.save_to_preset(str(tmp_path / "again"))
    assert_same_weights(BACKBONES[model].from_preset(str(tmp_path / "again")), saved[model])


def test_int4_backbone_preset_reloads_and_saves_again(tmp_path):
    """int4 (packed kernels and their own policy class) takes the same path:
    reloaded from a preset, saved again, reloaded: the same weights and outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layers without int4 kernels stay float
        backbone = tiny_backbone("nezha", num_layers=1)
        backbone.quantize("int4")
    backbone.save_to_preset(str(tmp_path / "int4"))
    loaded = models.NezhaBackbone.from_preset(str(tmp_path / "int4"))
    loaded.save_to_preset(str(tmp_path / "again"))
    again = models.NezhaBackbone.from_preset(str(tmp_path / "again"))
    assert_same_weights(again, backbone)  # int4 kernels are stored packed, two to an int8
    x = tiny_batch("nezha")
    np.testing.assert_array_equal(to_numpy(again(x)["sequence_output"]),
                                  to_numpy(backbone(x)["sequence_output"]))


QUANTIZED_TASKS = {
    "text-classifier": lambda: tiny_classifier("nezha"),
    "token-classifier": lambda: models.ConvBertTokenClassifier(
        tiny_backbone("convbert"), num_classes=3, preprocessor=None, dropout=0.0),
    "question-answerer": lambda: models.ErnieMQuestionAnswerer(tiny_backbone("ernie_m"), preprocessor=None),
    "masked-lm": lambda: models.NezhaMaskedLM(tiny_backbone("nezha"), preprocessor=None),
}


def modes(head_quantization):
    return {path: policy["config"]["mode"] for path, policy in head_quantization.items()}


@pytest.mark.parametrize("kind", sorted(QUANTIZED_TASKS))
def test_quantized_task_reloads_from_a_preset_and_a_keras_file(tmp_path, kind):
    """`task.quantize` quantizes the head too, which keras-hub's task config
    does not record: ours does (`head_quantization`), so a preset and a
    `.keras` file rebuild the int8 head and load its weights."""
    task = QUANTIZED_TASKS[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task.quantize("int8")
    assert task.head_quantization(), "the head has int8 layers"
    task.save_to_preset(str(tmp_path / "preset"))
    task.save(str(tmp_path / "task.keras"))
    for loaded in (type(task).from_preset(str(tmp_path / "preset")),
                   keras.saving.load_model(str(tmp_path / "task.keras"))):
        assert type(loaded) is type(task)
        assert modes(loaded.head_quantization()) == modes(task.head_quantization())
        assert_same_weights(loaded, task)
    # A reloaded task saves again, in both forms, and reloads the same.
    loaded.save_to_preset(str(tmp_path / "again"))
    loaded.save(str(tmp_path / "again.keras"))
    for again in (type(task).from_preset(str(tmp_path / "again")),
                  keras.saving.load_model(str(tmp_path / "again.keras"))):
        assert modes(again.head_quantization()) == modes(task.head_quantization())
        assert_same_weights(again, task)


def test_head_quantization_that_does_not_match_the_task_is_refused(tmp_path):
    task = tiny_classifier("nezha")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task.quantize("int8")
    task.save_to_preset(str(tmp_path / "source"))

    def rename(config):
        quantized = config["config"]["head_quantization"]
        config["config"]["head_quantization"] = {"transformer_layer_0/.*": quantized["logits"]}
        return config

    folder = edited(tmp_path / "source", tmp_path, "task.json", rename)
    with pytest.raises(ValueError, match=r"head_quantization. names \['transformer_layer_0/\.\*'\], "
                                         r"but NezhaTextClassifier's head has quantized \[\]"):
        models.NezhaTextClassifier.from_preset(folder)


def test_task_with_a_quantized_backbone_reloads(quantized_presets):
    root, saved = quantized_presets
    loaded = models.NezhaTextClassifier.from_preset(str(root / "classifier"))
    assert_same_weights(loaded, saved["classifier"])
    x = tiny_batch("nezha")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(saved["classifier"](x)))


@pytest.mark.parametrize("model", sorted(BACKBONES))
def test_quantized_config_its_weights_cannot_hold_is_refused(quantized_presets, tmp_path, model):
    root, _ = quantized_presets
    fields = dict(ENORMOUS["deep-and-wide"])
    if model == "convbert":
        fields["embedding_dim"] = fields["hidden_dim"]
    folder = edited(root / model, tmp_path, "config.json", set_backbone(**fields))
    refused(
        lambda: BACKBONES[model].from_preset(folder), CheckpointFormatError,
        os.path.join(folder, "config.json"), "does not match its weights",
    )


def test_bytes_per_parameter_of_saved_policies():
    """Keras' own serializations: plain, mixed and quantized policies, and
    the policy map `quantize` leaves a model with (its fewest bytes)."""
    from keras_encoders.presets.keras_preset_checks import bytes_per_parameter

    def saved(policy):
        return keras.saving.serialize_keras_object(policy)

    policies = keras.dtype_policies
    assert bytes_per_parameter(None) == 4
    assert bytes_per_parameter("float32") == 4
    assert bytes_per_parameter(saved(policies.DTypePolicy("mixed_bfloat16"))) == 4
    assert bytes_per_parameter(saved(policies.DTypePolicy("bfloat16"))) == 2
    assert bytes_per_parameter(saved(policies.QuantizedDTypePolicy("int8", "float32"))) == 1
    assert bytes_per_parameter(saved(policies.QuantizedDTypePolicy("int4", "float32"))) == 0.5
    int8_map = policies.DTypePolicyMap()
    int8_map["layer/dense"] = policies.QuantizedDTypePolicy("int8", "float32")
    assert bytes_per_parameter(saved(int8_map)) == 1
    int8_map["layer/other"] = policies.QuantizedDTypePolicy("int4", "float32")
    assert bytes_per_parameter(saved(int8_map)) == 0.5
