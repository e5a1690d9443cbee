"""NEZHA: Hugging Face `Nezha*` checkpoints and Huawei's original TF1 releases."""

from keras_encoders.convert.family_spec import FamilySpec, wordpiece_reference_tokenizer
from keras_encoders.convert.families.nezha import hf
from keras_encoders.convert.families.nezha import tf1


def reference_from_source(src, config, hf_class):
    """NezhaForPreTraining with Hugging Face's own TF1 loader.

    `load_tf_weights_in_nezha` walks TF names as attributes; the originals
    are scoped `bert/` where the HF model says `nezha`, so it is handed a
    module that exposes the same submodules under the original names.
    ForPreTraining has every part an original checkpoint can hold (pooler,
    MLM and NSP heads); absent heads simply stay unused.
    """
    import torch
    from transformers.models.deprecated.nezha.modeling_nezha import load_tf_weights_in_nezha

    model = hf_class("NezhaForPreTraining")(config)
    view = torch.nn.Module()
    view.bert = model.nezha
    view.cls = model.cls
    load_tf_weights_in_nezha(view, config, src.path)
    return model.eval(), "NezhaForPreTraining"



SPEC = FamilySpec(
    name="nezha",
    model_types=hf.MODEL_TYPES,
    backbone="NezhaBackbone",
    tokenizer="NezhaTokenizer",
    inputs_preprocessor="NezhaTextClassifierPreprocessor",
    hf_prefix="Nezha",
    uses_segments=True,
    sample_texts=(
        "今天天气很好，我们去公园散步吧。",
        "自然语言处理是人工智能的一个重要方向。",
        "华为的NEZHA模型使用相对位置编码。",
        ("北京是中国的首都。", "上海是中国最大的城市。"),
    ),
    hf=hf,
    originals={"tf1": tf1},
    tokenizer_files={"vocabulary": ("vocab.txt",)},
    reference_from_source=reference_from_source,
    reference_tokenizer=wordpiece_reference_tokenizer("BertTokenizer"),
)
