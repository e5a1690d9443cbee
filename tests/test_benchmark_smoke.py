"""`tools/benchmark.py --smoke` keeps working: every engine it can run here
produces figures, the Markdown table and a chart."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

from tests.conftest import INDEPENDENT_ON

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "benchmark.py")


def load_tool():
    spec = importlib.util.spec_from_file_location("benchmark", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analytic_flops_order():
    tool = load_tool()
    flops = {m: tool.forward_flops(m, tool.BASE[m], 8, 128) for m in tool.MODELS}
    # BERT-base, 8x128: ~2 x 85M encoder weights x 1024 tokens + attention.
    assert 1.7e11 < flops["bert"] < 1.9e11
    assert flops["nezha"] > flops["bert"]  # + the relative-position products
    assert flops["convbert"] < flops["bert"]  # half the heads are convolutions
    assert flops["ernie_m"] == flops["bert"]  # the same encoder shape


def test_smoke_run(tmp_path):
    pytest.importorskip("transformers")
    backend = keras.config.backend()
    reference = "hf-eager"
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        reference += ",onnxruntime"
    # The serving section exports under TensorFlow and runs the SavedModel,
    # transformers and ONNX Runtime in processes of their own, whatever
    # KERAS_BACKEND is here: it is checked where the backend-independent
    # tests run.
    serving = backend == INDEPENDENT_ON
    command = [
        sys.executable, TOOL, "--smoke", "--out", str(tmp_path), "--models", "nezha",
        "--backends", backend, "--reference", reference,
        "--sections", "inference,int8" + (",serving" if serving else ""), "--threads", "1",
        # The suite runs in parallel workers: their load would flag the one
        # timed call as contended, leaving no clean figure to chart.
        "--contention", "64",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())
    results = report["results"]
    engines = [f"keras-{backend}"] + reference.split(",")
    for engine in engines:
        entry = results[f"nezha|{engine}|inference"]["2x16"]
        assert entry["first_call_seconds"] > 0
        assert len(entry["calls"]) == 1
        assert results[f"nezha|{engine}|inference"]["peak_rss_mib"] > 0
    int8 = results[f"nezha|keras-{backend}|int8"]["int8"]
    assert int8["cosine"] > 0.99
    assert report["machine"]["matmul_flops_per_second"] > 0
    markdown = (tmp_path / "results.md").read_text()
    assert "| nezha |" in markdown and "int8" in markdown
    if serving:
        # The SavedModel (in a TensorFlow-only process), transformers'
        # pipeline and ONNX Runtime on both exports, on raw texts.
        assert report["serving_errors"] == []
        engines = report["serving"]["models"]["nezha"]["engines"]
        for engine in ("saved_model", "transformers", "ort-ours", "ort-transformers"):
            assert engines[engine]["1"]["first_call_seconds"] > 0, engine
        assert engines["saved_model"]["modules"] == []
        assert "| nezha | text classifier | 2 |" in markdown
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "chart_2x16.png").stat().st_size > 1000


def test_latency_section_targets():
    """The latency section's verdicts and table, on figures made up here
    (running it takes minutes: `benchmark.py --sections latency`)."""
    latency = load_script("bench_latency")
    fast = {"predict_s": 0.03, "direct_s": 0.02, "backbone_s": 0.028}
    slow = {"predict_s": 0.30, "direct_s": 0.02, "backbone_s": 0.028}
    hf = {str(n): {"pipeline_s": 0.003, "direct_s": 0.001} for n in latency.COUNTS}
    met = latency.verdicts("base", {"1": fast}, hf, 1)
    assert [(name, ok) for name, _, _, ok in met] == [
        ("predict / (direct + 20 ms)", True), ("predict / backbone", True)]
    missed = latency.verdicts("tiny", {"2": slow}, hf, 2)
    assert [ok for *_, ok in missed] == [False, False]
    results = {"threads": 2, "sizes": {"tiny": {
        "transformers": {"backend": "transformers", **hf},
        "keras-jax": {"backend": "jax", **{str(n): slow for n in latency.COUNTS}},
    }}}
    table = latency.to_markdown(results)
    assert "| tiny | keras-jax | 8 |" in table and "MISSED" in table


def test_memory_table_only_with_figures():
    """The committed reports: the memory table where a run has figures for it,
    none (not an empty table) in a serving-only run's."""
    tool = load_tool()
    for folder, has_figures in (("benchmarks", True), (os.path.join("benchmarks", "serving"), False)):
        with open(os.path.join(ROOT, folder, "results.json")) as f:
            report = json.load(f)
        assert bool(report["results"]) == has_figures, folder
        assert ("## Peak resident memory" in tool.to_markdown(report)) == has_figures, folder


