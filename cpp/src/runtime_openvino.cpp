// OpenVINO runtime of the native engine (the CPU fast path), over OpenVINO's C API.
//
// The extension does not link OpenVINO: it includes the C API's headers at build time and loads
// libopenvino_c from the `openvino` wheel at run time (dlopen, RTLD_LOCAL; the path comes from
// Python, personcls._import_native). So the extension names no library outside the manylinux
// policy (the wheel's tag rests on that: scripts/build_wheel.sh), the symbols never enter the
// global scope (Paddle bundles another OpenVINO), and a C API that is stable across releases is
// what binds us to the installed OpenVINO.
//
// One compiled model is shared by every clone; each clone owns its infer request(s). It reads the
// file it is given: an OpenVINO IR (+ .bin), a legacy Paddle program (+ .pdiparams, through
// OpenVINO's Paddle frontend) or ONNX. Which file a folder offers is decided in Python
// (personcls.modelfolder.openvino_files, with the measured order of docs/native_engine.md).
#include <dlfcn.h>
#include <openvino/c/openvino.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "personcls/engine.h"
#include "personcls/errors.h"

namespace fs = std::filesystem;

namespace personcls {

namespace {

// Every C API function the runtime calls; each becomes a member of OvApi holding its address.
#define PERSONCLS_OV_FUNCTIONS(X)                                                                          \
  X(ov_get_openvino_version) X(ov_version_free) X(ov_free) X(ov_get_error_info) X(ov_get_last_err_msg)     \
  X(ov_core_create) X(ov_core_read_model) X(ov_core_compile_model_props) X(ov_model_free)                   \
  X(ov_model_inputs_size) X(ov_model_outputs_size) X(ov_model_const_input) X(ov_model_const_input_by_name) \
  X(ov_model_const_output_by_index) X(ov_model_reshape_single_input) X(ov_port_get_any_name)              \
  X(ov_port_get_partial_shape) X(ov_output_const_port_free) X(ov_partial_shape_create)                     \
  X(ov_partial_shape_free) X(ov_partial_shape_to_string) X(ov_preprocess_prepostprocessor_create)          \
  X(ov_preprocess_prepostprocessor_free) X(ov_preprocess_prepostprocessor_get_input_info)                  \
  X(ov_preprocess_input_info_free) X(ov_preprocess_input_info_get_tensor_info)                             \
  X(ov_preprocess_input_tensor_info_free) X(ov_preprocess_input_tensor_info_set_element_type)              \
  X(ov_preprocess_prepostprocessor_get_output_info_by_index) X(ov_preprocess_output_info_free)             \
  X(ov_preprocess_output_info_get_tensor_info) X(ov_preprocess_output_tensor_info_free)                    \
  X(ov_preprocess_output_set_element_type) X(ov_preprocess_prepostprocessor_build)                         \
  X(ov_compiled_model_free) X(ov_compiled_model_get_property) X(ov_compiled_model_create_infer_request)    \
  X(ov_infer_request_free) X(ov_infer_request_set_input_tensor) X(ov_infer_request_infer)                  \
  X(ov_infer_request_start_async) X(ov_infer_request_wait) X(ov_infer_request_get_output_tensor_by_index)  \
  X(ov_tensor_create_from_host_ptr) X(ov_tensor_free) X(ov_tensor_get_size) X(ov_tensor_data)              \
  X(ov_tensor_get_shape) X(ov_shape_create) X(ov_shape_free)

struct OvApi {
#define PERSONCLS_OV_MEMBER(fn) decltype(&::fn) fn = nullptr;
  PERSONCLS_OV_FUNCTIONS(PERSONCLS_OV_MEMBER)
#undef PERSONCLS_OV_MEMBER
  std::string path;
};

std::mutex g_api_mutex;
// Set once under g_api_mutex, never unloaded (engines may outlive any owner); read without the
// lock on every call once set.
std::atomic<const OvApi*> g_api{nullptr};
std::string g_api_error = "OpenVINO's C library was not loaded (personcls loads it on import from the "
                          "`openvino` package: pip install openvino)";

void load_locked(const std::string& path);

// Not loaded by Python (an `import personcls._native` that bypassed the package): look where
// the openvino wheel sits beside this extension in one site-packages.
void try_beside_extension() {
  static bool tried = false;
  if (tried) return;
  tried = true;
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&try_beside_extension), &info) || !info.dli_fname) return;
  std::error_code ec;
  const fs::path libs = fs::path(info.dli_fname).parent_path().parent_path() / "openvino" / "libs";
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(libs, ec))
    if (e.path().filename().string().rfind("libopenvino_c.so", 0) == 0) found.push_back(e.path());
  std::sort(found.begin(), found.end());
  if (found.empty()) return;
  try {
    load_locked(found.front().string());
  } catch (const BackendError&) {
    // g_api_error says why
  }
}

