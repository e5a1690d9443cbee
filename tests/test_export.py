"""SavedModel export for TF-Serving: raw strings in, the task's numbers out.

`test_exports_serve_like_the_task` exports a tiny task of every kind (NEZHA
text classifier with label names, token classifier, question answerer,
multiple choice and masked LM; ERNIE-M information extractor) and serves them
all in ONE fresh Python process that has TensorFlow and the tensorflow-text
kernels only: Keras, keras_hub, keras_encoders, JAX and torch are blocked from
import there. (The tensorflow_text Python package itself imports `tf.keras`,
so that process registers the kernels with `tf.load_op_library`, as TF-Serving
links them.) Both signatures must reproduce the task run in this process.
It is one test because exporting dominates the cost: a module fixture shared
by several tests may run once per pytest-xdist worker.
"""

import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import sentencepiece

import keras_encoders
from keras_encoders import models
from keras_encoders.decoding import information_extraction as uie
from tests.conftest import asset, to_numpy

BACKEND = keras.backend.backend()
TOL = 1e-5
SEQ = 16
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

exporting = pytest.mark.skipif(
    BACKEND == "torch", reason="torch cannot export; see the torch tests below"
)
on_torch = pytest.mark.skipif(BACKEND != "torch", reason="the torch path")

# Every op the exported graphs may hold. A new op (a new tokenizer feature,
# a TensorFlow upgrade) fails the test, so that someone checks that
# TF-Serving (which links the tensorflow-text kernels) still runs the model.
ALLOWED_OPS = frozenset(
    # --- tensorflow-text kernels ---
    [
        "FastWordpieceTokenizeWithOffsets",
        "NormalizeUTF8",
        "NormalizeUTF8WithOffsetsMap",
        "FindSourceOffsets",
        "RegexSplitWithOffsets",
        "SentencepieceOp",
        "SentencepieceTokenizeWithOffsetsOp",
        "TFText>RoundRobinTrim",
    ]
    # --- JAX models: the jax2tf-serialized forward pass, without gradient ---
    + ["XlaCallModule", "PreventGradient"]
    # --- TensorFlow core ---
    + """
    Abs AddV2 All Any ArgMax Assert AssignVariableOp BatchMatMulV2 BiasAdd
    BitwiseAnd BroadcastArgs BroadcastTo Cast ConcatV2 Const Cumsum
    DenseBincount DisableCopyOnRead DynamicStitch Einsum Equal Erf Erfc
    ExpandDims Fill FloorDiv FloorMod GatherV2 Greater GreaterEqual
    HashTableV2 Identity IdentityN If InvertPermutation Less LessEqual Log LogicalAnd LogicalNot
    LogicalOr LookupTableFindV2 LookupTableImportV2 LowerBound MatMul Max
    Maximum Mean MergeV2Checkpoints Min Minimum Mul Neg NoOp NotEqual
    OnesLike Pack Pad PadV2 PartitionedCall Placeholder Prod RaggedGather Rank
    RaggedRange RaggedTensorToTensor Range RealDiv ReadVariableOp Relu
    Reshape RestoreV2 Rsqrt SaveV2 ScatterNd Select SelectV2 Shape
    ShardedFilename Sigmoid Size Slice Softmax Split SplitV Sqrt Square
    SquaredDifference Squeeze StatefulPartitionedCall StatelessIf StatelessWhile
    StaticRegexFullMatch StaticRegexReplace StopGradient StridedSlice
    StringJoin StringLength StringLower StringSplit Sub Substr Sum Tanh
    TensorScatterUpdate Tile TopKV2 Transpose UnicodeDecode Unique
    UnicodeDecodeWithOffsets UnicodeEncode Unpack UnsortedSegmentJoin
    UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentSum UpperBound
    VarHandleOp Where ZerosLike
    """.split()
)


# === Tiny tasks and what they must serve ===
class Case:
    """A task to export, its raw inputs and the outputs it must serve.

    `expected` holds outputs of `serving_default`, `expected_ids` those of
    `serve_token_ids` fed `token_inputs`, both computed by the task in this
    process; `check(outputs)` returns problems with anything else.
    """

    def __init__(self, name, task, strings, token_inputs, expected, expected_ids,
                 check=None, options=None):
        self.name, self.task, self.strings = name, task, strings
        self.token_inputs = {k: np.asarray(to_numpy(v)).astype("int32") for k, v in token_inputs.items()}
        self.expected, self.expected_ids = expected, expected_ids
        self.check = check or (lambda outputs: [])
        self.options = options or {}