def test_committed_reports_are_rendered():
    """Each committed results.md is what `benchmark.py --render` makes of the
    results.json and notes.md beside it (edit notes.md, then render)."""
    tool = load_tool()
    folders = sorted({os.path.dirname(p) for p in glob.glob(
        os.path.join(ROOT, "benchmarks", "**", "results.json"), recursive=True)})
    assert len(folders) >= 3
    for folder in folders:
        with open(os.path.join(folder, "results.md"), encoding="utf-8") as f:
            assert f.read() == tool.rendered_markdown(folder)[1], folder


def test_serving_section_targets():
    """The serving section's verdicts and table, on figures made up here:
    a ratio from contended calls compares all calls on both sides, and says so."""
    load_tool()  # puts tools/ on the path for bench_serving's own import
    spec = importlib.util.spec_from_file_location(
        "bench_serving", os.path.join(ROOT, "tools", "bench_serving.py")
    )
    serving = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serving)

    def engine(clean, every=None, turns=None):
        turns = turns or [clean or every] * 3
        return {str(n): {"median_seconds": clean, "median_all_seconds": every or clean,
                         "contended_calls": 0 if clean else 1, "first_call_seconds": 1.0,
                         "after_idle_median_seconds": 3.0 * n,
                         "calls": [{"seconds": t, "contended": not clean} for t in turns]}
                for n in (1, 2)}

    results = {"threads": 2, "counts": [1, 2], "sequence_length": 24, "interleaved": True,
               "models": {"nezha": {
        "task": "text classifier", "prepare": {}, "export": {},
        "onnx_max_abs_difference": 0.1,
        "engines": {"saved_model": engine(0.5), "transformers": engine(None, 2.0),
                    "ort-ours": engine(2.0), "ort-transformers": engine(1.0)},
    }}}
    rows = {target: (ratio, verdict) for _, target, ratio, _, verdict in serving.verdicts(results)}
    # transformers had no clean call: all calls on both sides (2.0 / 0.5).
    assert rows["SavedModel >= 1.0x transformers, 1 texts (contended)"] == (4.0, "met")
    assert rows["ORT on our ONNX >= 1.0x ORT on transformers' export, 2 texts"] == (0.5, "**missed**")
    table = serving.to_markdown(results)
    # No ratio against a reference without a clean call.
    assert "| nezha | text classifier | 2 | 0.5 | n/a [2] | 2 | 1 |" in table
    assert "**missed**" in table and "nezha 0.1" in table
    # A ratio just under its target shows as under it, not as a missed "1.00x";
    # turns that agree give a narrow interval below 1.0x: missed.
    results["models"]["nezha"]["engines"]["ort-ours"] = engine(1.0006)
    assert "| 0.999x | 1.00-1.00x | **missed** |" in serving.to_markdown(results)
    # Turns that scatter around the other engine's: under 1.0x, but the run cannot
    # tell them apart (the turns' ratios 1/0.9, 1/1.1, 1/1.05, 1/0.95).
    engines = results["models"]["nezha"]["engines"]
    engines["ort-ours"] = engine(1.02, turns=[0.9, 1.1, 1.05, 0.95])
    engines["ort-transformers"] = engine(1.0, turns=[1.0] * 4)
    low, high = serving.paired_interval(engines["ort-ours"], engines["ort-transformers"], 2)
    assert low < 0.98 and high > 1.0
    assert f"| 0.98x | {low:.2f}-{high:.2f}x | parity |" in serving.to_markdown(results)
    # Contended turns are left out: one clean turn is no interval.
    engines["ort-ours"]["2"]["calls"][1:] = [
        dict(call, contended=True) for call in engines["ort-ours"]["2"]["calls"][1:]]
    assert serving.paired_interval(engines["ort-ours"], engines["ort-transformers"], 2) is None
    assert serving.verdict_text(0.98, None) == "**missed**"
    # A run that timed the engines one after the other has no pairs.
    engines["ort-ours"] = engine(1.02, turns=[0.9, 1.1, 1.05, 0.95])
    results["interleaved"] = False
    assert {interval for *_, interval, _ in serving.verdicts(results)} == {None}
    assert [serving.bench_common.ratio_text(r, t) for r, t in ((0.996, 1.0), (1.1496, 1.15), (1.2, 1.0))] \
        == ["0.996x", "1.1496x", "1.20x"]
    # The calls after idle: their own table, not the targets' figures.
    assert "| nezha | 2 | 6 | 6 | 6 | 6 |" in table
    assert serving.errors(results) == []
    results["models"]["nezha"]["engines"]["ort-ours"] = {"error": ["boom"]}
    assert serving.errors(results) == ["nezha ort-ours: ['boom']"]


