"""Exception types of personcls.

The native extension raises these same classes (its translator in cpp/src/bindings.cpp
looks them up here), so callers catch one set of types whatever the backend.
"""


class PersonclsError(Exception):
    """Base class of every error personcls raises on purpose."""


class InputError(PersonclsError, ValueError):
    """An input (image file, bytes, array, argument, config value) cannot be used.

    The message names the input.
    """


class ModelError(PersonclsError, RuntimeError):
    """A model folder or model file is missing, incomplete, corrupt or inconsistent."""


class BackendError(PersonclsError, RuntimeError):
    """An inference runtime (Paddle Inference, OpenVINO, CUDA) is unavailable or failed."""


class ConfigError(PersonclsError, ValueError):
    """A configuration file or ``-o Key=value`` override is invalid."""