def nezha_backbone():
    return models.NezhaBackbone(
        vocabulary_size=21128, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_relative_position=8, dropout=0.0,
        attention_dropout=0.0,
    )


def predict(task, inputs):
    """The task on packed inputs (`task.predict` would run the preprocessor)."""
    if BACKEND == "jax":  # compiled once: eager JAX compiles op by op
        import jax

        call = jax.jit(lambda t, n, x: task.stateless_call(t, n, x, training=False)[0])
        values = [[v.value for v in task.trainable_variables],
                  [v.value for v in task.non_trainable_variables]]
        return to_numpy(call(*values, {k: to_numpy(v) for k, v in inputs.items()}))
    return to_numpy(task(inputs, training=False))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rows(ragged):
    """A ragged batch from an eager tokenizer call, as lists of ints."""
    ragged = ragged.to_list() if hasattr(ragged, "to_list") else ragged
    return [[int(v) for v in np.asarray(row).reshape(-1)] for row in ragged]


def labels(logits, names):
    ids = logits.argmax(-1)
    return {"probabilities": softmax(logits), "label_ids": ids,
            **({"label_names": np.asarray(names)[ids]} if names else {})}


def text_classifier_case(tokenizer):
    names = ["负面", "中性", "正面"]
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTextClassifier(nezha_backbone(), 3, preprocessor=pre, label_names=names)
    texts = ["这家酒店很好", "服务太差了，不会再来了吧", "一般般"]
    x = pre(texts)
    logits = predict(task, x)
    expected = {"logits": logits, **labels(logits, names)}
    return Case("text_classifier", task, {"text": texts}, x, expected, expected)


def token_classifier_case(tokenizer):
    names = ["O", "B-LOC", "I-LOC"]
    pre = models.NezhaTokenClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTokenClassifier(nezha_backbone(), 3, preprocessor=pre, label_names=names)
    kernel, bias = task.output_dense.get_weights()
    # Never "O", B-LOC or I-LOC by token: entities (adjacent ones too) to decode.
    task.output_dense.set_weights([kernel * 40, bias + np.asarray([-1e3, 0.0, 0.0])])
    texts = ["小明在北京工作", "我爱 Shanghai！"]
    x = pre(texts)
    logits = predict(task, x)
    expected = {"logits": logits, **labels(logits, names)}
    expected_ids = dict(expected)
    # Spans: each token's characters in its text; -1 at [CLS], [SEP], padding.
    _, starts, ends = tokenizer.tokenize_with_offsets(texts)
    for key, values in (("token_start", starts), ("token_end", ends)):
        spans = np.full((len(texts), SEQ), -1)
        for r, row in enumerate(rows(values)):
            spans[r, 1 : 1 + len(row)] = row
        expected[key] = spans
    # Words and entities: what the Python methods decode, padded per batch.
    decoded = task.decode_texts(texts)
    for key in decoded[0]:
        width = max(len(row[key]) for row in decoded)
        fill = {"text": "", "label": "", "score": 0.0}.get(key.split("_", 1)[1], -1)
        expected[key] = np.asarray(
            [row[key] + [fill] * (width - len(row[key])) for row in decoded],
            dtype=None if width else "float32",
        )
    entities = task.predict_entities(texts)
    words = task.predict_labels(texts)

    def check(outputs):
        problems = []
        if not any(entities):
            problems.append("token_classifier: the check found no entity at all")
        for r, text in enumerate(texts):
            mine = [(e["text"], e["label"], e["start"], e["end"]) for e in entities[r]]
            if mine != list(zip(decoded[r]["entity_text"], decoded[r]["entity_label"],
                                decoded[r]["entity_start"], decoded[r]["entity_end"])):
                problems.append(f"token_classifier: predict_entities {mine} != decode_texts")
            if "".join(w["text"] for w in words[r]) != text.replace(" ", ""):
                problems.append(f"token_classifier: words {words[r]} do not cover {text!r}")
        return problems

    return Case("token_classifier", task, {"text": texts}, x, expected, expected_ids, check=check)


