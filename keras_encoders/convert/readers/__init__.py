"""Checkpoint readers: bytes -> NumPy arrays, with no knowledge of any model.

Memory is bounded by the file: a tensor may not hold more elements than the
bytes stored for it, tensors are read-only views of the bytes read (one
storage or byte range under many keys costs one array), conversions (byte
swaps, bfloat16 widening) may allocate at most
`restricted_pickle.MAX_EXPANSION` times the bytes read, a compressed zip
entry may not inflate beyond `torch_bin.MAX_INFLATION` times its stored
size, and shard indexes may only name files next to them. Pickles nested
deeper than `restricted_pickle.MAX_NESTING` are refused before anything is
unpickled (deep nesting crashes CPython's unpickler). Every oddity is a
`CheckpointFormatError` (or `UnsafeCheckpointError`) naming the file and
the key; what a message quotes from the file goes through `errors.quote`,
and every message is capped at `errors.MAX_MESSAGE` characters.

- `restricted_pickle`: the unpickler core shared by `torch_bin` and
  `paddle_params` (never imports, only allow-listed stand-ins).
- `torch_bin`: `pytorch_model.bin` (zip format) without torch.
- `paddle_params`: PaddleNLP `.pdparams` without paddle.
- `safetensors_file`: `.safetensors`, bfloat16 widened exactly.
- `hf_folder`: a Hugging Face checkpoint folder (config, shards, weights).
- `tf1`: name-based TF1 checkpoints (through TensorFlow's reader).
"""
