"""Loading pretrained weights: local ``.pdparams`` files or URLs (downloaded once into a cache).

``load_pretrained(model, "path/to/x")`` accepts ``x`` or ``x.pdparams``;
``load_pretrained(model, "https://...pdparams")`` downloads into the cache folder
(``$PERSONCLS_WEIGHTS_CACHE``, else ``~/.cache/personcls/weights``) once, verifying the
sha256 when this module knows it. Tensors whose shape differs from the model's (typically a
1000- or 4-class head on a 2-class model) are skipped with a warning that lists them; keys
the model lacks (unexpected) and model tensors the file lacks (missing) are reported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import ModelError
from ..modelfolder import file_sha256

log = logging.getLogger("personcls.training")

_BASE = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/"

# Official PaddleClas pretrained files by architecture. PaddleClas publishes no checksums
# for these, so none are stored (the download is then only checked to be a loadable
# Paddle state dict with the expected key names).
OFFICIAL_URLS: Dict[Tuple[str, bool], str] = {}
for _s in ("x0_25", "x0_35", "x0_5", "x0_75", "x1_0", "x1_5", "x2_0", "x2_5"):
    OFFICIAL_URLS[(f"PPLCNet_{_s}", False)] = f"{_BASE}PPLCNet_{_s}_pretrained.pdparams"
for _s in ("x0_5", "x1_0", "x2_5"):  # the SSLD-distilled ImageNet weights PaddleClas publishes
    OFFICIAL_URLS[(f"PPLCNet_{_s}", True)] = f"{_BASE}PPLCNet_{_s}_ssld_pretrained.pdparams"
for _n in ("ResNet50_vd", "ResNet101_vd"):
    OFFICIAL_URLS[(_n, False)] = f"{_BASE}{_n}_pretrained.pdparams"
    OFFICIAL_URLS[(_n, True)] = f"{_BASE}{_n}_ssld_pretrained.pdparams"
OFFICIAL_URLS[("MobileNetV2", False)] = \
    "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/MobileNetV2_pretrained.pdparams"

# What the TFLite-derived ImageNet MobileNetV2 of ../shared/data/pretrained expects (its README):
# input x / 127.5 - 1 (mean = std = 0.5 on a 0..1 scale) and TensorFlow "SAME" padding.
CORAL_MNV2_FILE = "MobileNetV2_imagenet_from_coral_int8.pdparams"
CORAL_MNV2_PADDING = "tf_same"
CORAL_MNV2_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

# sha256 of files whose content is known, by URL or by file name. The three names below are
# the offline start weights in ../shared/data/pretrained (see its README).
KNOWN_SHA256: Dict[str, str] = {
    "PPLCNet_x1_0_textori_init.pdparams": "a1406a6a20fcf45e5197e71a8694fe326871b156067629dc1d18dc3f2066b45a",
    "PPLCNet_x1_0_textori_backbone.pdparams": "22602f1209cb69ccf4b0fae06de05151fa8cf109e0f93063268d458d959a7c57",
    "MobileNetV2_imagenet_from_coral_int8.pdparams": "5f166f511c33a63c86784e89a6e61d4e6fe1a7c079f7f83ca46d98ddd4fad7f9",
}


def official_url(arch: str, use_ssld: bool = False) -> str:
    """URL of PaddleClas's ImageNet weights for ``arch`` (``Arch.pretrained: True``)."""
    key = (arch, bool(use_ssld))
    if key not in OFFICIAL_URLS:
        have = sorted(f"{a}{' (ssld)' if s else ''}" for a, s in OFFICIAL_URLS)
        raise ModelError(f"no official pretrained weights known for {arch}{' with use_ssld' if use_ssld else ''}; "
                         f"known: {', '.join(have)}. Pass a path or URL as Arch.pretrained instead")
    return OFFICIAL_URLS[key]


