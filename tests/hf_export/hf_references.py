"""Tiny transformers 4.57 references of every architecture a Keras class
loads, and what the export tests do with them (shared by the transformers
4.57 and 5.x checks)."""

import json
import shutil

import numpy as np
import torch
import transformers

import keras_encoders
from keras_encoders.convert.families import FAMILIES
from keras_encoders.convert.sources import task_class
from keras_encoders.convert.verification import hf_class
from tests.conftest import asset

TOL = 1e-5
B, L, C = 3, 10, 2
WORDS = ["the", "quick", "brown", "fox", "jump", "##s", "over", "lazy", "dog", "北", "京", "."]
WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEXTS = ["The quick brown fox jumps over the lazy dog.", "北京 fox"]


def ernie_m_tokens():
    """ERNIE-M's vocab.txt layout over a small SentencePiece model."""
    import sentencepiece

    spm = sentencepiece.SentencePieceProcessor(model_file=ernie_m_proto())
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    return head + [p for p in pieces if p not in head] + ["[MASK]"]


def ernie_m_proto():
    return asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")


def hf_config(family, **kwargs):
    common = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=4, **kwargs)
    if family == "nezha":
        return transformers.NezhaConfig(
            vocab_size=len(WORDPIECE), intermediate_size=24, max_position_embeddings=32,
            max_relative_position=3, **common)
    if family == "convbert":
        # Projected embeddings and a grouped feed-forward: every transform runs.
        return transformers.ConvBertConfig(
            vocab_size=len(WORDPIECE), intermediate_size=32, embedding_size=8,
            conv_kernel_size=3, num_groups=2, max_position_embeddings=32, **common)
    return transformers.ErnieMConfig(
        vocab_size=len(ernie_m_tokens()), intermediate_size=24, max_position_embeddings=34, **common)


def write_tokenizer_files(tmp_path_factory):
    """`{family: folder}` with the files each family's hub repos ship."""
    folders = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(family)
        tokens = ernie_m_tokens() if family == "ernie_m" else WORDPIECE
        (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
        if family == "ernie_m":
            shutil.copy(ernie_m_proto(), folder / "sentencepiece.bpe.model")
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"do_lower_case": family != "ernie_m"}))
        folders[family] = folder
    return folders


def save_reference(family, architecture, path, tokenizer_files):
    labels = {"id2label": {0: "O", 1: "B-LOC", 2: "I-LOC"}, "label2id": {"O": 0, "B-LOC": 1, "I-LOC": 2}}
    config = hf_config(family, **(labels if "Classification" in architecture else {}))
    torch.manual_seed(0)
    model = hf_class(architecture)(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(str(path))
    shutil.copytree(tokenizer_files[family], path, dirs_exist_ok=True)
    return model


def keras_class(family, architecture):
    spec = FAMILIES[family]
    backbone_cls = spec.keras_class(spec.backbone)
    return backbone_cls if architecture == spec.base_architecture else task_class(architecture, backbone_cls)


CASES = [
    (family, architecture)
    for family, spec in FAMILIES.items()
    for architecture in spec.hf.HEADS
    if keras_class(family, architecture) is not None
]


def padded_batch(family, choices=False, seed=0):
    rng = np.random.default_rng(seed)
    vocabulary = hf_config(family).vocab_size
    pad = 1 if family == "ernie_m" else 0
    shape = (B, C, L) if choices else (B, L)
    ids = rng.integers(5, vocabulary - 1, shape).astype("int32")
    mask = np.ones(shape, "int32")
    mask[1, ..., L - 3:] = 0
    mask[2, ..., 4:] = 0
    ids[mask == 0] = pad
    x = {"token_ids": ids, "padding_mask": mask}
    if FAMILIES[family].uses_segments:
        segments = np.zeros(shape, "int32")
        segments[..., 5:] = 1
        x["segment_ids"] = segments * mask
    return x


def torch_inputs(x):
    names = {"token_ids": "input_ids", "padding_mask": "attention_mask", "segment_ids": "token_type_ids"}
    return {names[k]: torch.tensor(v, dtype=torch.long) for k, v in x.items() if k in names}


def reference_outputs(reference, x):
    """`reference` (a transformers model) called on the Keras batch `x`."""
    with torch.no_grad():
        return reference(**torch_inputs(x))


def outputs(architecture, ours, x, ref):
    """`(name, ours, the reference's)` pairs of what `architecture` computes,
    `ref` being the reference's output (a `ModelOutput`, or a namespace of
    arrays with its fields)."""
    positions = x.get("mask_positions")
    if architecture.endswith("Model"):
        pairs = [("sequence_output", ours["sequence_output"], ref.last_hidden_state)]
        if "pooled_output" in ours:
            pairs.append(("pooled_output", ours["pooled_output"], ref.pooler_output))
        return pairs
    if architecture.endswith(("QuestionAnswering", "InformationExtraction")):
        return [(k, ours[k], getattr(ref, k)) for k in ("start_logits", "end_logits")]
    if architecture.endswith("MaskedLM"):
        return [("logits", ours, np.take_along_axis(np.asarray(ref.logits), positions[..., None], 1))]
    if architecture.endswith("PreTraining"):
        mlm = np.take_along_axis(np.asarray(ref.prediction_logits), positions[..., None], 1)
        return [("mlm_logits", ours["mlm_logits"], mlm),
                ("nsp_logits", ours["nsp_logits"], ref.seq_relationship_logits)]
    return [("logits", ours, ref.logits)]


def task_batch(family, architecture):
    """The padded batch `architecture` takes (mask positions for the masked LMs)."""
    x = padded_batch(family, choices=architecture.endswith("MultipleChoice"))
    if architecture.endswith(("MaskedLM", "PreTraining")):
        x["mask_positions"] = np.array([[1, 3], [2, 0], [3, 1]], "int32")
    return x


def round_trip(family, architecture, folder, tokenizer_files):
    """A transformers 4.57 model saved in `folder/hf`, read with our
    `from_preset`, exported to `folder/out`: (the original, ours, our tokenizer)."""
    original = save_reference(family, architecture, folder / "hf", tokenizer_files)
    ours = keras_class(family, architecture).from_preset(str(folder / "hf"))
    spec = FAMILIES[family]
    tokenizer = spec.keras_class(spec.tokenizer).from_preset(str(folder / "hf"))
    keras_encoders.export_to_transformers(ours, str(folder / "out"), tokenizer=tokenizer)
    return original, ours, tokenizer