def question_answerer_case(tokenizer):
    pre = models.NezhaQuestionAnswererPreprocessor(tokenizer, sequence_length=32, max_question_length=6)
    task = models.NezhaQuestionAnswerer(nezha_backbone(), preprocessor=pre)
    questions = ["小明在哪里工作？", "谁住在上海？"]
    contexts = ["小明在北京工作，他很喜欢那里。", "小红住在上海市的一个小区里，很久了。"]
    x = pre(x=(questions, contexts))
    logits = predict(task, x)
    answers = task.answer(questions, contexts)  # the Python decoding
    expected = {
        **logits,
        "answer_text": np.asarray([a["text"] for a in answers]),
        "answer_start": np.asarray([a["start"] for a in answers]),
        "answer_end": np.asarray([a["end"] for a in answers]),
        "answer_score": np.asarray([a["score"] for a in answers]),
    }
    strings = {"question": questions, "context": contexts}
    return Case("question_answerer", task, strings, x, expected, logits)


def multiple_choice_case(tokenizer):
    pre = models.NezhaMultipleChoicePreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaMultipleChoice(nezha_backbone(), preprocessor=pre)
    prompts = ["今天天气怎么样", "这部电影"]
    choices = [["很好", "下雨了", "不知道"], ["好看", "难看", "一般"]]
    x = pre(x=(prompts, choices))
    logits = predict(task, x)
    expected_ids = {"logits": logits, **labels(logits, None)}
    best = np.asarray([c[i] for c, i in zip(choices, logits.argmax(-1))])
    expected = {**expected_ids, "best_choice": best}
    return Case("multiple_choice", task, {"text": prompts, "choices": choices}, x,
                expected, expected_ids)


def masked_lm_case(tokenizer):
    pre = models.NezhaMaskedLMPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaMaskedLM(nezha_backbone(), preprocessor=pre)
    texts = ["今天天气很[MASK]。", "我[MASK][MASK]北京"]
    # The packed text, and the positions of the masks written in it.
    pieces = rows(tokenizer(texts))
    token_ids = np.full((len(texts), SEQ), tokenizer.pad_token_id)
    masks = []
    for r, row in enumerate(pieces):
        packed = [tokenizer.cls_token_id, *row, tokenizer.sep_token_id]
        token_ids[r, : len(packed)] = packed
        masks.append([i for i, t in enumerate(packed) if t == tokenizer.mask_token_id])
    width = max(len(m) for m in masks)
    x = {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": token_ids != tokenizer.pad_token_id,
        "mask_positions": np.asarray([m + [0] * (width - len(m)) for m in masks]),
    }
    logits = predict(task, x)
    order = np.argsort(-logits, axis=-1)[..., :3]  # top_k=3 (the default is 5)
    vocabulary = np.asarray(tokenizer.get_vocabulary())
    expected = {
        "logits": logits,
        "mask_positions": x["mask_positions"],
        "top_k_ids": order,
        "top_k_probabilities": np.take_along_axis(softmax(logits), order, -1),
        "top_k_tokens": vocabulary[order],
    }
    valid = np.asarray([[i < len(m) for i in range(width)] for m in masks])
    strings = {"text": texts}
    return Case("masked_lm", task, strings, x, {**expected, "mask_valid": valid}, expected,
                options={"top_k": 3})


def tiny_information_extractor(decoding="tokens", sequence_length=32, hidden_dim=16):
    """A tiny ERNIE-M (SentencePiece + vocab.txt tokenizer) UIE whose heads
    spread the probabilities, so that many tokens pass the threshold and
    none sits on it."""
    spm = asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
    processor = sentencepiece.SentencePieceProcessor(model_file=spm)
    head = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocabulary = head + [p for p in pieces if p not in head + ["[MASK]"]]
    vocabulary += [c for c in dict.fromkeys("时间选手谷爱凌获得金牌情感倾向正负好中国的籍") if c not in vocabulary]
    tokenizer = models.ErnieMTokenizer(proto=spm, vocabulary=vocabulary + ["[MASK]"])
    backbone = models.ErnieMBackbone(
        vocabulary_size=len(vocabulary) + 1, num_layers=2, num_heads=2, hidden_dim=hidden_dim,
        intermediate_dim=32, max_sequence_length=64, dropout=0.0, attention_dropout=0.0,
    )
    pre = models.ErnieMInformationExtractorPreprocessor(
        tokenizer, sequence_length=sequence_length, max_prompt_length=10)
    task = models.ErnieMInformationExtractor(backbone, preprocessor=pre)
    for layer in (task.start_dense, task.end_dense):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * 40, bias])
    if decoding == "taskflow":
        return task.with_convention("paddlenlp")
    if decoding != "tokens":
        weights = task.get_weights()
        task = type(task)(backbone, preprocessor=pre, decoding=decoding)
        task.set_weights(weights)
    return task