def cache_dir() -> Path:
    env = os.environ.get("PERSONCLS_WEIGHTS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "personcls" / "weights"


sha256_file = file_sha256  # one implementation: personcls.spec


def _expected_sha(source: str) -> Optional[str]:
    return KNOWN_SHA256.get(source) or KNOWN_SHA256.get(os.path.basename(source.split("?")[0]))


def is_url(s: str) -> bool:
    return str(s).startswith(("http://", "https://"))


def download(url: str, sha256: Optional[str] = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into the cache unless already there; return the local file."""
    name = os.path.basename(url.split("?")[0]) or hashlib.sha1(url.encode()).hexdigest()
    target = cache_dir() / name
    sha256 = sha256 or _expected_sha(url)
    if target.is_file():
        if sha256 and sha256_file(target) != sha256:
            raise ModelError(f"cached weights {target} (from {url}) fail the sha256 check; delete the file to "
                             f"download it again")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            log.info("downloading %s -> %s", url, target)
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
        if sha256:
            got = sha256_file(tmp)
            if got != sha256:
                raise ModelError(f"download of {url} has sha256 {got}, expected {sha256}; not using it")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise ModelError(
            f"cannot download pretrained weights {url}: {getattr(e, 'reason', e)}. If this machine is offline, "
            f"fetch the file elsewhere and put it at {target} (or pass its local path instead of the URL)") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def resolve(path_or_url: str) -> Path:
    """A local ``.pdparams`` file for a path (with or without the suffix) or URL."""
    s = os.fspath(path_or_url)
    if is_url(s):
        return download(s)
    p = Path(s).expanduser()
    for cand in (p, Path(str(p) + ".pdparams")):
        if cand.is_file():
            exp = _expected_sha(cand.name)
            if exp and sha256_file(cand) != exp:
                raise ModelError(f"{cand}: sha256 differs from the published {exp} (corrupt or modified copy)")
            return cand
    raise ModelError(f"pretrained weights {s} not found (tried {p} and {p}.pdparams)")


@dataclass
class LoadReport:
    source: str
    loaded: List[str] = field(default_factory=list)
    shape_mismatch: List[Tuple[str, List[int], List[int]]] = field(default_factory=list)  # key, file, model
    missing: List[str] = field(default_factory=list)      # in the model, not in the file
    unexpected: List[str] = field(default_factory=list)   # in the file, not in the model

    def summary(self) -> str:
        return (f"{self.source}: loaded {len(self.loaded)} tensors, skipped {len(self.shape_mismatch)} "
                f"(shape), {len(self.missing)} missing, {len(self.unexpected)} unexpected")


def load_state(path_or_url: str) -> Tuple[Dict, Path]:
    import paddle

    f = resolve(path_or_url)
    try:
        state = paddle.load(str(f))
    except Exception as e:  # paddle raises assorted types on a bad file
        raise ModelError(f"{f}: not a loadable Paddle weights file ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise ModelError(f"{f}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return state, f


def load_pretrained(model, path_or_url: str, min_fraction: float = 0.5, strict_shapes: bool = False) -> LoadReport:
    """Load weights into ``model``; return what was loaded / skipped.

    Shape-mismatched tensors are skipped with a warning (an error when ``strict_shapes``).
    Raises ``ModelError`` when fewer than ``min_fraction`` of the model's tensors could be
    filled: the file is for another architecture.
    """
    import numpy as np

    state, f = load_state(path_or_url)
    own = model.state_dict()
    rep = LoadReport(source=str(f))
    to_set = {}
    for k, v in state.items():
        if k not in own:
            rep.unexpected.append(k)
            continue
        fshape = list(getattr(v, "shape", np.shape(v)))
        mshape = list(own[k].shape)
        if fshape != mshape:
            rep.shape_mismatch.append((k, fshape, mshape))
            continue
        to_set[k] = v
        rep.loaded.append(k)
    rep.missing = [k for k in own if k not in state]
    if rep.shape_mismatch and strict_shapes:
        raise ModelError(f"{f}: tensors of the wrong shape: {rep.shape_mismatch}")
    if len(rep.loaded) < min_fraction * max(1, len(own)):
        name = type(model).__name__
        raise ModelError(f"{f} does not fit this {name}: only {len(rep.loaded)} of {len(own)} tensors match by name "
                         f"and shape (e.g. missing {rep.missing[:3]}, unexpected {rep.unexpected[:3]}); "
                         f"is it for another architecture?")
    import warnings
    with warnings.catch_warnings():  # paddle warns per key absent from to_set; reported below instead
        warnings.simplefilter("ignore")
        model.set_state_dict(to_set)
    if rep.shape_mismatch:
        log.warning("pretrained %s: skipped %d tensor(s) whose shape differs from the model (kept the model's "
                    "initialisation): %s", f.name, len(rep.shape_mismatch),
                    ", ".join(f"{k} {a}->{b}" for k, a, b in rep.shape_mismatch))
    if rep.missing:
        log.warning("pretrained %s: %d model tensor(s) not in the file: %s", f.name, len(rep.missing),
                    ", ".join(rep.missing[:10]) + (" ..." if len(rep.missing) > 10 else ""))
    if rep.unexpected:
        log.warning("pretrained %s: %d tensor(s) in the file unused by the model: %s", f.name, len(rep.unexpected),
                    ", ".join(rep.unexpected[:10]) + (" ..." if len(rep.unexpected) > 10 else ""))
    log.info("%s", rep.summary())
    return rep
