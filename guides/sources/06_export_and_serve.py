# %% [markdown]
# # Export a SavedModel and serve it without Keras
#
# `keras_encoders.export_saved_model(task, path)` writes a TensorFlow SavedModel whose
# `serving_default` signature takes **raw strings**: tokenization and packing run inside
# the graph. A client then needs TensorFlow and tensorflow-text, not Keras or this library,
# and TF-Serving can serve the folder as it is. This guide exports a sentiment classifier,
# queries it from a separate TensorFlow-only process, and shows TF-Serving's REST request
# and response format.

# %%
import json
import subprocess
import sys

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

# %% [markdown]
# ## Export
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
# or keras_encoders is loaded.

# %%
CLIENT = '''
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops

serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
outputs = serve(text=tf.constant(json.loads(sys.argv[2])))
print(json.dumps({
    "keras_loaded": "keras_encoders" in sys.modules,
    "probabilities": outputs["probabilities"].numpy().tolist(),
    "label_names": [s.decode() for s in outputs["label_names"].numpy()],
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
np.testing.assert_allclose(
    served["probabilities"], keras.ops.convert_to_numpy(keras.ops.softmax(expected, -1)), atol=1e-4
)

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
# ## The other ways out: ONNX and Hugging Face
#
# The SavedModel carries its tokenizer. Two more exports take the same task:
#
# - **ONNX** (ONNX Runtime, TensorRT, OpenVINO): `keras_encoders.export_onnx(task, path)`
#   writes a model of the token ids, with inputs named as in Keras (`token_ids`,
#   `padding_mask`, `segment_ids`) and dynamic batch and length; `int8=True` quantizes it.
#   Tokenize with the task's preprocessor. It needs `pip install keras-encoders[onnx]`
#   (tf2onnx) and runs from every backend (JAX and torch export in a TensorFlow process).
# - **Hugging Face**: `keras_encoders.export_to_transformers(task, folder)` writes
#   `config.json`, `model.safetensors` and the tokenizer files, which transformers loads
#   with the matching class (here `NezhaForSequenceClassification`).
#
# ```python
# keras_encoders.export_onnx(classifier, "nezha-sentiment.onnx")
# import onnxruntime
# session = onnxruntime.InferenceSession("nezha-sentiment.onnx")
# x = classifier.preprocessor(sentences)
# logits, = session.run(None, {k: np.asarray(v, "int32") for k, v in x.items()})
#
# keras_encoders.export_to_transformers(classifier, "nezha-sentiment-hf")
# from transformers.models.deprecated.nezha import NezhaForSequenceClassification
# model = NezhaForSequenceClassification.from_pretrained("nezha-sentiment-hf")
# ```