def information_extractor_case():
    """ERNIE-M (SentencePiece + vocab.txt tokenizer) UIE with its span decoding."""
    task = tiny_information_extractor()
    pre = task.preprocessor
    # A full-width prompt: `extract()` makes it ASCII first, as must the server.
    # A blank text (whitespace, U+3000 included) gives no spans, in the
    # prompt either, in extract() and in the server.
    prompts = ["时间", "选手", "情感倾向［正向，负向］", "情感倾向［正向，负向］"]
    texts = ["2月8日上午谷爱凌获得金牌", "In 1997, Steve became the CEO of Apple.", "好", " \u3000\n"]
    x = pre(x=(["时间", "选手", "情感倾向[正向,负向]", "情感倾向[正向,负向]"], texts))
    logits = predict(task, x)
    expected = {**logits}
    for key in ("start", "end"):
        expected[f"{key}_probabilities"] = 1 / (1 + np.exp(-logits[f"{key}_logits"]))
    # One schema over every text (one `predict`); row r serves prompt r.
    wanted = [found.get(p, []) for p, found in zip(prompts, task.extract(texts, schema=prompts))]

    def check(outputs):
        problems = []
        for r, found in enumerate(wanted):
            want = {(s["text"], s.get("start"), s.get("end")): s["probability"] for s in found}
            got = {}  # prompt spans merge by text, keeping the likeliest, as in extract()
            for text, a, b, p, in_prompt in zip(*(outputs[k][r] for k in (
                    "span_text", "span_start", "span_end", "span_probability", "span_in_prompt"))):
                if a >= 0:
                    key = (text.decode(), None, None) if in_prompt else (text.decode(), int(a), int(b))
                    got[key] = max(float(p), got.get(key, 0.0))
            if set(got) != set(want):
                problems.append(
                    f"information_extractor row {r}: spans {sorted(got, key=str)} != "
                    f"{sorted(want, key=str)}"
                )
            elif want and max(abs(got[k] - want[k]) for k in want) > TOL:
                problems.append(f"information_extractor row {r}: span probabilities differ")
        if not any(wanted):
            problems.append("information_extractor: the check found no span at all")
        return problems

    return Case("information_extractor", task, {"prompt": prompts, "text": texts}, x,
                expected, expected, check=check)


