// Paddle Inference C++ runtime of the native engine: GPU (+ TensorRT FP32/FP16/INT8 with
// dynamic batch and a serialized engine cache) or CPU (+ oneDNN).
//
// Compiled only when CMake is given PADDLE_INFERENCE_DIR (the official paddle_inference
// package); written against its public API: paddle_inference_api.h (paddle_infer::Config,
// CreatePredictor, Predictor, Tensor). See docs/native_engine.md for the build on a GPU box.
#include "paddle_inference_api.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>
#include <utility>

#include "personcls/engine.h"
#include "personcls/errors.h"

namespace fs = std::filesystem;

namespace personcls {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The (program, params) pair as given (personcls.modelfolder.paddle_files resolved it).
void check_files(const ModelFiles& files) {
  std::error_code ec;
  if (files.weights.empty()) throw InputError("Paddle Inference needs the weights file beside " + files.model);
  for (const std::string& f : {files.model, files.weights}) {
    if (!fs::is_regular_file(f, ec)) throw ModelError("Paddle model file " + f + " is missing");
    if (fs::file_size(f, ec) == 0) throw ModelError("Paddle model file " + f + " is empty");
  }
}

paddle_infer::PrecisionType trt_precision(const std::string& p) {
  const std::string s = lower(p);
  if (s == "fp32") return paddle_infer::PrecisionType::kFloat32;
  if (s == "fp16") return paddle_infer::PrecisionType::kHalf;
  if (s == "int8") return paddle_infer::PrecisionType::kInt8;
  throw InputError("TensorRT precision must be fp32, fp16 or int8, got '" + p + "'");
}

struct Info {
  std::string path, description;
  int classes = 0;
  bool gpu = false;
};

class PaddleInferenceRuntime final : public Runtime {
 public:
  PaddleInferenceRuntime(std::shared_ptr<paddle_infer::Predictor> predictor, std::shared_ptr<Info> info)
      : predictor_(std::move(predictor)), info_(std::move(info)) {
    try {
      const auto in_names = predictor_->GetInputNames();
      const auto out_names = predictor_->GetOutputNames();
      if (in_names.size() != 1)
        throw ModelError(info_->path + ": expected one model input, found " + std::to_string(in_names.size()));
      if (out_names.empty()) throw ModelError(info_->path + ": the model has no output");
      input_ = predictor_->GetInputHandle(in_names[0]);
      output_ = predictor_->GetOutputHandle(out_names[0]);
    } catch (const ModelError&) {
      throw;
    } catch (const std::exception& e) {
      throw BackendError(std::string("Paddle Inference predictor setup failed: ") + e.what());
    }
  }

  std::string name() const override { return "paddle"; }
  std::string model_path() const override { return info_->path; }
  std::string describe() const override { return info_->description; }
  int num_classes() const override { return info_->classes; }

  // Used once at load, before num_classes is known: runs and returns the output's shape.
  std::vector<int> probe(int h, int w) {
    std::vector<float> zeros(static_cast<std::size_t>(3) * h * w, 0.f);
    try {
      input_->Reshape({1, 3, h, w});
      input_->CopyFromCpu(zeros.data());
      if (!predictor_->Run()) throw BackendError("Paddle Inference Run() returned false");
      return output_->shape();
    } catch (const BackendError&) {
      throw;
    } catch (const std::exception& e) {
      std::ostringstream err;
      err << info_->path << ": the model does not run on a [1, 3, " << h << ", " << w
          << "] input (does the metadata's crop size match the model?): " << e.what();
      throw ModelError(err.str());
    }
  }

  void infer(const float* batch, int n, int h, int w, std::vector<float>* out) override {
    if (n <= 0) {
      out->clear();
      return;
    }
    try {
      input_->Reshape({n, 3, h, w});
      input_->CopyFromCpu(batch);
      if (!predictor_->Run()) throw BackendError("Paddle Inference Run() returned false");
      read_output(n, out);
    } catch (const BackendError&) {
      throw;
    } catch (const std::exception& e) {
      throw BackendError(fail_message(n, h, w, e.what()));
    }
  }

  bool accepts_device_input() const override { return info_->gpu; }

  void infer_device(const float* device_batch, int n, int h, int w, std::vector<float>* out) override {
    if (!info_->gpu) Runtime::infer_device(device_batch, n, h, w, out);
    if (n <= 0) {
      out->clear();
      return;
    }
    try {
      // Zero copy: the predictor reads the preprocessed batch where the CUDA kernel wrote it.
      input_->ShareExternalData<float>(device_batch, {n, 3, h, w}, paddle_infer::PlaceType::kGPU);
      if (!predictor_->Run()) throw BackendError("Paddle Inference Run() returned false");
      read_output(n, out);
    } catch (const BackendError&) {
      throw;
    } catch (const std::exception& e) {
      throw BackendError(fail_message(n, h, w, e.what()));
    }
  }

  std::unique_ptr<Runtime> clone() override {
    std::unique_ptr<paddle_infer::Predictor> p;
    try {
      p = predictor_->Clone();
    } catch (const std::exception& e) {
      throw BackendError(std::string("Paddle Inference could not clone the predictor: ") + e.what());
    }
    return std::make_unique<PaddleInferenceRuntime>(std::shared_ptr<paddle_infer::Predictor>(std::move(p)), info_);
  }

