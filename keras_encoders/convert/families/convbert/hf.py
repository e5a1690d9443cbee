"""ConvBERT: Hugging Face `ConvBertModel` / `ConvBertFor*` checkpoints -> Keras."""

import numpy as np

from keras_encoders.convert.porting import identity
from keras_encoders.convert.porting import torch_linear
from keras_encoders.convert.porting import transpose

MODEL_TYPES = ("convbert", "conv_bert")  # the YituTech uploads use both
BASE_PREFIXES = ("convbert.", "")
ANCHOR = "embeddings.word_embeddings.weight"
# Buffers, not weights (older saves still carry them).
IGNORE = (r"embeddings\.position_ids$", r"embeddings\.token_type_ids$")
# Every weight is required (ConvBERT has no pooler).
OPTIONAL = ()
POOLERLESS = ()


# === Transforms (checkpoint array -> Keras array) ===
def linear_or_grouped(x, shape):
    """Feed-forward weight: torch `Linear` (out, in) -> `Dense` kernel (in, out);
    `GroupedLinearLayer` (G, in/G, out/G) is already `GroupedDense`'s layout.

    The checkpoint's own rank says which one it is; `port_weights` then
    reports a shape mismatch if it disagrees with the configured `num_groups`.
    """
    return x if x.ndim == 3 else np.transpose(x)


def depthwise_kernel(x, shape):
    """torch depthwise `Conv1d.weight` (D, 1, k) -> `SeparableConv1D` (k, D, 1)."""
    return np.transpose(x, (2, 0, 1)) if x.ndim == 3 else x


def pointwise_kernel(x, shape):
    """torch pointwise `Conv1d.weight` (A, D, 1) -> `SeparableConv1D` (1, D, A)."""
    return np.transpose(x, (2, 1, 0)) if x.ndim == 3 else x


def column_bias(x, shape):
    """The separable conv's bias parameter (A, 1) -> (A,)."""
    return x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x


# Keras array -> checkpoint array (see `porting.INVERSE_TRANSFORMS`); a grouped
# kernel keeps its layout, and so the feed-forward transform is its own inverse.
INVERSE_TRANSFORMS = {
    linear_or_grouped: lambda x: linear_or_grouped(x, None),
    depthwise_kernel: lambda x: np.transpose(x, (1, 2, 0)),
    pointwise_kernel: lambda x: np.transpose(x, (2, 1, 0)),
    column_bias: lambda x: x[:, None],
}


L = "transformer_layer_{i}/"
A = L + "self_attention/"
H = "encoder.layer.{i}."
S = H + "attention.self."
BACKBONE_RULES = [
    ("token_embedding/embeddings", "embeddings.word_embeddings.weight", identity),
    ("position_embedding/embeddings", "embeddings.position_embeddings.weight", identity),
    ("segment_embedding/embeddings", "embeddings.token_type_embeddings.weight", identity),
    ("embeddings_layer_norm/gamma", "embeddings.LayerNorm.weight", identity),
    ("embeddings_layer_norm/beta", "embeddings.LayerNorm.bias", identity),
    # Present only when embedding_size != hidden_size (rules for variables
    # the model does not have are simply unused).
    ("embeddings_projection/kernel", "embeddings_project.weight", transpose),
    ("embeddings_projection/bias", "embeddings_project.bias", identity),
    (A + "query/kernel", S + "query.weight", transpose),
    (A + "query/bias", S + "query.bias", identity),
    (A + "key/kernel", S + "key.weight", transpose),
    (A + "key/bias", S + "key.bias", identity),
    (A + "value/kernel", S + "value.weight", transpose),
    (A + "value/bias", S + "value.bias", identity),
    (A + "key_conv/depthwise_kernel", S + "key_conv_attn_layer.depthwise.weight", depthwise_kernel),
    (A + "key_conv/pointwise_kernel", S + "key_conv_attn_layer.pointwise.weight", pointwise_kernel),
    (A + "key_conv/bias", S + "key_conv_attn_layer.bias", column_bias),
    (A + "conv_kernel/kernel", S + "conv_kernel_layer.weight", transpose),
    (A + "conv_kernel/bias", S + "conv_kernel_layer.bias", identity),
    (A + "conv_out/kernel", S + "conv_out_layer.weight", transpose),
    (A + "conv_out/bias", S + "conv_out_layer.bias", identity),
    (L + "attention_output/kernel", H + "attention.output.dense.weight", transpose),
    (L + "attention_output/bias", H + "attention.output.dense.bias", identity),
    (L + "attention_layer_norm/gamma", H + "attention.output.LayerNorm.weight", identity),
    (L + "attention_layer_norm/beta", H + "attention.output.LayerNorm.bias", identity),
    (L + "intermediate/kernel", H + "intermediate.dense.weight", linear_or_grouped),
    (L + "intermediate/bias", H + "intermediate.dense.bias", identity),
    (L + "output/kernel", H + "output.dense.weight", linear_or_grouped),
    (L + "output/bias", H + "output.dense.bias", identity),
    (L + "output_layer_norm/gamma", H + "output.LayerNorm.weight", identity),
    (L + "output_layer_norm/beta", H + "output.LayerNorm.bias", identity),
]