# === The serving process ===
def saved_ops(path):
    """Every op of the SavedModel at `path`, its functions' included."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for graph in proto.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


# (It is given `saved_ops`'s source.)
SERVER = inspect.getsource(saved_ops) + textwrap.dedent(
    """
    import glob, json, os, pickle, sys

    # Nothing of Keras may be needed to serve: block it outright.
    for name in ("keras", "keras_hub", "keras_encoders", "jax", "torch", "tensorflow_text"):
        sys.modules[name] = None
    import tensorflow as tf

    # The tensorflow-text kernels, without its Python package (which imports
    # tf.keras): what TF-Serving links in.
    kernels = sys.argv[3]
    for library in sorted(glob.glob(os.path.join(kernels, "*.so"))):
        tf.load_op_library(library)

    cases = json.load(open(sys.argv[1]))
    results = {}
    for name, case in cases.items():
        model = tf.saved_model.load(case["path"])
        strings = model.signatures["serving_default"](
            **{k: tf.constant(v, tf.string) for k, v in case["strings"].items()})
        ids = model.signatures["serve_token_ids"](
            **{k: tf.constant(v, tf.int32) for k, v in case["token_inputs"].items()})
        results[name] = {
            "strings": {k: v.numpy() for k, v in strings.items()},
            "token_ids": {k: v.numpy() for k, v in ids.items()},
            "ops": sorted(saved_ops(case["path"])),
        }
    blocked = ("keras", "keras_hub", "keras_encoders", "jax", "torch", "tensorflow_text")
    results["modules"] = sorted(
        m for m, module in sys.modules.items()
        if module is not None and m.split(".")[0] in blocked)
    with open(sys.argv[2], "wb") as f:
        pickle.dump(results, f)
    """
)


def tf_text_kernels():
    import importlib.util

    spec = importlib.util.find_spec("tensorflow_text")
    return os.path.join(spec.submodule_search_locations[0], "python", "ops")


def serve(cases, root):
    """Serve every export in one fresh TensorFlow-only process."""
    spec = {
        case.name: {
            "path": str(root / case.name),
            "strings": case.strings,
            "token_inputs": {k: v.tolist() for k, v in case.token_inputs.items()},
        }
        for case in cases
    }
    (root / "cases.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    (root / "server.py").write_text(SERVER)
    result = subprocess.run(
        [sys.executable, str(root / "server.py"), str(root / "cases.json"),
         str(root / "served.pkl"), tf_text_kernels()],
        capture_output=True, text=True, cwd=str(root),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(root / "served.pkl", "rb") as f:
        return pickle.load(f)


def differences(name, served, expected):
    """Problems with `served` outputs against `expected` (floats: <= TOL)."""
    problems = []
    for key, want in expected.items():
        if key not in served:
            problems.append(f"{name}: no output {key!r} (got {sorted(served)})")
            continue
        got, want = served[key], np.asarray(want)
        if want.dtype.kind == "U":
            got = np.vectorize(lambda s: s.decode("utf-8"), otypes=[str])(got)
        if got.shape != want.shape:
            problems.append(f"{name}/{key}: shape {got.shape} != {want.shape}")
        elif want.dtype.kind == "f":
            diff = float(np.max(np.abs(got - want), initial=0.0))
            if diff > TOL:
                problems.append(f"{name}/{key}: max |diff| {diff:.2e} > {TOL}")
        elif not np.array_equal(got, want):
            problems.append(f"{name}/{key}: {got.tolist()} != {want.tolist()}")
    return problems


def saved_model_cli():
    """The `saved_model_cli` of this environment."""
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.fixture(scope="module")
def tokenizer():
    return models.NezhaTokenizer(asset("vocab", "bert-base-chinese-vocab.txt"))


@exporting
def test_exports_serve_like_the_task(tokenizer, tmp_path):
    cases = [
        text_classifier_case(tokenizer),
        token_classifier_case(tokenizer),
        question_answerer_case(tokenizer),
        multiple_choice_case(tokenizer),
        masked_lm_case(tokenizer),
        information_extractor_case(),
    ]
    for case in cases:
        keras_encoders.export_saved_model(case.task, tmp_path / case.name, **case.options)
    served = serve(cases, tmp_path)

    problems = []
    for case in cases:
        out = served[case.name]
        problems += differences(case.name, out["strings"], case.expected)
        problems += differences(f"{case.name} (token ids)", out["token_ids"], case.expected_ids)
        problems += case.check(out["strings"])
        unknown = sorted(set(out["ops"]) - ALLOWED_OPS)
        if unknown:
            problems.append(f"{case.name}: ops outside ALLOWED_OPS: {unknown}")
    if served["modules"]:
        problems.append(f"the serving process imported {served['modules']}")

    # What TF-Serving users look at first: the signature takes strings.
    show = subprocess.run(
        saved_model_cli() + ["show", "--dir", str(tmp_path / "text_classifier"), "--all"],
        capture_output=True, text=True,
    )
    serving_default = show.stdout.split("signature_def['serving_default']")[-1]
    if show.returncode or "inputs['text']" not in serving_default or "DT_STRING" not in serving_default:
        problems.append(f"saved_model_cli show: {show.stdout[-2000:]}{show.stderr[-2000:]}")
    assert not problems, "\n".join(problems)


# === Long texts: extract()'s windows in the graph ===
ZH_LONG = "2月8日上午谷爱凌获得金牌，中国选手的国籍。情感倾向正向好！" * 3  # 90 characters
EN_LONG = "In 1997, Steve became the CEO of Apple, 2 years after he returned. " * 2


def served_spans(out, r):
    """Row `r` of served spans in `extract()`'s layout."""
    spans = []
    for k in range(int(out["span_count"][r])):
        span = {"text": out["span_text"][r, k].numpy().decode("utf-8"),
                "probability": float(out["span_probability"][r, k])}
        if not (out["span_voted"][r, k] or out["span_in_prompt"][r, k]):
            span.update(start=int(out["span_start"][r, k]), end=int(out["span_end"][r, k]))
        spans.append(span)
    return spans


def same_spans(got, want):
    """Problems between two span lists (same order; probabilities <= TOL)."""
    strip = [{k: v for k, v in s.items() if k not in ("probability", "relations")} for s in want]
    if [{k: v for k, v in s.items() if k != "probability"} for s in got] != strip:
        return [f"{got} != {want}"]
    return [f"{a} != {b}" for a, b in zip(got, want) if abs(a["probability"] - b["probability"]) > TOL]


