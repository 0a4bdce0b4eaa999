// Exceptions thrown by the native code; bindings.cpp maps each to one Python type.
#pragma once
#include <stdexcept>
#include <string>

namespace personcls {

// The caller's input (a frame, an argument) is unusable.
struct InputError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A model folder or model file is missing, incomplete or unreadable.
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The inference runtime (OpenVINO, Paddle Inference, CUDA) failed.
struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace personcls
