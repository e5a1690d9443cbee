"""Checkpoint -> verified Keras preset directory (the conversion tool's engine).

`convert_checkpoint()` reads a source (Hugging Face folder or `hf://`
handle, original TF1 checkpoint, PaddleNLP `.pdparams`), builds the Keras
model, verifies it (see `verification`), and only then writes the preset:
into a hidden temporary folder next to the destination, which is renamed
into place once it is complete and reloads to the same outputs. A refused
or failed conversion leaves nothing behind, and the staging folders of a
killed one (`.OUT.partial-PID-*`) are removed by the next conversion into
the same folder.

The preset catalogue reaches this module as data: `convert_checkpoint`
takes a catalogue `entry` (a dict), and `keras_encoders.presets` hands its
catalogue to `use_catalogue` so that the command line can look names up;
this package never imports `keras_encoders.presets`.
"""

import dataclasses
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np
from keras_hub.models import Task

from keras_encoders.convert import sources
from keras_encoders.convert import verification
from keras_encoders.version import __version__


# The catalogue (`list_presets()`, `get_entry(name)`), set by `use_catalogue`.
_CATALOGUE = None


def use_catalogue(catalogue):
    """Let conversions look up presets by name in `catalogue`.

    `catalogue` has `list_presets()` and `get_entry(name)` (a dict, or
    `KeyError` with a helpful message); `keras_encoders.presets` registers
    its own when imported.
    """
    global _CATALOGUE
    _CATALOGUE = catalogue