 private:
  void read_output(int n, std::vector<float>* out) {
    const std::vector<int> shape = output_->shape();
    std::size_t count = 1;
    for (int d : shape) count *= static_cast<std::size_t>(std::max(d, 0));
    if (shape.size() != 2 || shape[0] != n || (info_->classes > 0 && shape[1] != info_->classes)) {
      std::ostringstream err;
      err << "Paddle Inference output has shape [";
      for (std::size_t i = 0; i < shape.size(); ++i) err << (i ? ", " : "") << shape[i];
      err << "] for " << n << " images; expected [" << n << ", " << info_->classes << "]";
      throw BackendError(err.str());
    }
    if (output_->type() != paddle_infer::DataType::FLOAT32)
      throw BackendError("Paddle Inference output is not float32");
    out->resize(count);
    output_->CopyToCpu(out->data());
  }

  std::string fail_message(int n, int h, int w, const char* what) const {
    std::ostringstream err;
    err << "Paddle Inference failed on a batch of " << n << "x3x" << h << "x" << w << ": " << what;
    return err.str();
  }

  std::shared_ptr<paddle_infer::Predictor> predictor_;
  std::shared_ptr<Info> info_;
  std::unique_ptr<paddle_infer::Tensor> input_, output_;
};

}  // namespace

std::string paddle_inference_version() { return paddle_infer::GetVersion(); }

std::unique_ptr<Runtime> create_paddle_runtime(const ModelFiles& files, const EngineOptions& opt, int input_w,
                                               int input_h) {
  check_files(files);
  auto info = std::make_shared<Info>();
  info->path = files.model;
  info->gpu = opt.device == "gpu";

  paddle_infer::Config config;
  config.SetModel(files.model, files.weights);
  config.DisableGlogInfo();
  config.SwitchIrOptim(opt.ir_optim);
  std::ostringstream d;
  d << "Paddle Inference " << paddle_inference_version() << " " << fs::path(files.model).filename().string();
  if (info->gpu) {
    config.EnableUseGpu(static_cast<uint64_t>(opt.gpu_mem_mb), opt.device_id);
    config.EnableMemoryOptim();
    d << " GPU:" << opt.device_id;
    if (opt.use_tensorrt) {
      const auto precision = trt_precision(opt.precision);
      // Serialized TensorRT engines (and INT8 calibration tables) live in the cache folder
      // (personcls.modelfolder.trt_cache_dir: beside the model unless trt_cache_dir says where)
      // and are reused by later starts with the same model and shapes.
      if (opt.cache_dir.empty()) throw InputError("TensorRT needs options.cache_dir (the engine cache folder)");
      const fs::path cache(opt.cache_dir);
      std::error_code ec;
      fs::create_directories(cache, ec);
      if (ec) throw BackendError("cannot create the TensorRT cache folder " + cache.string() + ": " + ec.message());
      config.SetOptimCacheDir(cache.string());
      config.EnableTensorRtEngine(static_cast<int64_t>(opt.trt_workspace_mb) << 20, opt.max_batch,
                                  opt.trt_min_subgraph, precision, /*use_static=*/true,
                                  /*use_calib_mode=*/lower(opt.precision) == "int8" && opt.trt_calib);
      const std::string in = opt.input_name.empty() ? std::string("x") : opt.input_name;
      std::map<std::string, std::vector<int>> min_shape{{in, {opt.min_batch, 3, input_h, input_w}}};
      std::map<std::string, std::vector<int>> max_shape{{in, {opt.max_batch, 3, input_h, input_w}}};
      std::map<std::string, std::vector<int>> opt_shape{{in, {opt.opt_batch, 3, input_h, input_w}}};
      config.SetTRTDynamicShapeInfo(min_shape, max_shape, opt_shape);
      d << " TensorRT " << lower(opt.precision) << " batch " << opt.min_batch << ".." << opt.max_batch << " (opt "
        << opt.opt_batch << ") workspace " << opt.trt_workspace_mb << " MiB cache " << cache.string();
    }
  } else {
    config.DisableGpu();
    int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
    config.SetCpuMathLibraryNumThreads(std::max(1, threads));
    d << " CPU threads=" << std::max(1, threads);
    if (opt.enable_mkldnn) {
      config.EnableMKLDNN();
      config.SetMkldnnCacheCapacity(opt.mkldnn_cache_capacity);
      const std::string p = lower(opt.precision);
      if (p == "bf16") config.EnableMkldnnBfloat16();
      else if (p != "fp32") throw InputError("Paddle CPU precision must be fp32 or bf16, got '" + opt.precision + "'");
      d << " oneDNN " << p;
    }
  }
  info->description = d.str();

  std::shared_ptr<paddle_infer::Predictor> predictor;
  try {
    predictor = paddle_infer::CreatePredictor(config);
  } catch (const std::exception& e) {
    throw ModelError("Paddle Inference could not load " + info->path + ": " + e.what());
  }
  if (!predictor) throw ModelError("Paddle Inference could not load " + info->path);
  auto rt = std::make_unique<PaddleInferenceRuntime>(predictor, info);
  // The output shape is only known after a run; one batch of zeros also warms the predictor
  // (and builds / loads the TensorRT engine).
  const std::vector<int> shape = rt->probe(input_h, input_w);
  if (shape.size() != 2 || shape[1] < 1) {
    std::ostringstream err;
    err << info->path << ": the model's output has " << shape.size() << " dimensions; expected [N, classes]";
    throw ModelError(err.str());
  }
  info->classes = shape[1];
  return rt;
}

}  // namespace personcls
