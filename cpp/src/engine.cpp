// Engine: fused preprocessing -> runtime over a pool of runtime clones (raw model output; the
// softmax of logit models is applied in Python, personcls.postprocess.Postprocessor).
#include "personcls/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>
#include <utility>

#include "personcls/errors.h"

namespace personcls {

std::unique_ptr<Runtime> create_runtime(const ModelFiles& files, const EngineOptions& opt, int input_w,
                                        int input_h) {
  if (opt.runtime == "openvino") {
#if defined(PERSONCLS_WITH_OPENVINO)
    return create_openvino_runtime(files, opt, input_w, input_h);
#else
    throw BackendError("this build of personcls has no OpenVINO runtime (OpenVINO was not found at build time)");
#endif
  }
  if (opt.runtime == "paddle")
    throw InputError("the native engine has no Paddle Inference runtime; Paddle Inference is the 'paddle' "
                     "backend (Python paddle.inference, configured in one place: backends/paddle_runtime.py)");
  throw InputError("unknown runtime '" + opt.runtime + "'; the native engine runs 'openvino'");
}

namespace {

void check_options(const EngineOptions& o) {
  std::ostringstream err;
  if (o.cpu_threads < 0) err << "cpu_threads must be >= 0, got " << o.cpu_threads;
  else if (o.preprocess_threads < 0) err << "preprocess_threads must be >= 0, got " << o.preprocess_threads;
  else if (o.max_slots < 0) err << "max_slots must be >= 0, got " << o.max_slots;
  else if (o.num_classes < 0) err << "num_classes must be >= 0, got " << o.num_classes;
  if (!err.str().empty()) throw InputError("invalid engine options: " + err.str());
}

}  // namespace

// RAII hold on one slot of the pool.
class Engine::Lease {
 public:
  explicit Lease(Engine* e) : engine_(e), slot_(e->acquire()) {}
  ~Lease() { engine_->release(std::move(slot_)); }
  Slot& operator*() { return *slot_; }
  Slot* operator->() { return slot_.get(); }

 private:
  Engine* engine_;
  std::unique_ptr<Slot> slot_;
};

Engine::Engine(const ModelFiles& files, const PreprocessParams& params, const EngineOptions& options)
    : files_(files), params_(params), options_(options) {
  params_.validate();
  check_options(options_);
  const auto t0 = std::chrono::steady_clock::now();
  prototype_ = create_runtime(files_, options_, params_.crop_w, params_.crop_h);
  num_classes_ = prototype_->num_classes();
  if (num_classes_ < 1) throw ModelError(files_.model + ": the model reports no output classes");
  if (options_.num_classes > 0 && options_.num_classes != num_classes_) {
    std::ostringstream err;
    err << prototype_->model_path() << " outputs " << num_classes_ << " classes per image but the metadata lists "
        << options_.num_classes;
    throw ModelError(err.str());
  }
  runtime_name_ = prototype_->name();
  model_path_ = prototype_->model_path();
  describe_ = prototype_->describe();
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  max_slots_ = options_.max_slots > 0 ? options_.max_slots : std::max(2, 2 * std::max(1, hw));
  // The first slot now, so a model that loads but cannot start a request fails here.
  auto slot = std::make_unique<Slot>();
  slot->runtime = prototype_->clone();
  created_ = 1;
  free_.push_back(std::move(slot));
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Engine::~Engine() = default;

std::unique_ptr<Engine::Slot> Engine::acquire() {
  std::unique_lock<std::mutex> lk(mutex_);
  for (;;) {
    if (!free_.empty()) {
      auto s = std::move(free_.back());
      free_.pop_back();
      return s;
    }
    if (created_ < max_slots_) {
      ++created_;
      try {
        auto s = std::make_unique<Slot>();
        s->runtime = prototype_->clone();
        return s;
      } catch (...) {
        --created_;
        throw;
      }
    }
    freed_.wait(lk);
  }
}

void Engine::release(std::unique_ptr<Slot> slot) {
  if (!slot) return;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    free_.push_back(std::move(slot));
  }
  freed_.notify_one();
}

int Engine::slots_created() const {
  std::lock_guard<std::mutex> lk(mutex_);
  return created_;
}

std::string Engine::runtime_name() const { return runtime_name_; }
std::string Engine::model_path() const { return model_path_; }
std::string Engine::describe() const { return describe_; }

void Engine::finish(const Slot& slot, int n, std::vector<float>* out) const {
  const std::size_t want = static_cast<std::size_t>(n) * num_classes_;
  if (slot.output.size() != want) {
    std::ostringstream err;
    err << runtime_name_ << " returned " << slot.output.size() << " values for " << n << " images x " << num_classes_
        << " classes";
    throw BackendError(err.str());
  }
  out->assign(slot.output.begin(), slot.output.end());
}

std::vector<float> Engine::run(const std::vector<FrameView>& frames) {
  std::vector<float> out;
  const int n = static_cast<int>(frames.size());
  if (n == 0) return out;
  // Name the frame for every geometry problem before any work is done.
  for (int i = 0; i < n; ++i) {
    const std::string what = "frame[" + std::to_string(i) + "]";
    validate_frame(frames[i], what);
    try {
      (void)make_geometry(params_, frames[i].width, frames[i].height);
    } catch (const InputError& e) {
      throw InputError(what + ": " + e.what());
    }
  }
  Lease slot(this);
  const int h = params_.crop_h, w = params_.crop_w;
  const std::size_t need = static_cast<std::size_t>(n) * 3 * h * w;
  if (slot->input.size() < need) slot->input.resize(need);
  preprocess_batch_cpu(frames, params_, slot->input.data(), options_.preprocess_threads);
  slot->runtime->infer(slot->input.data(), n, h, w, &slot->output);
  finish(*slot, n, &out);
  return out;
}

std::vector<float> Engine::infer(const float* batch, int n) {
  std::vector<float> out;
  if (n <= 0) return out;
  Lease slot(this);
  slot->runtime->infer(batch, n, params_.crop_h, params_.crop_w, &slot->output);
  const std::size_t want = static_cast<std::size_t>(n) * num_classes_;
  if (slot->output.size() != want)
    throw BackendError(runtime_name_ + " returned an output of unexpected size");
  out.assign(slot->output.begin(), slot->output.end());
  return out;
}

}  // namespace personcls
