"""One options vocabulary: the inference YAML's keys map onto the SDK's names through one
table (personcls.inference_config.KEYS), which is also where -o suggestions come from; the
native engine's options are built from RuntimeOptions by field name."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from personcls import ConfigError, _native
from personcls.backends import RuntimeOptions
from personcls.cli import DEFAULT_INFER_CONFIG, build_classifier, load_inference_config
from personcls.imageio import DecodeOptions
from personcls.inference_config import KEYS, classifier_kwargs


def _leaf_keys(node, prefix=""):
    out = []
    for k, v in node.items():
        p = f"{prefix}.{k}" if prefix else k
        out += _leaf_keys(v, p) if isinstance(v, dict) else [p]
    return out


def test_the_table_is_the_packaged_yaml():
    """Every Global / PostProcess key of the packaged config has its one SDK name in the table,
    and the table names only real fields."""
    cfg = yaml.safe_load(DEFAULT_INFER_CONFIG.read_text())
    documented = {k for k in _leaf_keys(cfg) if k.split(".")[0] in ("Global", "PostProcess")}
    assert documented == set(KEYS)
    runtime = {f.name for f in dataclasses.fields(RuntimeOptions)}
    decode = {f.name for f in dataclasses.fields(DecodeOptions)}
    import inspect

    from personcls import Classifier

    clf_args = set(inspect.signature(Classifier).parameters)
    for path, key in KEYS.items():
        assert key.name in {"runtime": runtime, "decode": decode, "classifier": clf_args,
                            "command": {"infer_imgs", "recursive"}}[key.target], path


def test_yaml_values_reach_their_fields():
    cfg = load_inference_config(None, ["Global.cpu_num_threads=3", "Global.gpu_mem=800", "Global.use_int8=true",
                                       "Global.use_fp16=true", "Global.max_pixels=1000",
                                       "PostProcess.Topk.topk=1", "PostProcess.main_indicator=ThreshOutput"])
    kw = classifier_kwargs(cfg)
    assert kw["threads"] == 3 and kw["topk"] == 1 and kw["mode"] == "threshold"
    assert kw["options"].gpu_mem_mb == 800 and kw["options"].trt_precision == "int8"  # int8 wins over fp16
    assert kw["options"].cpu_precision == "fp32" and kw["decode"].max_pixels == 1000
    with pytest.raises(ConfigError, match="main_indicator"):
        classifier_kwargs(load_inference_config(None, ["PostProcess.main_indicator=Top5"]))


def test_unknown_keys_are_suggested_from_the_table(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'Global.cpu_num_threads'"):
        load_inference_config(None, ["Global.cpu_num_thread=2"])
    # a user config that leaves a key out may still set it with -o (the table knows it)
    small = tmp_path / "small.yaml"
    small.write_text("Global:\n  batch_size: 4\n")
    cfg = load_inference_config(str(small), ["Global.gpu_mem=1000", "PostProcess.Topk.topk=1"])
    assert cfg["Global"]["gpu_mem"] == 1000 and cfg["PostProcess"]["Topk"]["topk"] == 1


def test_topk_is_a_classifier_argument(random_model):
    cfg = load_inference_config(None, [f"Global.inference_model_dir={random_model}", "PostProcess.Topk.topk=1"])
    with build_classifier(cfg) as clf:
        assert clf.postprocessor.topk == 1
        import numpy as np

        r = clf.predict(np.zeros((64, 64, 3), np.uint8))
        assert len(r.class_ids) == 1


@pytest.mark.skipif(not hasattr(_native, "Engine"), reason="this build has no native engine")
def test_engine_options_are_built_by_field_name():
    from personcls.backends.native import engine_options
    from personcls.modelfolder import ModelMeta, default_model_dir

    meta = ModelMeta.load(default_model_dir())
    o = engine_options(meta, RuntimeOptions(cpu_threads=1, cpu_precision="bf16", performance_hint="throughput"))
    assert (o.cpu_threads, o.cpu_precision, o.performance_hint) == (1, "bf16", "throughput")
    shared = [f.name for f in dataclasses.fields(RuntimeOptions) if hasattr(o, f.name)]
    assert shared == ["cpu_threads", "cpu_precision", "performance_hint"]
    # int8 names the INT8 IR (a file choice); the engine computes the rest of that graph in fp32
    assert engine_options(meta, RuntimeOptions(cpu_precision="int8")).cpu_precision == "fp32"
