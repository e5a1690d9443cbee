# %% [markdown]
# # Export and serve: SavedModel, ONNX and Hugging Face
#
# A fine-tuned task leaves Keras through three doors, each for its own kind of server:
#
# 1. **SavedModel** (`keras_encoders.export_saved_model`): a TensorFlow SavedModel whose
#    `serving_default` signature takes **raw strings** (tokenization and packing run inside
#    the graph). A client needs TensorFlow and tensorflow-text, not Keras or this library,
#    and TF-Serving serves the folder as it is.
# 2. **ONNX** (`keras_encoders.export_onnx`): a model of the token ids for ONNX Runtime,
#    TensorRT or OpenVINO; the tokenizer stays in Python.
# 3. **Hugging Face** (`keras_encoders.export_to_transformers`): a folder transformers
#    loads with `from_pretrained`, and its `pipeline` serves.
#
# This guide exports one sentiment classifier through all three, checks that each gives the
# Keras outputs, and times each one on the same two sentences.

# %%
import json
import subprocess
import sys
import time

import keras
import numpy as np

import keras_encoders
from keras_encoders import models

# %% [markdown]
# ## A classifier to export
#
# With `USE_PRESET`, `nezha_base_zh` with a fresh 2-class head (fine-tune it first as in
# the ChnSentiCorp guide; export works the same either way). The small path builds a tiny
# random NEZHA with a character vocabulary.

# %%
LABEL_NAMES = ["negative", "positive"]
sentences = ["这家酒店很干净，服务也很好。", "房间太小，隔音很差，不会再来了。"]

if USE_PRESET:
    preprocessor = models.NezhaTextClassifierPreprocessor.from_preset("nezha_base_zh", sequence_length=128)
    classifier = models.NezhaTextClassifier.from_preset(
        "nezha_base_zh", num_classes=2, preprocessor=preprocessor, label_names=LABEL_NAMES
    )
else:
    characters = sorted({c for s in sentences for c in s})
    tokenizer = models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=32)
    backbone = models.NezhaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64,
    )
    classifier = models.NezhaTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, label_names=LABEL_NAMES
    )
expected = classifier.predict(sentences, verbose=0)
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(expected, -1))


