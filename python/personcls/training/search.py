"""``personcls search -c PPLCNet_x1_0_search.yaml``: the tutorial's greedy hyperparameter search
(section 3.2.2, PaddleClas ``tools/search_strategy.py``).

Keys are searched one at a time, in the order given: every value of the first key is tried
(each trial a real training run with its own run folder), the best is kept, then the next key
is searched with it fixed, and so on. A ``teacher`` section last tries each teacher with the
distillation config and the student's best settings. Search config::

    base_config_file: PPLCNet_x1_0.yaml              # the student's training config
    distill_config_file: PPLCNet_x1_0_distillation.yaml
    output_dir: output/search
    metric: acc                                       # acc, f1 or tpr_at_fpr (the run's best epoch)
    base_overrides: [Global.epochs=3, ...]            # applied to every trial (then the keys' values)
    search_dict:
      - search_key: lrs
        replace_config: [Optimizer.lr.learning_rate]
        search_values: [0.0075, 0.01, 0.0125]
      ...
    teacher:
      rm_keys: [Arch.lr_mult_list]                    # dropped from the student-config overrides
      search_values: [output/MobileNetV2/best_model]  # Arch.models.0.Teacher.pretrained per trial
      overrides: [Arch.models.0.Teacher.name=MobileNetV2, ...]   # for every teacher trial
    final_replace:                                    # student key -> distillation-config key
      Arch.lr_mult_list: Arch.models.1.Student.lr_mult_list

Trial folders are named from a hash of the trial's overrides, so a trial whose settings
equal an earlier one is not run twice, and a search that is stopped and started again
re-reads finished trials (their ``latest.json`` has all epochs) instead of re-training them;
an unfinished trial resumes from its ``latest`` checkpoint. Results: ``results.csv``,
``results.md`` and ``best_config.yaml`` (the resolved training config of the best trial) in
``output_dir``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from ..config import load_config
from ..errors import ConfigError
from . import config_access as C
from .runlog import setup_logging

log = logging.getLogger("personcls.training")

RESULT_FIELDS = ["trial", "stage", "key", "value", "metric", "val_acc", "tpr_at_fpr", "threshold", "best_epoch",
                 "epochs", "seconds", "status", "run_dir", "overrides"]


def _fmt(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def load_search_config(path: str, overrides: Sequence[str]) -> Dict[str, Any]:
    p = C.resolve_config_path(path)
    cfg = load_config(p, list(overrides or []), defaults={"output_dir": "output/search", "metric": "acc",
                                                          "base_overrides": [], "search_dict": [],
                                                          "distill_config_file": None, "teacher": None,
                                                          "final_replace": {}, "search_times": 1},
                      allow_new=())
    if not cfg.get("base_config_file"):
        raise ConfigError(f"{p}: base_config_file (the training config to search around) is required")
    if str(cfg["metric"]) not in ("acc", "f1", "tpr_at_fpr"):
        raise ConfigError(f"{p}: metric must be acc, f1 or tpr_at_fpr, got {cfg['metric']!r}")
    sd = cfg.get("search_dict") or []
    if not isinstance(sd, list):
        raise ConfigError(f"{p}: search_dict must be a list of {{search_key, replace_config, search_values}}")
    for i, item in enumerate(sd):
        for k in ("search_key", "replace_config", "search_values"):
            if not isinstance(item, dict) or k not in item:
                raise ConfigError(f"{p}: search_dict.{i} needs {k}")
        if not isinstance(item["replace_config"], list) or not item["replace_config"]:
            raise ConfigError(f"{p}: search_dict.{i}.replace_config must be a non-empty list of config keys")
        if not isinstance(item["search_values"], list) or not item["search_values"]:
            raise ConfigError(f"{p}: search_dict.{i}.search_values must be a non-empty list")
    t = cfg.get("teacher")
    if t:
        if not cfg.get("distill_config_file"):
            raise ConfigError(f"{p}: a teacher search needs distill_config_file")
        if not isinstance(t.get("search_values"), list) or not t["search_values"]:
            raise ConfigError(f"{p}: teacher.search_values must list teacher weights (or teacher setting maps)")
    cfg["_path"] = str(p)
    return cfg


def _config_rel(search_cfg: Dict[str, Any], name: str) -> str:
    """A config file named in the search config: as given if it exists, else next to the search
    config, else a packaged one (``config_access.resolve_config_path``)."""
    f = Path(str(name))
    if not f.is_file():
        side = Path(search_cfg["_path"]).parent / f.name
        if side.is_file():
            return str(side)
    return str(C.resolve_config_path(str(name)))


class Trial:
    def __init__(self, stage: str, key: str, value: Any, config_file: str, overrides: List[str], out_root: Path):
        self.stage, self.key, self.value = stage, key, value
        self.config_file, self.overrides = config_file, list(overrides)
        # named by the resolved training config, so equal settings reached twice share one run
        cfg = C.load(config_file, self.overrides)
        cfg.get("Global", {}).pop("output_dir", None)
        h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:10]
        self.name = f"t{h}"
        self.out = out_root / "trials" / self.name


def _training_cfg(trial: Trial) -> Dict[str, Any]:
    return C.load(trial.config_file, trial.overrides + [f"Global.output_dir={trial.out}"])


# the search metric -> its column of a run's history (train()'s metrics; metrics.csv)
METRIC_COLUMN = {"acc": "val_acc", "f1": "f1", "tpr_at_fpr": "tpr_at_fpr"}


def trial_result(history: List[Dict[str, Any]], metric: str) -> Optional[Dict[str, Any]]:
    """A finished trial's row figures from its epochs: the best evaluated epoch by ``metric``
    (the earliest of equals) and the training time; None when no epoch was evaluated."""
    col = METRIC_COLUMN[metric]
    rows = [r for r in history if r.get(col) is not None]
    if not rows:
        return None
    best = max(rows, key=lambda r: (r[col], -r["epoch"]))
    return {"metric": best[col], "val_acc": best["val_acc"], "tpr_at_fpr": best["tpr_at_fpr"],
            "threshold": best["threshold"], "best_epoch": best["epoch"],
            "seconds": round(sum(r["seconds"] or 0 for r in rows), 1)}


def run_trial(trial: Trial, metric: str) -> Dict[str, Any]:
    """Train the trial's run (resuming it, or nothing when it finished in an earlier search)."""
    from .engine import train

    cfg = _training_cfg(trial)
    log.info("trial %s: %s = %s -> %s", trial.name, trial.key, _fmt(trial.value), C.run_dir_of(cfg))
    out = train(cfg)
    setup_logging(None)
    res = trial_result(out["history"], metric)
    if res is None:
        raise ConfigError(f"trial {trial.name} produced no evaluation (is Global.eval_during_train off?)")
    status = "trained" if out["trained_epochs"] else "cached"
    if status == "cached":
        log.info("trial %s (%s = %s): finished earlier, %s %.4f", trial.name, trial.key, _fmt(trial.value), metric,
                 res["metric"])
    return dict(res, status=status, run_dir=out["run_dir"], epochs=out["epochs"])


