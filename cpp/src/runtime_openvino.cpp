// OpenVINO runtime of the native engine (the CPU fast path).
//
// One compiled model is shared by every clone; each clone owns its infer request(s). It reads the
// file it is given: an OpenVINO IR (+ .bin), a legacy Paddle program (+ .pdiparams, through
// OpenVINO's Paddle frontend) or ONNX. Which file a folder offers is decided in Python
// (personcls.modelfolder.openvino_files, with the measured order of docs/native_engine.md).
#include <openvino/core/preprocess/pre_post_process.hpp>
#include <openvino/openvino.hpp>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <utility>

#include "personcls/engine.h"
#include "personcls/errors.h"

namespace fs = std::filesystem;

namespace personcls {

namespace {

std::shared_ptr<ov::Core> shared_core() {
  // ov::Core is thread-safe; one per process keeps plugin loading to the first engine.
  static std::mutex m;
  static std::shared_ptr<ov::Core> core;
  std::lock_guard<std::mutex> lk(m);
  if (!core) {
    try {
      core = std::make_shared<ov::Core>();
    } catch (const std::exception& e) {
      throw BackendError(std::string("OpenVINO could not start: ") + e.what());
    }
  }
  return core;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void require_file(const fs::path& p, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) throw ModelError(what + " " + p.string() + " is missing");
  if (fs::file_size(p, ec) == 0) throw ModelError(what + " " + p.string() + " is empty");
}

// The files as given (personcls.modelfolder resolved them): present and not empty.
void check_files(const ModelFiles& files) {
  require_file(files.model, "model file");
  if (!files.weights.empty()) require_file(files.weights, "model weights");
}

ov::element::Type precision_of(const std::string& p) {
  const std::string s = lower(p);
  if (s == "fp32" || s == "f32") return ov::element::f32;
  if (s == "bf16") return ov::element::bf16;
  if (s == "fp16" || s == "f16") return ov::element::f16;
  throw InputError("cpu_precision must be fp32, bf16 or fp16 (int8 selects the INT8 IR, in Python), got '" + p + "'");
}

struct Compiled {
  mutable ov::CompiledModel model;  // create_infer_request() is non-const; thread-safe
  std::string path;
  std::string description;
  int classes = 0;
  int requests = 1;  // infer requests per clone (throughput mode: one per stream)
  bool split = false;
};

class OpenVINORuntime final : public Runtime {
 public:
  explicit OpenVINORuntime(std::shared_ptr<const Compiled> c) : c_(std::move(c)) {
    try {
      for (int i = 0; i < c_->requests; ++i) requests_.push_back(c_->model.create_infer_request());
    } catch (const std::exception& e) {
      throw BackendError(std::string("OpenVINO could not create an infer request: ") + e.what());
    }
  }

  std::string name() const override { return "openvino"; }
  std::string model_path() const override { return c_->path; }
  std::string describe() const override { return c_->description; }
  int num_classes() const override { return c_->classes; }