def test_transformers_onnx_export_names_inputs_in_forward_order(tmp_path):
    """Inputs given in a tokenizer's order (token_type_ids before
    attention_mask) keep their names: ONNX Runtime gives the eager outputs."""
    pytest.importorskip("onnxruntime")
    import numpy as np
    import torch

    tool = load_tool()
    net = tool.hf_model("nezha", tool.TINY["nezha"], classifier=True)
    ids = torch.randint(5, 100, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    x = {"input_ids": ids, "token_type_ids": (torch.arange(12) > 5).long().expand(2, 12),
         "attention_mask": mask}
    tool.torch_onnx_export(net, x, str(tmp_path / "model.onnx"), ["logits"])
    session = tool.onnx_session(str(tmp_path / "model.onnx"), 1)
    with torch.no_grad():
        want = net(**x).logits.numpy()
    got = session.run(None, {k: v.numpy() for k, v in x.items()})[0]
    assert np.max(np.abs(got - want)) <= 1e-5


def load_script(name):
    load_tool()  # puts tools/ on the path for the script's own imports
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uie_section_targets():
    """The uie section's verdicts and table, on figures made up here (the
    run itself: `test_uie_smoke_run`, or `benchmark.py --sections uie`)."""
    uie = load_script("bench_uie")
    texts = uie.benchmark_texts()
    assert len(texts) == 32 and 10_000 < sum(map(len, texts)) < 12_000
    assert any(len(t) > 600 for t in texts) and any(len(t) < 60 for t in texts)

    def row(seconds, differences=0, precision="float32"):
        return {"precision": precision, "first_s": 2 * seconds, "seconds": seconds, "spans": 40,
                "differences": differences, "span_differences": 0,
                "max_probability_difference": 2e-6}

    results = {"texts": 32, "characters": 11381, "threads": 2, "schema": uie.SCHEMA,
               "max_seq_len": 512, "model": uie.MODELS["base"], "engines": {
                   "taskflow": {"seconds": 60.0, "spans": 40},
                   "keras-jax": row(25.0), "keras-tensorflow": row(70.0),
                   "keras-jax-int8": row(10.0, differences=40, precision="int8")}}
    # jax 2.4x met; tensorflow 0.86x missed; int8 rows are not float32 targets.
    verdicts = uie.verdicts(results)
    assert [(m.split(" (")[0], ok) for _, m, ok in verdicts] == [("2.40x", True), ("0.86x", False)]
    results["engines"]["keras-jax"]["differences"] = 1
    assert not uie.verdicts(results)[0][2]  # faster, but not the same spans
    table = uie.to_markdown(results)
    assert "| keras-jax-int8 | int8 |" in table and "MISSED" in table


@pytest.mark.large
def test_uie_smoke_run(tmp_path):
    """`--smoke --sections uie`: Taskflow in the paddle venv and this backend
    on the same tiny weights, the same spans (minutes: subprocesses)."""
    sys.path.insert(0, ROOT)
    from tests.paddle_reference import taskflow_job

    if taskflow_job.venv_python() is None:
        pytest.skip("no PaddleNLP reference venv (KERAS_ENCODERS_PADDLE_VENV)")
    backend = keras.config.backend()
    command = [sys.executable, TOOL, "--smoke", "--out", str(tmp_path), "--models", "nezha",
               "--backends", backend, "--reference", "", "--sections", "uie", "--threads", "1"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())["uie"]
    assert "error" not in report, report
    engines = report["engines"]
    assert engines["taskflow"]["spans"] > 0
    ours = engines[f"keras-{backend}"]
    assert ours["differences"] == 0 and ours["spans"] == engines["taskflow"]["spans"]
    assert ours["seconds"] > 0 and f"keras-{backend}-int8" in engines
    assert "UIE-M extraction against Taskflow" in (tmp_path / "results.md").read_text()