def aim_heads(task, prompts, texts, starts, ends):
    """Set the span heads (least squares on the hidden states of these
    pairs' windows) so that starts fire on the `starts` tokens and ends on
    the `ends` tokens: a random model finds spans in the text and in the
    prompt, so that both the joining and the vote are exercised."""
    pre, decoding = task.preprocessor, task.decoding
    sizes = uie.window_lengths(prompts, pre.sequence_length, decoding, 4).numpy()
    features = pre.character_windows(prompts, texts, sizes)
    hidden = to_numpy(task.backbone({k: features[k] for k in task.input})["sequence_output"])
    hidden = hidden.reshape(-1, hidden.shape[-1])
    hidden = np.concatenate([hidden, np.ones_like(hidden[:, :1])], 1)
    for layer, words in ((task.start_dense, starts), (task.end_dense, ends)):
        ids = {i for word, pick in words for i in rows(pre.tokenizer([word]))[0][pick:][:1]}
        target = np.where(np.isin(features["token_ids"], list(ids)), 1.0, -1.0).reshape(-1)
        weight = np.where(target > 0, 5.0, 1.0)[:, None]  # few positives
        a = hidden * weight
        # Ridge: small weights keep float32 rounding small in the logits.
        solution = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ (target * weight[:, 0]))
        layer.set_weights([solution[:-1, None] * 10, solution[-1:] * 10])


