"""NEZHA: Huawei's original TF1 checkpoints (NEZHA-TensorFlow) -> Keras.

The release holds `bert_config.json`, `vocab.txt` and a TF1 checkpoint whose
variables are scoped `bert/...` (the encoder, as in Google's BERT minus the
absolute position table) and `cls/...` (the pre-training heads of
`run_pretraining.py`). TF dense kernels are already `(in, out)`, the Keras
layout; only the NSP `output_weights` (`[2, hidden]`) needs a transpose.
"""

from keras_encoders.convert.porting import identity
from keras_encoders.convert.porting import transpose

MODEL_TYPE = "nezha"
SOURCE_FORMAT = "TF1 checkpoint (Huawei NEZHA-TensorFlow)"
# The original `attention_layer` hard-codes 64, whatever the config says.
MAX_RELATIVE_POSITION = 64
CONFIG_FILES = ("bert_config.json", "config.json")
ANCHOR = "bert/embeddings/word_embeddings"

L = "transformer_layer_{i}/"
T = "bert/encoder/layer_{i}/"
BACKBONE_RULES = [
    ("token_embedding/embeddings", "bert/embeddings/word_embeddings", identity),
    ("segment_embedding/embeddings", "bert/embeddings/token_type_embeddings", identity),
    ("embeddings_layer_norm/gamma", "bert/embeddings/LayerNorm/gamma", identity),
    ("embeddings_layer_norm/beta", "bert/embeddings/LayerNorm/beta", identity),
    (L + "self_attention/query/kernel", T + "attention/self/query/kernel", identity),
    (L + "self_attention/query/bias", T + "attention/self/query/bias", identity),
    (L + "self_attention/key/kernel", T + "attention/self/key/kernel", identity),
    (L + "self_attention/key/bias", T + "attention/self/key/bias", identity),
    (L + "self_attention/value/kernel", T + "attention/self/value/kernel", identity),
    (L + "self_attention/value/bias", T + "attention/self/value/bias", identity),
    (L + "attention_output/kernel", T + "attention/output/dense/kernel", identity),
    (L + "attention_output/bias", T + "attention/output/dense/bias", identity),
    (L + "attention_layer_norm/gamma", T + "attention/output/LayerNorm/gamma", identity),
    (L + "attention_layer_norm/beta", T + "attention/output/LayerNorm/beta", identity),
    (L + "intermediate/kernel", T + "intermediate/dense/kernel", identity),
    (L + "intermediate/bias", T + "intermediate/dense/bias", identity),
    (L + "output/kernel", T + "output/dense/kernel", identity),
    (L + "output/bias", T + "output/dense/bias", identity),
    (L + "output_layer_norm/gamma", T + "output/LayerNorm/gamma", identity),
    (L + "output_layer_norm/beta", T + "output/LayerNorm/beta", identity),
    ("pooled_dense/kernel", "bert/pooler/dense/kernel", identity),
    ("pooled_dense/bias", "bert/pooler/dense/bias", identity),
]

# run_pretraining.py: the MLM transform (its decoder is the tied word
# embedding) and the NSP classifier.
_MLM = [
    ("mlm_head/intermediate_dense/kernel", "cls/predictions/transform/dense/kernel", identity),
    ("mlm_head/intermediate_dense/bias", "cls/predictions/transform/dense/bias", identity),
    ("mlm_head/intermediate_layer_norm/gamma", "cls/predictions/transform/LayerNorm/gamma", identity),
    ("mlm_head/intermediate_layer_norm/beta", "cls/predictions/transform/LayerNorm/beta", identity),
    ("mlm_head/output_bias", "cls/predictions/output_bias", identity),
]
_NSP = [
    ("nsp_logits/kernel", "cls/seq_relationship/output_weights", transpose),
    ("nsp_logits/bias", "cls/seq_relationship/output_bias", identity),
]

# Hugging Face architecture -> head rules (the Keras task is the one whose
# `checkpoint_head` is that architecture).
HEADS = {
    "NezhaModel": [],
    "NezhaForMaskedLM": _MLM,
    "NezhaForNextSentencePrediction": _NSP,
    "NezhaForPreTraining": _MLM + _NSP,
}
HEAD_SCOPES = (r"^cls/",)
# Nothing else in a NEZHA release is a known non-weight.
IGNORE = ()


def detect_architecture(names):
    """The architecture whose heads the checkpoint holds."""
    mlm = any(n.startswith("cls/predictions/") for n in names)
    nsp = any(n.startswith("cls/seq_relationship/") for n in names)
    if mlm and nsp:
        return "NezhaForPreTraining"
    if mlm:
        return "NezhaForMaskedLM"
    if nsp:
        return "NezhaForNextSentencePrediction"
    return "NezhaModel"


def convert_config(bert_config, architecture):
    """`bert_config.json` of the release -> a Hugging Face `NezhaConfig` dict.

    Returns `(config, notes)`; the notes say where the original differs.
    """
    notes = []
    if bert_config.get("use_relative_position") is False:
        raise ValueError(
            "This bert_config.json says use_relative_position=false: it is a "
            "plain BERT checkpoint, not NEZHA."
        )
    declared = bert_config.get("max_relative_position")
    if declared is not None and declared != MAX_RELATIVE_POSITION:
        notes.append(
            f"bert_config.json says max_relative_position={declared}, but the "
            f"original TF code hard-codes {MAX_RELATIVE_POSITION} (used here)."
        )
    if bert_config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(
            f"hidden_act={bert_config['hidden_act']!r} is not supported; NEZHA "
            "checkpoints use gelu."
        )
    notes.append(
        "The original TF code computes GELU with the tanh approximation; the "
        "converted model uses exact GELU like NEZHA-PyTorch and Hugging Face "
        "(so it does not reproduce the TF graph's outputs bit for bit)."
    )
    config = {
        "model_type": MODEL_TYPE,
        "architectures": [architecture],
        "vocab_size": bert_config["vocab_size"],
        "hidden_size": bert_config["hidden_size"],
        "num_hidden_layers": bert_config["num_hidden_layers"],
        "num_attention_heads": bert_config["num_attention_heads"],
        "intermediate_size": bert_config["intermediate_size"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": bert_config.get("hidden_dropout_prob", 0.1),
        "attention_probs_dropout_prob": bert_config.get("attention_probs_dropout_prob", 0.1),
        "max_position_embeddings": bert_config.get("max_position_embeddings", 512),
        "max_relative_position": MAX_RELATIVE_POSITION,
        "type_vocab_size": bert_config.get("type_vocab_size", 2),
        "initializer_range": bert_config.get("initializer_range", 0.02),
        "layer_norm_eps": 1e-12,  # TF1 contrib layer_norm
        "use_relative_position": True,
    }
    return config, notes


# The release ships bert_config.json; the shapes alone do not say everything.
CONFIG_REQUIRED = True


def check_identity(prefix, names):
    """Refuse a look-alike: BERT has the same scopes plus absolute positions."""
    if "bert/embeddings/position_embeddings" in names:
        raise ValueError(
            f"{prefix} has absolute position embeddings: it is a BERT "
            "checkpoint, not NEZHA (which uses relative positions only)."
        )


def source_config(file_config, tensors, architecture):
    return convert_config(file_config, architecture)
