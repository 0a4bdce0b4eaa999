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
    """``personcls._native``, with OpenVINO's C library (``libopenvino_c.so.*`` of the ``openvino``
    package, wherever Python finds it) loaded for the native engine.

    The extension does not link OpenVINO (its wheel names no library outside the manylinux
    policy): it opens that library itself, RTLD_LOCAL, so its symbols stay out of the global
    scope (Paddle bundles another OpenVINO). Without the package the extension still imports
    (preprocessing works) and engine creation raises BackendError saying what is missing."""
    import glob
    import importlib
    import importlib.util
    import os

    native = importlib.import_module("._native", __name__)
    if hasattr(native, "_load_openvino") and not native.openvino_library():
        spec = importlib.util.find_spec("openvino")
        libs = [lib for d in ((spec.submodule_search_locations or []) if spec else [])
                for lib in sorted(glob.glob(os.path.join(d, "libs", "libopenvino_c.so*")))]
        if libs:
            native._load_openvino(libs[0])
    return native


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
