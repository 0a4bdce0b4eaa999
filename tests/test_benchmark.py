"""`personcls benchmark`: a tiny run end to end (synthetic frames, JSON and plot output)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from personcls import InputError
from personcls.backends import available_backends
from personcls.cli import main


def test_tiny_benchmark_writes_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    if "paddle" not in available_backends():
        pytest.skip("the same-run baseline runs on Paddle Inference")
    out_json, out_png = tmp_path / "bench" / "report.json", tmp_path / "bench" / "report.png"
    rc = main(["benchmark", "--frames", "3", "--batches", "1", "2", "--rounds", "2", "--seconds", "0.02",
               "--precisions", "fp32", "--profile", "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "# CPU:" in text and "baseline" in text and "x baseline" in text
    report = json.loads(out_json.read_text())
    setup = report["setup"]
    assert setup["cpu"] and setup["logical_cpus"] >= 1 and setup["versions"]["personcls"]
    assert "3 synthetic 1280x720" in setup["inputs"]
    configs = {f"{b}-fp32" for b in available_backends()} | {"baseline"}
    rows = report["rows"]
    assert {(r["mode"], r["batch"], r["config"]) for r in rows} == {
        (m, b, c) for m in ("end-to-end", "model-only") for b in (1, 2) for c in configs}
    for r in rows:
        assert r["images_per_s"] > 0 and len(r["rounds_images_per_s"]) == 2
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p95"] <= r["latency_ms"]["p99"]
        assert r["ratio_to_baseline"] > 0 and r["cpu_ms_per_image"] > 0
        assert "failed_inputs" not in r
        if r["config"] == "baseline":
            assert r["ratio_to_baseline"] == pytest.approx(1.0)
    prof = report["profile"]
    assert {(p["batch"], p["config"]) for p in prof} == {(b, c) for b in (1, 2) for c in configs}
    for p in prof:
        assert set(p["ms_per_image"]) == {"read", "decode", "preprocess", "infer", "postprocess"}
        assert p["ms_per_image"]["decode"] > 0 and p["ms_per_image"]["infer"] > 0
        assert sum(p["share"].values()) == pytest.approx(1.0, abs=0.01)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out_json.parent.glob(".*.tmp*"))  # atomic writes leave no temporaries


def test_benchmark_on_given_images_and_bad_arguments(tmp_path, demo_dir):
    from personcls.benchmark import run_benchmark

    rep = run_benchmark(images=[str(demo_dir / "cat_720p.jpg"), str(demo_dir / "squat.jpg")], batches=[2],
                        backends=["native"] if "native" in available_backends() else None, precisions=["fp32"],
                        modes=["end-to-end"], rounds=1, baseline=False)
    assert "2 image file(s)" in rep["setup"]["inputs"]
    assert [r["ratio_to_baseline"] for r in rep["rows"]] == [None] * len(rep["rows"])
    with pytest.raises(InputError, match="no such"):
        run_benchmark(images=[str(tmp_path / "nothing.jpg")])
    with pytest.raises(InputError, match="batch sizes"):
        run_benchmark(batches=[0])
    with pytest.raises(InputError, match="not available"):
        run_benchmark(frames=1, backends=["tensorflow"])


def test_vs_paddleclas_names_an_interpreter_without_the_package(tmp_path):
    """benchmarks/vs_paddleclas.py, pointed at an interpreter that lacks the paddleclas package
    (this one), stops with that interpreter's own error instead of timing anything."""
    pytest.importorskip("paddle")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "vs_paddleclas.py"
    p = subprocess.run([sys.executable, str(script), "--paddleclas-python", sys.executable, "--frames", "2",
                        "--rounds", "1", "--json", str(tmp_path / "r.json")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode != 0
    assert f"the paddleclas worker ({sys.executable}) exited" in p.stderr
    assert "No module named 'paddleclas'" in p.stderr
    assert not (tmp_path / "r.json").exists()
