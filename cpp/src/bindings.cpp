// personcls._native: the one place where C++ meets Python. Arguments are converted while
// holding the GIL; the C++ work runs with it released; C++ exceptions become the typed
// exceptions of personcls.errors (translator below).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <thread>

#include "personcls/errors.h"
#include "personcls/preprocess.h"
#include "py_common.h"
#if defined(PERSONCLS_WITH_CUDA)
#include "personcls/cuda_preprocess.h"
#include "personcls/dlpack_abi.h"
#endif

namespace py = pybind11;
using namespace personcls;

#if defined(PERSONCLS_WITH_OPENVINO)
void register_engine(py::module_& m);  // bindings_engine.cpp
#endif

namespace {

void raise_typed(const char* name, const char* what) {
  // personcls.errors is pure Python, so the types can inherit from both PersonclsError and
  // the matching builtin (ValueError, RuntimeError).
  py::object errors = py::module_::import("personcls.errors");
  py::object type = errors.attr(name);
  PyErr_SetString(type.ptr(), what);
}

std::array<float, 3> get3(const float* v) { return {v[0], v[1], v[2]}; }
void set3(float* dst, const std::vector<float>& v, const char* name) {
  if (v.size() != 3) throw InputError(std::string(name) + " needs 3 values, got " + std::to_string(v.size()));
  for (int i = 0; i < 3; ++i) dst[i] = v[i];
}

py::array_t<float> preprocess_py(const py::object& frames, const PreprocessParams& p, const std::string& color,
                                 int threads, py::object out) {
  py_common::Frames fr = py_common::frames_from(frames, color);
  p.validate();
  const py::ssize_t n = static_cast<py::ssize_t>(fr.views.size());
  py::array_t<float> result;
  if (out.is_none()) {
    result = py::array_t<float>({n, py::ssize_t(3), py::ssize_t(p.crop_h), py::ssize_t(p.crop_w)});
  } else {
    result = py::reinterpret_borrow<py::array_t<float>>(out);
    if (!py::isinstance<py::array_t<float>>(out) || result.ndim() != 4 || result.shape(0) != n ||
        result.shape(1) != 3 || result.shape(2) != p.crop_h || result.shape(3) != p.crop_w ||
        !(result.flags() & py::array::c_style) || !result.writeable())
      throw InputError("out must be a writeable C-contiguous float32 array of shape (" + std::to_string(n) +
                       ", 3, " + std::to_string(p.crop_h) + ", " + std::to_string(p.crop_w) + ")");
  }
  float* dst = result.mutable_data();
  {
    py::gil_scoped_release release;
    preprocess_batch_cpu(fr.views, p, dst, threads);
  }
  return result;
}

#if defined(PERSONCLS_WITH_CUDA)
struct CudaBatchHandle {
  std::shared_ptr<DeviceBatch> batch;
};

void dl_deleter(dl::ManagedTensor* t) {
  delete static_cast<std::shared_ptr<DeviceBatch>*>(t->manager_ctx);
  delete[] t->dl_tensor.shape;
  delete t;
}

py::capsule to_dlpack(const CudaBatchHandle& h) {
  auto* mt = new dl::ManagedTensor{};
  auto* keep = new std::shared_ptr<DeviceBatch>(h.batch);
  mt->manager_ctx = keep;
  mt->deleter = dl_deleter;
  mt->dl_tensor.data = h.batch->ptr;
  mt->dl_tensor.device = {dl::kCUDA, h.batch->device};
  mt->dl_tensor.ndim = 4;
  mt->dl_tensor.dtype = {dl::kFloat, 32, 1};
  mt->dl_tensor.shape = new int64_t[4]{h.batch->n, h.batch->c, h.batch->h, h.batch->w};
  mt->dl_tensor.strides = nullptr;
  mt->dl_tensor.byte_offset = 0;
  return py::capsule(mt, "dltensor", [](PyObject* cap) {
    // Consumers rename the capsule to "used_dltensor" and take over the deleter.
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* t = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (t && t->deleter) t->deleter(t);
    } else {
      PyErr_Clear();
    }
  });
}
#endif

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "personcls native core: fused preprocessing and the batched inference engine";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      raise_typed("InputError", e.what());
    } catch (const ModelError& e) {
      raise_typed("ModelError", e.what());
    } catch (const BackendError& e) {
      raise_typed("BackendError", e.what());
    }
  });

  m.def("build_info", [] {
    py::dict d;
    d["version"] = PERSONCLS_VERSION;
    py::list feats;
    std::string f = PERSONCLS_FEATURES;
    std::size_t start = 0;
    while (start <= f.size()) {
      std::size_t end = f.find(',', start);
      if (end == std::string::npos) end = f.size();
      if (end > start) feats.append(f.substr(start, end - start));
      start = end + 1;
    }
    d["features"] = feats;
    d["openvino"] = std::string(PERSONCLS_OPENVINO_VERSION);
    d["cuda"] = std::string(PERSONCLS_CUDA_VERSION);
#if defined(PERSONCLS_WITH_CUDA)
    d["cuda_devices"] = cuda_device_count();
#else
    d["cuda_devices"] = 0;
#endif
    d["compiler"] = PERSONCLS_COMPILER;
    d["hardware_threads"] = static_cast<int>(std::thread::hardware_concurrency());
    return d;
  }, "What this build of the extension contains (features, runtime versions, CUDA devices seen).");

  py::class_<PreprocessParams>(m, "PreprocessParams",
                               "Fused preprocessing parameters; build them with personcls.PreprocessSpec.to_native().")
      .def(py::init<>())
      .def_readwrite("resize_short", &PreprocessParams::resize_short)
      .def_readwrite("resize_w", &PreprocessParams::resize_w)
      .def_readwrite("resize_h", &PreprocessParams::resize_h)
      .def_readwrite("crop_w", &PreprocessParams::crop_w)
      .def_readwrite("crop_h", &PreprocessParams::crop_h)
      .def_readwrite("scale", &PreprocessParams::scale)
      .def_property("mean", [](const PreprocessParams& p) { return get3(p.mean); },
                    [](PreprocessParams& p, const std::vector<float>& v) { set3(p.mean, v, "mean"); })
      .def_property("std", [](const PreprocessParams& p) { return get3(p.std); },
                    [](PreprocessParams& p, const std::vector<float>& v) { set3(p.std, v, "std"); })
      .def_property("model_order",
                    [](const PreprocessParams& p) { return p.model_order == ColorOrder::RGB ? "RGB" : "BGR"; },
                    [](PreprocessParams& p, const std::string& s) { p.model_order = parse_color(s); })
      .def("validate", &PreprocessParams::validate)
      .def("resized_size", [](const PreprocessParams& p, int w, int h) {
        int rw, rh;
        resized_size(p, w, h, &rw, &rh);
        return py::make_tuple(rw, rh);
      }, py::arg("width"), py::arg("height"));

  m.def("preprocess", &preprocess_py, py::arg("frames"), py::arg("params"), py::arg("color") = "BGR",
        py::arg("threads") = 0, py::arg("out") = py::none(),
        "uint8 HWC frames (a list, or one NHWC array) -> float32 NCHW batch. Resize, centre crop,\n"
        "normalise and channel reorder in one pass per image, spread over `threads` workers\n"
        "(0 = all cores) with the GIL released. `color` is the order of the given frames.");

  m.def("hardware_threads", [] { return static_cast<int>(std::thread::hardware_concurrency()); });

