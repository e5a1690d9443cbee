"""ConvBERT: Yitu's original TF1 checkpoints (yitu-opensource/ConvBert) -> Keras.

The checkpoints come from ELECTRA-style pre-training: the discriminator (the
model everyone fine-tunes, scoped `electra/...`) shares its embeddings with a
smaller generator (`generator/...`) and carries the two pre-training heads
(`generator_predictions/...`, `discriminator_predictions/...`). As in
Hugging Face's converter, the discriminator body is the model; the generator
and both heads are listed as skipped.

All original layouts are Keras layouts: `tf.layers.dense` kernels are
`(in, out)`, `separable_conv1d` kernels are `(k, D, 1)` / `(1, D, A)` like
`keras.layers.SeparableConv1D`, and the grouped FFN (`g_dense`) kernel is
`(groups, in/groups, out/groups)` like `GroupedDense`. So every rule is the
identity.

The release ships no config file: the original code derives the
configuration from `--model-size` (`util/training_utils.py`). It is read off
the checkpoint's shapes instead (`infer_config`), which determines all of it.
"""

from keras_encoders.convert.porting import identity

MODEL_TYPE = "convbert"
SOURCE_FORMAT = "TF1 checkpoint (Yitu ConvBERT, ELECTRA-style)"
CONFIG_FILES = ("config.json", "bert_config.json")
ANCHOR = "electra/embeddings/word_embeddings"

L = "transformer_layer_{i}/"
A = L + "self_attention/"
T = "electra/encoder/layer_{i}/"
S = T + "attention/self/"
BACKBONE_RULES = [
    ("token_embedding/embeddings", "electra/embeddings/word_embeddings", identity),
    ("position_embedding/embeddings", "electra/embeddings/position_embeddings", identity),
    ("segment_embedding/embeddings", "electra/embeddings/token_type_embeddings", identity),
    ("embeddings_layer_norm/gamma", "electra/embeddings/LayerNorm/gamma", identity),
    ("embeddings_layer_norm/beta", "electra/embeddings/LayerNorm/beta", identity),
    # Only when embedding_size != hidden_size (small, medium-small).
    ("embeddings_projection/kernel", "electra/embeddings_project/kernel", identity),
    ("embeddings_projection/bias", "electra/embeddings_project/bias", identity),
    (A + "query/kernel", S + "query/kernel", identity),
    (A + "query/bias", S + "query/bias", identity),
    (A + "key/kernel", S + "key/kernel", identity),
    (A + "key/bias", S + "key/bias", identity),
    (A + "value/kernel", S + "value/kernel", identity),
    (A + "value/bias", S + "value/bias", identity),
    (A + "key_conv/depthwise_kernel", S + "conv_attn_key/depthwise_kernel", identity),
    (A + "key_conv/pointwise_kernel", S + "conv_attn_key/pointwise_kernel", identity),
    (A + "key_conv/bias", S + "conv_attn_key/bias", identity),
    (A + "conv_kernel/kernel", S + "conv_attn_kernel/kernel", identity),
    (A + "conv_kernel/bias", S + "conv_attn_kernel/bias", identity),
    (A + "conv_out/kernel", S + "conv_attn_point/kernel", identity),
    (A + "conv_out/bias", S + "conv_attn_point/bias", identity),
    (L + "attention_output/kernel", T + "attention/output/dense/kernel", identity),
    (L + "attention_output/bias", T + "attention/output/dense/bias", identity),
    (L + "attention_layer_norm/gamma", T + "attention/output/LayerNorm/gamma", identity),
    (L + "attention_layer_norm/beta", T + "attention/output/LayerNorm/beta", identity),
    # `dense` with linear_groups == 1, `g_dense` (grouped) otherwise.
    (L + "intermediate/kernel", (T + "intermediate/dense/kernel", T + "intermediate/g_dense/kernel"), identity),
    (L + "intermediate/bias", (T + "intermediate/dense/bias", T + "intermediate/g_dense/bias"), identity),
    (L + "output/kernel", (T + "output/dense/kernel", T + "output/g_dense/kernel"), identity),
    (L + "output/bias", (T + "output/dense/bias", T + "output/g_dense/bias"), identity),
    (L + "output_layer_norm/gamma", T + "output/LayerNorm/gamma", identity),
    (L + "output_layer_norm/beta", T + "output/LayerNorm/beta", identity),
]

HEADS = {"ConvBertModel": []}
HEAD_SCOPES = ()
# Pre-training parts that are not the discriminator body (HF drops them too).
IGNORE = (r"^generator/", r"^generator_predictions/", r"^discriminator_predictions/")


def detect_architecture(names):
    return "ConvBertModel"


