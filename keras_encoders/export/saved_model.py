"""Export a task as a TensorFlow SavedModel that takes raw strings."""

import keras
import tensorflow as tf

from keras_encoders.export.task_signatures import signature_for

SERVE_TOKEN_IDS = "serve_token_ids"

TORCH_MESSAGE = (
    "SavedModel export needs the TensorFlow or JAX backend, and Keras is "
    "running on '{backend}' (a torch model cannot be traced into a "
    "TensorFlow graph). Either save the task with `task.save_to_preset(dir)` "
    "and run `python -m keras_encoders.export dir out_dir` (it exports under "
    "TensorFlow whatever KERAS_BACKEND says), or load the preset in a process "
    "started with KERAS_BACKEND=tensorflow and call `export_saved_model` there."
)


def export_saved_model(task, path, *, verbose=False, jax2tf_kwargs=None, progress=None,
                       **options):
    """Write `task` as a SavedModel for TF-Serving, with tokenization inside.

    The SavedModel has two signatures:

    - `serving_default` takes raw strings (`text`; `text` + `text_pair` for
      pair classifiers; `question` + `context` for question answering;
      `text` + `choices` (B, C) for multiple choice; `prompt` + `text` for
      information extraction) and returns what a client needs: logits plus
      probabilities, label ids and label names, token spans, answer strings,
      mask fillers or extracted spans, depending on the task;
    - `serve_token_ids` takes the task's own integer inputs (`token_ids`,
      `padding_mask`, `segment_ids`, ...) and returns the same outputs
      minus those that need the text.

    Classifiers, multiple choice and masked LMs run the model on the packed
    batch cut after its longest row (a batch of short texts costs what its
    texts need, not `sequence_length`), with the same outputs; tasks with
    per-position outputs, and ConvBERT (whose convolution reads padding),
    run on the full `sequence_length`. The model is the task's
    `serving_call`: heads that read the first position alone (NEZHA's and
    ERNIE-M's pooled or first-token classifiers, multiple choice and next
    sentence prediction) run the last layer for that position only, the
    same numbers within float32 rounding for about 6% less time.

    What each task serves is described by a `ServingSignature`, chosen by
    the task's type in `keras_encoders.export.TASK_SIGNATURES` (see the
    `*Signature` classes in `keras_encoders.export`). Tokenization uses tensorflow-text
    ops: a server or client must load `tensorflow_text` (TF-Serving links it
    in; in Python, `import tensorflow_text` before `tf.saved_model.load`).

    Works on the TensorFlow and JAX backends (on JAX, the forward pass is
    converted with jax2tf, serialized for the platform it runs on unless
    `jax2tf_kwargs` says otherwise). On torch it raises; see
    `python -m keras_encoders.export --help`.

    Args:
        task: a keras_encoders task with its preprocessor.
        path: the SavedModel directory to write.
        verbose: bool. Print the endpoints.
        progress: a callable taking a message, told when each slow stage
            (tracing the model, tracing the tokenizer, writing) begins; the
            command line prints them.
        jax2tf_kwargs: dict. Extra `jax2tf.convert` arguments (JAX only),
            e.g. `{"native_serialization_platforms": ("cpu", "cuda")}`.
        **options: options of the task's serving signature, e.g.
            `text_pair=True` (classifiers), `top_k=5` (masked LM),
            `max_answer_length=30` (question answering), `threshold=0.5`
            and `max_seq_len=128` (information extraction: the windows of
            `extract(..., max_seq_len=...)`; see
            `InformationExtractorSignature`).

    Example:
    ```python
    classifier = keras_encoders.models.NezhaTextClassifier.from_preset(...)
    keras_encoders.export_saved_model(classifier, "exported/1")

    # In any TensorFlow process (no Keras needed):
    import tensorflow as tf, tensorflow_text  # noqa: registers the ops
    serve = tf.saved_model.load("exported/1").signatures["serving_default"]
    serve(text=tf.constant(["这家酒店很好"]))["label_names"]
    ```
    """
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise RuntimeError(TORCH_MESSAGE.format(backend=backend))
    signature = signature_for(task, **options)
    progress = progress or (lambda message: None)
    token_spec = signature.token_spec()
    # The heavy parts are traced once, here, as concrete functions: saving
    # retraces every `tf.function` it is given (under its own context), and
    # a tokenizer graph takes seconds to trace. `scratch` owns the variables
    # that `forward` captures (weakly; on JAX they are converted copies), so
    # it must live until the archive is written.
    progress(f"Tracing the {type(task).__name__} forward pass ...")
    forward, scratch = _forward_function(task, signature, jax2tf_kwargs)
    progress("Tracing the tokenizer and the serving signatures ...")
    preprocess = _traced(signature.string_spec(), signature.preprocess)
    trim = signature.trims_padding()

    def serve_strings(inputs):
        inputs = {name: batch_of_strings(name, spec, inputs[name])
                  for name, spec in signature.string_spec().items()}
        model_inputs, extras = preprocess(*inputs.values())
        model_inputs = {
            name: tf.cast(model_inputs[name], spec.dtype) for name, spec in token_spec.items()
        }
        if trim:
            model_inputs = signature.trim_padding(model_inputs)
        return signature.outputs(forward(model_inputs), model_inputs, extras)

    def serve_token_ids(inputs):
        return signature.outputs(forward(inputs), inputs, {})

    archive = keras.export.ExportArchive()
    for resource in signature.resources():
        archive.track(resource)
    # The variables come with the functions that use them (`write_out`
    # collects them), so `task` itself needs no second tracking.
    for name, spec, body in (
        ("serving_default", served_string_spec(signature.string_spec()), serve_strings),
        (SERVE_TOKEN_IDS, token_spec, serve_token_ids),
    ):
        endpoint = tf.function(_positional(spec, body), input_signature=list(spec.values()), autograph=False)
        endpoint.get_concrete_function()  # ExportArchive takes traced functions
        archive.add_endpoint(name, endpoint)
    progress(f"Writing the SavedModel to {path} ...")
    archive.write_out(str(path), verbose=verbose)
    del scratch