#if defined(PERSONCLS_WITH_CUDA)
  m.def("cuda_device_count", &cuda_device_count);
  py::class_<CudaBatchHandle>(m, "CudaBatch", "A float32 NCHW batch in CUDA device memory.")
      .def_property_readonly("shape", [](const CudaBatchHandle& h) {
        return py::make_tuple(h.batch->n, h.batch->c, h.batch->h, h.batch->w);
      })
      .def_property_readonly("device", [](const CudaBatchHandle& h) { return h.batch->device; })
      .def_property_readonly("data_ptr", [](const CudaBatchHandle& h) { return reinterpret_cast<std::uintptr_t>(h.batch->ptr); })
      .def("numpy", [](const CudaBatchHandle& h) {
        py::array_t<float> a({py::ssize_t(h.batch->n), py::ssize_t(h.batch->c), py::ssize_t(h.batch->h), py::ssize_t(h.batch->w)});
        float* dst = a.mutable_data();
        py::gil_scoped_release release;
        copy_to_host(*h.batch, dst);
        return a;
      }, "Copy the batch back to host memory.")
      .def("to_dlpack", &to_dlpack, "A 'dltensor' capsule sharing the device memory (zero copy).")
      .def("__dlpack__", [](const CudaBatchHandle& h, py::object /*stream*/) { return to_dlpack(h); },
           py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const CudaBatchHandle& h) { return py::make_tuple(int(dl::kCUDA), h.batch->device); });
  m.def("preprocess_cuda", [](const py::object& frames, const PreprocessParams& p, const std::string& color, int device) {
    py_common::Frames fr = py_common::frames_from(frames, color);
    std::shared_ptr<DeviceBatch> b;
    {
      py::gil_scoped_release release;
      b = preprocess_batch_cuda(fr.views, p, device);
    }
    return CudaBatchHandle{b};
  }, py::arg("frames"), py::arg("params"), py::arg("color") = "BGR", py::arg("device") = 0,
     "Same as preprocess(), on a CUDA device; the result stays in device memory.");
#else
  m.def("cuda_device_count", [] { return 0; });
#endif

#if defined(PERSONCLS_WITH_OPENVINO)
  register_engine(m);
#endif
}
