"""Tiny backbones, classifiers and batches of the three encoders, for the
training, precision, LoRA and distribution tests (also imported by their
subprocess workers, so it must not import pytest or the conftest)."""

import numpy as np

from keras_encoders import models

MODELS = ("nezha", "convbert", "ernie_m")
VOCAB = 50
SEQ = 8


def tiny_backbone(model, num_layers=1, **overrides):
    """A deterministic (dropout-free) backbone, every model-specific layer on.

    ConvBERT gets projected embeddings and a grouped feed-forward (the
    medium-small layout), so the layer-specific code paths are exercised.
    """
    common = dict(
        vocabulary_size=VOCAB, num_layers=num_layers, num_heads=4, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, attention_dropout=0.0,
    )
    if model == "nezha":
        return models.NezhaBackbone(max_relative_position=3, **{**common, **overrides})
    if model == "convbert":
        return models.ConvBertBackbone(
            embedding_dim=8, num_groups=2, conv_kernel_size=3, max_sequence_length=16,
            **{**common, **overrides},
        )
    if model == "ernie_m":
        return models.ErnieMBackbone(max_sequence_length=16, **{**common, **overrides})
    raise ValueError(model)


CLASSIFIERS = {
    "nezha": models.NezhaTextClassifier,
    "convbert": models.ConvBertTextClassifier,
    "ernie_m": models.ErnieMTextClassifier,
}


def tiny_classifier(model, num_classes=3, **backbone_overrides):
    """A 3-class text classifier on ids (no preprocessor), dropout-free."""
    backbone = tiny_backbone(model, **backbone_overrides)
    return CLASSIFIERS[model](backbone, num_classes=num_classes, preprocessor=None, dropout=0.0)


def tiny_batch(model, batch=4, length=SEQ, seed=0):
    """Backbone inputs with two padded rows (one padded after 2 tokens)."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(3, VOCAB, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    mask[1, length - 3:] = 0
    mask[batch - 1, 2:] = 0
    pad_id = 1 if model == "ernie_m" else 0
    ids[mask == 0] = pad_id
    x = {"token_ids": ids, "padding_mask": mask}
    if model != "ernie_m":
        x["segment_ids"] = np.zeros_like(ids)
    return x


def tiny_labels(batch=4, num_classes=3):
    return np.arange(batch) % num_classes


def ernie_m_vocabulary(spm_path, extra=""):
    """ERNIE-M's vocab.txt layout for a SentencePiece model: `[CLS] [PAD]
    [SEP] [UNK]` first, the pieces, the `extra` characters, `[MASK]` last."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=spm_path)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    tokens = head + [p for p in pieces if p not in head + ["[MASK]"]]
    return tokens + [c for c in dict.fromkeys(extra) if c not in tokens] + ["[MASK]"]