const OvApi& api() {
  if (const OvApi* a = g_api.load(std::memory_order_acquire)) return *a;
  std::lock_guard<std::mutex> lk(g_api_mutex);
  if (!g_api.load()) try_beside_extension();
  if (const OvApi* a = g_api.load()) return *a;
  throw BackendError(g_api_error);
}

// Status -> exception text: OpenVINO's own message for the failure when it kept one.
std::string ov_message(const OvApi& a, ov_status_e st) {
  std::string msg;
  if (const char* last = a.ov_get_last_err_msg()) {
    msg = last;
    a.ov_free(last);
  }
  const char* kind = a.ov_get_error_info(st);
  if (msg.empty()) return kind ? kind : "status " + std::to_string(static_cast<int>(st));
  return msg;
}

template <class E>
void check(const OvApi& a, ov_status_e st, const std::string& what) {
  if (st != ov_status_e::OK) throw E(what + ": " + ov_message(a, st));
}

// A failure we handle ourselves: drop the message OpenVINO kept for it.
void discard_error(const OvApi& a) {
  if (const char* last = a.ov_get_last_err_msg()) a.ov_free(last);
}

// Owning handles over the C API's objects.
template <class T>
using Handle = std::unique_ptr<T, void (*)(T*)>;

#define PERSONCLS_OV_HANDLE(T, free_fn)                        \
  Handle<T> own(T* p) {                                        \
    return Handle<T>(p, [](T* q) { if (q) api().free_fn(q); }); \
  }
PERSONCLS_OV_HANDLE(ov_model_t, ov_model_free)
PERSONCLS_OV_HANDLE(ov_output_const_port_t, ov_output_const_port_free)
PERSONCLS_OV_HANDLE(ov_preprocess_prepostprocessor_t, ov_preprocess_prepostprocessor_free)
PERSONCLS_OV_HANDLE(ov_preprocess_input_info_t, ov_preprocess_input_info_free)
PERSONCLS_OV_HANDLE(ov_preprocess_input_tensor_info_t, ov_preprocess_input_tensor_info_free)
PERSONCLS_OV_HANDLE(ov_preprocess_output_info_t, ov_preprocess_output_info_free)
PERSONCLS_OV_HANDLE(ov_preprocess_output_tensor_info_t, ov_preprocess_output_tensor_info_free)
PERSONCLS_OV_HANDLE(ov_compiled_model_t, ov_compiled_model_free)
PERSONCLS_OV_HANDLE(ov_infer_request_t, ov_infer_request_free)
PERSONCLS_OV_HANDLE(ov_tensor_t, ov_tensor_free)
#undef PERSONCLS_OV_HANDLE

// fn(args..., &out) -> the owned out; E (naming `what`) when it fails.
template <class T, class E, class F, class... Args>
Handle<T> make(const OvApi& a, F fn, const std::string& what, Args... args) {
  T* out = nullptr;
  check<E>(a, fn(args..., &out), what);
  return own(out);
}

// A C string the library allocated (ov_free).
std::string take_string(const OvApi& a, const char* s) {
  std::string out = s ? s : "";
  if (s) a.ov_free(s);
  return out;
}

struct PartialShape {
  ov_partial_shape_t s{};
  PartialShape() = default;
  PartialShape(const PartialShape&) = delete;
  PartialShape& operator=(const PartialShape&) = delete;
  ~PartialShape() {
    if (s.dims) api().ov_partial_shape_free(&s);
  }
  bool rank_static() const { return s.rank.min == s.rank.max && s.rank.min >= 0; }
  int64_t rank() const { return s.rank.max; }
  bool dim_static(int64_t i) const { return s.dims[i].min == s.dims[i].max && s.dims[i].min >= 0; }
  int64_t dim(int64_t i) const { return s.dims[i].max; }
  std::string str() const { return take_string(api(), api().ov_partial_shape_to_string(s)); }
};

