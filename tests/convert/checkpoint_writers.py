"""Write checkpoints in the original formats, from transformers weights.

* TF1: `tf.compat.v1.train.Saver` on variables named with the original graph
  names (NEZHA-TensorFlow `bert/...`, `cls/...`; Yitu ConvBERT
  `electra/...`), plus the optimizer's `adam_m`/`adam_v` slots and
  `global_step`, as the original training scripts save them. The names are
  the inverse of Hugging Face's own TF1 loaders (`load_tf_weights_in_nezha`,
  `load_tf_weights_in_convbert`).
* Paddle: `write_pdparams` does what `paddle.save(state_dict, path, protocol)`
  does (paddle/framework/io.py `_legacy_save`): every tensor becomes
  `np.array(tensor)` (`_build_saved_state_dict`), the name table
  `"StructuredToParameterName@@"` is added, and, for pickle protocols 2 and
  3 only, arrays over 2**30 - 1 bytes are split into `"<name>@@.<i>"` slices
  described by `"UnpackBigParamInfor@@"` (`_unpack_saved_dict`); then
  `pickle.dump(obj, f, protocol)` (default protocol 4). The split threshold
  is a parameter so that small files exercise the re-joining.
  `test_paddle_checkpoints.test_genuine_paddle_save_files` checks this
  against genuine `paddle.save` output whenever paddle is installed.
"""

import json
import math
import os
import pickle
import re

import numpy as np
import tensorflow as tf
import torch
import transformers

from tests.conftest import asset