def _write_tables(out: Path, rows: List[Dict[str, Any]], metric: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".results.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in RESULT_FIELDS})
    tmp.replace(out / "results.csv")
    lines = [f"| trial | key | value | val {metric} | val acc | TPR@FPR | best epoch | s | chosen |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['trial']} | {r['key']} | `{r['value']}` | {r['metric']:.4f} | {r['val_acc']:.4f} | "
                     f"{r['tpr_at_fpr']:.4f} | {r['best_epoch']} | {r['seconds']} | {'**yes**' if r.get('chosen') else ''} |")
    (out / ".results.md.tmp").write_text("\n".join(lines) + "\n")
    (out / ".results.md.tmp").replace(out / "results.md")


def check_teachers(scfg: Dict[str, Any]) -> None:
    """Every teacher's weights must exist before the first trial runs (the teacher stage is last,
    so a missing file would otherwise surface after all the student trials)."""
    from .weights import is_url

    t = scfg.get("teacher")
    if not t:
        return
    missing = []
    for v in t.get("search_values") or []:
        w = v.get("Arch.models.0.Teacher.pretrained", v.get("pretrained")) if isinstance(v, dict) else v
        if w in (None, False, "") or w is True or is_url(str(w)):
            continue
        p = Path(str(w))
        if not (p.is_file() or Path(str(p) + ".pdparams").is_file()):
            missing.append(str(w))
    if missing:
        raise ConfigError(f"{scfg['_path']}: teacher weights not found: {', '.join(missing)} (tried each with and "
                          f"without .pdparams, relative to {Path.cwd()}). Train them first (benchmarks/ablation.sh "
                          f"teacher teacher2), list others in teacher.search_values, or skip the teacher stage "
                          f"with -o teacher=null")


def search(cfg_path: Optional[str], overrides: Sequence[str]) -> int:
    setup_logging(None)
    scfg = load_search_config(cfg_path or "PPLCNet_x1_0_search.yaml", overrides)
    check_teachers(scfg)
    out = Path(str(scfg["output_dir"]))
    metric = str(scfg["metric"])
    base_file = _config_rel(scfg, scfg["base_config_file"])
    base = [str(o) for o in (scfg.get("base_overrides") or [])]
    chosen: Dict[str, Any] = {}  # config key -> value (best so far)
    rows: List[Dict[str, Any]] = []
    t0 = time.time()
    seen: Dict[str, Dict[str, Any]] = {}

    def do(trial: Trial) -> Dict[str, Any]:
        if trial.name in seen:  # same settings as an earlier trial of this search
            res = dict(seen[trial.name], status="same as " + seen[trial.name]["trial"])
        else:
            res = run_trial(trial, metric)
            res["trial"] = trial.name
            seen[trial.name] = res
        row = dict(res, trial=trial.name, stage=trial.stage, key=trial.key, value=_fmt(trial.value),
                   overrides=" ".join(trial.overrides))
        rows.append(row)
        _write_tables(out, rows, metric)
        return row

    def student_overrides(extra: Dict[str, Any]) -> List[str]:
        return base + [_override(k, v) for k, v in {**chosen, **extra}.items()]

    best_row = None
    for si, item in enumerate(scfg.get("search_dict") or []):
        key, keys, values = str(item["search_key"]), list(item["replace_config"]), list(item["search_values"])
        stage_rows = []
        for v in values:
            tr = Trial(f"{si + 1}_{key}", key, v, base_file, student_overrides({k: v for k in keys}), out)
            stage_rows.append((v, do(tr)))
        v_best, r_best = max(stage_rows, key=lambda vr: vr[1]["metric"])  # first of equals wins
        r_best["chosen"] = True
        for k in keys:
            chosen[k] = v_best
        best_row = r_best
        log.info("search %s: best %s = %s (%s %.4f)", key, key, _fmt(v_best), metric, r_best["metric"])
        _write_tables(out, rows, metric)

    teacher = scfg.get("teacher")
    if teacher:
        dfile = _config_rel(scfg, scfg["distill_config_file"])
        rm = set(teacher.get("rm_keys") or [])
        repl = dict(scfg.get("final_replace") or {})
        dist_base = [str(o) for o in (teacher.get("base_overrides") or scfg.get("base_overrides") or [])]
        dist_chosen = {}
        for k, v in chosen.items():
            if k in repl:
                dist_chosen[repl[k]] = v
            elif k not in rm:
                dist_chosen[k] = v
        stage_rows = []
        for v in teacher["search_values"]:
            extra = [str(o) for o in (teacher.get("overrides") or [])]
            if isinstance(v, dict):
                extra += [_override(k, x) for k, x in v.items()]
            else:
                extra.append(_override("Arch.models.0.Teacher.pretrained", v))
            ov = dist_base + [_override(k, x) for k, x in dist_chosen.items()] + extra
            stage_rows.append((v, do(Trial(f"{len(scfg.get('search_dict') or []) + 1}_teacher", "teacher", v, dfile,
                                           ov, out))))
        v_best, r_best = max(stage_rows, key=lambda vr: vr[1]["metric"])
        r_best["chosen"] = True
        log.info("search teacher: best %s (%s %.4f)", _fmt(v_best), metric, r_best["metric"])
        if best_row is None or r_best["metric"] > best_row["metric"]:
            best_row = r_best
        _write_tables(out, rows, metric)

    if best_row is None:
        raise ConfigError(f"{scfg['_path']}: nothing to search (empty search_dict and no teacher)")
    best_cfg = yaml.safe_load(Path(best_row["run_dir"], "config.yaml").read_text())
    best_cfg["Global"]["output_dir"] = "./output/"
    (out / "best_config.yaml").write_text(
        f"# best trial of {scfg['_path']}: {best_row['trial']} ({metric} {best_row['metric']:.4f})\n"
        + yaml.safe_dump(best_cfg, sort_keys=False, allow_unicode=True))
    print((out / "results.md").read_text(), end="")
    print(f"best: {best_row['trial']} {metric} {best_row['metric']:.4f}; settings: "
          + ", ".join(f"{k}={_fmt(v)}" for k, v in chosen.items()))
    print(f"wrote {out / 'results.csv'}, {out / 'results.md'}, {out / 'best_config.yaml'} "
          f"({time.time() - t0:.0f} s)")
    return 0
