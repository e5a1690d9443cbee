"""Universal information extraction (UIE): prompt-driven span extraction."""

import os

import keras
import numpy as np
from keras import ops
from keras_hub.models import Task

from keras_encoders.decoding import information_extraction as uie
from keras_encoders.models import collapsed_padding
from keras_encoders.models import encoder_task

# What reading "paddlenlp" (PaddleNLP Taskflow's UIE-M) or "transformers"
# inputs takes, part by part: see `InformationExtractor.with_convention`.
CONVENTION_SETTINGS = {
    "paddlenlp": {"pad_position_id": 0, "reference": "paddlenlp", "decoding": "taskflow"},
    "transformers": {"pad_position_id": None, "reference": "transformers", "decoding": "tokens"},
}

# What turns examples in PaddleNLP's format (a `train.txt` path, or the
# example dicts) into `(x, y)` for `fit`, `validation_data` and `evaluate`:
# registered by `keras_encoders.uie`, which knows the format and sits above
# models (models never import it; importing keras_encoders imports it).
EXAMPLE_READERS = []


def register_example_reader(reader):
    """Let `InformationExtractor.fit` and `evaluate` take examples:
    `reader(extractor, examples) -> (x, y)`, `examples` a path or a list of
    `{"content", "result_list", "prompt"}` dicts."""
    EXAMPLE_READERS[:] = [reader]


def is_examples(x):
    """A path (str or `os.PathLike`) or a list of dicts: examples in
    PaddleNLP's format, which no other input of the task looks like."""
    if isinstance(x, (str, os.PathLike)):
        return True
    return isinstance(x, list) and bool(x) and all(isinstance(e, dict) for e in x)


def examples_as_data(task, x, y, sample_weight, argument):
    """`(x, y)` for Keras from examples in PaddleNLP's format, else as given."""
    if not is_examples(x):
        return x, y
    if y is not None or sample_weight is not None:
        raise ValueError(
            f"`{argument}` holds examples in PaddleNLP's format, whose `result_list` spans are "
            "the targets: leave `y` and `sample_weight` out."
        )
    if not EXAMPLE_READERS:
        raise RuntimeError(
            f"`{argument}` holds examples in PaddleNLP's format, and no reader of them is "
            "registered: `import keras_encoders.uie` first."
        )
    return EXAMPLE_READERS[0](task, x)


