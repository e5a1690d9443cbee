"""ONNX: a task as an ONNX model of its token-id inputs (ONNX Runtime,
TensorRT, OpenVINO).

`export_onnx(task, path)` writes it (optionally int8-quantized);
`python -m keras_encoders.onnx_export` exports a saved preset or `.keras`
file from the command line.
"""

from keras_encoders.onnx_export.onnx_writer import export_onnx
