# %% [markdown]
# # Convert an original TF1 checkpoint (NEZHA-TensorFlow) with verification
#
# Huawei released NEZHA as TensorFlow 1 checkpoints (`model.ckpt-*`, `bert_config.json`,
# `vocab.txt`); ConvBERT's originals are TF1 too and ERNIE-M / UIE-M ship as PaddleNLP
# `.pdparams`. `keras-encoders-convert` turns such a release into a Keras preset, but only
# after checking it: every checkpoint tensor must map to a Keras variable with the right
# shape, and the converted model is compared with transformers on sample texts when
# transformers is installed. If anything fails, nothing is written.
#
# The real release sits on Google Drive / Baidu Yun, so this guide writes a checkpoint in
# the very same layout (variable names, shapes, optimizer slots) with random weights:
# tiny on the small path, NEZHA-base-sized (400 MB) with `USE_PRESET`. Point the command at
# your download instead.

# %%
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

# %% [markdown]
# ## What an original NEZHA release holds

# %%
RELEASE = "nezha-tf1-release"
config = {
    "hidden_size": 768 if USE_PRESET else 32, "num_hidden_layers": 12 if USE_PRESET else 2,
    "num_attention_heads": 12 if USE_PRESET else 4, "intermediate_size": 3072 if USE_PRESET else 64,
    "vocab_size": 21128, "type_vocab_size": 2, "max_position_embeddings": 512,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02, "use_relative_position": True,
}
H, F, V = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
shapes = {
    "bert/embeddings/word_embeddings": (V, H),
    "bert/embeddings/token_type_embeddings": (2, H),
    "bert/embeddings/LayerNorm/gamma": (H,), "bert/embeddings/LayerNorm/beta": (H,),
    "bert/pooler/dense/kernel": (H, H), "bert/pooler/dense/bias": (H,),
    "cls/predictions/transform/dense/kernel": (H, H), "cls/predictions/transform/dense/bias": (H,),
    "cls/predictions/transform/LayerNorm/gamma": (H,), "cls/predictions/transform/LayerNorm/beta": (H,),
    "cls/predictions/output_bias": (V,),
    "cls/seq_relationship/output_weights": (2, H), "cls/seq_relationship/output_bias": (2,),
}
for i in range(config["num_hidden_layers"]):
    layer = f"bert/encoder/layer_{i}/"
    for name in ("query", "key", "value"):
        shapes[layer + f"attention/self/{name}/kernel"] = (H, H)
        shapes[layer + f"attention/self/{name}/bias"] = (H,)
    for name, shape in (("attention/output/dense", (H, H)), ("intermediate/dense", (H, F)),
                        ("output/dense", (F, H))):
        shapes[layer + name + "/kernel"] = shape
        shapes[layer + name + "/bias"] = shape[-1:]
    for name in ("attention/output/LayerNorm", "output/LayerNorm"):
        shapes[layer + name + "/gamma"] = (H,)
        shapes[layer + name + "/beta"] = (H,)

rng = np.random.default_rng(0)
os.makedirs(RELEASE, exist_ok=True)
with tf.Graph().as_default():  # a TF1 Saver, as run_pretraining.py saves
    variables = [
        tf.compat.v1.Variable(rng.normal(0, 0.02, shape).astype("float32"), name=name)
        for name, shape in shapes.items()
    ]
    variables += [tf.compat.v1.Variable(np.zeros(s, "float32"), name=f"{n}/adam_{m}")
                  for n, s in shapes.items() for m in ("m", "v")]  # optimizer slots: skipped
    saver = tf.compat.v1.train.Saver(var_list=variables)
    with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        saver.save(session, os.path.join(RELEASE, "model.ckpt"), global_step=900000)
with open(os.path.join(RELEASE, "bert_config.json"), "w") as f:
    json.dump(config, f, indent=1)

VOCAB_URL = ("https://raw.githubusercontent.com/huawei-noah/Pretrained-Language-Model/"
             "0598f02d7fc4eaa7b4cbc1e9d7ab18bc875c24f9/NEZHA-TensorFlow/nezha/vocab.txt")
with open(data_file("vocab/bert-base-chinese-vocab.txt", VOCAB_URL), encoding="utf-8") as f:
    vocabulary = f.read()
with open(os.path.join(RELEASE, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write(vocabulary)
print(sorted(os.listdir(RELEASE)))
print(len(tf.train.list_variables(RELEASE)), "variables, e.g.", tf.train.list_variables(RELEASE)[:3])

# %% [markdown]
# ## Convert, with verification
#
# `keras-encoders-convert SOURCE OUTPUT` (also `python tools/convert_checkpoint.py`) reads
# the release without importing the original code, checks it, and writes a Keras preset
# folder plus a `conversion.json` record. Its exit status is 0 only if everything passed.

# %%
command = [sys.executable, "-m", "keras_encoders.convert.cli", RELEASE, "nezha-keras", "--overwrite"]
result = subprocess.run(command, capture_output=True, text=True)
print(result.stdout[-3000:], result.stderr[-2000:])
assert result.returncode == 0, "conversion refused: see the report above"
print(sorted(os.listdir("nezha-keras")))

# %% [markdown]
# ## Use the converted preset
#
# It loads like any preset: the backbone alone, or any task on top of it (here a
# classifier with a fresh 2-class head; the pre-training heads came along too, for
# `NezhaMaskedLM` and `NezhaPreTrainer`).

# %%
import keras_encoders
from keras_encoders import models

backbone = models.NezhaBackbone.from_preset("nezha-keras")
classifier = models.NezhaTextClassifier.from_preset("nezha-keras", num_classes=2)
print(type(backbone).__name__, backbone.count_params(), "parameters")
print(classifier.predict(["今天天气很好"], verbose=0))

# %% [markdown]
# A conversion that does not match is refused. Drop a tensor from the checkpoint and the
# report names it, and `nezha-broken` is never written.

# %%
broken = "nezha-tf1-broken"
os.makedirs(broken, exist_ok=True)
with tf.Graph().as_default():
    kept = [tf.compat.v1.Variable(tf.train.load_variable(RELEASE, n), name=n)
            for n in shapes if n != "bert/encoder/layer_0/output/dense/bias"]
    with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver(var_list=kept).save(session, os.path.join(broken, "model.ckpt"))
for name in ("bert_config.json", "vocab.txt"):
    with open(os.path.join(RELEASE, name), encoding="utf-8") as src, \
            open(os.path.join(broken, name), "w", encoding="utf-8") as dst:
        dst.write(src.read())
result = subprocess.run(command[:3] + [broken, "nezha-broken"], capture_output=True, text=True)
print("exit status", result.returncode, "| written:", os.path.exists("nezha-broken"))
print((result.stdout + result.stderr)[-1500:])