# The generator head (ELECTRA's small MLM generator, in ConvBERT's naming);
# its output matrix is the word embedding (tied), its bias is its own.
_MLM = torch_linear("mlm_head/intermediate_dense", "generator_predictions.dense") + [
    ("mlm_head/intermediate_layer_norm/gamma", "generator_predictions.LayerNorm.weight", identity),
    ("mlm_head/intermediate_layer_norm/beta", "generator_predictions.LayerNorm.bias", identity),
    ("mlm_head/output_bias", "generator_lm_head.bias", identity),
]

# Architecture -> (head rules, head keys that duplicate tied weights).
HEADS = {
    "ConvBertModel": ([], ()),
    "ConvBertForMaskedLM": (_MLM, (r"^generator_lm_head\.weight$",)),
    # ConvBertClassificationHead: dense + gelu on h[:, 0], then out_proj.
    "ConvBertForSequenceClassification": (
        torch_linear("classifier_hidden", "classifier.dense")
        + torch_linear("logits", "classifier.out_proj"),
        (),
    ),
    "ConvBertForTokenClassification": (torch_linear("logits", "classifier"), ()),
    "ConvBertForQuestionAnswering": (torch_linear("span_logits", "qa_outputs"), ()),
    # The sequence summary has no weights (no summary_* config fields).
    "ConvBertForMultipleChoice": (torch_linear("logits", "classifier"), ()),
}




def convert_backbone_config(config):
    activation = config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"ConvBERT checkpoints with hidden_act={activation!r} are not "
            "supported; the port implements the exact (erf) GELU that every "
            "published checkpoint uses."
        )
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config.get("intermediate_size", 3072),
        # ConvBertConfig's default, also when it differs from hidden_size.
        "embedding_dim": config.get("embedding_size", 768),
        "head_ratio": config.get("head_ratio", 2),
        "conv_kernel_size": config.get("conv_kernel_size", 9),
        "num_groups": config.get("num_groups", 1),
        "num_segments": config.get("type_vocab_size", 2),
        "dropout": config.get("hidden_dropout_prob", 0.1),
        "attention_dropout": config.get("attention_probs_dropout_prob", 0.1),
        "layer_norm_epsilon": config.get("layer_norm_eps", 1e-12),
        "max_sequence_length": config.get("max_position_embeddings", 512),
    }


def convert_tokenizer_config(config, tokenizer_config):
    """WordPiece settings from `tokenizer_config.json` (ConvBertTokenizer's).

    The YituTech uploads may have no `tokenizer_config.json`; the class
    defaults (uncased, accents stripped) then apply, as in Hugging Face.
    """
    return {
        "lowercase": tokenizer_config.get("do_lower_case", True),
        "strip_accents": tokenizer_config.get("strip_accents"),
        "split_on_cjk": tokenizer_config.get("tokenize_chinese_chars", True),
    }