def randomize(model, seed=0):
    """Noise on every parameter: non-zero biases, non-trivial LayerNorms."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


# === TF1 ===
def write_tf1_checkpoint(directory, tensors, optimizer_slots=True):
    """A TF1 `Saver` checkpoint of `{original name: array}` in `directory`."""
    os.makedirs(directory, exist_ok=True)
    with tf.Graph().as_default():
        variables = {
            name: tf.compat.v1.Variable(value, name=name.replace("/", "_"))
            for name, value in tensors.items()
        }
        if optimizer_slots:  # AdamWeightDecayOptimizer's slots and the step
            for name, value in tensors.items():
                for slot in ("adam_m", "adam_v"):
                    variables[f"{name}/{slot}"] = tf.compat.v1.Variable(
                        np.full_like(value, 0.5), name=f"{name}_{slot}".replace("/", "_")
                    )
            variables["global_step"] = tf.compat.v1.Variable(
                np.int64(1000), name="global_step"
            )
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, os.path.join(directory, "model.ckpt"), global_step=1000)


def nezha_tf1_names(state_dict):
    """HF NezhaForPreTraining keys -> NEZHA-TensorFlow variable names."""
    out = {}
    for key, value in state_dict.items():
        value = value.numpy()
        if key.endswith("positions_encoding") or key == "cls.predictions.decoder.weight":
            continue  # a buffer; the tied decoder is the word embedding
        if key == "cls.predictions.decoder.bias":
            continue  # tied to cls.predictions.bias
        name = re.sub(r"\.layer\.(\d+)\.", r".layer_\1.", key.replace("nezha.", "bert.", 1))
        parts = name.split(".")
        if name == "cls.predictions.bias":
            parts = ["cls", "predictions", "output_bias"]
        elif name.startswith("cls.seq_relationship."):
            parts = ["cls", "seq_relationship", "output_weights" if parts[-1] == "weight" else "output_bias"]
        elif parts[-2].endswith("_embeddings"):
            parts = parts[:-1]
        elif "LayerNorm" in parts:
            parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
        elif parts[-1] == "weight":
            parts[-1] = "kernel"
            value = value.T
        out["/".join(parts)] = np.ascontiguousarray(value)
    return out


def convbert_tf1_names(state_dict, num_groups):
    """HF ConvBertModel keys -> original ConvBERT (ELECTRA-style) names."""
    out = {}
    for key, value in state_dict.items():
        value = value.numpy()
        if key.endswith(("position_ids", "token_type_ids")):
            continue
        name = re.sub(r"\.layer\.(\d+)\.", r".layer_\1.", "electra." + key)
        name = (
            name.replace("key_conv_attn_layer.depthwise.weight", "conv_attn_key.depthwise_kernel")
            .replace("key_conv_attn_layer.pointwise.weight", "conv_attn_key.pointwise_kernel")
            .replace("key_conv_attn_layer.bias", "conv_attn_key.bias")
            .replace("conv_kernel_layer", "conv_attn_kernel")
            .replace("conv_out_layer", "conv_attn_point")
        )
        if num_groups > 1:
            name = name.replace("intermediate.dense", "intermediate.g_dense").replace(
                "output.dense", "output.g_dense"
            ).replace("attention.output.g_dense", "attention.output.dense")
        parts = name.split(".")
        if parts[-1] == "depthwise_kernel":
            value = value.transpose(2, 0, 1)  # (D, 1, k) -> (k, D, 1)
        elif parts[-1] == "pointwise_kernel":
            value = value.transpose(2, 1, 0)  # (A, D, 1) -> (1, D, A)
        elif name.endswith("conv_attn_key.bias"):
            value = value[:, 0]
        elif parts[-2].endswith("_embeddings"):
            parts = parts[:-1]
        elif "LayerNorm" in parts:
            parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
        elif parts[-1] == "weight":
            parts[-1] = "kernel"
            value = value if "g_dense" in parts else value.T
        out["/".join(parts)] = np.ascontiguousarray(value)
    return out


# === Release folders ===
NEZHA_VOCAB = 21128  # the real bert-base-chinese vocabulary


def nezha_config(**kwargs):
    defaults = dict(
        vocab_size=NEZHA_VOCAB, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
        max_relative_position=64,  # what the original TF code hard-codes
    )
    return transformers.NezhaConfig(**{**defaults, **kwargs})


def nezha_release(directory, model, drop=()):
    """A NEZHA-TensorFlow release folder: checkpoint, bert_config.json, vocab.txt."""
    tensors = {
        k: v for k, v in nezha_tf1_names(model.state_dict()).items()
        if not any(k.startswith(d) for d in drop)
    }
    write_tf1_checkpoint(directory, tensors)
    c = model.config
    with open(os.path.join(directory, "bert_config.json"), "w") as f:
        json.dump({
            "attention_probs_dropout_prob": 0.1, "directionality": "bidi",
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "hidden_size": c.hidden_size, "initializer_range": 0.02,
            "intermediate_size": c.intermediate_size,
            "max_position_embeddings": c.max_position_embeddings,
            "num_attention_heads": c.num_attention_heads,
            "num_hidden_layers": c.num_hidden_layers, "type_vocab_size": 2,
            "vocab_size": c.vocab_size, "use_relative_position": True,
        }, f)
    with open(asset("vocab", "bert-base-chinese-vocab.txt"), encoding="utf-8") as f:
        vocab = f.read()
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write(vocab)
    return directory


# === Paddle ===
def write_pdparams(path, state, protocol=4, max_bytes=2**30 - 1):
    """`paddle.save(state_dict, path, protocol)` for `{name: np.ndarray}`."""
    saved = dict(state)
    saved["StructuredToParameterName@@"] = {
        name: f"param_{i}.w_0" for i, name in enumerate(state)
    }
    if 1 < protocol < 4:  # _unpack_saved_dict
        info = {}
        for key, value in list(state.items()):
            limit = int(max_bytes / value.dtype.itemsize)
            if value.size > limit:
                flat = value.flatten()
                parts = [f"{key}@@.{i}" for i in range(math.ceil(value.size / limit))]
                info[key] = {"OriginShape": value.shape, "slices": parts}
                saved.pop(key)
                for i, part in enumerate(parts):
                    saved[part] = flat[i * limit:(i + 1) * limit]
        if info:
            saved["UnpackBigParamInfor@@"] = info
    with open(path, "wb") as f:
        pickle.dump(saved, f, protocol=protocol)
    return path


def paddle_names(hf_state, ie):
    """HF ErnieM* keys/layouts -> PaddleNLP's ErnieMModel / UIEM ones."""
    out = {}
    for key, value in hf_state.items():
        value = value.numpy()
        name = key.replace(".self_attn.self_attn.", ".self_attn.")
        if not ie:
            name = "ernie_m." + name
        if name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name:
            value = value.T
        out[name] = np.ascontiguousarray(value)
    # A persistable buffer in later PaddleNLP releases.
    out["ernie_m.embeddings.position_ids"] = np.arange(
        hf_state["ernie_m.embeddings.position_embeddings.weight" if ie else
                 "embeddings.position_embeddings.weight"].shape[0], dtype="int64"
    )[None]
    return out