  void infer(const float* batch, int n, int h, int w, std::vector<float>* out) override {
    out->resize(static_cast<std::size_t>(n) * c_->classes);
    if (n <= 0) return;
    const std::size_t per_image = static_cast<std::size_t>(3) * h * w;
    // Throughput mode: split the batch over the streams, run them at once.
    const int parts = c_->split ? std::min<int>(static_cast<int>(requests_.size()), n) : 1;
    try {
      int start = 0;
      for (int k = 0; k < parts; ++k) {
        const int m = n / parts + (k < n % parts ? 1 : 0);
        ov::Tensor t(ov::element::f32, ov::Shape{static_cast<size_t>(m), 3, static_cast<size_t>(h), static_cast<size_t>(w)},
                     const_cast<float*>(batch + static_cast<std::size_t>(start) * per_image));
        requests_[k].set_input_tensor(t);
        if (parts == 1) requests_[k].infer();
        else requests_[k].start_async();
        start += m;
      }
      start = 0;
      for (int k = 0; k < parts; ++k) {
        const int m = n / parts + (k < n % parts ? 1 : 0);
        if (parts > 1) requests_[k].wait();
        const ov::Tensor o = requests_[k].get_output_tensor(0);
        const std::size_t count = static_cast<std::size_t>(m) * c_->classes;
        if (o.get_size() != count) {
          std::ostringstream err;
          err << "OpenVINO output has shape " << o.get_shape() << " for " << m << " images; expected [" << m << ", "
              << c_->classes << "]";
          throw BackendError(err.str());
        }
        const float* src = o.data<float>();
        std::copy(src, src + count, out->data() + static_cast<std::size_t>(start) * c_->classes);
        start += m;
      }
    } catch (const BackendError&) {
      throw;
    } catch (const std::exception& e) {
      std::ostringstream err;
      err << "OpenVINO inference failed on a batch of " << n << "x3x" << h << "x" << w << ": " << e.what();
      throw BackendError(err.str());
    }
  }

  std::unique_ptr<Runtime> clone() override { return std::make_unique<OpenVINORuntime>(c_); }

