// The native inference engine: fused preprocessing -> runtime for a whole batch on the CPU,
// in C++, with no Python state touched (the bindings release the GIL around every call).
// Paddle Inference is not configured here: its one configuration is Python's
// (personcls/backends/paddle_runtime.py: build_config), see docs/architecture.md.
//
// Two layers:
//   Runtime  one loaded model behind one small interface (OpenVINO).
//            An instance is NOT safe to call from two threads at once; clone() makes another
//            instance that shares the weights / compiled model and owns its own requests.
//   Engine   a model's files + preprocessing parameters + a pool of Runtime instances. One
//            Engine is safe to share between threads: each call takes a free "slot"
//            (runtime clone + its reusable input buffer) from the pool, cloning a new one
//            when every slot is busy (up to EngineOptions::max_slots, then the call waits).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "personcls/preprocess.h"

namespace personcls {

// The files a runtime loads, resolved by the Python side (personcls.modelfolder, the one place
// that knows a model folder's layout); the engine opens exactly these and searches nothing.
struct ModelFiles {
  std::string model;    // inference.xml / .pdmodel / .onnx
  std::string weights;  // the weights beside it (.bin / .pdiparams); "" for single-file formats
};

// The engine's options. The fields that are also personcls.backends.RuntimeOptions fields carry
// the same names and are copied from it by name (backends/native.py: engine_options); the
// others are the engine's own.
struct EngineOptions {
  std::string runtime = "openvino";  // the only runtime of this engine
  int cpu_threads = 0;               // inference threads; 0 = the runtime's default (all cores)
  std::string cpu_precision = "fp32";  // OpenVINO inference precision: fp32 | bf16 | fp16
  std::string performance_hint = "latency";  // latency | throughput

  // The engine's own.
  int preprocess_threads = 0;  // fused preprocessing workers; 0 = all cores
  // The engine returns the model's raw output; whether that needs a softmax is decided in one
  // place, personcls.postprocess.Postprocessor (Python), from the model metadata.
  int num_classes = 0;     // expected classes; 0 = take what the model says
  std::string input_name;  // "" = the model's only input
  int num_streams = 0;     // throughput mode: parallel streams; 0 = plugin's choice
  std::string cache_dir;   // OpenVINO compiled-blob cache ("" = none)
  int max_slots = 0;       // concurrent calls served in parallel; 0 = 2 x hardware threads
};

// One loaded model. Not thread-safe per instance; clone() for another caller.
class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual std::string name() const = 0;          // "openvino"
  virtual std::string model_path() const = 0;    // the file that was loaded
  virtual std::string describe() const = 0;      // device, precision, hint ... for logs
  virtual int num_classes() const = 0;           // classes per image (from the output shape)

  // batch: n x 3 x h x w floats (host memory, stays valid during the call).
  // out: resized to n x num_classes() floats, the model's raw output.
  virtual void infer(const float* batch, int n, int h, int w, std::vector<float>* out) = 0;

  // Another instance sharing the weights / compiled model, with its own request state.
  virtual std::unique_ptr<Runtime> clone() = 0;
};

// Factories (throw ModelError for a missing / unreadable model, BackendError for a runtime
// that is not compiled in or fails to start).
std::unique_ptr<Runtime> create_runtime(const ModelFiles& files, const EngineOptions& opt, int input_w,
                                        int input_h);
#if defined(PERSONCLS_WITH_OPENVINO)
std::unique_ptr<Runtime> create_openvino_runtime(const ModelFiles& files, const EngineOptions& opt,
                                                 int input_w, int input_h);
// OpenVINO is loaded at run time (runtime_openvino.cpp): load_openvino_library(path to
// libopenvino_c) once per process, before the first engine; BackendError if it cannot serve.
void load_openvino_library(const std::string& path);
std::string openvino_library();  // the path loaded, "" before
std::string openvino_version();  // of the loaded library
#endif

class Engine {
 public:
  Engine(const ModelFiles& files, const PreprocessParams& params, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Frames -> the model's raw output, n x num_classes() row-major (probabilities for a model
  // that ends in softmax, as exported ones do). Thread-safe. Throws InputError (naming the
  // frame) for a bad frame, BackendError when the runtime fails.
  std::vector<float> run(const std::vector<FrameView>& frames);

  // Preprocessed float NCHW batch -> the model's raw output. Thread-safe.
  std::vector<float> infer(const float* batch, int n);

  int num_classes() const { return num_classes_; }
  int input_width() const { return params_.crop_w; }
  int input_height() const { return params_.crop_h; }
  const PreprocessParams& params() const { return params_; }
  const EngineOptions& options() const { return options_; }
  std::string runtime_name() const;
  std::string model_path() const;
  std::string describe() const;
  double load_seconds() const { return load_seconds_; }
  int slots_created() const;

 private:
  struct Slot {
    std::unique_ptr<Runtime> runtime;
    std::vector<float> input;   // reused preprocessing buffer
    std::vector<float> output;  // reused raw output
  };
  class Lease;

  std::unique_ptr<Slot> acquire();
  void release(std::unique_ptr<Slot> slot);
  void finish(const Slot& slot, int n, std::vector<float>* out) const;

  ModelFiles files_;
  PreprocessParams params_;
  EngineOptions options_;
  int num_classes_ = 0;
  double load_seconds_ = 0.0;
  std::string runtime_name_, model_path_, describe_;

  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Slot>> free_;
  std::unique_ptr<Runtime> prototype_;  // source of clones; never runs itself
  int created_ = 0;
  int max_slots_ = 1;
};

}  // namespace personcls
