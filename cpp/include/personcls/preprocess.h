// Fused preprocessing: uint8 HWC frames -> float32 NCHW batch in one pass per image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "personcls/pixel.h"

namespace personcls {

enum class ColorOrder { BGR, RGB };

ColorOrder parse_color(const std::string& s);  // "BGR" / "RGB" (case-insensitive)

// The parameters, as written into an exported model's metadata (personcls/spec.py).
struct PreprocessParams {
  int resize_short = 256;  // > 0: scale so the short side is this long, keep the aspect ratio
  int resize_w = 0;        // used when resize_short == 0: resize to resize_w x resize_h
  int resize_h = 0;
  int crop_w = 224;        // centre crop = network input
  int crop_h = 224;
  float scale = 1.0f / 255.0f;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  ColorOrder model_order = ColorOrder::RGB;  // channel order the network expects

  void validate() const;  // throws InputError
};

// A borrowed uint8 image with arbitrary (possibly negative) byte strides.
struct FrameView {
  const uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;  // 1 (grey), 3, or 4 (alpha ignored)
  std::ptrdiff_t stride_y = 0;
  std::ptrdiff_t stride_x = 0;
  std::ptrdiff_t stride_c = 0;
  ColorOrder order = ColorOrder::BGR;
};

// Throws InputError naming `what` when the frame cannot be preprocessed.
void validate_frame(const FrameView& f, const std::string& what);

// Size of the resized image before cropping (PaddleClas ResizeImage rounding rule).
void resized_size(const PreprocessParams& p, int src_w, int src_h, int* out_w, int* out_h);
Geometry make_geometry(const PreprocessParams& p, int src_w, int src_h);
Channels make_channels(const PreprocessParams& p, const FrameView& f);

// out: frames.size() x 3 x crop_h x crop_w floats. threads <= 0: all cores. Call without
// holding the GIL; `frames` must stay alive for the call.
void preprocess_batch_cpu(const std::vector<FrameView>& frames, const PreprocessParams& p,
                          float* out, int threads);

}  // namespace personcls
