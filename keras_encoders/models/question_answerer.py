"""An extractive question answering (span) head."""

import keras
import numpy as np
from keras_hub.models import Task

from keras_encoders.decoding import spans
from keras_encoders.models import encoder_task


@keras.saving.register_keras_serializable(package="keras_encoders")
class QuestionAnswerer(encoder_task.EncoderTask, encoder_task.DerivesBackboneInputs, Task):
    """Start/end logits over the sequence, Hugging Face's `*ForQuestionAnswering`.

    `sequence_output -> Dense(2)` (no dropout, as in the reference), split
    into `{"start_logits": (B, L), "end_logits": (B, L)}`. The loss is the
    average of the start and end cross-entropies. `answer()` turns questions
    and contexts into answer strings, windowing long contexts.

    Example:
    >>> from keras_encoders.models import QuestionAnswerer, NezhaQuestionAnswerer
    >>> issubclass(NezhaQuestionAnswerer, QuestionAnswerer)  # the Nezha specialisation
    True
    >>> from keras_encoders.models import NezhaBackbone, NezhaTokenizer, NezhaQuestionAnswererPreprocessor, NezhaQuestionAnswerer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "北", "京"]
    >>> tokenizer = NezhaTokenizer(vocabulary=vocab)
    >>> backbone = NezhaBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16)
    >>> preprocessor = NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=16, max_question_length=4)
    >>> answerer = NezhaQuestionAnswerer(backbone, preprocessor=preprocessor)
    >>> context = "我爱北京"
    >>> answer = answerer.answer(["谁爱北京"], [context], doc_stride=4)[0]
    >>> sorted(answer)
    ['end', 'score', 'start', 'text']
    >>> context[answer["start"]:answer["end"]] == answer["text"]
    True
    """

    checkpoint_head = None

    def __init__(self, backbone, preprocessor=None, **kwargs):
        dtype = backbone.dtype_policy
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.span_dense = encoder_task.head_dense(2, "span_logits", dtype)

        # === Functional Model ===
        inputs = backbone.input
        logits = self.span_dense(backbone(inputs)["sequence_output"])
        outputs = {
            "start_logits": keras.layers.Identity(name="start_logits")(logits[..., 0]),
            "end_logits": keras.layers.Identity(name="end_logits")(logits[..., 1]),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        encoder_task.freeze_unused_pooler(backbone)

    @classmethod
    def task_config_from_hf(cls, config):
        if encoder_task.num_labels_from_hf(config) != 2:
            raise ValueError("Question answering checkpoints must have 2 labels.")
        return {}

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            loss = {"start_logits": ce, "end_logits": ce}
            kwargs.setdefault("loss_weights", {"start_logits": 0.5, "end_logits": 0.5})
        if metrics == "auto":
            metrics = {
                "start_logits": [keras.metrics.SparseCategoricalAccuracy(name="start_accuracy")],
                "end_logits": [keras.metrics.SparseCategoricalAccuracy(name="end_accuracy")],
            }
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def answer(self, questions, contexts, max_answer_length=30, doc_stride=128, batch_size=16,
               verbose="auto"):
        """Best answer span for each (question, context).

        `verbose`: 0 (silent), 1 (a Keras progress bar over the context
        windows) or "auto" (the bar only for long work: more than
        `encoder_task.LONG_WORK_BATCHES` batches of windows).

        Returns a list of `{"text", "start", "end", "score"}` (character
        offsets into the context; an empty text when nothing fits).

        A context longer than one window is read in windows `doc_stride`
        tokens apart, and the span with the highest `start_logit +
        end_logit` over all of them wins (`score`), as in BERT's SQuAD
        scripts and transformers' `run_qa.py` post-processing.
        transformers' question-answering `pipeline` compares probabilities
        normalized within each window instead, which can pick a span of
        another window.
        """
        features = self.preprocessor.windows(questions, contexts, doc_stride=doc_stride)
        inputs = {k: features[k] for k in self.backbone.input}
        # The windows are model inputs already (keras-hub's `predict` would
        # run them through the string preprocessor again).
        verbose = encoder_task.progress_verbose(verbose, len(inputs["token_ids"]), batch_size)
        logits = self.predict_inputs(inputs, batch_size=batch_size, verbose=verbose)
        contexts = list(contexts)
        best = [{"text": "", "start": 0, "end": 0, "score": -np.inf} for _ in contexts]
        # The served model's decoding (`keras_encoders.decoding.spans`), per
        # batch of windows; the best window of each example wins.
        for first in range(0, len(features["example_index"]), batch_size):
            rows = slice(first, first + batch_size)
            examples = features["example_index"][rows]
            found = spans.best_answer_spans(
                np.asarray(logits["start_logits"][rows]),
                np.asarray(logits["end_logits"][rows]),
                features["token_start"][rows],
                features["token_end"][rows],
                [contexts[e] for e in examples],
                max_answer_length=max_answer_length,
            )
            found = {k: v.numpy() for k, v in found.items()}
            for w, example in enumerate(examples):
                if found["score"][w] > best[example]["score"]:
                    best[example] = {
                        "text": found["text"][w].decode("utf-8"),
                        "start": int(found["start"][w]),
                        "end": int(found["end"][w]),
                        "score": float(found["score"][w]),
                    }
        return best
