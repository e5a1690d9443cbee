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


def tiny_uie_m(spm_path, vocabulary, hidden_dim=16, num_layers=1, num_heads=2, seed=0,
               head_scale=1.0, head_bias=0.0, sequence_length=512):
    """A UIE-M extractor in PaddleNLP's convention (as Taskflow runs it) with
    weights drawn from NumPy, so it is the same model on every backend:
    LayerNorms and biases away from their initial values, as a trained
    model's are; the span heads' kernels scaled by `head_scale` and their
    biases set to `head_bias` (so that some probabilities cross 0.5)."""
    with open(spm_path, "rb") as f:
        proto = f.read()
    tokenizer = models.ErnieMTokenizer(proto=proto, vocabulary=vocabulary, reference="paddlenlp")
    backbone = models.ErnieMBackbone(
        vocabulary_size=len(vocabulary), num_layers=num_layers, num_heads=num_heads,
        hidden_dim=hidden_dim, intermediate_dim=4 * hidden_dim, max_sequence_length=512,
        pad_position_id=0,
    )
    preprocessor = models.ErnieMInformationExtractorPreprocessor(
        tokenizer, sequence_length=sequence_length, convention="paddlenlp")
    task = models.ErnieMInformationExtractor(backbone, preprocessor, decoding="taskflow")
    rng = np.random.default_rng(seed)
    # By path: the order of `task.weights` differs between backends.
    for weight in sorted(task.weights, key=lambda w: w.path):
        value = rng.normal(0.0, 0.05, tuple(weight.shape))
        if weight.path.endswith("gamma"):
            value += 1.0
        if weight.path.startswith(("start_logits", "end_logits")):
            value = value * head_scale if weight.path.endswith("kernel") else np.full(value.shape, head_bias)
        weight.assign(value.astype("float32"))
    return task
