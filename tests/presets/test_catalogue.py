"""The preset catalogue: every entry is well formed, builds, and has the
parameter count it records; keras-hub lists the presets; the README table
is generated from it."""

import gc
import json
import os
import re

import keras
import keras_hub
import numpy as np
import pytest

import keras_encoders  # noqa: F401  (registers the presets)
from keras_encoders import models
from keras_encoders import presets
from keras_encoders.convert.verification import parse_slice
from keras_encoders.presets import catalogue
from keras_encoders.presets import table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPECTED = {
    "nezha_base_zh", "nezha_base_wwm_zh", "nezha_large_zh", "nezha_large_wwm_zh",
    "convbert_base_en", "convbert_medium_small_en", "convbert_small_en",
    "ernie_m_base_multi", "ernie_m_large_multi", "uie_m_base_multi", "uie_m_large_multi",
}
ENTRIES = {name: presets.get_entry(name) for name in presets.list_presets()}


# === Parameter counts from the configuration alone (independent of the model code) ===
def _encoder_layers(c, attention):
    h, i = c["hidden_dim"], c["intermediate_dim"]
    feed_forward = 2 * h * i + i + h
    return c["num_layers"] * (attention + feed_forward + 4 * h)


def _bert_attention(h):
    return 4 * (h * h + h)  # query, key, value, output


def nezha_params(c):
    h = c["hidden_dim"]
    embeddings = (c["vocabulary_size"] + c["num_segments"]) * h + 2 * h
    return embeddings + _encoder_layers(c, _bert_attention(h)) + h * h + h


def ernie_m_params(c):
    h = c["hidden_dim"]
    # The position table keeps the reference's two unused leading rows.
    embeddings = (c["vocabulary_size"] + c["max_sequence_length"] + 2) * h + 2 * h
    return embeddings + _encoder_layers(c, _bert_attention(h)) + h * h + h


