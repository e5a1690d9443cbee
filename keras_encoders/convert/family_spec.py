"""`FamilySpec`: everything the converter knows about one model family.

A family is registered by one package under `convert/families/` whose
`__init__.py` defines `SPEC = FamilySpec(...)`. The engine (`sources`,
`keras_hub_adapter`, `verification`) reads only these fields; nothing is
looked up with `getattr` on a converter module.

Rule modules (`hf`, and `tf1` / `paddle` where the family has an original
format) hold declarative tables, read by `porting`:

* `hf`: `BASE_PREFIXES`, `ANCHOR`, `IGNORE`, `BACKBONE_RULES`, `OPTIONAL`,
  `POOLERLESS` (the architectures without the `OPTIONAL` pooler),
  `INVERSE_TRANSFORMS` (`{transform: inverse}` for the family's own
  transforms, read when writing checkpoints back),
  `HEADS` (`{architecture: (head rules, tied keys)}`),
  `convert_backbone_config(config)`, `convert_tokenizer_config(config,
  tokenizer_config)`.
* original formats: `SOURCE_FORMAT`, `ANCHOR`, `CONFIG_FILES`,
  `BACKBONE_RULES`, `IGNORE`, `HEAD_SCOPES`, `HEADS` (`{architecture: head
  rules}`), `detect_architecture(names)`, and `source_config(file_config,
  tensors, architecture) -> (hf_config, notes)`.
"""

import dataclasses
import types

from keras_encoders import models


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """One model family.

    Attributes:
        name: canonical model type (`"convbert"`).
        model_types: every `config.json` `model_type` spelling (`conv_bert`).
        backbone, tokenizer, inputs_preprocessor: class names in
            `keras_encoders.models` (the preprocessor packs raw strings).
        hf_prefix: transformers class prefix (`"ConvBert"` -> `ConvBertModel`).
        uses_segments: whether the backbone takes `segment_ids`.
        sample_texts: verification inputs (strings and `(a, b)` pairs).
        hf: rule module for Hugging Face layout checkpoints.
        originals: `{format: rule module}` for original releases
            (`"tf1"`, `"paddle"`).
        tokenizer_files: `{argument: candidate file names}` of the tokenizer.
        position_offset: positions the model reserves (`max_position_embeddings
            - position_offset` is the usable length).
        reference_from_source: verification hook, `callable(src, hf_config, hf_class)`
            -> (transformers model, its architecture)` for original formats.
        reference_tokenizer: verification hook, `callable(files, settings)`
            -> the transformers tokenizer.
        saved_form: `callable(src, model) -> model`, the verified model as it
            is written (e.g. UIE-M set up the way PaddleNLP's weights expect
            their inputs); `None` writes the model as verified.
    """

    name: str
    model_types: tuple
    backbone: str
    tokenizer: str
    inputs_preprocessor: str
    hf_prefix: str
    uses_segments: bool
    sample_texts: tuple
    hf: types.ModuleType
    originals: dict
    tokenizer_files: dict
    reference_from_source: object
    reference_tokenizer: object
    position_offset: int = 0
    saved_form: object = None

    @property
    def base_architecture(self):
        return self.hf_prefix + "Model"

    def canonical_architecture(self, name):
        """Fix spelling variants (`NeZhaForMaskedLM` in sijunhe/nezha-cn-base)."""
        for known in self.hf.HEADS:
            if known.lower() == name.lower():
                return known
        return name

    def sequence_length(self, config, limit=512):
        """The preprocessors' length: the checkpoint's positions, at most `limit`."""
        return min(limit, config.get("max_position_embeddings", 512) - self.position_offset)

    def keras_class(self, name):
        """A class of `keras_encoders.models` (`spec.keras_class(spec.backbone)`)."""
        cls = getattr(models, name, None)
        if cls is None:
            raise ValueError(f"keras_encoders.models has no {name}.")
        return cls


def wordpiece_reference_tokenizer(class_name):
    """A `reference_tokenizer` hook for WordPiece families: the transformers
    tokenizer `class_name` (a `BertTokenizer`) with the Keras tokenizer's
    lowercase / accent / CJK settings."""

    def reference_tokenizer(files, settings):
        import transformers

        return getattr(transformers, class_name)(
            vocab_file=files["vocabulary"],
            do_lower_case=settings.get("lowercase", True),
            strip_accents=settings.get("strip_accents"),
            tokenize_chinese_chars=settings.get("split_on_cjk", True),
        )

    return reference_tokenizer
