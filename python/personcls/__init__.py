"""personcls: is someone there? Person / no-person classification for video loops.

Quick start::

    import personcls
    clf = personcls.Classifier()                  # the shipped default model
    r = clf.predict("frame.jpg")                  # or bytes, or a decoded HxWx3 uint8 frame
    print(r.someone, r.person_score, r.format_line())
"""

from .errors import BackendError, ConfigError, InputError, ModelError, PersonclsError
from .spec import ModelMeta, PostprocessSpec, PreprocessSpec, default_model_dir

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


def __getattr__(name):  # lazy: keep `import personcls` light (no Paddle / OpenVINO import)
    if name in ("Classifier", "Result", "available_backends"):
        from . import classifier

        return getattr(classifier, name)
    if name == "Preprocessor":
        from .preprocess import Preprocessor

        return Preprocessor
    raise AttributeError(f"module 'personcls' has no attribute {name!r}")
