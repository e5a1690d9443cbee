"""NEZHA: Hugging Face `NezhaModel` / `NezhaFor*` checkpoints -> Keras."""

from keras_encoders.convert.porting import identity
from keras_encoders.convert.porting import torch_linear
from keras_encoders.convert.porting import transpose

MODEL_TYPES = ("nezha",)
BASE_PREFIXES = ("nezha.", "bert.", "")
ANCHOR = "embeddings.word_embeddings.weight"
# Buffers, not weights (the large uploads still carry the relative tables).
IGNORE = (r"positions_encoding$", r"embeddings\.token_type_ids$", r"position_ids$")

L = "transformer_layer_{i}/"
H = "encoder.layer.{i}."
BACKBONE_RULES = [
    ("token_embedding/embeddings", "embeddings.word_embeddings.weight", identity),
    ("segment_embedding/embeddings", "embeddings.token_type_embeddings.weight", identity),
    ("embeddings_layer_norm/gamma", "embeddings.LayerNorm.weight", identity),
    ("embeddings_layer_norm/beta", "embeddings.LayerNorm.bias", identity),
    (L + "self_attention/query/kernel", H + "attention.self.query.weight", transpose),
    (L + "self_attention/query/bias", H + "attention.self.query.bias", identity),
    (L + "self_attention/key/kernel", H + "attention.self.key.weight", transpose),
    (L + "self_attention/key/bias", H + "attention.self.key.bias", identity),
    (L + "self_attention/value/kernel", H + "attention.self.value.weight", transpose),
    (L + "self_attention/value/bias", H + "attention.self.value.bias", identity),
    (L + "attention_output/kernel", H + "attention.output.dense.weight", transpose),
    (L + "attention_output/bias", H + "attention.output.dense.bias", identity),
    (L + "attention_layer_norm/gamma", H + "attention.output.LayerNorm.weight", identity),
    (L + "attention_layer_norm/beta", H + "attention.output.LayerNorm.bias", identity),
    (L + "intermediate/kernel", H + "intermediate.dense.weight", transpose),
    (L + "intermediate/bias", H + "intermediate.dense.bias", identity),
    (L + "output/kernel", H + "output.dense.weight", transpose),
    (L + "output/bias", H + "output.dense.bias", identity),
    (L + "output_layer_norm/gamma", H + "output.LayerNorm.weight", identity),
    (L + "output_layer_norm/beta", H + "output.LayerNorm.bias", identity),
    ("pooled_dense/kernel", "pooler.dense.weight", transpose),
    ("pooled_dense/bias", "pooler.dense.bias", identity),
]
# Heads without a pooler (MLM, token classification, QA) do not save one.
OPTIONAL = ("pooled_dense/kernel", "pooled_dense/bias")
# The architectures built without a pooler (`add_pooling_layer=False`).
POOLERLESS = ("NezhaForMaskedLM", "NezhaForTokenClassification", "NezhaForQuestionAnswering")

_MLM = [
    ("mlm_head/intermediate_dense/kernel", "cls.predictions.transform.dense.weight", transpose),
    ("mlm_head/intermediate_dense/bias", "cls.predictions.transform.dense.bias", identity),
    ("mlm_head/intermediate_layer_norm/gamma", "cls.predictions.transform.LayerNorm.weight", identity),
    ("mlm_head/intermediate_layer_norm/beta", "cls.predictions.transform.LayerNorm.bias", identity),
    ("mlm_head/output_bias", ("cls.predictions.bias", "cls.predictions.decoder.bias"), identity),
]
_NSP = [
    ("nsp_logits/kernel", "cls.seq_relationship.weight", transpose),
    ("nsp_logits/bias", "cls.seq_relationship.bias", identity),
]


# Architecture -> (head rules, head keys that duplicate tied weights).
HEADS = {
    "NezhaModel": ([], ()),
    "NezhaForSequenceClassification": (torch_linear("logits", "classifier"), ()),
    "NezhaForTokenClassification": (torch_linear("logits", "classifier"), ()),
    "NezhaForMultipleChoice": (torch_linear("logits", "classifier"), ()),
    "NezhaForQuestionAnswering": (torch_linear("span_logits", "qa_outputs"), ()),
    "NezhaForMaskedLM": (_MLM, (r"^cls\.predictions\.decoder\.weight$",)),
    "NezhaForNextSentencePrediction": (_NSP, ()),
    "NezhaForPreTraining": (_MLM + _NSP, (r"^cls\.predictions\.decoder\.weight$",)),
}




def convert_backbone_config(config):
    # `embedding_size`, `inner_group_num` ... in the uploads are ALBERT
    # leftovers that `NezhaModel` ignores; so do we.
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config.get("intermediate_size", 3072),
        "max_relative_position": config.get("max_relative_position", 64),
        "num_segments": config.get("type_vocab_size", 2),
        "dropout": config.get("hidden_dropout_prob", 0.1),
        "attention_dropout": config.get("attention_probs_dropout_prob", 0.1),
        "layer_norm_epsilon": config.get("layer_norm_eps", 1e-12),
        "max_sequence_length": config.get("max_position_embeddings", 512),
    }


def convert_tokenizer_config(config, tokenizer_config):
    """WordPiece settings from `tokenizer_config.json` (BertTokenizer's)."""
    lowercase = tokenizer_config.get("do_lower_case", True)
    return {
        "lowercase": lowercase,
        "strip_accents": tokenizer_config.get("strip_accents"),
        "split_on_cjk": tokenizer_config.get("tokenize_chinese_chars", True),
    }
