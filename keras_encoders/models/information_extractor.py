"""Universal information extraction (UIE): prompt-driven span extraction."""

import re

import keras
import numpy as np
from keras import ops
from keras_hub.models import Task

from keras_encoders.models import encoder_task

SCHEMA_LANGUAGES = ("zh", "en")


@keras.saving.register_keras_serializable(package="keras_encoders")
class InformationExtractor(encoder_task.DerivesBackboneInputs, encoder_task.EncoderTask, Task):
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

    # Fine-tuning: prompts, texts and the character spans that answer them.
    extractor.fit(
        x=(["时间", "选手"], [text, text]),
        y={"span_start": tf.ragged.constant([[0], [28]]),
           "span_end": tf.ragged.constant([[6], [31]])},
    )
    ```
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, **kwargs):
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

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # A dict is already model inputs (e.g. `windows()` features): it skips
        # the preprocessor, which takes `(prompts, texts)`.
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
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
    ):
        """Extract the entities, relations and events of `schema` from `texts`.

        Follows PaddleNLP Taskflow's UIE decoding:

        - `schema` is a type name, a list of them, or a nested dict
          `{"subject type": ["relation", ...]}` (values may nest further).
          Each top-level type is used as the prompt. For every span found
          for a type, each child type is asked with a prompt naming that
          span: `"<span>的<child>"` (`schema_lang="zh"`) or
          `"<child> of <span>"` (`"en"`); a child written as
          `"name[option, ...]"` keeps its options last (`"<name> of <span>
          [options]"`). Full-width characters in prompts become half-width.
        - Tokens whose `sigmoid(logit) > threshold` are start/end candidates
          (prompt and text tokens only). Candidates are paired as Taskflow's
          `get_span`: in token order, every end takes the closest start
          before it (or at it) that no earlier end took; unpaired starts and
          ends are dropped. A span's probability is
          `P(start) * P(end)`.
        - Spans map back to the original text through the tokenizer's
          character offsets, so `text[start:end] == span["text"]`. A span
          inside the prompt (a classification prompt like
          `"情感倾向[正向，负向]"`) is returned as `{"text", "probability"}`;
          spans across prompt and text are dropped.
        - Long texts are split into windows of `max_seq_len` tokens (the
          preprocessor's `sequence_length` by default) starting every
          `stride` text tokens (default: no overlap). The same span found in
          several windows is kept once, with its highest probability.

        Args:
            texts: a string or a list of strings.
            schema: what to extract (see above).
            threshold: float in [0, 1]. Start and end probabilities must
                exceed it (Taskflow's `position_prob`).
            schema_lang: "zh" (also "ch") or "en": how relation prompts are
                phrased.
            max_seq_len: int. Window length in tokens, prompt included.
            stride: int. Text tokens between window starts.
            batch_size: int. Windows per `predict` batch.

        Returns:
            For each text (a single dict for a single string):
            `{type: [{"text", "start", "end", "probability"[, "relations":
            {child type: [...]}]}, ...]}`; spans are sorted by position;
            types with nothing found are left out, so a text without
            results (or without any text) gives `{}`.
        """
        if self.preprocessor is None:
            raise ValueError(
                f"{self.__class__.__name__}.extract() needs a preprocessor to "
                "tokenize the texts. Build the task with `preprocessor=` or "
                "load it with `from_preset()`."
            )
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
        if language not in SCHEMA_LANGUAGES:
            raise ValueError(
                f"`schema_lang` must be 'zh' or 'en', got {schema_lang!r}."
            )
        if stride is not None and stride < 1:
            raise ValueError(f"`stride` must be a positive number of tokens, got {stride}.")
        length = max_seq_len or self.preprocessor.sequence_length
        limit = getattr(self.backbone, "max_sequence_length", None)
        if limit and length > limit:
            raise ValueError(
                f"max_seq_len={length} exceeds the {limit} positions of "
                f"{self.backbone.__class__.__name__}; use at most {limit}."
            )
        roots = _schema_tree(schema)
        results = [{} for _ in texts]
        # Requests: (schema node, text index, prompt, owner of the results).
        # The owner is a text's result dict, or a span whose "relations"
        # receive them. One `predict` per schema depth.
        level = [
            (node, i, _half_width(node.name), (results[i], False))
            for node in roots
            for i, text in enumerate(texts)
            if text.strip()
        ]
        while level:
            found = self._extract_spans(
                [(texts[i], prompt) for _, i, prompt, _ in level],
                threshold, length, stride, batch_size,
            )
            next_level = []
            for (node, i, _, (owner, nested)), spans in zip(level, found):
                if not spans:
                    continue
                target = owner.setdefault("relations", {}) if nested else owner
                target.setdefault(node.name, []).extend(spans)
                for child in node.children:
                    for span in spans:
                        prompt = self.relation_prompt(span["text"], child.name, language)
                        next_level.append((child, i, _half_width(prompt), (span, True)))
            level = next_level
        return results[0] if single else results

    @staticmethod
    def relation_prompt(subject, relation, schema_lang="zh"):
        """The prompt asking for `relation` of an extracted `subject` span.

        PaddleNLP's phrasing: "<subject>的<relation>" in Chinese,
        "<relation> of <subject>" in English, where a classification relation
        "<name> [options]" becomes "<name> of <subject> [options]".
        """
        if schema_lang == "en":
            options = re.search(r"\[.*?\]$", relation)
            if options:
                name = relation[: relation.find("[", 1)].strip()
                return f"{name} of {subject} {options.group()}"
            return f"{relation} of {subject}"
        return f"{subject}的{relation}"

    def _extract_spans(self, pairs, threshold, max_seq_len, stride, batch_size):
        """Spans answering each `(text, prompt)`, merged over the text's windows."""
        texts, prompts = [t for t, _ in pairs], [p for _, p in pairs]
        features = self.preprocessor.windows(
            prompts, texts, stride=stride, sequence_length=max_seq_len
        )
        inputs = {name: features[name] for name in self.backbone.input}
        logits = self.predict(inputs, batch_size=batch_size, verbose=0)
        start = _sigmoid(ops.convert_to_numpy(logits["start_logits"]))
        end = _sigmoid(ops.convert_to_numpy(logits["end_logits"]))
        merged = [{} for _ in pairs]
        for w, example in enumerate(features["example_index"]):
            text, prompt = pairs[example]
            token_start, token_end = features["token_start"][w], features["token_end"][w]
            in_prompt, in_text = features["in_prompt"][w], features["in_text"][w]
            candidates = in_prompt | in_text
            starts = _above(start[w], candidates, threshold)
            ends = _above(end[w], candidates, threshold)
            for (s, p_s), (e, p_e) in _pair_spans(starts, ends):
                a, b = int(token_start[s]), int(token_end[e])
                if in_text[s] and in_text[e]:
                    key = (a, b)
                    span = {"text": text[a:b], "start": a, "end": b}
                elif in_prompt[s] and in_prompt[e]:
                    key = ("prompt", prompt[a:b])
                    span = {"text": prompt[a:b]}
                else:
                    continue  # across the prompt and the text: meaningless
                span["probability"] = float(p_s * p_e)
                kept = merged[example].get(key)
                if kept is None or span["probability"] > kept["probability"]:
                    merged[example][key] = span
        return [
            sorted(spans.values(), key=lambda s: (s.get("start", -1), s.get("end", -1), s["text"]))
            for spans in merged
        ]


class _SchemaNode:
    def __init__(self, name, children=()):
        self.name = name
        self.children = list(children)


def _schema_tree(schema):
    """Top-level nodes of a schema: names, lists, `{name: children}` dicts."""
    if isinstance(schema, (str, dict)):
        schema = [schema]
    if not isinstance(schema, (list, tuple)):
        raise TypeError(
            "`schema` must be a type name, a list of them, or a dict "
            f"{{type: [child types]}}; got a {type(schema).__name__}."
        )
    nodes = []
    for item in schema:
        if isinstance(item, str):
            nodes.append(_SchemaNode(item))
        elif isinstance(item, dict):
            for name, children in item.items():
                if not isinstance(name, str):
                    raise TypeError(f"Schema types must be strings; got {name!r}.")
                if isinstance(children, (str, dict)):
                    children = [children]
                if not isinstance(children, (list, tuple)):
                    raise TypeError(
                        f"The children of schema type {name!r} must be a name, "
                        f"a list or a dict; got a {type(children).__name__}."
                    )
                nodes.append(_SchemaNode(name, _schema_tree(children)))
        else:
            raise TypeError(
                "Schema entries must be type names or {type: [child types]} "
                f"dicts; got a {type(item).__name__}."
            )
    return nodes


def _half_width(text):
    """Full-width ASCII forms (U+FF01..U+FF5E) to ASCII, as PaddleNLP's
    `dbc2sbc` does to every prompt (its ideographic-space branch never fires)."""
    return "".join(
        chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in text
    )


def _sigmoid(logits):
    # The tanh form is exact and overflow-free for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, "float64")))


def _above(probs, candidates, threshold):
    """`(position, probability)` of candidate positions above `threshold`."""
    positions = np.nonzero(candidates & (probs > threshold))[0]
    return [(int(i), float(probs[i])) for i in positions]


def _pair_spans(starts, ends):
    """Start/end pairing of PaddleNLP's `get_span` (both sorted by position).

    Two pointers: a start at or before the current end is (re)assigned to it,
    so each end keeps the closest start before it; a start after the current
    end moves on to the next end. A start and an end at the same position
    make a one-token span and are both used up.
    """
    pairs = {}
    s = e = 0
    while s < len(starts) and e < len(ends):
        if starts[s][0] == ends[e][0]:
            pairs[e] = starts[s]
            s += 1
            e += 1
        elif starts[s][0] < ends[e][0]:
            pairs[e] = starts[s]
            s += 1
        else:
            e += 1
    return [(start, ends[e]) for e, start in sorted(pairs.items())]
