// personcls._native.Engine / EngineOptions: the native engine as Python sees it. Arguments
// are converted with the GIL held; loading, preprocessing and inference run with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "personcls/engine.h"
#include "personcls/errors.h"
#include "personcls/preprocess.h"
#include "py_common.h"

namespace py = pybind11;
using namespace personcls;

namespace {

py::array_t<float> to_array(const std::vector<float>& v, py::ssize_t n, py::ssize_t c) {
  py::array_t<float> a({n, c});
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

std::string path_str(const py::object& p) {
  py::object s = py::module_::import("os").attr("fspath")(p);
  if (!py::isinstance<py::str>(s)) throw InputError("model files must be str or os.PathLike paths");
  return s.cast<std::string>();
}

std::string options_repr(const EngineOptions& o) {
  std::ostringstream s;
  s << "EngineOptions(runtime='" << o.runtime << "', cpu_threads=" << o.cpu_threads << ", cpu_precision='"
    << o.cpu_precision << "', performance_hint='" << o.performance_hint << "', preprocess_threads="
    << o.preprocess_threads << ", num_classes=" << o.num_classes << ", num_streams=" << o.num_streams
    << ", max_slots=" << o.max_slots << ")";
  return s.str();
}

}  // namespace

void register_engine(py::module_& m) {
#if defined(PERSONCLS_WITH_OPENVINO)
  m.def("_load_openvino", [](const std::string& path) {
          py::gil_scoped_release release;
          load_openvino_library(path);
        },
        py::arg("path"),
        "Load OpenVINO's C library (libopenvino_c) for the engine; once per process, the first\n"
        "library loaded serves (personcls loads the `openvino` package's on import).");
  m.def("openvino_library", &openvino_library, "The OpenVINO C library the engine uses ('' before it is loaded).");
#endif
  py::class_<EngineOptions> opts(m, "EngineOptions",
                                 "Options of the native engine (fields shared with RuntimeOptions carry its names).\n"
                                 "EngineOptions(**fields) sets fields by name.");
  opts.def(py::init<>())
      .def(py::init([](const py::kwargs& kw) {
             py::object obj = py::cast(EngineOptions());
             for (auto item : kw) {
               const std::string key = py::str(item.first);
               if (!py::hasattr(obj, key.c_str()) || key.rfind("_", 0) == 0)
                 throw py::type_error("EngineOptions has no option '" + key + "'");
               obj.attr(key.c_str()) = item.second;
             }
             return obj.cast<EngineOptions>();
           }))
      .def_readwrite("runtime", &EngineOptions::runtime)
      .def_readwrite("cpu_threads", &EngineOptions::cpu_threads)
      .def_readwrite("cpu_precision", &EngineOptions::cpu_precision)
      .def_readwrite("performance_hint", &EngineOptions::performance_hint)
      .def_readwrite("preprocess_threads", &EngineOptions::preprocess_threads)
      .def_readwrite("num_classes", &EngineOptions::num_classes)
      .def_readwrite("input_name", &EngineOptions::input_name)
      .def_readwrite("num_streams", &EngineOptions::num_streams)
      .def_readwrite("cache_dir", &EngineOptions::cache_dir)
      .def_readwrite("max_slots", &EngineOptions::max_slots)
      .def("__repr__", &options_repr);

  py::class_<Engine, std::shared_ptr<Engine>>(
      m, "Engine",
      "A model's files loaded for batched inference: fused preprocessing -> runtime in C++, with\n"
      "the GIL released (raw model output: personcls.postprocess applies softmax to logit models).\n"
      "One Engine may be shared by several threads:\n"
      "each call takes a free runtime clone from an internal pool (cloned on demand, up to\n"
      "options.max_slots, then calls wait), so concurrent calls run in parallel.")
      .def(py::init([](const py::object& model_file, const py::object& weights_file, const PreprocessParams& params,
                       const py::object& runtime, const py::object& options) {
             EngineOptions o = options.is_none() ? EngineOptions() : options.cast<EngineOptions>();
             if (!runtime.is_none()) o.runtime = runtime.cast<std::string>();
             ModelFiles files{path_str(model_file), weights_file.is_none() ? std::string() : path_str(weights_file)};
             py::gil_scoped_release release;
             return std::make_shared<Engine>(files, params, o);
           }),
           py::arg("model_file"), py::arg("weights_file"), py::arg("params"), py::arg("runtime") = py::none(),
           py::arg("options") = py::none(),
           "Load `model_file` (+ `weights_file`, None or '' for single-file formats; resolved by\n"
           "personcls.modelfolder, the engine searches nothing) with preprocessing `params`\n"
           "(PreprocessSpec.to_native()) on `runtime`\n"
           "('openvino'; default: options.runtime). Raises ModelError for a missing or\n"
           "unreadable model, BackendError when the runtime is not built in or fails.")
      .def("run", [](Engine& e, const py::object& frames, const std::string& color) {
             py_common::Frames fr = py_common::frames_from(frames, color);
             std::vector<float> probs;
             {
               py::gil_scoped_release release;
               probs = e.run(fr.views);
             }
             return to_array(probs, static_cast<py::ssize_t>(fr.views.size()), e.num_classes());
           },
           py::arg("frames"), py::arg("color") = "BGR",
           "uint8 HxWxC frames (a list, or one NHWC / HWC array) in `color` order -> float32\n"
           "(N, classes) model output. Raises InputError naming the bad frame.")
      .def("infer", [](Engine& e, const py::object& batch_obj) {
             if (!py::isinstance<py::array>(batch_obj))
               throw InputError("batch must be a float32 numpy array of shape (N, 3, H, W)");
             auto batch = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(batch_obj);
             if (!batch) throw InputError("batch must be convertible to float32");
             if (batch.ndim() != 4 || batch.shape(1) != 3 || batch.shape(2) != e.input_height() ||
                 batch.shape(3) != e.input_width()) {
               std::ostringstream err;
               err << "batch must have shape (N, 3, " << e.input_height() << ", " << e.input_width() << "), got (";
               for (py::ssize_t i = 0; i < batch.ndim(); ++i) err << (i ? ", " : "") << batch.shape(i);
               err << ")";
               throw InputError(err.str());
             }
             const int n = static_cast<int>(batch.shape(0));
             std::vector<float> out;
             {
               py::gil_scoped_release release;
               out = e.infer(batch.data(), n);
             }
             return to_array(out, n, e.num_classes());
           },
           py::arg("batch"),
           "Model only: a preprocessed float32 (N, 3, H, W) batch -> the raw (N, classes) output.")
      .def_property_readonly("num_classes", &Engine::num_classes)
      .def_property_readonly("input_size", [](const Engine& e) { return py::make_tuple(e.input_width(), e.input_height()); },
                             "(width, height) of the network input.")
      .def_property_readonly("runtime", &Engine::runtime_name)
      .def_property_readonly("model_path", &Engine::model_path, "The model file the runtime loaded.")
      .def_property_readonly("description", &Engine::describe)
      .def_property_readonly("load_seconds", &Engine::load_seconds)
      .def_property_readonly("slots", &Engine::slots_created, "Runtime clones created so far (one per concurrent caller).")
      .def_property_readonly("options", [](const Engine& e) { return e.options(); })
      .def_property_readonly("params", [](const Engine& e) { return e.params(); })
      .def("__repr__", [](const Engine& e) {
        return "<personcls._native.Engine " + e.describe() + " classes=" + std::to_string(e.num_classes()) + ">";
      });
}
