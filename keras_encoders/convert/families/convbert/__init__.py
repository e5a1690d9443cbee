"""ConvBERT: Hugging Face `ConvBert*` checkpoints and Yitu's original TF1 releases."""

from keras_encoders.convert.family_spec import FamilySpec, wordpiece_reference_tokenizer
from keras_encoders.convert.families.convbert import hf
from keras_encoders.convert.families.convbert import tf1


def reference_from_source(src, config, hf_class):
    """ConvBertModel loaded with Hugging Face's own TF1 loader."""
    from transformers.models.convbert.modeling_convbert import load_tf_weights_in_convbert

    model = hf_class("ConvBertModel")(config)
    load_tf_weights_in_convbert(model, config, src.path)
    return model.eval(), "ConvBertModel"



SPEC = FamilySpec(
    name="convbert",
    model_types=hf.MODEL_TYPES,
    backbone="ConvBertBackbone",
    tokenizer="ConvBertTokenizer",
    inputs_preprocessor="ConvBertTextClassifierPreprocessor",
    hf_prefix="ConvBert",
    uses_segments=True,
    sample_texts=(
        "The quick brown fox jumps over the lazy dog.",
        "ConvBERT mixes self-attention with span-based dynamic convolution.",
        "Hello!",
        ("Who wrote the paper?", "It was written by researchers at Yitu in 2020."),
    ),
    hf=hf,
    originals={"tf1": tf1},
    tokenizer_files={"vocabulary": ("vocab.txt",)},
    reference_from_source=reference_from_source,
    reference_tokenizer=wordpiece_reference_tokenizer("ConvBertTokenizer"),
)