def convbert_params(c):
    h, e, k, groups = c["hidden_dim"], c["embedding_dim"], c["conv_kernel_size"], c["num_groups"]
    # Hugging Face keeps N // head_ratio heads (at least one) of size
    # (D // heads) // 2: each half of the mixed attention is heads * size wide.
    heads = max(c["num_heads"] // c["head_ratio"], 1)
    a = heads * ((h // heads) // 2)
    embeddings = (c["vocabulary_size"] + c["max_sequence_length"] + c["num_segments"]) * e + 2 * e
    projection = e * h + h if e != h else 0
    attention = (
        3 * (h * a + a)  # query, key, value
        + k * h + h * a + a  # span-based key convolution (depthwise, pointwise, bias)
        + a * heads * k + heads * k  # dynamic kernel
        + h * a + a  # convolution output
        + h * h + h  # attention output
    )
    i = c["intermediate_dim"]
    feed_forward = 2 * groups * (h // groups) * (i // groups) + i + h
    return embeddings + projection + c["num_layers"] * (attention + feed_forward + 4 * h)


BACKBONE_PARAMS = {"NezhaBackbone": nezha_params, "ErnieMBackbone": ernie_m_params, "ConvBertBackbone": convbert_params}


def head_params(task_class, c):
    h = c["hidden_dim"]
    if task_class == "NezhaMaskedLM":  # transform dense + LayerNorm + output bias (tied decoder)
        return h * h + h + 2 * h + c["vocabulary_size"]
    if task_class == "ErnieMInformationExtractor":  # start and end Dense(1)
        return 2 * (h + 1)
    raise AssertionError(f"no head formula for {task_class}")


@pytest.fixture
def zero_init(monkeypatch):
    """Counts depend on shapes only; drawing ~10M random weights per layer
    would dominate the time of these builds, so initializers draw zeros."""
    from keras.src.initializers import random_initializers

    def zeros(shape, *args, dtype=None, **kwargs):
        return keras.ops.zeros(shape, dtype=dtype or "float32")

    for fn in ("normal", "truncated_normal", "uniform"):
        monkeypatch.setattr(random_initializers.random, fn, zeros)


def build(entry, **overrides):
    cls = getattr(models, entry["backbone_class"])
    backbone = cls(**{**entry["config"]["backbone"], **overrides})
    task_class = entry.get("task_class")
    task = getattr(models, task_class)(backbone=backbone, preprocessor=None) if task_class else None
    return backbone, task


# === Tests ===
def test_catalogue_has_every_published_checkpoint():
    assert set(ENTRIES) == EXPECTED
    # DESIGN.md's names, exactly.
    assert {"nezha_base_zh", "ernie_m_base_multi", "convbert_base_en"} <= set(ENTRIES)
    for name, entry in ENTRIES.items():
        assert name.endswith("_" + entry["language"]), name
        assert entry["license"] and entry["description"]
        assert catalogue.automatic_source(entry) is not None, name


def test_catalogue_files_are_packaged_from_the_top_level_presets_folder():
    assert os.path.realpath(catalogue.catalogue_dir()) == os.path.realpath(os.path.join(REPO, "presets"))
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
    assert "data/*.json" in package_data["keras_encoders.presets"]


def test_malformed_entries_are_refused_with_the_field_named():
    entry = json.loads(json.dumps(ENTRIES["nezha_base_zh"]))
    del entry["license"]
    with pytest.raises(catalogue.CatalogueError, match="nezha_x_zh.*'license' is missing"):
        catalogue.validate_entry("nezha_x_zh", entry)
    entry = json.loads(json.dumps(ENTRIES["nezha_base_zh"]))
    for source in entry["sources"]:
        source["manual"] = True
    with pytest.raises(catalogue.CatalogueError, match="downloadable"):
        catalogue.validate_entry("nezha_x_zh", entry)
    with pytest.raises(catalogue.CatalogueError, match="lower-case"):
        catalogue.validate_entry("Nezha-Base", ENTRIES["nezha_base_zh"])
    entry = json.loads(json.dumps(ENTRIES["uie_m_base_multi"]))
    entry["config"]["task"] = "taskflow"
    with pytest.raises(catalogue.CatalogueError, match="'config.task' must be an object"):
        catalogue.validate_entry("uie_m_x_multi", entry)


@pytest.mark.backend_independent
def test_presets_readme_documents_every_field_the_entries_use():
    """presets/README.md's table of fields is hand-kept: every field of every
    entry (and of its `config`) is in it, and it names none that no entry has."""
    with open(os.path.join(REPO, "presets", "README.md"), encoding="utf-8") as f:
        table = f.read().split("## Fields of an entry", 1)[1].split("\n\n**", 1)[0]
    documented = set(re.findall(r"`([a-z_.]+)`", "\n".join(
        line.split("|")[1] for line in table.splitlines() if line.startswith("| `"))))
    used = set()
    for entry in ENTRIES.values():
        used |= set(entry) - {"config"}
        used |= {f"config.{part}" for part in entry["config"]}
    assert {"config.preprocessor", "config.task", "other_published_checks"} <= used
    assert used == documented, (sorted(used - documented), sorted(documented - used))


@pytest.mark.backend_independent
def test_recorded_preprocessor_length_is_what_a_conversion_writes():
    """`config.preprocessor.sequence_length` is the checkpoint's positions, at
    most 512, as a conversion writes it (`resolver.check_converted` refuses a
    download that differs; this finds a slip before anyone downloads)."""
    for name, entry in ENTRIES.items():
        recorded = entry["config"].get("preprocessor", {}).get("sequence_length")
        assert recorded == min(entry["config"]["backbone"]["max_sequence_length"], 512), name


def test_recorded_parameter_counts_match_the_configs():
    for name, entry in ENTRIES.items():
        config = entry["config"]["backbone"]
        assert entry["params"] == BACKBONE_PARAMS[entry["backbone_class"]](config), name
        if entry.get("task_params"):
            assert entry["task_params"] == entry["params"] + head_params(entry["task_class"], config), name


def test_every_entry_config_builds(zero_init):
    """Each distinct configuration builds at full width (one layer, a short
    vocabulary to save memory), with the count the formulas give: this
    checks the formulas against the model code, the recorded counts are
    checked against the formulas above, and `--run-large` builds every entry
    at full size."""
    seen = set()
    for name, entry in ENTRIES.items():
        key = json.dumps([entry["backbone_class"], entry["config"]["backbone"], entry.get("task_class")], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        small = {"num_layers": 1, "vocabulary_size": 128}
        backbone, task = build(entry, **small)
        config = {**entry["config"]["backbone"], **small}
        assert backbone.count_params() == BACKBONE_PARAMS[entry["backbone_class"]](config), name
        if task is not None:
            assert task.count_params() == backbone.count_params() + head_params(entry["task_class"], config)
        assert backbone.get_config()["hidden_dim"] == config["hidden_dim"]
        del backbone, task
        gc.collect()


@pytest.mark.large
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_full_size_build_has_the_recorded_parameter_count(name, zero_init):
    entry = ENTRIES[name]
    backbone, task = build(entry)
    assert backbone.count_params() == entry["params"]
    if task is not None:
        assert task.count_params() == entry["task_params"]
    del backbone, task
    gc.collect()


def test_reference_checks_fit_the_model_outputs():
    """Inputs are rectangular and the expected values have the shape of the
    slice of the output they are compared with."""
    assert {n for n, e in ENTRIES.items() if e["reference_checks"]} == {
        "nezha_base_zh", "convbert_base_en", "ernie_m_base_multi"
    }
    for name, entry in ENTRIES.items():
        config = entry["config"]["backbone"]
        for check in entry["reference_checks"] + entry.get("other_published_checks", []):
            ids = np.asarray(check["inputs"]["input_ids"])
            for key, value in check["inputs"].items():
                assert np.asarray(value).shape == ids.shape, (name, key)
            assert ids.max() < config["vocabulary_size"]
            width = {"sequence_output": config["hidden_dim"], "logits": config["vocabulary_size"]}[check["output"]]
            if check["output"] == "logits":
                assert entry["task_class"] == "NezhaMaskedLM"
            output = np.zeros(ids.shape + (width,))
            assert output[parse_slice(check["slice"])].shape == np.asarray(check["expected"]).shape, name
            assert 0 < check["atol"] <= 1e-3


def test_keras_hub_lists_the_presets():
    everything = keras_hub.models.Backbone.presets
    assert EXPECTED <= set(everything)
    assert set(models.NezhaBackbone.presets) == {n for n in EXPECTED if n.startswith("nezha")}
    assert set(models.ConvBertBackbone.presets) == {n for n in EXPECTED if n.startswith("convbert")}
    # Task classes see their backbone's presets, UIE-M's with its own head.
    assert {"uie_m_base_multi", "uie_m_large_multi"} <= set(models.ErnieMInformationExtractor.presets)
    assert "nezha_base_zh" in models.NezhaMaskedLM.presets
    assert "nezha_base_zh" in keras_hub.models.MaskedLM.presets
    record = everything["nezha_base_zh"]
    assert record["metadata"]["params"] == ENTRIES["nezha_base_zh"]["params"]
    assert record["metadata"]["source"] == "hf://sijunhe/nezha-cn-base"
    # Listing or copying the records converts nothing.
    assert dict(record)["kaggle_handle"] == "hf://sijunhe/nezha-cn-base"


def test_readme_presets_table_is_up_to_date():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert table.render(readme) == readme, "run: python -m keras_encoders.presets.table"
    generated = presets.markdown_table()
    for name in EXPECTED:
        assert f"| `{name}` |" in generated
    assert f"{ENTRIES['ernie_m_large_multi']['params']:,}" in generated