void port_shape(const OvApi& a, const ov_output_const_port_t* port, PartialShape* out, const std::string& what) {
  check<ModelError>(a, a.ov_port_get_partial_shape(port, &out->s), what);
}

ov_core_t* shared_core() {
  // ov_core is thread-safe; one per process keeps plugin loading to the first engine. Never
  // freed: plugins unloading during interpreter shutdown is a crash risk for no gain.
  static std::mutex m;
  static ov_core_t* core = nullptr;
  const OvApi& a = api();
  std::lock_guard<std::mutex> lk(m);
  if (!core) check<BackendError>(a, a.ov_core_create(&core), "OpenVINO could not start");
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

// cpu_precision -> the INFERENCE_PRECISION_HINT value ("f32" ...), as the plugin reports it back.
std::string precision_of(const std::string& p) {
  const std::string s = lower(p);
  if (s == "fp32" || s == "f32") return "f32";
  if (s == "bf16") return "bf16";
  if (s == "fp16" || s == "f16") return "f16";
  throw InputError("cpu_precision must be fp32, bf16 or fp16 (int8 selects the INT8 IR, in Python), got '" + p + "'");
}

// A compiled model's property as text; "" when the plugin does not report it.
std::string property(const OvApi& a, const ov_compiled_model_t* m, const char* key) {
  char* v = nullptr;
  if (a.ov_compiled_model_get_property(m, key, &v) != ov_status_e::OK) {
    discard_error(a);
    return "";
  }
  return take_string(a, v);
}

int to_int(const std::string& s, int fallback) {
  try {
    return s.empty() ? fallback : std::stoi(s);
  } catch (const std::exception&) {
    return fallback;
  }
}

struct Compiled {
  Handle<ov_compiled_model_t> model{nullptr, nullptr};  // create_infer_request is thread-safe
  std::string path;
  std::string description;
  int classes = 0;
  int requests = 1;  // infer requests per clone (throughput mode: one per stream)
  bool split = false;
};

class OpenVINORuntime final : public Runtime {
 public:
  explicit OpenVINORuntime(std::shared_ptr<const Compiled> c) : c_(std::move(c)) {
    const OvApi& a = api();
    for (int i = 0; i < c_->requests; ++i)
      requests_.push_back(make<ov_infer_request_t, BackendError>(a, a.ov_compiled_model_create_infer_request,
                                                                 "OpenVINO could not create an infer request",
                                                                 c_->model.get()));
  }

  std::string name() const override { return "openvino"; }
  std::string model_path() const override { return c_->path; }
  std::string describe() const override { return c_->description; }
  int num_classes() const override { return c_->classes; }

  void infer(const float* batch, int n, int h, int w, std::vector<float>* out) override {
    out->resize(static_cast<std::size_t>(n) * c_->classes);
    if (n <= 0) return;
    const OvApi& a = api();
    std::ostringstream where;
    where << "OpenVINO inference failed on a batch of " << n << "x3x" << h << "x" << w;
    const std::size_t per_image = static_cast<std::size_t>(3) * h * w;
    // Throughput mode: split the batch over the streams, run them at once.
    const int parts = c_->split ? std::min<int>(static_cast<int>(requests_.size()), n) : 1;
    int start = 0;
    for (int k = 0; k < parts; ++k) {
      const int m = n / parts + (k < n % parts ? 1 : 0);
      const int64_t dims[4] = {m, 3, h, w};
      ov_shape_t shape{};
      check<BackendError>(a, a.ov_shape_create(4, dims, &shape), where.str());
      ov_tensor_t* t = nullptr;
      const ov_status_e st = a.ov_tensor_create_from_host_ptr(
          ov_element_type_e::F32, shape, const_cast<float*>(batch + static_cast<std::size_t>(start) * per_image), &t);
      a.ov_shape_free(&shape);
      check<BackendError>(a, st, where.str());
      Handle<ov_tensor_t> input = own(t);  // the request keeps its own reference
      check<BackendError>(a, a.ov_infer_request_set_input_tensor(requests_[k].get(), input.get()), where.str());
      if (parts == 1) check<BackendError>(a, a.ov_infer_request_infer(requests_[k].get()), where.str());
      else check<BackendError>(a, a.ov_infer_request_start_async(requests_[k].get()), where.str());
      start += m;
    }
    start = 0;
    for (int k = 0; k < parts; ++k) {
      const int m = n / parts + (k < n % parts ? 1 : 0);
      if (parts > 1) check<BackendError>(a, a.ov_infer_request_wait(requests_[k].get()), where.str());
      Handle<ov_tensor_t> output = make<ov_tensor_t, BackendError>(a, a.ov_infer_request_get_output_tensor_by_index,
                                                                   where.str(), requests_[k].get(), std::size_t{0});
      std::size_t size = 0;
      check<BackendError>(a, a.ov_tensor_get_size(output.get(), &size), where.str());
      const std::size_t count = static_cast<std::size_t>(m) * c_->classes;
      if (size != count) {
        std::ostringstream err;
        err << "OpenVINO output has " << size << " values for " << m << " images; expected [" << m << ", "
            << c_->classes << "]";
        throw BackendError(err.str());
      }
      void* data = nullptr;
      check<BackendError>(a, a.ov_tensor_data(output.get(), &data), where.str());
      const float* src = static_cast<const float*>(data);
      std::copy(src, src + count, out->data() + static_cast<std::size_t>(start) * c_->classes);
      start += m;
    }
  }

  std::unique_ptr<Runtime> clone() override { return std::make_unique<OpenVINORuntime>(c_); }

 private:
  std::shared_ptr<const Compiled> c_;
  std::vector<Handle<ov_infer_request_t>> requests_;
};

// f32 at both ends whatever the file stores (an fp16 IR converts inside the graph).
Handle<ov_model_t> with_f32_ends(const OvApi& a, const ov_model_t* model, const std::string& file) {
  const std::string what = file + ": cannot set f32 input/output";
  auto ppp = make<ov_preprocess_prepostprocessor_t, ModelError>(a, a.ov_preprocess_prepostprocessor_create, what, model);
  auto in_info = make<ov_preprocess_input_info_t, ModelError>(a, a.ov_preprocess_prepostprocessor_get_input_info, what,
                                                             static_cast<const ov_preprocess_prepostprocessor_t*>(ppp.get()));
  auto in_tensor = make<ov_preprocess_input_tensor_info_t, ModelError>(a, a.ov_preprocess_input_info_get_tensor_info, what,
                                                                      static_cast<const ov_preprocess_input_info_t*>(in_info.get()));
  check<ModelError>(a, a.ov_preprocess_input_tensor_info_set_element_type(in_tensor.get(), ov_element_type_e::F32), what);
  auto out_info = make<ov_preprocess_output_info_t, ModelError>(a, a.ov_preprocess_prepostprocessor_get_output_info_by_index,
                                                               what, static_cast<const ov_preprocess_prepostprocessor_t*>(ppp.get()),
                                                               std::size_t{0});
  auto out_tensor = make<ov_preprocess_output_tensor_info_t, ModelError>(a, a.ov_preprocess_output_info_get_tensor_info, what,
                                                                        static_cast<const ov_preprocess_output_info_t*>(out_info.get()));
  check<ModelError>(a, a.ov_preprocess_output_set_element_type(out_tensor.get(), ov_element_type_e::F32), what);
  return make<ov_model_t, ModelError>(a, a.ov_preprocess_prepostprocessor_build, what,
                                      static_cast<const ov_preprocess_prepostprocessor_t*>(ppp.get()));
}

}  // namespace