@exporting
@pytest.mark.parametrize("decoding", ["taskflow", "taskflow_corrected"])
def test_information_extractor_serves_the_spans_extract_finds_in_long_texts(decoding, tmp_path):
    """Texts of several windows, Chinese and English: the SavedModel cuts,
    packs, decodes and joins windows as `extract()` does ("taskflow": the
    PaddleNLP convention, rows of the full length; "taskflow_corrected":
    rows padded to a multiple of 16), one request per schema type."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    task = tiny_information_extractor(decoding, hidden_dim=64)
    texts = [ZH_LONG, EN_LONG, "好"]
    aim_heads(task, [p for p in ("选手", "情感倾向[正向,负向]") for _ in texts], texts * 2,
              starts=[("谷", 0), ("中", 0), ("Steve", 0), ("正", 0)],
              ends=[("凌", 0), ("国", 0), ("Steve", -1), ("向", 0)])
    keras_encoders.export_saved_model(task, tmp_path / "uie")
    unknown = sorted(saved_ops(str(tmp_path / "uie")) - ALLOWED_OPS)
    assert not unknown, f"ops outside ALLOWED_OPS: {unknown}"
    serve = tf.saved_model.load(str(tmp_path / "uie")).signatures["serving_default"]
    schema = [{"选手": ["国籍"]}, "时间", "情感倾向［正向，负向］"]
    found = task.extract(texts, schema)
    # One request per schema type, as extract() asks them: the top-level
    # types of every text, then the relation prompts of the spans found.
    requests = [[(name, t, found[i].get(name, [])) for i, t in enumerate(texts)]
                for name in ("选手", "时间", "情感倾向［正向，负向］")]
    requests.append([(task.relation_prompt(s["text"], "国籍"), t, s.get("relations", {}).get("国籍", []))
                     for i, t in enumerate(texts) for s in found[i].get("选手", [])])
    problems, windows = [], 0
    for request in requests:
        prompts, strings = [r[0] for r in request], [r[1] for r in request]
        out = serve(prompt=tf.constant(prompts), text=tf.constant(strings))
        for r, (prompt, _, want) in enumerate(request):
            problems += [f"{decoding} {prompt!r} row {r}: {p}" for p in same_spans(served_spans(out, r), want)]
        # The windows are the preprocessor's, and the logits the task's on them.
        half = [uie.half_width(p) for p in prompts]
        sizes = uie.window_lengths(half, 32, decoding, 4)
        features = task.preprocessor.character_windows(half, strings, sizes.numpy(), 32)
        expected = {"window_row": features["example_index"], "window_offset": features["window_offset"],
                    "token_start": features["token_start"], "token_end": features["token_end"],
                    **predict(task, {k: features[k] for k in task.input})}
        problems += differences(f"{decoding} {prompts[0]!r}", {k: v.numpy() for k, v in out.items()}, expected)
        windows = max(windows, int(np.max(np.bincount(features["example_index"]))))
    assert windows >= 3  # texts of several windows
    spans = [s for request in requests for r in request for s in r[2]]
    # Text spans in later windows, and voted classification answers.
    assert max(s.get("start", 0) for s in spans) > 32 and any("start" not in s for s in spans)
    assert any(s.get("start", 0) > 0 for s in found[1].get("选手", []))  # English too
    assert not problems, "\n".join(problems)
    # A prompt that leaves no room for text is refused, naming the fix.
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_seq_len=32 leaves no characters"):
        serve(prompt=tf.constant(["选手" * 20]), text=tf.constant(["好"]))


# === Errors and the other backends ===
@exporting
def test_export_errors_name_the_fix(tokenizer, tmp_path):
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    with pytest.raises(ValueError, match="has no preprocessor"):
        keras_encoders.export_saved_model(models.NezhaTextClassifier(nezha_backbone(), 2), tmp_path)
    classifier = models.NezhaTextClassifier(nezha_backbone(), 2, preprocessor=pre)
    with pytest.raises(TypeError, match="top_k"):
        keras_encoders.export_saved_model(classifier, tmp_path, top_k=3)
    pre_trainer = models.NezhaPreTrainer(
        nezha_backbone(), preprocessor=models.NezhaPreTrainerPreprocessor(tokenizer)
    )
    with pytest.raises(ValueError, match="NezhaPreTrainer has no serving signature.*TASK_SIGNATURES"):
        keras_encoders.export_saved_model(pre_trainer, tmp_path)
    if BACKEND == "tensorflow":
        with pytest.raises(ValueError, match="JAX backend"):
            keras_encoders.export_saved_model(classifier, tmp_path, jax2tf_kwargs={})
    assert not os.listdir(tmp_path)  # nothing half-written


@on_torch
def test_torch_export_error_explains_the_working_paths(tokenizer, tmp_path):
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTextClassifier(nezha_backbone(), 2, preprocessor=pre)
    with pytest.raises(RuntimeError) as error:
        keras_encoders.export_saved_model(task, tmp_path / "model")
    message = str(error.value)
    assert "'torch'" in message
    assert "KERAS_BACKEND=tensorflow" in message
    assert "python -m keras_encoders.export" in message
    assert not (tmp_path / "model").exists()


@on_torch
def test_command_line_exports_a_torch_trained_preset_under_tensorflow(tokenizer, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    names = ["负面", "正面"]
    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    task = models.NezhaTextClassifier(nezha_backbone(), 2, preprocessor=pre, label_names=names)
    task.save_to_preset(str(tmp_path / "preset"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    # Started on torch (this process's KERAS_BACKEND): it re-runs itself on TF.
    result = subprocess.run(
        [sys.executable, "-m", "keras_encoders.export", str(tmp_path / "preset"), str(tmp_path / "model")],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert_progress(result.stdout, tmp_path / "preset", tmp_path / "model")
    assert "Keras runs on torch: exporting in a TensorFlow process" in result.stdout

    texts = ["这家酒店很好", "服务太差了"]
    logits = to_numpy(task.predict(texts, verbose=0))
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    served = serve(text=tf.constant(texts))
    assert np.max(np.abs(served["logits"].numpy() - logits)) <= TOL
    assert [s.decode() for s in served["label_names"].numpy()] == [names[i] for i in logits.argmax(-1)]


def assert_progress(stdout, preset, output):
    """The command line says what it does, in order, while it does it."""
    stages = [
        f"Loading NezhaTextClassifier from {preset} ...",
        "Tracing the NezhaTextClassifier forward pass ...",
        "Tracing the tokenizer and the serving signatures ...",
        f"Writing the SavedModel to {output} ...",
        f"Exported NezhaTextClassifier from {preset} to {os.path.abspath(output)}.",
    ]
    positions = [stdout.find(stage) for stage in stages]
    assert -1 not in positions and positions == sorted(positions), stdout


@pytest.mark.skipif(BACKEND != "tensorflow", reason="in-process; torch: the subprocess test")
def test_command_line_reports_progress(tokenizer, tmp_path, capfd):
    from keras_encoders.export.__main__ import main

    pre = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=SEQ)
    models.NezhaTextClassifier(nezha_backbone(), 2, preprocessor=pre).save_to_preset(
        str(tmp_path / "preset"))
    assert main([str(tmp_path / "preset"), str(tmp_path / "model")]) == 0
    assert_progress(capfd.readouterr().out, tmp_path / "preset", tmp_path / "model")
    assert (tmp_path / "model" / "saved_model.pb").exists()


def test_task_signatures_resolve_by_type_and_tasks_do_not_import_export():
    from keras_encoders.export import TASK_SIGNATURES, TextClassifierSignature, signature_for

    # Model classes find their generic base's entry; options override defaults.
    pre = models.NezhaTextClassifierPreprocessor(
        models.NezhaTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    nsp = models.NezhaNextSentencePredictor(nezha_backbone(), preprocessor=pre)
    signature = signature_for(nsp, label_names=("yes", "no"))
    assert isinstance(signature, TextClassifierSignature)
    assert signature.text_pair and signature.label_names == ("yes", "no")
    assert models.QuestionAnswerer in TASK_SIGNATURES
    # Dependencies point one way: models -> decoding <- export.
    package = os.path.join(REPO, "keras_encoders")
    for folder, forbidden in (("models", "export"), ("decoding", "export|models")):
        imports = re.compile(rf"^\s*(from|import)\s+keras_encoders\.({forbidden})\b", re.M)
        for root, _, files in os.walk(os.path.join(package, folder)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(root, name), encoding="utf-8") as f:
                        source = f.read()
                    assert not imports.search(source), os.path.join(root, name)


@exporting
def test_served_text_takes_one_string_and_names_a_wrong_rank(tmp_path):
    """One unbatched string is a batch of one; rows of pairs are refused
    with the input's name (instead of failing deep in a strided slice)."""
    import tensorflow as tf

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("这家酒店很好差")
    preprocessor = models.NezhaTextClassifierPreprocessor(
        models.NezhaTokenizer(vocabulary=vocab), sequence_length=8)
    backbone = models.NezhaBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                                    hidden_dim=8, intermediate_dim=16)
    task = models.NezhaTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    keras_encoders.export_saved_model(task, tmp_path / "exported")
    serve = tf.saved_model.load(str(tmp_path / "exported")).signatures["serving_default"]
    one = serve(text=tf.constant("这家酒店很好"))["logits"].numpy()
    batch = serve(text=tf.constant(["这家酒店很好"]))["logits"].numpy()
    assert one.shape == (1, 2)
    np.testing.assert_allclose(one, batch, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`text` takes one string or a 1-D batch of strings"):
        serve(text=tf.constant([["这家", "酒店"]]))


@exporting
def test_served_classifier_runs_on_the_longest_row_not_sequence_length(tmp_path):
    """Short texts in a model exported with a long `sequence_length`: the
    served graph cuts the packed batch after its longest row (attention
    ignores padding, so the logits are those of the padded batch), and only
    where no output has a sequence axis and the backbone is padding-invariant
    (ConvBERT's convolution reads the padding, as its reference does)."""
    import tensorflow as tf

    from keras_encoders.export import signature_for

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("这家酒店很好差服务")
    tokenizer = models.NezhaTokenizer(vocabulary=vocab)
    preprocessor = models.NezhaTextClassifierPreprocessor(tokenizer, sequence_length=64)
    task = models.NezhaTextClassifier(nezha_backbone(), 3, preprocessor=preprocessor)
    texts = ["这家酒店很好", "差", "服务很差"]
    signature = signature_for(task)
    assert signature.trims_padding()
    x = preprocessor(texts)
    trimmed = signature.trim_padding({k: tf.convert_to_tensor(v) for k, v in x.items()})
    assert {k: tuple(v.shape) for k, v in trimmed.items()} == {k: (3, 8) for k in x}  # [CLS] 6 [SEP]
    np.testing.assert_array_equal(trimmed["token_ids"], to_numpy(x["token_ids"])[:, :8])

    keras_encoders.export_saved_model(task, tmp_path / "exported")
    serve = tf.saved_model.load(str(tmp_path / "exported")).signatures["serving_default"]
    served = serve(text=tf.constant(texts))["logits"].numpy()
    assert np.max(np.abs(served - predict(task, x))) <= 1e-6  # the padded batch's logits

    # Per-position outputs keep the full length; ConvBERT keeps its padding.
    token_task = models.NezhaTokenClassifier(
        nezha_backbone(), 3, preprocessor=models.NezhaTokenClassifierPreprocessor(tokenizer))
    assert not signature_for(token_task).trims_padding()
    convbert = models.ConvBertTextClassifier(
        models.ConvBertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                                hidden_dim=8, intermediate_dim=16, embedding_dim=8),
        2, preprocessor=models.ConvBertTextClassifierPreprocessor(
            models.ConvBertTokenizer(vocabulary=vocab)))
    assert not convbert.backbone.padding_invariant
    assert not signature_for(convbert).trims_padding()
