// Conversions shared by the binding files: Python frames -> FrameView, params from Python.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "personcls/errors.h"
#include "personcls/preprocess.h"

namespace personcls::py_common {

namespace py = pybind11;

// Borrowed views over a list of uint8 HWC numpy arrays (or one NHWC / HWC / HW array).
// `keep` holds references so the views stay valid after the GIL is released.
struct Frames {
  std::vector<FrameView> views;
  std::vector<py::array> keep;
};

inline FrameView view_of(const py::array& a, ColorOrder order, const std::string& what) {
  if (!py::isinstance<py::array_t<uint8_t>>(a) || a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw InputError(what + " has dtype " + std::string(py::str(a.dtype())) + "; expected uint8 (decoded 8-bit image)");
  FrameView f;
  f.order = order;
  if (a.ndim() == 2) {
    f.height = static_cast<int>(a.shape(0));
    f.width = static_cast<int>(a.shape(1));
    f.channels = 1;
    f.stride_y = a.strides(0);
    f.stride_x = a.strides(1);
    f.stride_c = 0;
  } else if (a.ndim() == 3) {
    f.height = static_cast<int>(a.shape(0));
    f.width = static_cast<int>(a.shape(1));
    f.channels = static_cast<int>(a.shape(2));
    f.stride_y = a.strides(0);
    f.stride_x = a.strides(1);
    f.stride_c = a.strides(2);
  } else {
    throw InputError(what + " has " + std::to_string(a.ndim()) + " dimensions; expected HxWxC or HxW");
  }
  f.data = static_cast<const uint8_t*>(a.data());
  if (a.size() == 0) f.data = nullptr;
  validate_frame(f, what);
  return f;
}

inline Frames frames_from(const py::object& obj, const std::string& color) {
  const ColorOrder order = parse_color(color);
  Frames out;
  if (py::isinstance<py::array>(obj)) {
    py::array a = py::reinterpret_borrow<py::array>(obj);
    if (a.ndim() == 4) {
      for (py::ssize_t i = 0; i < a.shape(0); ++i) {
        py::object obj_i = a[py::int_(i)];
        py::array item = py::reinterpret_borrow<py::array>(obj_i);
        out.views.push_back(view_of(item, order, "frame[" + std::to_string(i) + "]"));
        out.keep.push_back(item);
      }
      return out;
    }
    out.views.push_back(view_of(a, order, "frame"));
    out.keep.push_back(a);
    return out;
  }
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw InputError("frames must be a numpy array or a list of numpy arrays, got " +
                     std::string(py::str(obj.get_type().attr("__name__"))));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  const auto n = seq.size();
  out.views.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string what = "frame[" + std::to_string(i) + "]";
    py::object item = seq[i];
    if (!py::isinstance<py::array>(item))
      throw InputError(what + " is a " + std::string(py::str(item.get_type().attr("__name__"))) +
                       "; expected a numpy uint8 array");
    py::array a = py::reinterpret_borrow<py::array>(item);
    out.views.push_back(view_of(a, order, what));
    out.keep.push_back(a);
  }
  return out;
}

}  // namespace personcls::py_common
