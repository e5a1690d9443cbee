"""ERNIE-M and UIE-M: Hugging Face `ErnieM*` checkpoints and PaddleNLP `.pdparams`."""

import numpy as np

from keras_encoders.convert.errors import CheckpointMismatchError
from keras_encoders.convert.family_spec import FamilySpec
from keras_encoders.convert.families.ernie_m import hf
from keras_encoders.convert.families.ernie_m import paddle
from keras_encoders.models.ernie_m.ernie_m_backbone import POSITION_OFFSET


def reference_from_source(src, config, hf_class):
    """The transformers model of `src.architecture`, holding the Paddle weights."""
    import torch

    model = hf_class(src.architecture)(config)
    state = paddle.to_hf_state_dict(src.tensors, src.prefix, src.architecture)
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()},
        strict=False,
    )
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"The reference {src.architecture} does not take these weights: "
            f"missing {missing}, unexpected {unexpected}."
        )
    return model.eval(), src.architecture


def reference_tokenizer(files, settings):
    from transformers.models.deprecated.ernie_m import ErnieMTokenizer

    return ErnieMTokenizer(
        sentencepiece_model_ckpt=files["proto"],
        vocab_file=files["vocabulary"],
        do_lower_case=settings.get("lowercase", False),
    )


SPEC = FamilySpec(
    name="ernie_m",
    model_types=hf.MODEL_TYPES,
    backbone="ErnieMBackbone",
    tokenizer="ErnieMTokenizer",
    inputs_preprocessor="ErnieMTextClassifierPreprocessor",
    hf_prefix="ErnieM",
    uses_segments=False,
    sample_texts=(
        "The quick brown fox jumps over the lazy dog.",
        "今天天气很好，我们去公园散步吧。",
        "Le chat dort sur le canapé.",
        ("¿Dónde está la biblioteca?", "Die Bibliothek ist heute geschlossen."),
    ),
    hf=hf,
    originals={"paddle": paddle},
    # ERNIE-M tokenizes with the SentencePiece model but takes ids from vocab.txt.
    tokenizer_files={
        "vocabulary": ("vocab.txt", "ernie_m.vocab.txt"),
        "proto": ("sentencepiece.bpe.model", "ernie_m.sentencepiece.bpe.model"),
    },
    reference_from_source=reference_from_source,
    reference_tokenizer=reference_tokenizer,
    position_offset=POSITION_OFFSET,
)