def latency_ms(call, repeats=10):
    """The median wall time of `call()` in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times))


latency = {}  # door -> milliseconds for the two sentences, raw strings to probabilities

# %% [markdown]
# ## Door 1: a SavedModel
#
# TF-Serving expects `<model folder>/<version>/`. On the torch backend, save a preset with
# `classifier.save_to_preset(...)` and export it on the command line instead:
# `python -m keras_encoders.export ./my-preset ./exported/nezha/1` (it runs under
# TensorFlow).

# %%
EXPORT_DIR = "exported/nezha-sentiment/1"
# `progress=print` says what each slow stage is doing; `verbose=True` would also list
# every variable the graph captures.
keras_encoders.export_saved_model(classifier, EXPORT_DIR, progress=print)

# %% [markdown]
# ## Query it from a TensorFlow-only process
#
# The client below imports only TensorFlow and tensorflow-text (whose ops the tokenizer
# uses: import it before loading). It runs in a fresh Python process, so nothing of Keras
# or keras_encoders is loaded, and it times ten calls after a warm-up one.

# %%
CLIENT = '''
import json, sys, time
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops

serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
texts = tf.constant(json.loads(sys.argv[2]))
outputs = serve(text=texts)
times = []
for _ in range(10):
    began = time.perf_counter()
    serve(text=texts)
    times.append(time.perf_counter() - began)
print(json.dumps({
    "keras_loaded": "keras_encoders" in sys.modules,
    "probabilities": outputs["probabilities"].numpy().tolist(),
    "label_names": [s.decode() for s in outputs["label_names"].numpy()],
    "latency_ms": 1000 * sorted(times)[len(times) // 2],
}, ensure_ascii=False))
'''
with open("client.py", "w") as f:
    f.write(CLIENT)
reply = subprocess.run(
    [sys.executable, "client.py", EXPORT_DIR, json.dumps(sentences)],
    capture_output=True, text=True, check=True,
)
served = json.loads(reply.stdout.strip().splitlines()[-1])
print(json.dumps(served, ensure_ascii=False, indent=1))
np.testing.assert_allclose(served["probabilities"], probabilities, atol=1e-4)
latency["SavedModel (TensorFlow-only process)"] = served["latency_ms"]

# %% [markdown]
# ## TF-Serving
#
# Serve the folder with the official image (it links the tensorflow-text ops):
#
# ```bash
# docker run -p 8501:8501 -v "$PWD/exported/nezha-sentiment:/models/nezha" \
#     -e MODEL_NAME=nezha tensorflow/serving
# ```
#
# A REST request names the signature and gives one instance per example, keyed by the
# signature's input names; the response has one prediction per instance, keyed by output
# name. The cell below builds the request and, without a server, computes the same response
# locally from the SavedModel.

# %%
request = {"signature_name": "serving_default", "instances": [{"text": s} for s in sentences]}
print("POST http://localhost:8501/v1/models/nezha:predict")
print(json.dumps(request, ensure_ascii=False, indent=1))

try:  # a running server
    import urllib.request

    http = urllib.request.Request(
        "http://localhost:8501/v1/models/nezha:predict",
        data=json.dumps(request).encode(), headers={"Content-Type": "application/json"},
    )
    response = json.load(urllib.request.urlopen(http, timeout=2))
except OSError:  # no server here: the same computation, in process
    import tensorflow as tf

    serve = tf.saved_model.load(EXPORT_DIR).signatures["serving_default"]
    outputs = serve(text=tf.constant([i["text"] for i in request["instances"]]))
    columns = {k: v.numpy().tolist() for k, v in outputs.items()}
    response = {"predictions": [
        {k: (v[i].decode() if isinstance(v[i], bytes) else v[i]) for k, v in columns.items()}
        for i in range(len(sentences))
    ]}
print(json.dumps(response, ensure_ascii=False, indent=1)[:1500])

# %% [markdown]
# ## Doors 2 and 3 need ONNX Runtime and transformers 4.57
#
# tf2onnx and ONNX Runtime (`pip install keras-encoders[onnx]`) for ONNX; transformers 4.57
# for Hugging Face, because NEZHA and ERNIE-M left transformers in 5.0 (ConvBERT exports
# load in 4.57 and 5.x). The cell installs what is missing, e.g. on Colab.

# %%
import importlib.metadata
import importlib.util

wanted = []
if importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None:
    wanted += ["tf2onnx>=1.17", "onnx>=1.16", "onnxruntime>=1.18"]
try:
    has_nezha = int(importlib.metadata.version("transformers").split(".")[0]) < 5
except importlib.metadata.PackageNotFoundError:
    has_nezha = False
if not has_nezha:
    wanted.append("transformers==4.57.6")
if wanted:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *wanted])

# %% [markdown]
# ## Door 2: ONNX
#
# `export_onnx` writes a model of the token ids, with inputs named as in Keras
# (`token_ids`, `segment_ids`, `padding_mask`), dynamic batch and length, and outputs equal
# to Keras within 1e-5; `int8=True` quantizes it. It traces under TensorFlow (from JAX or
# torch it exports in a TensorFlow process). The tokens come from the task's preprocessor,
# so the timed call below is the same path as the SavedModel's: raw strings to
# probabilities. The preprocessor runs as one traced TensorFlow graph (`tf.function`):
# called eagerly, op by op, it would take longer than the model. From a saved preset:
# `python -m keras_encoders.onnx_export ./my-preset model.onnx`.

# %%
import onnxruntime
import tensorflow as tf

ONNX_PATH = "exported/nezha-sentiment.onnx"
keras_encoders.export_onnx(classifier, ONNX_PATH)
session = onnxruntime.InferenceSession(ONNX_PATH, providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.shape) for i in session.get_inputs()])
tokenize = tf.function(classifier.preprocessor)  # the tokenizer and packing, traced once


def onnx_probabilities(texts):
    x = tokenize(texts)  # token ids, segment ids, padding mask
    feed = {i.name: np.asarray(keras.ops.convert_to_numpy(x[i.name]), "int32") for i in session.get_inputs()}
    (logits,) = session.run(None, feed)
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


print("probabilities:", onnx_probabilities(sentences).round(5).tolist())
np.testing.assert_allclose(onnx_probabilities(sentences), probabilities, atol=1e-4)
latency["ONNX Runtime (tokenizer in Python)"] = latency_ms(lambda: onnx_probabilities(sentences))

# %% [markdown]
# ## Door 3: Hugging Face
#
# `export_to_transformers` writes `config.json` (with the label names), `model.safetensors`
# and the tokenizer files. transformers loads the folder with `from_pretrained` (here
# `NezhaForSequenceClassification`, through the Auto class) and serves it with its
# `pipeline`. From a saved preset: `python -m keras_encoders.hf_export ./my-preset
# ./my-model-hf`.

# %%
import transformers

HF_DIR = "exported/nezha-sentiment-hf"
keras_encoders.export_to_transformers(classifier, HF_DIR)
model = transformers.AutoModelForSequenceClassification.from_pretrained(HF_DIR)
print(type(model).__name__, model.config.id2label)
pipe = transformers.pipeline(
    "text-classification", model=model,
    tokenizer=transformers.AutoTokenizer.from_pretrained(HF_DIR), top_k=None,
)
answers = pipe(sentences)
print(json.dumps(answers, ensure_ascii=False, indent=1))
for row, answer in zip(probabilities, answers):
    for label in answer:
        assert abs(row[LABEL_NAMES.index(label["label"])] - label["score"]) < 1e-4
latency["transformers pipeline (torch)"] = latency_ms(lambda: pipe(sentences))

# %% [markdown]
# ## The three doors, timed
#
# Each number is the median of ten calls on the two sentences, raw strings to
# probabilities, on this machine. On the small path the model is tiny, so these mostly time
# each door's fixed costs (tokenizer, graph dispatch, pipeline bookkeeping). For base-size
# models at 1, 8 and 32 texts of ~128 tokens, on a named machine, see the committed serving
# benchmark in `benchmarks/serving/` (`tools/benchmark.py`'s serving section).

# %%
for door, ms in latency.items():
    print(f"{door:40s} {ms:8.2f} ms")
