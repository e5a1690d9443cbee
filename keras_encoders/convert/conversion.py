"""Checkpoint -> verified Keras preset directory (the conversion tool's engine).

`convert_checkpoint()` reads a source (Hugging Face folder or `hf://`
handle, original TF1 checkpoint, PaddleNLP `.pdparams`), builds the Keras
model, verifies it (see `verification`), and only then writes the preset:
into a hidden temporary folder next to the destination, which is renamed
into place once it is complete and reloads to the same outputs. A refused
or failed conversion leaves nothing behind, and what a killed one left in
the output's parent folder (staging folders `.OUT.partial-PID-*`, a replaced
preset `.OUT.old-PID-*`, which is restored) is tidied by the next
conversion into that folder (see `clean_stale_staging`).

Nothing is ever deleted that a conversion did not write: an existing
output is only replaced (`overwrite`) when its `conversion.json` record
shows a conversion wrote it, and an output that is or contains the source
is refused.

The preset catalogue reaches this module as data: `convert_checkpoint`
takes a catalogue `entry` (a dict), and `keras_encoders.presets` hands its
catalogue to `use_catalogue` so that the command line can look names up;
this package never imports `keras_encoders.presets`.
"""

import contextlib
import dataclasses
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
    if pid == os.getpid():
        return True  # another conversion in this process may be writing it
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a pid
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


RECORD = "conversion.json"
_TOOL = "keras-encoders-convert"
# `.NAME.partial-PID-XXXX`: a conversion's staging folder; `.NAME.old-PID-XXXX`:
# the preset it is replacing, between the two renames of `_move_into_place`.
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<pid>\d{1,10})-[A-Za-z0-9_]+$")


