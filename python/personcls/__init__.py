"""personcls: is someone there? Person / no-person classification for video loops.

Quick start::

    import personcls
    clf = personcls.Classifier()                  # the shipped default model
    r = clf.predict("frame.jpg")                  # or bytes, or a decoded HxWx3 uint8 frame
    print(r.someone, r.person_score, r.format_line())
"""

from .errors import BackendError, ConfigError, InputError, ModelError, PersonclsError
from .modelfolder import ModelMeta, default_model_dir
from .spec import PostprocessSpec, PreprocessSpec

__version__ = "0.1.0"

__all__ = [
    "BackendError", "ConfigError", "InputError", "ModelError", "PersonclsError",
    "ModelMeta", "PostprocessSpec", "PreprocessSpec", "default_model_dir",
    "Classifier", "Result", "Preprocessor", "available_backends", "build_info", "__version__",
]


def build_info():
    """What the native extension was compiled with (features, OpenVINO/CUDA versions)."""
    from . import _native

    return _native.build_info()


def _import_native():
    """``personcls._native``, after loading the openvino wheel's runtime library from wherever
    Python finds the ``openvino`` package.

    The extension names that library (NEEDED ``libopenvino.so.*``) and finds it through its
    RUNPATH ``$ORIGIN/../openvino/libs``, which only holds when both packages sit in one
    site-packages; loaded first, it is found by its soname wherever openvino is installed (a
    venv with system site packages, a --user install). RTLD_LOCAL on purpose: Paddle bundles
    another OpenVINO version whose libraries must not bind to these symbols."""
    import ctypes
    import glob
    import importlib
    import importlib.util
    import os

    spec = importlib.util.find_spec("openvino")
    for d in (spec.submodule_search_locations or []) if spec else []:
        for lib in sorted(glob.glob(os.path.join(d, "libs", "libopenvino.so.*"))):
            ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    return importlib.import_module("._native", __name__)


def __getattr__(name):  # lazy: keep `import personcls` light (no Paddle / OpenVINO import)
    if name == "_native":  # `from . import _native` lands here before importing the submodule
        return _import_native()
    if name in ("Classifier", "Result", "available_backends"):
        from . import classifier

        return getattr(classifier, name)
    if name == "Preprocessor":
        from .preprocess import Preprocessor

        return Preprocessor
    raise AttributeError(f"module 'personcls' has no attribute {name!r}")