 private:
  std::shared_ptr<const Compiled> c_;
  std::vector<ov::InferRequest> requests_;
};

}  // namespace

std::string openvino_version() {
  const ov::Version v = ov::get_openvino_version();
  return v.buildNumber ? std::string(v.buildNumber) : std::string();
}

std::unique_ptr<Runtime> create_openvino_runtime(const ModelFiles& files, const EngineOptions& opt, int input_w,
                                                 int input_h) {
  check_files(files);
  const fs::path file(files.model);
  const std::string hint = lower(opt.performance_hint);
  if (hint != "latency" && hint != "throughput")
    throw InputError("performance_hint must be 'latency' or 'throughput', got '" + opt.performance_hint + "'");
  const ov::element::Type precision = precision_of(opt.cpu_precision);
  if (opt.num_streams < 0) throw InputError("num_streams must be >= 0");
  auto core = shared_core();

  std::shared_ptr<ov::Model> model;
  try {
    model = core->read_model(files.model, files.weights);
  } catch (const std::exception& e) {
    throw ModelError("OpenVINO could not read " + file.string() + ": " + e.what());
  }
  if (model->inputs().size() != 1)
    throw ModelError(file.string() + ": expected one model input, found " + std::to_string(model->inputs().size()));
  if (model->outputs().empty()) throw ModelError(file.string() + ": the model has no output");
  ov::Output<ov::Node> input = model->input();
  if (!opt.input_name.empty()) {
    const auto& names = input.get_names();
    if (!names.empty() && names.count(opt.input_name) == 0) {
      std::ostringstream err;
      err << file.string() << ": the model's input is '" << input.get_any_name() << "', the metadata says '"
          << opt.input_name << "'";
      throw ModelError(err.str());
    }
  }
  // The file's own input size (export records [-1, 3, H, W]) must be the metadata's: a
  // fully convolutional network would otherwise run at any size and answer wrongly.
  {
    const ov::PartialShape in_shape = input.get_partial_shape();
    const bool rank4 = in_shape.rank().is_static() && in_shape.rank().get_length() == 4;
    bool mismatch = !rank4 && in_shape.rank().is_static();
    if (rank4) {
      const int64_t want[3] = {3, input_h, input_w};
      for (int i = 0; i < 3; ++i)
        if (in_shape[i + 1].is_static() && in_shape[i + 1].get_length() != want[i]) mismatch = true;
    }
    if (mismatch) {
      std::ostringstream err;
      err << file.string() << ": the model's input is " << in_shape << " but the metadata says [N, 3, " << input_h
          << ", " << input_w << "] (crop_size / input.shape in personcls.json do not belong to this model)";
      throw ModelError(err.str());
    }
  }
  // Dynamic batch, fixed image size: [-1, 3, H, W].
  try {
    model->reshape({{input, ov::PartialShape{ov::Dimension::dynamic(), 3, input_h, input_w}}});
  } catch (const std::exception& e) {
    std::ostringstream err;
    err << file.string() << ": the model cannot take a [N, 3, " << input_h << ", " << input_w
        << "] input (does the metadata's crop size match the model?): " << e.what();
    throw ModelError(err.str());
  }
  const ov::PartialShape out_shape = model->output(0).get_partial_shape();
  if (out_shape.rank().is_dynamic() || out_shape.rank().get_length() != 2 || out_shape[1].is_dynamic()) {
    std::ostringstream err;
    err << file.string() << ": the model's output has shape " << out_shape << "; expected [N, classes]";
    throw ModelError(err.str());
  }
  // f32 at both ends whatever the file stores (an fp16 IR converts inside the graph).
  try {
    ov::preprocess::PrePostProcessor ppp(model);
    ppp.input().tensor().set_element_type(ov::element::f32);
    ppp.output(0).tensor().set_element_type(ov::element::f32);
    model = ppp.build();
  } catch (const std::exception& e) {
    throw ModelError(file.string() + ": cannot set f32 input/output: " + e.what());
  }

  auto c = std::make_shared<Compiled>();
  c->path = file.string();
  c->classes = static_cast<int>(out_shape[1].get_length());
  const std::string device = "CPU";
  ov::AnyMap cfg;
  cfg[ov::hint::performance_mode.name()] =
      hint == "throughput" ? ov::hint::PerformanceMode::THROUGHPUT : ov::hint::PerformanceMode::LATENCY;
  cfg[ov::hint::inference_precision.name()] = precision;
  if (opt.cpu_threads > 0) cfg[ov::inference_num_threads.name()] = static_cast<int32_t>(opt.cpu_threads);
  if (opt.num_streams > 0) cfg[ov::num_streams.name()] = ov::streams::Num(opt.num_streams);
  if (!opt.cache_dir.empty()) cfg[ov::cache_dir.name()] = opt.cache_dir;
  try {
    c->model = core->compile_model(model, device, cfg);
  } catch (const std::exception& e) {
    throw BackendError("OpenVINO could not compile " + file.string() + " for " + device + ": " + e.what());
  }
  int streams = 1, threads = 0;
  ov::element::Type actual = precision;
  try {
    streams = static_cast<int>(c->model.get_property(ov::num_streams).num);
    threads = c->model.get_property(ov::inference_num_threads);
    actual = c->model.get_property(ov::hint::inference_precision);
  } catch (const std::exception&) {
    // Not every plugin reports these; keep the requested values.
  }
  // The CPU plugin quietly computes in f32 when the CPU lacks the requested bf16 / fp16
  // instructions (an AVX2-only CPU). A precision we cannot honour is an error, never a
  // quiet substitution.
  if (actual != precision) {
    std::ostringstream err;
    err << "cpu_precision '" << opt.cpu_precision << "' cannot be honoured on this " << device
        << ": OpenVINO would compute in " << actual.get_type_name()
        << " (the CPU lacks the instructions for " << precision.get_type_name()
        << "; see personcls info). Use cpu_precision='fp32'";
    throw BackendError(err.str());
  }
  const std::string actual_precision = actual.get_type_name();
  if (hint == "throughput") {
    uint32_t req = 1;
    try {
      req = c->model.get_property(ov::optimal_number_of_infer_requests);
    } catch (const std::exception&) {
      req = static_cast<uint32_t>(std::max(1, streams));
    }
    c->requests = std::max(1, static_cast<int>(req));
    c->split = c->requests > 1;
  }
  std::ostringstream d;
  d << "OpenVINO " << openvino_version() << " " << device << " " << file.filename().string() << " hint=" << hint
    << " precision=" << actual_precision << " streams=" << streams << " threads=" << threads
    << " requests=" << c->requests;
  c->description = d.str();
  return std::make_unique<OpenVINORuntime>(std::move(c));
}

}  // namespace personcls