def _forward_function(task, signature, jax2tf_kwargs):
    """The task's inference call as a concrete TF function of the token-id
    inputs, and the scratch archive that holds its variables.

    It is built as an endpoint of that archive, which is how Keras converts
    a JAX model to TensorFlow (jax2tf) and binds its variables; the scratch
    archive itself is never written.
    """
    kwargs = {}
    if keras.backend.backend() == "jax":
        kwargs["jax2tf_kwargs"] = dict(jax2tf_kwargs or {})
        # A serving graph needs no gradient (and saving one would trace the
        # model's VJP too).
        kwargs["jax2tf_kwargs"].setdefault("with_gradient", False)
        # Axes with one name are one size: the sequence axis of token_ids
        # and of padding_mask must not be independent symbols.
        kwargs["jax2tf_kwargs"].setdefault(
            "polymorphic_shapes",
            [{name: f"({', '.join(axes)})" for name, axes in signature.token_axes().items()}],
        )
        # Absolute position embeddings (ERNIE-M, ConvBERT) slice a table by
        # the sequence length, which JAX can only do with a known bound.
        limit = getattr(task.backbone, "position_limit", None)
        if limit:
            kwargs["jax2tf_kwargs"].setdefault("polymorphic_constraints", (f"sequence <= {limit}",))
    elif jax2tf_kwargs is not None:
        raise ValueError("`jax2tf_kwargs` only applies to the JAX backend.")
    scratch = keras.export.ExportArchive()
    scratch.track(task)
    forward = scratch.add_endpoint(
        "forward",
        task.serving_call,
        input_signature=[signature.token_spec()],
        **kwargs,
    )
    return forward.get_concrete_function(), scratch


def served_string_spec(spec):
    """The string specs with 1-D inputs of any rank: one string is served
    as a batch of one (`batch_of_strings`), and a wrong rank gets a message
    instead of a signature-binding error."""
    return {
        name: tf.TensorSpec(None, s.dtype, name=s.name) if s.shape.rank == 1 else s
        for name, s in spec.items()
    }


def batch_of_strings(name, spec, value):
    """A served 1-D string input as a batch: one string is a batch of one,
    and anything of a higher rank fails with a message naming the input
    (signatures do not check the shapes they are called with)."""
    if spec.shape.rank != 1:
        return value
    check = tf.debugging.assert_less_equal(
        tf.rank(value), 1,
        message=f"`{name}` takes one string or a 1-D batch of strings (one per example)",
    )
    with tf.control_dependencies([check]):
        return tf.reshape(value, [-1])


def _positional(spec, body):
    """`body(dict)` as a function of positional tensors, in `spec`'s order
    (signature inputs are named after the specs)."""
    names = list(spec)

    def function(*args):
        return body(dict(zip(names, args)))

    return function


def _traced(spec, body):
    """`body` traced once, as a concrete function of positional tensors."""
    function = tf.function(_positional(spec, body), autograph=False)
    return function.get_concrete_function(*spec.values())