namespace {

void load_locked(const std::string& path) {
  if (g_api.load()) return;  // the first library loaded serves the process
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    g_api_error = "OpenVINO's C library " + path + " could not be loaded: " + (e ? e : "dlopen failed");
    throw BackendError(g_api_error);
  }
  auto a = std::make_unique<OvApi>();
  a->path = path;
  std::vector<std::string> missing;
#define PERSONCLS_OV_RESOLVE(fn)                                     \
  a->fn = reinterpret_cast<decltype(&::fn)>(dlsym(h, #fn));          \
  if (!a->fn) missing.push_back(#fn);
  PERSONCLS_OV_FUNCTIONS(PERSONCLS_OV_RESOLVE)
#undef PERSONCLS_OV_RESOLVE
  if (!missing.empty()) {
    std::ostringstream err;
    err << "OpenVINO's C library " << path << " lacks " << missing.size() << " function(s) this build needs ("
        << missing.front() << (missing.size() > 1 ? ", ..." : "") << "): install the openvino version personcls "
        << "was built with (" << PERSONCLS_OPENVINO_VERSION << ")";
    dlclose(h);
    g_api_error = err.str();
    throw BackendError(g_api_error);
  }
  g_api.store(a.release(), std::memory_order_release);
}

}  // namespace

void load_openvino_library(const std::string& path) {
  std::lock_guard<std::mutex> lk(g_api_mutex);
  load_locked(path);
}

std::string openvino_library() {
  std::lock_guard<std::mutex> lk(g_api_mutex);
  const OvApi* a = g_api.load();
  return a ? a->path : std::string();
}

std::string openvino_version() {
  const OvApi& a = api();
  ov_version_t v{};
  if (a.ov_get_openvino_version(&v) != ov_status_e::OK) return std::string();
  std::string s = v.buildNumber ? v.buildNumber : "";
  a.ov_version_free(&v);
  return s;
}

std::unique_ptr<Runtime> create_openvino_runtime(const ModelFiles& files, const EngineOptions& opt, int input_w,
                                                 int input_h) {
  check_files(files);
  const fs::path file(files.model);
  const std::string hint = lower(opt.performance_hint);
  if (hint != "latency" && hint != "throughput")
    throw InputError("performance_hint must be 'latency' or 'throughput', got '" + opt.performance_hint + "'");
  const std::string precision = precision_of(opt.cpu_precision);
  if (opt.num_streams < 0) throw InputError("num_streams must be >= 0");
  const OvApi& a = api();
  ov_core_t* core = shared_core();

  Handle<ov_model_t> model = make<ov_model_t, ModelError>(
      a, a.ov_core_read_model, "OpenVINO could not read " + file.string(), static_cast<const ov_core_t*>(core),
      files.model.c_str(), files.weights.empty() ? nullptr : files.weights.c_str());
  std::size_t n_in = 0, n_out = 0;
  check<ModelError>(a, a.ov_model_inputs_size(model.get(), &n_in), file.string());
  check<ModelError>(a, a.ov_model_outputs_size(model.get(), &n_out), file.string());
  if (n_in != 1) throw ModelError(file.string() + ": expected one model input, found " + std::to_string(n_in));
  if (n_out == 0) throw ModelError(file.string() + ": the model has no output");
  {
    auto input = make<ov_output_const_port_t, ModelError>(a, a.ov_model_const_input, file.string(),
                                                          static_cast<const ov_model_t*>(model.get()));
    if (!opt.input_name.empty()) {
      char* any = nullptr;
      if (a.ov_port_get_any_name(input.get(), &any) == ov_status_e::OK) {
        const std::string any_name = take_string(a, any);
        ov_output_const_port_t* by_name = nullptr;
        if (a.ov_model_const_input_by_name(model.get(), opt.input_name.c_str(), &by_name) != ov_status_e::OK) {
          discard_error(a);
          throw ModelError(file.string() + ": the model's input is '" + any_name + "', the metadata says '" +
                           opt.input_name + "'");
        }
        own(by_name);
      } else {
        discard_error(a);  // an input without names: nothing to compare
      }
    }
    // The file's own input size (export records [-1, 3, H, W]) must be the metadata's: a
    // fully convolutional network would otherwise run at any size and answer wrongly.
    PartialShape in_shape;
    port_shape(a, input.get(), &in_shape, file.string());
    bool mismatch = in_shape.rank_static() && in_shape.rank() != 4;
    if (in_shape.rank_static() && in_shape.rank() == 4) {
      const int64_t want[3] = {3, input_h, input_w};
      for (int i = 0; i < 3; ++i)
        if (in_shape.dim_static(i + 1) && in_shape.dim(i + 1) != want[i]) mismatch = true;
    }
    if (mismatch) {
      std::ostringstream err;
      err << file.string() << ": the model's input is " << in_shape.str() << " but the metadata says [N, 3, " << input_h
          << ", " << input_w << "] (crop_size / input.shape in personcls.json do not belong to this model)";
      throw ModelError(err.str());
    }
  }
  // Dynamic batch, fixed image size: [-1, 3, H, W].
  {
    const ov_dimension_t dims[4] = {{-1, -1}, {3, 3}, {input_h, input_h}, {input_w, input_w}};
    PartialShape want;
    check<ModelError>(a, a.ov_partial_shape_create(4, dims, &want.s), file.string());
    std::ostringstream what;
    what << file.string() << ": the model cannot take a [N, 3, " << input_h << ", " << input_w
         << "] input (does the metadata's crop size match the model?)";
    check<ModelError>(a, a.ov_model_reshape_single_input(model.get(), want.s), what.str());
  }
  int classes = 0;
  {
    auto output = make<ov_output_const_port_t, ModelError>(a, a.ov_model_const_output_by_index, file.string(),
                                                           static_cast<const ov_model_t*>(model.get()), std::size_t{0});
    PartialShape out_shape;
    port_shape(a, output.get(), &out_shape, file.string());
    if (!out_shape.rank_static() || out_shape.rank() != 2 || !out_shape.dim_static(1)) {
      std::ostringstream err;
      err << file.string() << ": the model's output has shape " << out_shape.str() << "; expected [N, classes]";
      throw ModelError(err.str());
    }
    classes = static_cast<int>(out_shape.dim(1));
  }
  model = with_f32_ends(a, model.get(), file.string());

  auto c = std::make_shared<Compiled>();
  c->path = file.string();
  c->classes = classes;
  const std::string device = "CPU";
  const std::string threads_s = std::to_string(opt.cpu_threads), streams_s = std::to_string(opt.num_streams);
  std::vector<ov_property_t> props = {{"PERFORMANCE_HINT", hint == "throughput" ? "THROUGHPUT" : "LATENCY"},
                                      {"INFERENCE_PRECISION_HINT", precision.c_str()}};
  if (opt.cpu_threads > 0) props.push_back({"INFERENCE_NUM_THREADS", threads_s.c_str()});
  if (opt.num_streams > 0) props.push_back({"NUM_STREAMS", streams_s.c_str()});
  if (!opt.cache_dir.empty()) props.push_back({"CACHE_DIR", opt.cache_dir.c_str()});
  c->model = make<ov_compiled_model_t, BackendError>(
      a, a.ov_core_compile_model_props, "OpenVINO could not compile " + file.string() + " for " + device,
      static_cast<const ov_core_t*>(core), static_cast<const ov_model_t*>(model.get()), device.c_str(), props.size(),
      static_cast<const ov_property_t*>(props.data()));
  const ov_compiled_model_t* cm = c->model.get();
  // Not every plugin reports these; keep the requested values then.
  const int streams = to_int(property(a, cm, "NUM_STREAMS"), 1);
  const int threads = to_int(property(a, cm, "INFERENCE_NUM_THREADS"), 0);
  std::string actual = property(a, cm, "INFERENCE_PRECISION_HINT");
  if (actual.empty()) actual = precision;
  // The CPU plugin quietly computes in f32 when the CPU lacks the requested bf16 / fp16
  // instructions (an AVX2-only CPU). A precision we cannot honour is an error, never a
  // quiet substitution.
  if (actual != precision) {
    std::ostringstream err;
    err << "cpu_precision '" << opt.cpu_precision << "' cannot be honoured on this " << device
        << ": OpenVINO would compute in " << actual << " (the CPU lacks the instructions for " << precision
        << "; see personcls info). Use cpu_precision='fp32'";
    throw BackendError(err.str());
  }
  if (hint == "throughput") {
    c->requests = std::max(1, to_int(property(a, cm, "OPTIMAL_NUMBER_OF_INFER_REQUESTS"), std::max(1, streams)));
    c->split = c->requests > 1;
  }
  std::ostringstream d;
  d << "OpenVINO " << openvino_version() << " " << device << " " << file.filename().string() << " hint=" << hint
    << " precision=" << actual << " streams=" << streams << " threads=" << threads << " requests=" << c->requests;
  c->description = d.str();
  return std::make_unique<OpenVINORuntime>(std::move(c));
}

}  // namespace personcls
