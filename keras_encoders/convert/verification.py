"""Verify a converted model before it is written.

Three kinds of evidence, each optional but reported:

1. Parity with the reference implementation (when `transformers` and
   `torch` are installed): the Hugging Face model of the same architecture,
   built from the converted config and given the *source* weights by an
   independent route (`from_pretrained` for Hugging Face folders; Hugging
   Face's own TF1 loaders, `load_tf_weights_in_nezha` /
   `load_tf_weights_in_convbert`, for original TF1 checkpoints; the generic
   Paddle -> PyTorch renaming for `.pdparams`). Both run on the same token
   ids from sample texts; every output is compared (max |diff|).
2. Tokenizer parity: the Keras tokenizer against the reference tokenizer
   built from the same files.
3. Reference checks: published output slices for known inputs (the
   integration values of the original test suites), from the preset
   catalogue or a JSON file.
"""

import dataclasses
import importlib
import json
import re

import keras
import numpy as np

from keras_encoders.convert import sources

DEFAULT_ATOL = 1e-4


@dataclasses.dataclass
class Comparison:
    name: str
    max_abs_diff: float
    tolerance: float

    @property
    def passed(self):
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance


@dataclasses.dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclasses.dataclass
class VerificationReport:
    comparisons: list = dataclasses.field(default_factory=list)
    checks: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)  # reasons
    num_samples: int = 0
    # The sample batch and the converted model's outputs on it (reused to
    # check the written preset).
    inputs: dict = dataclasses.field(default=None, repr=False)
    outputs: dict = dataclasses.field(default=None, repr=False)

    @property
    def passed(self):
        return all(c.passed for c in self.comparisons) and all(c.passed for c in self.checks)

    @property
    def max_abs_diff(self):
        diffs = [c.max_abs_diff for c in self.comparisons]
        return max(diffs) if diffs else None

    def failures(self):
        out = [
            f"{c.name}: max |diff| {c.max_abs_diff:.3g} > {c.tolerance:g}"
            for c in self.comparisons if not c.passed
        ]
        return out + [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def lines(self):
        out = []
        if self.comparisons:
            out.append(f"  reference parity on {self.num_samples} sample texts (max |diff|):")
            for c in self.comparisons:
                mark = "ok  " if c.passed else "FAIL"
                out.append(f"  [{mark}] {c.name:<40} {c.max_abs_diff:.3g} (<= {c.tolerance:g})")
        for c in self.checks:
            mark = "ok  " if c.passed else "FAIL"
            out.append(f"  [{mark}] {c.name}: {c.detail}")
        for reason in self.skipped:
            out.append(f"  [skip] {reason}")
        return out

    def as_dict(self):
        return {
            "passed": self.passed,
            "max_abs_diff": self.max_abs_diff,
            "comparisons": [
                {"name": c.name, "max_abs_diff": c.max_abs_diff, "tolerance": c.tolerance}
                for c in self.comparisons
            ],
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "skipped": list(self.skipped),
        }


# === Inputs ===
def sample_inputs(src, tokenizer, texts=None, max_length=64):
    """Backbone inputs (NumPy) for the family's sample texts and pairs.

    Rows are padded to the longest one, so the batch exercises padding.
    Returns `(inputs, texts)`, `texts` in row order (pairs as tuples).
    """
    family = src.family
    texts = texts or family.sample_texts
    singles = [t for t in texts if isinstance(t, str)]
    pairs = [t for t in texts if not isinstance(t, str)]
    length = min(max_length, sources.sequence_length(src))
    packer = family.keras_class(family.inputs_preprocessor)(
        tokenizer=tokenizer, sequence_length=length
    )
    batches = []
    if singles:
        batches.append(packer(singles))
    if pairs:
        batches.append(packer(x=([a for a, _ in pairs], [b for _, b in pairs])))
    merged = {}
    for key in batches[0]:
        merged[key] = np.concatenate(
            [np.asarray(keras.ops.convert_to_numpy(b[key])) for b in batches]
        )
    merged["padding_mask"] = merged["padding_mask"].astype("int32")
    longest = int(merged["padding_mask"].sum(axis=1).max())
    inputs = {k: v[:, :longest].astype("int32") for k, v in merged.items()}
    return inputs, singles + pairs


def _task_inputs(architecture, inputs):
    x = dict(inputs)
    if architecture.endswith(("ForMaskedLM", "ForPreTraining")):
        batch, length = x["token_ids"].shape
        x["mask_positions"] = np.tile(np.arange(length, dtype="int32"), (batch, 1))
    if architecture.endswith("ForMultipleChoice"):
        # Two choices per question: the rows and the rows rolled by one.
        x = {k: np.stack([v, np.roll(v, 1, axis=0)], axis=1) for k, v in x.items()}
    return x


# Keras output name -> Hugging Face output field, by architecture suffix.
_OUTPUTS = {
    "Model": [("sequence_output", "last_hidden_state"), ("pooled_output", "pooler_output")],
    "ForMaskedLM": [(None, "logits")],
    "ForPreTraining": [("mlm_logits", "prediction_logits"), ("nsp_logits", "seq_relationship_logits")],
    "ForNextSentencePrediction": [(None, "logits")],
    "ForSequenceClassification": [(None, "logits")],
    "ForTokenClassification": [(None, "logits")],
    "ForMultipleChoice": [(None, "logits")],
    "ForQuestionAnswering": [("start_logits", "start_logits"), ("end_logits", "end_logits")],
    "ForInformationExtraction": [("start_logits", "start_logits"), ("end_logits", "end_logits")],
}


def _suffix(architecture):
    match = re.search(r"(Model|For\w+)$", architecture)
    return match.group(1) if match else "Model"


def _numpy(x):
    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    return np.asarray(keras.ops.convert_to_numpy(x))


def keras_outputs(model, backbone, architecture, inputs):
    """`{name: array}` of the backbone and (for tasks) the task outputs."""
    out = {f"backbone.{k}": v for k, v in _numpy(backbone(inputs, training=False)).items()}
    if model is not backbone:
        task_out = _numpy(model(_task_inputs(architecture, inputs), training=False))
        if not isinstance(task_out, dict):
            task_out = {None: task_out}
        for keras_name, _ in _OUTPUTS[_suffix(architecture)]:
            out[f"task.{keras_name or 'logits'}"] = task_out[keras_name]
    return out


# === Reference (transformers) ===
def hf_class(name):
    """A transformers class by name, also from its `deprecated` models."""
    import transformers

    cls = getattr(transformers, name, None)
    if cls is not None:
        return cls
    for module in sources.FAMILIES:  # models transformers moved to `deprecated`
        try:
            mod = importlib.import_module(f"transformers.models.deprecated.{module}")
        except ImportError:
            continue
        if hasattr(mod, name):
            return getattr(mod, name)
    raise ImportError(f"transformers has no {name}.")


def reference_available():
    try:
        importlib.import_module("torch")
        importlib.import_module("transformers")
    except ImportError:
        return False
    return True


def build_reference(src):
    """The transformers model for `src`, holding the source weights.

    Returns `(model, architecture_of_model)`.
    """
    if src.kind == sources.HUGGING_FACE:
        model = hf_class(src.architecture).from_pretrained(src.path)
        return model.eval(), src.architecture
    config_cls = hf_class(src.family.hf_prefix + "Config")
    config = config_cls.from_dict({k: v for k, v in src.config.items() if k != "model_type"})
    return src.family.reference_from_source(src, config, hf_class)


# A reference of another architecture holding the same head (the TF1 NEZHA
# reference is always ForPreTraining) names its outputs differently.
_PRE_TRAINING_FIELDS = {
    "ForMaskedLM": "prediction_logits",
    "ForNextSentencePrediction": "seq_relationship_logits",
}


def reference_outputs(ref, ref_architecture, architecture, inputs, uses_segments):
    """The reference's outputs under the names `keras_outputs` uses."""
    import torch

    def torch_inputs(x):
        out = {
            "input_ids": torch.tensor(x["token_ids"], dtype=torch.long),
            "attention_mask": torch.tensor(x["padding_mask"], dtype=torch.long),
        }
        if uses_segments and "segment_ids" in x:
            out["token_type_ids"] = torch.tensor(x["segment_ids"], dtype=torch.long)
        return out

    out = {}
    suffix = _suffix(architecture)
    with torch.no_grad():
        base = getattr(ref, ref.base_model_prefix, ref)
        base_out = base(**torch_inputs(inputs))
        for keras_name, hf_name in _OUTPUTS["Model"]:
            value = getattr(base_out, hf_name, None)
            if value is not None:
                out[f"backbone.{keras_name}"] = value.numpy()
        if suffix == "Model":
            return out
        task_out = ref(**torch_inputs(_task_inputs(architecture, inputs)))
        for keras_name, hf_name in _OUTPUTS[suffix]:
            if _suffix(ref_architecture) == "ForPreTraining" and suffix in _PRE_TRAINING_FIELDS:
                hf_name = _PRE_TRAINING_FIELDS[suffix]
            out[f"task.{keras_name or 'logits'}"] = getattr(task_out, hf_name).numpy()
    return out


# === Tokenizer parity ===
def reference_tokenizer(src):
    return src.family.reference_tokenizer(src.tokenizer_files, src.tokenizer_settings)


def tokenizer_check(src, inputs, texts):
    """The packed ids of `inputs` against the reference tokenizer's encoding
    of the same texts and pairs (special tokens included)."""
    ref = reference_tokenizer(src)
    mismatches = []
    for row, text in enumerate(texts):
        ours = inputs["token_ids"][row][inputs["padding_mask"][row] == 1].tolist()
        theirs = ref.encode(*((text,) if isinstance(text, str) else text))
        if ours != list(theirs):
            mismatches.append(f"{text!r}: {ours} != {list(theirs)}")
    return CheckResult(
        "token ids match the reference tokenizer",
        not mismatches,
        f"{len(texts)} texts and pairs" if not mismatches else "; ".join(mismatches[:3]),
    )


# === Reference checks ===
def parse_slice(text):
    """`"[:, 1:4, 1:4]"` -> a tuple of slices/ints, without eval."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise ValueError(f"A slice looks like '[:, 1:4, 1:4]', got {text!r}.")
    parts = []
    for part in body[1:-1].split(","):
        part = part.strip()
        if ":" in part:
            bounds = [int(b) if b.strip() else None for b in part.split(":")]
            parts.append(slice(*bounds))
        else:
            parts.append(int(part))
    return tuple(parts)


_HF_INPUT_NAMES = {"input_ids": "token_ids", "attention_mask": "padding_mask", "token_type_ids": "segment_ids"}


def run_reference_check(model, backbone, architecture, check, uses_segments):
    """One check: `{"name", "inputs", "output", "slice", "expected", "atol"}`.

    `inputs` uses Keras or Hugging Face names; `output` names a backbone
    output (`sequence_output`, `pooled_output`) or a task output (`logits`,
    `start_logits` ...).
    """
    name = check.get("name", check.get("output", "reference check"))
    inputs = {_HF_INPUT_NAMES.get(k, k): np.asarray(v, dtype="int32") for k, v in check["inputs"].items()}
    ids = inputs["token_ids"]
    if "padding_mask" not in inputs and not hasattr(backbone, "with_padding_mask"):
        inputs["padding_mask"] = np.ones_like(ids)
    if uses_segments and "segment_ids" not in inputs:
        inputs["segment_ids"] = np.zeros_like(ids)
    output = check["output"]
    if output in ("sequence_output", "pooled_output"):
        result = _numpy(backbone(inputs, training=False))[output]
    else:
        result = _numpy(model(_task_inputs(architecture, inputs), training=False))
        result = result[output] if isinstance(result, dict) else result
    got = result[parse_slice(check["slice"])] if check.get("slice") else result
    expected = np.asarray(check["expected"], dtype="float64")
    atol = float(check.get("atol", DEFAULT_ATOL))
    if got.shape != expected.shape:
        return CheckResult(name, False, f"shape {got.shape} != expected {expected.shape}")
    diff = float(np.max(np.abs(got.astype("float64") - expected)))
    return CheckResult(name, diff <= atol, f"max |diff| {diff:.3g} (<= {atol:g}) on {output}{check.get('slice', '')}")


def load_reference_checks(path):
    """Checks from a JSON file: a list, or `{"checks": [...]}`."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    checks = data.get("checks", data.get("reference_checks")) if isinstance(data, dict) else data
    if not isinstance(checks, list):
        raise ValueError(f"{path}: expected a list of checks or {{'checks': [...]}}.")
    for check in checks:
        missing = {"inputs", "output", "expected"} - set(check)
        if missing:
            raise ValueError(f"{path}: a check lacks {sorted(missing)}: {check}")
    return checks


# === Catalogue entries ===
def _differences(expected, saved, prefix=""):
    out = []
    for key, value in expected.items():
        got = saved.get(key, "<missing>")
        if isinstance(value, float) and isinstance(got, (int, float)):
            same = abs(got - value) <= 1e-9 * max(1.0, abs(value))
        else:
            same = got == value
        if not same:
            out.append(f"{prefix}{key} {got!r} != {value!r}")
    return out


def catalogue_checks(entry, model, tokenizer):
    """The converted model against a preset catalogue entry: classes,
    configuration and exact parameter counts."""
    backbone = getattr(model, "backbone", model)
    problems = []
    if type(backbone).__name__ != entry["backbone_class"]:
        problems.append(f"backbone {type(backbone).__name__} != {entry['backbone_class']}")
    task_class = entry.get("task_class")
    if task_class and model is not backbone and type(model).__name__ != task_class:
        problems.append(f"task {type(model).__name__} != {task_class}")
    problems += _differences(entry["config"]["backbone"], backbone.get_config())
    problems += _differences(entry["config"].get("tokenizer", {}), tokenizer.get_config(), "tokenizer.")
    config = CheckResult(
        "configuration matches the catalogue", not problems, "; ".join(problems) or "classes and config"
    )
    counts = [("params", backbone.count_params())]
    if model is not backbone and "task_params" in entry:
        counts.append(("task_params", model.count_params()))
    wrong = [f"{field} {n:,} != {entry[field]:,}" for field, n in counts if n != entry[field]]
    params = CheckResult(
        "parameter counts match the catalogue",
        not wrong,
        "; ".join(wrong) or ", ".join(f"{field} {n:,}" for field, n in counts),
    )
    return [config, params]


# === Everything ===
def verify(
    src, model, tokenizer, *, atol=DEFAULT_ATOL, reference=True, checks=(), entry=None,
    texts=None, log=None,
):
    """Run every available verification; returns a `VerificationReport`.

    Args:
        atol: largest accepted max |diff| against the reference.
        reference: compare with transformers when it is installed.
        checks: reference checks (`run_reference_check`).
        entry: a preset catalogue entry the model must match.
    """
    log = log or (lambda message: None)
    report = VerificationReport()
    backbone = getattr(model, "backbone", model)
    family = src.family
    inputs, texts = sample_inputs(src, tokenizer, texts)
    report.num_samples = len(texts)
    log(f"running the converted model on {report.num_samples} sample texts")
    ours = keras_outputs(model, backbone, src.architecture, inputs)
    report.inputs, report.outputs = inputs, ours
    if not reference:
        report.skipped.append("reference comparison disabled")
    elif not reference_available():
        report.skipped.append(
            "reference comparison: transformers/torch not installed (pip install "
            "'keras-encoders[test]')"
        )
    else:
        log("building the transformers reference from the source weights")
        ref, ref_architecture = build_reference(src)
        theirs = reference_outputs(ref, ref_architecture, src.architecture, inputs, family.uses_segments)
        for name in sorted(theirs):
            if name in ours:
                diff = float(np.max(np.abs(ours[name].astype("float64") - theirs[name])))
                report.comparisons.append(Comparison(name, diff, atol))
        try:
            report.checks.append(tokenizer_check(src, inputs, texts))
        except (ImportError, OSError, ValueError) as e:
            report.skipped.append(f"tokenizer parity: reference tokenizer unavailable ({e})")
    for check in checks:
        report.checks.append(
            run_reference_check(model, backbone, src.architecture, check, family.uses_segments)
        )
    if entry is not None:
        report.checks.extend(catalogue_checks(entry, model, tokenizer))
    return report