@keras.saving.register_keras_serializable(package="keras_encoders")
class InformationExtractor(encoder_task.EncoderTask, encoder_task.DerivesBackboneInputs, Task):
    """Start/end pointer logits for a prompt, as UIE (`*ForInformationExtraction`).

    The inputs are `[CLS] prompt [SEP] text [SEP]`; two `Dense(1)` layers on
    the sequence output score every token as the first (`start_logits`) and
    the last (`end_logits`) token of a span of the text that answers the
    prompt. Outputs are raw logits of shape `(B, L)`, as Hugging Face's
    `ErnieMForInformationExtraction` returns (PaddleNLP's `UIEM` applies the
    sigmoid inside the model). The loss is binary cross-entropy on the
    sigmoid of each, averaged over all positions, then over start and end.

    `extract()` runs a whole extraction schema over raw texts, in the manner
    of PaddleNLP's `Taskflow("information_extraction")`.

    Args:
        backbone: the encoder backbone.
        preprocessor: an `InformationExtractorPreprocessor` (needed by
            `extract()` and to fit on raw strings).
        decoding: how `extract()` windows texts and reads spans by default:
            "tokens" (the default), "taskflow" or "taskflow_corrected"; see
            `extract()`. The `uie_m_*` presets use "taskflow", with the
            inputs their weights were trained on (`convention="paddlenlp"`
            preprocessing, `pad_position_id=0`, PaddleNLP tokenization).

    Example:
    ```python
    extractor = ErnieMInformationExtractor.from_preset(preset)
    extractor.extract(
        "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！",
        schema=["时间", "选手", {"选手": ["国籍"]}],
    )
    # {"时间": [{"text": "2月8日上午", "start": 0, "end": 6, "probability": 0.98}],
    #  "选手": [{"text": "谷爱凌", "start": 28, "end": 31, "probability": 0.89,
    #           "relations": {"国籍": [{"text": "中国", ...}]}}, ...]}

    # Fine-tuning on files in PaddleNLP's example format (`keras-encoders-uie
    # doccano` or PaddleNLP's doccano.py write them), as they are: each
    # example is cut into the windows `extract()` reads it in.
    extractor.fit("data/train.txt", validation_data="data/dev.txt", epochs=3, batch_size=16)

    # Or on prompts, texts and the character spans that answer them.
    extractor.fit(
        x=(["时间", "选手"], [text, text]),
        y={"span_start": tf.ragged.constant([[0], [28]]),
           "span_end": tf.ragged.constant([[6], [31]])},
    )
    ```

    Example (a tiny random model; runs offline):
    >>> from keras_encoders.models import InformationExtractor, ErnieMInformationExtractor
    >>> issubclass(ErnieMInformationExtractor, InformationExtractor)  # the ErnieM specialisation
    True
    >>> from keras_encoders.models import ErnieMBackbone, ErnieMTokenizer, ErnieMInformationExtractorPreprocessor, ErnieMInformationExtractor
    >>> import io
    >>> import sentencepiece
    >>> proto = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(["the quick brown fox", "the earth is round"]),
    ...     model_writer=proto, vocab_size=13, model_type="WORD", pad_id=0, unk_id=1,
    ...     bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2)
    >>> spm = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
    >>> vocab = [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    >>> tokenizer = ErnieMTokenizer(proto=proto.getvalue(), vocabulary=vocab)
    >>> backbone = ErnieMBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=32)
    >>> preprocessor = ErnieMInformationExtractorPreprocessor(tokenizer, sequence_length=16, max_prompt_length=4)
    >>> extractor = ErnieMInformationExtractor(backbone, preprocessor=preprocessor)
    >>> results = extractor.extract(["the quick brown fox"], schema=["fox"], threshold=0.0)
    >>> list(results[0])  # a random model: spans, but meaningless
    ['fox']
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, decoding="tokens", **kwargs):
        _check_decoding(decoding)
        dtype = backbone.dtype_policy
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.start_dense = encoder_task.head_dense(1, "start_logits", dtype)
        self.end_dense = encoder_task.head_dense(1, "end_logits", dtype)

        # === Functional Model ===
        inputs = backbone.input
        sequence = backbone(inputs)["sequence_output"]
        outputs = {
            "start_logits": self.start_dense(sequence)[..., 0],
            "end_logits": self.end_dense(sequence)[..., 0],
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        encoder_task.freeze_unused_pooler(backbone)

        # === Config ===
        self.decoding = decoding

    def get_config(self):
        config = super().get_config()
        config["decoding"] = self.decoding
        return config

    def with_convention(self, convention):
        """This extractor, with the same weights, set up for `convention`.

        - "paddlenlp": what PaddleNLP's UIE-M weights were fine-tuned on and
          Taskflow feeds them, so that `extract()` gives Taskflow's answers:
          the backbone's `pad_position_id=0`, the tokenizer's
          `reference="paddlenlp"`, the preprocessor's
          `convention="paddlenlp"` (`[CLS]` masked, padding attended, rows
          padded to `sequence_length`) and `decoding="taskflow"`. The
          `uie_m_*` presets are set up this way.
        - "transformers": Hugging Face's inputs (padding masked) and
          `decoding="tokens"`, for models fine-tuned in this package.

        Settings a part does not have (e.g. a tokenizer without
        `reference`) are left out.
        """
        if convention not in CONVENTION_SETTINGS:
            raise ValueError(
                f"`convention` must be one of {tuple(CONVENTION_SETTINGS)}. "
                f"Received: convention={convention!r}"
            )
        settings = CONVENTION_SETTINGS[convention]
        config = self.backbone.get_config()
        if "pad_position_id" in config:
            config["pad_position_id"] = settings["pad_position_id"]
        backbone = type(self.backbone).from_config(config)
        preprocessor = self.preprocessor
        if preprocessor is not None:
            tokenizer = preprocessor.tokenizer
            if hasattr(tokenizer, "reference"):
                tokenizer = type(tokenizer)(**{
                    **tokenizer.get_config(),
                    "proto": tokenizer.proto,
                    "vocabulary": tokenizer.get_vocabulary(),
                    "reference": settings["reference"],
                })
            preprocessor = type(preprocessor)(
                tokenizer=tokenizer,
                sequence_length=preprocessor.sequence_length,
                max_prompt_length=preprocessor.max_prompt_length,
                convention=convention,
            )
        task = type(self)(backbone, preprocessor, decoding=settings["decoding"])
        task.set_weights(self.get_weights())
        return task

    @classmethod
    def task_config_from_hf(cls, config):
        return {}

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            # PaddleNLP's UIE fine-tuning default.
            optimizer = keras.optimizers.Adam(1e-5)
        if loss == "auto":
            bce = keras.losses.BinaryCrossentropy(from_logits=True)
            loss = {"start_logits": bce, "end_logits": bce}
            kwargs.setdefault("loss_weights", {"start_logits": 0.5, "end_logits": 0.5})
        if metrics == "auto":
            # Token accuracy says nothing on mostly-zero targets; UIE is scored
            # on whole spans, which `extract()` produces.
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None,
            validation_split=None, validation_data=None, shuffle=True, **kwargs):
        """Keras' `fit`, where `x` and `validation_data` may also be examples
        in PaddleNLP's format: the path of a `train.txt` / `dev.txt` (one JSON
        object per line with `content`, `result_list` and `prompt`), or a
        list of those dicts. Each example is cut into the windows `extract()`
        reads it in (this task's `decoding`, the preprocessor's
        `sequence_length`) with multi-hot start / end targets, as
        `keras_encoders.uie.training_data` makes them; a bad line raises
        `keras_encoders.uie.AnnotationError` naming it."""
        x, y = examples_as_data(self, x, y, sample_weight, "x")
        if is_examples(validation_data):
            validation_data = examples_as_data(self, validation_data, None, None, "validation_data")
        return super().fit(x, y, batch_size=batch_size, sample_weight=sample_weight,
                           validation_split=validation_split, validation_data=validation_data,
                           shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Keras' `evaluate` (the loss), where `x` may also be examples in
        PaddleNLP's format, as in `fit`. Span precision, recall and F1 are
        `keras_encoders.uie.evaluate(extractor, path)`."""
        x, y = examples_as_data(self, x, y, kwargs.get("sample_weight"), "x")
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if is_examples(x):
            raise ValueError(
                "predict() takes `(prompts, texts)` or model inputs, not examples in PaddleNLP's "
                "format: score an example file with `keras_encoders.uie.evaluate(extractor, path)` "
                "and extract spans from texts with `extract()`."
            )
        return super().predict(x, *args, **kwargs)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # A dict is already model inputs (e.g. `windows()` features): it skips
        # the preprocessor, which takes `(prompts, texts)`.
        if isinstance(x, dict):
            return self.with_id_checks(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))
        return super().preprocess_samples(x, y, sample_weight)

    # === Extraction ===
    def extract(
        self,
        texts,
        schema,
        threshold=0.5,
        schema_lang="zh",
        max_seq_len=None,
        stride=None,
        batch_size=16,
        decoding=None,
        verbose="auto",
    ):
        """Extract the entities, relations and events of `schema` from `texts`.

        As PaddleNLP's `Taskflow("information_extraction")`:

        - `schema` is a type name, a list of them, or a nested dict
          `{"subject type": ["relation", ...]}` (values may nest further).
          Each top-level type is used as the prompt. For every span found
          for a type, each child type is asked with a prompt naming that
          span: `"<span>的<child>"` (`schema_lang="zh"`) or
          `"<child> of <span>"` (`"en"`); a child written as
          `"name[option, ...]"` keeps its options last (`"<name> of <span>
          [options]"`). Full-width characters in prompts become half-width.
          Types are asked one at a time, breadth first.
        - Positions whose `sigmoid(logit) > threshold` are start/end
          candidates, paired as Taskflow's `get_span`: every end takes the
          last start at or before it and after the previous end; unpaired
          starts and ends are dropped. A span's probability is
          `P(start) * P(end)`.
        - A span inside the prompt (a classification prompt such as
          `"情感倾向[正向，负向]"`) is returned as `{"text", "probability"}`.

        `decoding` (default: the task's `decoding`) decides the rest:

        - "taskflow": exactly PaddleNLP 2.8.1's Taskflow, quirks included,
          so that published UIE-M weights give Taskflow's answers. Texts are
          cut every `max_seq_len - len(max(prompts)) - 3` characters, where
          `max(prompts)` is the lexicographically largest prompt asked for
          the type (over all texts), and prompts are never cut. ERNIE-M
          packs 4 special tokens, not 3, so a window whose tokens overflow
          loses its last token(s) to truncation: a character at the end of
          such a window is never read. Every position is thresholded,
          `[CLS]`, `[SEP]` and `[PAD]` included, which yields spans such as
          `{"text": "", "start": 0, "end": 0}` and prompt spans that are
          empty or shifted. Spans of consecutive windows are concatenated
          (duplicates kept). A classification prompt gets one answer per
          text: the first span of each window is voted on (most frequent,
          then highest summed probability), with its mean probability.
          Within one window Taskflow lists spans in Python set order, which
          depends on the probabilities' hashes; here they are in position
          order (for a classification vote, "first" is then the first by
          position). Sibling types of one name (`["时间", {"时间":
          ["地点"]}]`) each list their spans under that name, and the
          answers to the j-th child prompt of a text go to the j-th span
          listed there, as in Taskflow: the first copy of a span, or below
          the top level possibly a span of another subject.
        - "taskflow_corrected": the same character windows and result
          layout, corrected: each prompt's windows are
          `max_seq_len - len(prompt) - 4` characters (its own length, and
          all 4 special tokens), so no character is lost to truncation;
          only prompt and text tokens are thresholded and a span must lie
          within the prompt or within the text (no empty spans).

          Both cut, pack and join windows with TF functions
          (`InformationExtractorPreprocessor.character_window_tensors`,
          `decoding.information_extraction.window_lengths` and
          `join_windows`) that the exported SavedModel runs in its graph,
          so that a server finds these spans too.
        - "tokens": windows of `max_seq_len` tokens (the preprocessor's
          `sequence_length` by default) starting every `stride` text tokens
          (default: no overlap); prompts are cut to the preprocessor's
          `max_prompt_length`; only prompt and text tokens are thresholded;
          the same span found in several windows is kept once, with its
          highest probability; blank texts give `{}`.

        Args:
            texts: a string or a list of strings.
            schema: what to extract (see above).
            threshold: float in [0, 1]. Start and end probabilities must
                exceed it (Taskflow's `position_prob`). One call asks at
                most `MAX_SCHEMA_TYPES` (512) types nested at most
                `MAX_SCHEMA_DEPTH` (16) deep, and at most
                `MAX_PROMPTS_PER_TEXT` (2048) prompts of each text (each
                span found asks every child type again); beyond that it
                raises a `ValueError`.
            schema_lang: "zh" (also "ch") or "en": how relation prompts are
                phrased.
            max_seq_len: positive int. Window length in tokens, prompt
                included (None: the preprocessor's `sequence_length`).
            stride: int. Text tokens between window starts ("tokens" only).
            batch_size: positive int. Windows per `predict` batch.
            decoding: "taskflow", "taskflow_corrected" or "tokens"; None
                for the task's `decoding`.
            verbose: 0 (silent), 1 (a Keras progress bar per prompt level
                of the schema) or "auto" (the bar only for long work: more
                than `encoder_task.LONG_WORK_BATCHES` batches of windows).

        Returns:
            For each text (a single dict for a single string):
            `{type: [{"text", "start", "end", "probability"[, "relations":
            {child type: [...]}]}, ...]}`, in the order found; types with
            nothing found are left out, so a text without results gives
            `{}`.
        """
        if self.preprocessor is None:
            raise ValueError(
                f"{self.__class__.__name__}.extract() needs a preprocessor to "
                "tokenize the texts. Build the task with `preprocessor=` or "
                "load it with `from_preset()`."
            )
        decoding = self.decoding if decoding is None else decoding
        _check_decoding(decoding)
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(
                    f"extract() takes strings; got a {type(text).__name__}."
                )
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1], got {threshold}.")
        language = {"ch": "zh"}.get(schema_lang, schema_lang)
        if language not in uie.SCHEMA_LANGUAGES:
            raise ValueError(
                f"`schema_lang` must be 'zh' or 'en', got {schema_lang!r}."
            )
        if stride is not None and stride < 1:
            raise ValueError(f"`stride` must be a positive number of tokens, got {stride}.")
        for name, value in (("batch_size", batch_size), ("max_seq_len", max_seq_len)):
            if value is None and name == "max_seq_len":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive integer, got {value!r}."
                )
        length = max_seq_len or self.preprocessor.sequence_length
        limit = getattr(self.backbone, "max_sequence_length", None)
        if limit and length > limit:
            raise ValueError(
                f"max_seq_len={length} exceeds the {limit} positions of "
                f"{self.backbone.__class__.__name__}; use at most {limit}."
            )
        results = [{} for _ in texts]
        # Breadth first, one type at a time (Taskflow's order, which matters:
        # its windows depend on all the prompts asked together). A request
        # is (text index, prompt, owner): the span whose "relations" get
        # the results, or None for the text's own result dict.
        blank = [False] * len(texts)
        if decoding == "tokens" and texts:
            blank = uie.blank_texts(texts).numpy()
        # A queue entry is (type, its requests, parents): in Taskflow's
        # decoding, parents are the spans that Taskflow pairs the type's
        # prompts with (see `_taskflow_owners`); None at the top level and
        # in the other decodings.
        queue = [
            (node, [(i, uie.half_width(node.name), None)
                    for i in range(len(texts)) if not blank[i]], None)
            for node in uie.schema_tree(schema)
        ]
        asked = [0] * len(texts)
        while queue:
            # The types of one level are asked together: their windows share
            # the model's batches (each type's spans are read as if alone).
            level, queue = queue, []
            for node, requests, _ in level:
                for i, _, _ in requests:
                    asked[i] += 1
                    if asked[i] > uie.MAX_PROMPTS_PER_TEXT:
                        raise ValueError(
                            f"extract() would ask more than {uie.MAX_PROMPTS_PER_TEXT} "
                            f"prompts of text {i} (MAX_PROMPTS_PER_TEXT): every span "
                            "found asks each child type of the schema again, and "
                            f"threshold={threshold} found {len(requests)} spans for "
                            f"the child type {node.name!r}. Raise `threshold` or "
                            "use a smaller `schema`."
                        )
            found_by_node = self._extract_spans(
                [[(texts[i], prompt) for i, prompt, _ in requests] for _, requests, _ in level],
                threshold, length, stride, batch_size, decoding, verbose,
            )
            for (node, requests, parents), found in zip(level, found_by_node):
                for (i, _, owner), spans in zip(requests, found):
                    if spans:
                        target = results[i] if owner is None else owner.setdefault("relations", {})
                        target.setdefault(node.name, []).extend(spans)
                if not node.children:
                    continue
                # Each span found owns the answers to its child prompts, except
                # in Taskflow's decoding, where the j-th span of a text owns
                # them (the same span unless two sibling types share a name).
                owners = (_taskflow_owners(node.name, results, parents, len(texts))
                          if decoding == "taskflow" else None)
                asked_of = [[] for _ in texts]
                for (i, _, _), spans in zip(requests, found):
                    for span in spans:
                        owner = span if owners is None else owners[i][len(asked_of[i])]
                        asked_of[i].append((span["text"], owner))
                for child in node.children:
                    queue.append((child, [
                        (i, uie.half_width(self.relation_prompt(text, child.name, language)), owner)
                        for i, pairs in enumerate(asked_of) for text, owner in pairs
                    ], owners))
        return results[0] if single else results

    @staticmethod
    def relation_prompt(subject, relation, schema_lang="zh"):
        """The prompt asking for `relation` of an extracted `subject` span.

        PaddleNLP's phrasing: "<subject>的<relation>" in Chinese,
        "<relation> of <subject>" in English, where a classification relation
        "<name> [options]" becomes "<name> of <subject> [options]".
        """
        return uie.relation_prompt(subject, relation, schema_lang)

    def _extract_spans(self, groups, threshold, max_seq_len, stride, batch_size, decoding,
                       verbose=0):
        """For each group of `(text, prompt)` pairs (the types of one schema
        level), the spans answering each pair, over the text's windows. The
        windows of all groups share the model's batches."""
        features = [
            self._window_features(pairs, max_seq_len, stride, decoding) if pairs else None
            for pairs in groups
        ]
        asked = [f for f in features if f is not None]
        names = list(self.backbone.input)
        if len({f["token_ids"].shape[1] for f in asked}) == 1:
            # One call over every group's windows, split afterwards.
            logits = self.predict_windows(
                {k: np.concatenate([f[k] for f in asked]) for k in names},
                batch_size=batch_size, verbose=verbose,
            )
            cuts = np.cumsum([len(f["token_ids"]) for f in asked])[:-1]
            parts = [dict(zip(logits, values))
                     for values in zip(*(np.split(v, cuts) for v in logits.values()))]
        else:  # windows padded to different widths (padding masked)
            parts = [self.predict_windows({k: f[k] for k in names}, batch_size=batch_size,
                                          verbose=verbose) for f in asked]
        found = []
        for pairs, f in zip(groups, features):
            found.append(self._window_spans(pairs, f, parts.pop(0), threshold, decoding)
                         if pairs else [])
        return found

    def predict_windows(self, inputs, batch_size=16, verbose=0):
        """Start and end logits of many windows: `predict`, faster.

        `inputs` are the backbone's inputs of `N` windows (numpy arrays
        `(N, L)`, as `windows()` / `character_windows()` give them); the
        result is `{"start_logits", "end_logits"}`, float32 `(N, L)`, the
        numbers `predict` gives (within float32 rounding).

        Where the backbone's `[PAD]` tokens are identical and attended
        (`identical_padding`: ERNIE-M with `pad_position_id`, in PaddleNLP's
        convention every row is padded to `L`), rows are run by increasing
        length, `batch_size` at a time, each batch cut to its longest row
        plus one pad column that counts the row's pads
        (`collapsed_padding`); the pad column's logits are those of every
        pad position. Cut widths are rounded up (to a power of two up to
        128, then to a multiple of 128, on models compiled per shape such as
        JAX's; to a multiple of 8 elsewhere), so that few shapes compile.
        Other backbones run the rows as they are.
        """
        names = list(self.backbone.input)
        inputs = {name: np.asarray(inputs[name]) for name in names}
        rows, full = inputs["token_ids"].shape
        verbose = encoder_task.progress_verbose(verbose, rows, batch_size)
        if not getattr(self.backbone, "identical_padding", False) or not rows:
            logits = self.predict({k: _pad_rows(v, batch_size) for k, v in inputs.items()},
                                  batch_size=batch_size, verbose=verbose)
            return {k: np.asarray(ops.convert_to_numpy(v)[:rows], "float32")
                    for k, v in logits.items()}
        pad = self.backbone.pad_token_id
        lengths = collapsed_padding.real_lengths(inputs["token_ids"], pad)
        order = np.argsort(lengths, kind="stable")
        out = {}
        # The short first batch holds the shortest rows (the cheapest to pad).
        first = rows % batch_size or batch_size
        bounds = [0, *range(first, rows + 1, batch_size)]
        progress = keras.utils.Progbar(len(bounds) - 1, verbose=verbose) if verbose else None
        for step, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), 1):
            index = _pad_rows(order[a:b], batch_size)
            batch = {k: v[index] for k, v in inputs.items()}
            collapsed = collapsed_padding.collapse(
                batch, pad, lengths[index], self._collapsed_width(lengths[index], full)
            )
            logits = self.predict(batch if collapsed is None else collapsed[0],
                                  batch_size=len(index), verbose=0)
            for name, values in logits.items():
                values = np.asarray(ops.convert_to_numpy(values), "float32")
                if collapsed is not None:
                    values = collapsed_padding.expand(values, lengths[index], full)
                out.setdefault(name, np.empty((rows, full), "float32"))[order[a:b]] = values[: b - a]
            if progress is not None:
                progress.update(step)
        return out

    def _collapsed_width(self, lengths, full):
        """Columns for a batch of rows with these real lengths (see
        `predict_windows`)."""
        needed = min(int(np.max(lengths)) + 1, full)
        if self.jit_compile:
            width = 1 << (needed - 1).bit_length() if needed <= 128 else -(-needed // 128) * 128
        else:
            width = -(-needed // 8) * 8
        return min(width, full)

    def _window_features(self, pairs, max_seq_len, stride, decoding):
        """The windows `extract()` reads each `(text, prompt)` in."""
        texts, prompts = [t for t, _ in pairs], [p for _, p in pairs]
        preprocessor = self.preprocessor
        if decoding == "tokens":
            features = preprocessor.windows(
                prompts, texts, stride=stride, sequence_length=max_seq_len
            )
            features["window_text"] = np.asarray([texts[i] for i in features["example_index"]], object)
            features["prompt_length"] = np.asarray(
                [len(prompts[i]) for i in features["example_index"]], "int32"
            )
        else:
            # The window sizes and windows the exported signature computes too.
            specials = 2 + getattr(preprocessor.tokenizer, "pair_separator", 1)
            sizes = uie.window_lengths(prompts, max_seq_len, decoding, specials)
            features = preprocessor.character_windows(prompts, texts, sizes.numpy(), max_seq_len)
        return features

    def _window_spans(self, pairs, features, logits, threshold, decoding):
        """The spans of each pair from the logits of its windows."""
        prompts = [p for _, p in pairs]
        rows = len(features["example_index"])
        spans = uie.decode_spans(
            _sigmoid(ops.convert_to_numpy(logits["start_logits"])[:rows]),
            _sigmoid(ops.convert_to_numpy(logits["end_logits"])[:rows]),
            features["part"], features["token_start"], features["token_end"],
            features["prompt_length"], threshold,
            taskflow_offsets=decoding == "taskflow",
        )
        if decoding != "tokens":
            # Taskflow's joining, as the exported signature joins windows.
            joined = uie.join_windows(
                spans, features["example_index"], features["window_offset"],
                features["window_text"].astype(str), np.asarray(prompts, str)[features["example_index"]],
                len(pairs),
            )
            joined = {k: v.to_list() for k, v in joined.items()}
            return [
                [{"text": text.decode("utf-8"), "probability": float(p)} if voted or in_prompt else
                 {"text": text.decode("utf-8"), "start": a, "end": b, "probability": float(p)}
                 for text, a, b, in_prompt, p, voted in zip(*(joined[k][r] for k in (
                     "text", "start", "end", "in_prompt", "probability", "voted")))]
                for r in range(len(pairs))
            ]
        spans = {k: v.to_list() for k, v in spans.items()}
        windows = [[] for _ in pairs]
        for w, example in enumerate(features["example_index"]):
            prompt, window = prompts[example], features["window_text"][w]
            found = []
            for a, b, in_prompt, p in zip(spans["start"][w], spans["end"][w],
                                          spans["in_prompt"][w], spans["probability"][w]):
                if in_prompt:
                    found.append({"text": prompt[a:b], "probability": float(p)})
                else:
                    found.append({"text": window[a:b], "start": a, "end": b, "probability": float(p)})
            windows[example].append(found)
        return [_best_of_windows(found) for found in windows]


def _taskflow_owners(name, results, parents, count):
    """Per text, the spans that Taskflow pairs with the child prompts of a
    type called `name`, in order.

    Taskflow builds a type's child prompts from the spans that type found,
    but gives the j-th prompt of a text's answers to the j-th span of a list
    of every span under `name` at that place (`_multi_stage_predict`'s
    `relations`): at the top level the text's whole result list for `name`;
    below it, the `name` relations of each span of the parent's such list
    (`parents`), in turn. Those are the type's own spans unless two sibling
    types share a name (`["Time", {"Time": ["CEO"]}]`): then the answers go
    to the first copies, or to spans of another parent.
    """
    if parents is None:
        return [list(results[i].get(name, [])) for i in range(count)]
    return [[span for parent in parents[i] for span in parent.get("relations", {}).get(name, [])]
            for i in range(count)]


def _check_decoding(decoding):
    if decoding not in uie.DECODINGS:
        raise ValueError(
            f"`decoding` must be one of {uie.DECODINGS}. Received: decoding={decoding!r}"
        )


def _best_of_windows(windows):
    """Spans of overlapping token windows: each span once, with its best
    probability, in position order (prompt spans first)."""
    best = {}
    for found in windows:
        for span in found:
            key = (span.get("start"), span.get("end"), span["text"])
            if key not in best or span["probability"] > best[key]["probability"]:
                best[key] = span
    return sorted(best.values(), key=lambda s: (s.get("start", -1), s.get("end", -1), s["text"]))


def _pad_rows(array, batch_size):
    """`array` with its first row repeated so that the last batch has a
    power-of-two size: few distinct batch shapes (compiled once each on
    JAX), at most twice the work of the last batch."""
    last = len(array) % batch_size
    if not last:
        return array
    extra = min(1 << (last - 1).bit_length(), batch_size) - last
    return np.concatenate([array, np.repeat(array[:1], extra, axis=0)])


def _sigmoid(logits):
    # The tanh form is exact and overflow-free for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, "float64")))