def _shape(tensors, name):
    if name not in tensors:
        raise ValueError(
            f"The checkpoint has no `{name}`: it is not an original ConvBERT "
            "(ELECTRA-style, `electra/` scope) checkpoint."
        )
    return tuple(tensors[name].shape)


def infer_config(tensors):
    """The ConvBERT configuration that the checkpoint's shapes determine.

    With N attention heads, head ratio r and hidden size H, a layer has
    N' = N / r self-attention heads of size d = H / N (the original computes
    d from the un-halved N), so `query` maps H -> N'*d, `conv_attn_kernel`
    maps N'*d -> N'*k and the depthwise kernel is (k, H, 1). Hence
    N = N' * H / (N'*d) and r = N / N' (r = 1 also reproduces the original's
    fallback to one head when N < r).
    """
    vocab, embedding = _shape(tensors, "electra/embeddings/word_embeddings")
    positions = _shape(tensors, "electra/embeddings/position_embeddings")[0]
    segments = _shape(tensors, "electra/embeddings/token_type_embeddings")[0]
    prefix = "electra/encoder/layer_"
    layers = len({n[len(prefix):].split("/")[0] for n in tensors if n.startswith(prefix)})
    s = "electra/encoder/layer_0/attention/self/"
    hidden, attention_width = _shape(tensors, s + "query/kernel")
    kernel_size = _shape(tensors, s + "conv_attn_key/depthwise_kernel")[0]
    conv_heads_times_k = _shape(tensors, s + "conv_attn_kernel/kernel")[1]
    if conv_heads_times_k % kernel_size:
        raise ValueError("conv_attn_kernel does not match conv_attn_key's kernel size.")
    new_heads = conv_heads_times_k // kernel_size
    if (new_heads * hidden) % attention_width:
        raise ValueError("Inconsistent attention shapes in layer 0.")
    heads = new_heads * hidden // attention_width
    if heads % new_heads:
        raise ValueError("Cannot infer the head ratio from layer 0's shapes.")
    head_ratio = heads // new_heads
    grouped = "electra/encoder/layer_0/intermediate/g_dense/kernel"
    if grouped in tensors:
        groups, _, per_group = _shape(tensors, grouped)
        intermediate = groups * per_group
    else:
        groups = 1
        intermediate = _shape(tensors, "electra/encoder/layer_0/intermediate/dense/kernel")[1]
    return {
        "model_type": MODEL_TYPE,
        "architectures": ["ConvBertModel"],
        "vocab_size": vocab,
        "embedding_size": embedding,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "head_ratio": head_ratio,
        "conv_kernel_size": kernel_size,
        "num_groups": groups,
        "intermediate_size": intermediate,
        "max_position_embeddings": positions,
        "type_vocab_size": segments,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "layer_norm_eps": 1e-12,  # TF1 contrib layer_norm
        "initializer_range": 0.02,
        "pad_token_id": 0,
    }


# BertConfig field names of the original code -> Hugging Face ones.
_ORIGINAL_NAMES = {"linear_groups": "num_groups"}
# The fields `infer_config` reads off shapes (the rest are defaults).
_FROM_SHAPES = (
    "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
    "num_attention_heads", "head_ratio", "conv_kernel_size", "num_groups",
    "intermediate_size", "max_position_embeddings", "type_vocab_size",
)


def convert_config(file_config, tensors, architecture):
    """A Hugging Face `ConvBertConfig` dict; `file_config` (if any) wins.

    Returns `(config, notes)`.
    """
    config = infer_config(tensors)
    notes = []
    if file_config:
        for key, value in file_config.items():
            key = _ORIGINAL_NAMES.get(key, key)
            if key in _FROM_SHAPES and config[key] != value:
                notes.append(
                    f"config file sets {key}={value!r}; the checkpoint's shapes "
                    f"suggest {config[key]!r} (the file's value is used)."
                )
            if key in config or key in ("hidden_act", "layer_norm_eps"):
                config[key] = value
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act={config['hidden_act']!r} is not supported.")
    else:
        notes.append(
            "No config file: the configuration was read off the checkpoint's "
            "shapes (the original release derives it from --model-size)."
        )
    config["architectures"] = [architecture]
    return config, notes


# Everything the config says can also be read from the tensors' shapes.
CONFIG_REQUIRED = False


def check_identity(prefix, names):
    """Refuse a look-alike: ELECTRA has the same scopes but no convolution."""
    if not any("/conv_attn_key/" in n for n in names):
        raise ValueError(
            f"{prefix} has no span-based convolution (conv_attn_key): it is "
            "an ELECTRA checkpoint, not ConvBERT."
        )


source_config = convert_config