def catalogue_entry(name):
    """The catalogue entry of preset `name` (ValueError when unknown)."""
    if _CATALOGUE is None:
        raise ValueError(f"No preset catalogue is loaded; cannot look up {name!r}.")
    try:
        return _CATALOGUE.get_entry(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None


def catalogue_preset_for(source):
    """The catalogue preset whose downloadable source is `source`, if any."""
    if _CATALOGUE is None:
        return None
    for name in _CATALOGUE.list_presets():
        for entry_source in _CATALOGUE.get_entry(name)["sources"]:
            if entry_source.get("handle") and entry_source["handle"] == source.rstrip("/"):
                return name
    return None


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_staging(output):
    """Remove what killed conversions into `output` left next to it.

    Staging folders are named `.NAME.partial-PID-*` (and `.NAME.old-PID-*`
    while an existing preset is being replaced); those of a process that is
    gone are removed. Returns the removed paths.
    """
    parent, name = os.path.split(os.path.abspath(output))
    removed = []
    for kind in ("partial", "old"):
        for path in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.{kind}-*")):
            match = re.match(r"(\d+)-", os.path.basename(path)[len(name) + len(kind) + 3:])
            if match and _process_alive(int(match.group(1))) and int(match.group(1)) != os.getpid():
                continue  # another conversion is writing it now
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class VerificationError(RuntimeError):
    """The converted model failed verification; nothing was written."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass
class ConversionResult:
    output: str
    model_class: str
    parameters: int
    source: object  # sources.CheckpointSource
    report: object  # verification.VerificationReport
    reload_max_abs_diff: float


class Progress:
    """Step-by-step progress on a stream: `[2/5] Building ... done (1.2 s)`."""

    def __init__(self, total, stream=None, quiet=False):
        self.total = total
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.index = 0
        self._start = None
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def print(self, message=""):
        if not self.quiet:
            print(message, file=self.stream, flush=True)

    def step(self, message):
        self.index += 1
        self._start = time.monotonic()
        self.print(f"[{self.index}/{self.total}] {message} ...")

    def done(self, detail=""):
        elapsed = time.monotonic() - self._start
        self.print(f"      {detail + ' ' if detail else ''}({elapsed:.1f} s)")

    def note(self, message):
        self.print(f"      {message}")

    def counter(self, what):
        """A `callable(done, total)` showing a live count on terminals."""

        def update(done, total):
            if self.quiet:
                return
            if self._tty:
                end = "\n" if done == total else ""
                print(f"\r      {what} {done}/{total}", end=end, file=self.stream, flush=True)
            elif done == total:
                self.note(f"{what} {done}/{total}")

        return update


def _count_params(model):
    return int(sum(np.prod(w.shape) for w in model.weights))


def _reload_diff(model, directory, src, report):
    """Max |diff| between the written preset, reloaded, and the verified outputs."""
    reloaded = type(model).from_preset(directory)
    backbone = getattr(reloaded, "backbone", reloaded)
    again = verification.keras_outputs(reloaded, backbone, src.architecture, report.inputs)
    return max(float(np.max(np.abs(report.outputs[k] - again[k]))) for k in report.outputs)


def _conversion_record(src, result_class, params, report):
    return {
        "tool": f"keras-encoders-convert {__version__}",
        "source": src.location,
        "source_format": src.format_name,
        "model_type": src.model_type,
        "architecture": src.architecture,
        "keras_class": result_class,
        "parameters": params,
        "config": src.config,
        "notes": src.notes,
        "skipped": sorted({why for _, why in src.skipped}),
        "num_skipped": len(src.skipped),
        "verification": report.as_dict(),
    }


def _summarize_skipped(skipped):
    counts = {}
    for _, why in skipped:
        counts[why] = counts.get(why, 0) + 1
    return ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))


def convert_checkpoint(
    source,
    output,
    *,
    config_path=None,
    tokenizer_dir=None,
    backbone_only=False,
    atol=verification.DEFAULT_ATOL,
    reference=True,
    reference_checks=(),
    preset=None,
    entry=None,
    overwrite=False,
    stream=None,
    quiet=False,
    allow_non_finite=False,
):
    """Convert `source` into a verified Keras preset directory at `output`.

    Args:
        source: local path (Hugging Face folder, TF1 checkpoint prefix / file
            / folder, `.pdparams` file / folder) or `hf://owner/name`.
        output: the preset directory to create.
        config_path: the original config file, if not next to the checkpoint.
        tokenizer_dir: folder with the tokenizer files, if not next to it.
        backbone_only: convert the encoder only, skipping head weights.
        atol: largest accepted |diff| against the reference.
        reference: compare against transformers (when installed).
        reference_checks: published output checks (see
            `verification.run_reference_check`).
        preset: name of the preset catalogue entry this conversion must
            match (looked up with `catalogue_entry`).
        entry: the catalogue entry itself (its reference checks, classes,
            configuration and parameter counts must match).
        allow_non_finite: accept NaN / Inf weights (refused by default).
        overwrite: replace an existing `output` (only after success).
        stream: where progress and the report go (stdout by default).
        quiet: print nothing.

    Returns:
        A `ConversionResult`.

    Raises:
        VerificationError: verification failed; nothing was written.
        FileExistsError: `output` exists and `overwrite` is False.
        CheckpointMismatchError, CheckpointFormatError, UnsafeCheckpointError,
        FileNotFoundError, ValueError: the source cannot be converted.
    """
    output = os.path.abspath(os.fspath(output))
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(
            f"{output} already exists; choose another output or pass "
            "overwrite=True (--overwrite)."
        )
    clean_stale_staging(output)
    if preset is not None and entry is None:
        entry = catalogue_entry(preset)
    if entry is not None:
        reference_checks = list(reference_checks) + entry["reference_checks"]
    progress = Progress(5, stream=stream, quiet=quiet)
    progress.print(f"Converting {source} -> {output}")

    progress.step("Reading the source checkpoint")
    src = sources.open_source(
        source,
        config_path=config_path,
        tokenizer_dir=tokenizer_dir,
        backbone_only=backbone_only,
        progress=progress.counter("tensors read"),
        allow_non_finite=allow_non_finite,
    )
    count = "" if src.tensors is None else f", {len(src.tensors)} tensors"
    progress.done(f"{src.format_name}: {src.model_type}, {src.architecture}{count}")
    if src.skipped:
        progress.note(f"skipped: {_summarize_skipped(src.skipped)}")

    progress.step("Building the Keras model and porting the weights")
    model, tokenizer = sources.build_model(src)
    params = _count_params(model)
    model_class = type(model).__name__
    progress.done(f"{model_class}, {params:,} parameters")

    progress.step("Verifying the converted model")
    report = verification.verify(
        src, model, tokenizer, atol=atol, reference=reference,
        checks=reference_checks, entry=entry, log=progress.note,
    )
    progress.done("passed" if report.passed else "FAILED")
    _print_report(progress, src, model_class, params, report)
    if not report.passed:
        message = (
            f"Refusing to write {output}: verification failed:\n  "
            + "\n  ".join(report.failures())
        )
        progress.print(message)
        raise VerificationError(message, report)

    progress.step("Writing the preset")
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(output)}.partial-{os.getpid()}-", dir=parent
    )
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for the staging only
        model.save_to_preset(staging)
        if not isinstance(model, Task):  # a task saves its tokenizer itself
            tokenizer.save_to_preset(staging)
        with open(os.path.join(staging, "conversion.json"), "w", encoding="utf-8") as f:
            json.dump(_conversion_record(src, model_class, params, report), f, indent=2)
        progress.done()

        progress.step("Checking that the written preset reloads to the same outputs")
        reload_diff = _reload_diff(model, staging, src, report)
        if reload_diff > 1e-6:
            raise VerificationError(
                f"Refusing to write {output}: the saved preset reloads with "
                f"outputs {reload_diff:.3g} away from the verified model.",
                report,
            )
        _move_into_place(staging, output)
        staging = None
        progress.done(f"max |diff| {reload_diff:.3g}")
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    progress.print(f"Wrote {output}")
    return ConversionResult(output, model_class, params, src, report, reload_diff)


def _move_into_place(staging, output):
    if not os.path.exists(output):
        os.rename(staging, output)
        return
    backup = tempfile.mkdtemp(
        prefix=f".{os.path.basename(output)}.old-{os.getpid()}-", dir=os.path.dirname(output)
    )
    os.rmdir(backup)
    os.rename(output, backup)
    try:
        os.rename(staging, output)
    except OSError:
        os.rename(backup, output)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _print_report(progress, src, model_class, params, report):
    progress.print("")
    progress.print("Verification report")
    progress.print(f"  source:       {src.location} ({src.format_name})")
    progress.print(f"  model:        {src.model_type}, {src.architecture} -> {model_class}")
    progress.print(f"  parameters:   {params:,}")
    for note in src.notes:
        progress.print(f"  note:         {note}")
    for line in report.lines():
        progress.print(line)
    if not report.comparisons and not report.checks:
        progress.print(
            "  warning:      nothing compared the outputs with a reference; only the "
            "weight names and shapes were checked."
        )
    progress.print(f"  result:       {'PASSED' if report.passed else 'FAILED'}")
    progress.print("")
