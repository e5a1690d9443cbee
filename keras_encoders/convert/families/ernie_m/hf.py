"""ERNIE-M: Hugging Face `ErnieMModel` / `ErnieMFor*` checkpoints -> Keras."""

from keras_encoders.convert.porting import identity
from keras_encoders.convert.porting import torch_linear
from keras_encoders.convert.porting import transpose
from keras_encoders.models.ernie_m.ernie_m_backbone import POSITION_OFFSET

MODEL_TYPES = ("ernie_m",)
BASE_PREFIXES = ("ernie_m.", "")
ANCHOR = "embeddings.word_embeddings.weight"
# Buffers, not weights.
IGNORE = (r"position_ids$",)

L = "transformer_layer_{i}/"
H = "encoder.layers.{i}."
# Paddle's TransformerEncoderLayer names; `self_attn` nests twice in HF.
A = H + "self_attn.self_attn."
BACKBONE_RULES = [
    ("token_embedding/embeddings", "embeddings.word_embeddings.weight", identity),
    ("position_embedding/embeddings", "embeddings.position_embeddings.weight", identity),
    ("embeddings_layer_norm/gamma", "embeddings.layer_norm.weight", identity),
    ("embeddings_layer_norm/beta", "embeddings.layer_norm.bias", identity),
    (L + "self_attention/query/kernel", A + "q_proj.weight", transpose),
    (L + "self_attention/query/bias", A + "q_proj.bias", identity),
    (L + "self_attention/key/kernel", A + "k_proj.weight", transpose),
    (L + "self_attention/key/bias", A + "k_proj.bias", identity),
    (L + "self_attention/value/kernel", A + "v_proj.weight", transpose),
    (L + "self_attention/value/bias", A + "v_proj.bias", identity),
    (L + "attention_output/kernel", H + "self_attn.out_proj.weight", transpose),
    (L + "attention_output/bias", H + "self_attn.out_proj.bias", identity),
    (L + "attention_layer_norm/gamma", H + "norm1.weight", identity),
    (L + "attention_layer_norm/beta", H + "norm1.bias", identity),
    (L + "intermediate/kernel", H + "linear1.weight", transpose),
    (L + "intermediate/bias", H + "linear1.bias", identity),
    (L + "output/kernel", H + "linear2.weight", transpose),
    (L + "output/bias", H + "linear2.bias", identity),
    (L + "output_layer_norm/gamma", H + "norm2.weight", identity),
    (L + "output_layer_norm/beta", H + "norm2.bias", identity),
    ("pooled_dense/kernel", "pooler.dense.weight", transpose),
    ("pooled_dense/bias", "pooler.dense.bias", identity),
]
# Token classification and QA checkpoints are saved without a pooler.
OPTIONAL = ("pooled_dense/kernel", "pooled_dense/bias")
# The architectures built without a pooler (`add_pooling_layer=False`).
POOLERLESS = ("ErnieMForTokenClassification", "ErnieMForQuestionAnswering")


# Architecture -> (head rules, head keys that duplicate tied weights).
HEADS = {
    "ErnieMModel": ([], ()),
    "ErnieMForSequenceClassification": (torch_linear("logits", "classifier"), ()),
    "ErnieMForTokenClassification": (torch_linear("logits", "classifier"), ()),
    "ErnieMForMultipleChoice": (torch_linear("logits", "classifier"), ()),
    "ErnieMForQuestionAnswering": (torch_linear("span_logits", "qa_outputs"), ()),
    # UIE-M: two Dense(1) on the sequence output. HF returns their raw
    # logits (its `sigmoid` is never applied); PaddleNLP returns probabilities.
    "ErnieMForInformationExtraction": (
        torch_linear("start_logits", "linear_start") + torch_linear("end_logits", "linear_end"),
        (),
    ),
}




def convert_backbone_config(config):
    # Only exact GELU is implemented; anything else would load without error
    # and give wrong numbers. Every published config uses "gelu".
    activation = config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"ErnieMBackbone implements hidden_act='gelu' only; this config "
            f"has hidden_act={activation!r}."
        )
    # `act_dropout: null` means "same as hidden_dropout_prob" in the reference.
    hidden_dropout = config.get("hidden_dropout_prob", 0.1)
    act_dropout = config.get("act_dropout", 0.0)
    # HF honours `intermediate_size` (Paddle hard-coded 4 * hidden; the large
    # checkpoint's config was fixed to 4096 accordingly). `type_vocab_size`
    # in the uploads is unused by the model.
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config.get("intermediate_size", 3072),
        "dropout": hidden_dropout,
        "attention_dropout": config.get("attention_probs_dropout_prob", 0.1),
        "activation_dropout": hidden_dropout if act_dropout is None else act_dropout,
        "layer_norm_epsilon": config.get("layer_norm_eps", 1e-5),
        "max_sequence_length": config.get("max_position_embeddings", 514)
        - POSITION_OFFSET,
        "pad_token_id": config.get("pad_token_id", 1),
    }


def convert_tokenizer_config(config, tokenizer_config):
    """`ErnieMTokenizer` settings from `tokenizer_config.json`."""
    # The published tokenizer configs say `do_lower_case: false`, the HF default.
    return {"lowercase": tokenizer_config.get("do_lower_case", False)}