def written_by_conversion(directory):
    """Whether `directory` is a folder a conversion wrote: its `conversion.json`
    record (written first into every staging folder, kept in the preset, and
    removed last) names this tool. Only such folders are ever deleted."""
    record = os.path.join(directory, RECORD)
    if os.path.islink(directory) or not os.path.isdir(directory) or not os.path.isfile(record):
        return False
    try:
        if os.path.getsize(record) > 64 << 20:
            return False
        with open(record, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and str(data.get("tool", "")).startswith(_TOOL + " ")


def _is_empty_dir(path):
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def _remove_conversion_folder(path):
    """Delete a folder a conversion wrote, its record last: a removal cut off
    midway leaves a folder that still proves it is ours (or an empty one)."""
    if _is_empty_dir(path):
        os.rmdir(path)
        return
    if not written_by_conversion(path):
        raise ValueError(f"Refusing to delete {path}: no {RECORD} record shows a conversion wrote it.")
    for entry in os.scandir(path):
        if entry.name == RECORD:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    os.unlink(os.path.join(path, RECORD))
    os.rmdir(path)


def clean_stale_staging(output):
    """Tidy what killed conversions left next to `output` (in its parent folder).

    Staging folders (`.NAME.partial-PID-*`) of processes that are gone are
    removed. A replaced preset (`.NAME.old-PID-*`) is restored to `NAME` when
    the conversion was killed between its two renames (NAME is missing), and
    removed when the replacement completed. Only folders whose naming and
    `conversion.json` record prove a conversion wrote them (or empty ones)
    are touched. Returns `(removed, restored)` paths.
    """
    parent = os.path.dirname(os.path.abspath(output))
    removed, restored = [], []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed, restored
    stale = []
    for entry in names:
        match = _STAGING.match(entry)
        if match and not _process_alive(int(match.group("pid"))):
            path = os.path.join(parent, entry)
            if written_by_conversion(path) or _is_empty_dir(path):
                stale.append((match, path))
    # Newest backups first: the one restored is the last preset written.
    stale.sort(key=lambda item: -_mtime(item[1]))
    for match, path in stale:
        target = os.path.join(parent, match.group("name"))
        try:
            if match.group("kind") == "old" and not os.path.lexists(target) and not _is_empty_dir(path):
                os.rename(path, target)
                restored.append(target)
            else:
                _remove_conversion_folder(path)
                removed.append(path)
        except OSError:
            pass  # another process tidied it first, or it is not ours to remove
    return removed, restored


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:  # tidied by another process meanwhile
        return 0.0


def _local_inputs(source, config_path, tokenizer_dir):
    return [p for p in (source, config_path, tokenizer_dir) if p and not str(p).startswith("hf://")]


def check_output_apart(output, inputs):
    """Refuse an output that is, or contains, one of the `inputs` paths: writing
    or replacing it would delete the checkpoint being converted."""
    out = os.path.realpath(output)
    for path in inputs:
        real = os.path.realpath(os.fspath(path))
        if real == out or os.path.commonpath([real, out]) == out:
            raise ValueError(
                f"Refusing to write {output}: it is or contains the input {path}, "
                "which writing (or --overwrite) would replace. Choose an output "
                "folder outside the checkpoint's folder."
            )


def check_replaceable(output):
    """Refuse to replace `output` unless a conversion wrote it (or it is empty)."""
    if os.path.islink(output):
        raise ValueError(
            f"Refusing to replace {output}: it is a symbolic link. Remove it or "
            "choose another output."
        )
    if not (written_by_conversion(output) or _is_empty_dir(output)):
        raise ValueError(
            f"Refusing to replace {output}: it was not written by {_TOOL} (it "
            f"has no {RECORD} record), so --overwrite could delete files that "
            "are not a converted preset. Remove it yourself or choose another "
            "output."
        )


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


def _outputs(model, src, inputs):
    return verification.keras_outputs(model, getattr(model, "backbone", model), src.architecture, inputs)


def _reload_diff(model, directory, src, inputs, expected):
    """Max |diff| between the written preset, reloaded, and `expected` outputs."""
    again = _outputs(type(model).from_preset(directory), src, inputs)
    return max(float(np.max(np.abs(expected[k] - again[k]))) for k in expected)


def _conversion_record(src, result_class, params, report):
    return {
        "tool": f"keras-encoders-convert {__version__}",
        "source": src.location,
        # What was read: the downloaded folder, the resolved TF1 prefix.
        "source_path": os.path.abspath(src.path),
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
    check_output_apart(output, _local_inputs(os.fspath(source), config_path, tokenizer_dir))
    clean_stale_staging(output)
    if os.path.lexists(output):
        if not overwrite:
            raise FileExistsError(
                f"{output} already exists; choose another output or pass "
                "overwrite=True (--overwrite)."
            )
        check_replaceable(output)
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
    # What was actually read (a download, a resolved TF1 prefix) is checked too.
    check_output_apart(output, [src.path, *(p for p in src.tokenizer_files.values() if p)])
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

    expected = report.outputs
    if src.family.saved_form is not None:
        # Verified against transformers in its conventions; written in the
        # conventions the weights were trained with, and the reload is
        # checked against the model as written.
        model = src.family.saved_form(src, model)
        expected = _outputs(model, src, report.inputs)

    progress.step("Writing the preset")
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(output)}.partial-{os.getpid()}-", dir=parent
    )
    try:
        # The record comes first, so that a staging folder left by a kill
        # proves it is ours; the full record replaces it at the end.
        _write_record(staging, {"tool": f"{_TOOL} {__version__}", "staging_for": output})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for the staging only
        model.save_to_preset(staging)
        if not isinstance(model, Task):  # a task saves its tokenizer itself
            tokenizer.save_to_preset(staging)
        _write_record(staging, _conversion_record(src, model_class, params, report))
        progress.done()

        progress.step("Checking that the written preset reloads to the same outputs")
        reload_diff = _reload_diff(model, staging, src, report.inputs, expected)
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
            with contextlib.suppress(OSError, ValueError):  # never hide the real error
                _remove_conversion_folder(staging)
    progress.print(f"Wrote {output}")
    return ConversionResult(output, model_class, params, src, report, reload_diff)


def _write_record(directory, record):
    path = os.path.join(directory, RECORD)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)  # never a half-written record


def _move_into_place(staging, output):
    if not os.path.lexists(output):
        os.rename(staging, output)
        return
    check_replaceable(output)  # again: it may have changed while converting
    # Between the two renames the old preset lives in `.NAME.old-PID-*`; a
    # conversion killed there has it restored by the next `clean_stale_staging`.
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
    _remove_conversion_folder(backup)


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
