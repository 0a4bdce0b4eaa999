// Per-pixel arithmetic of the fused preprocessing, shared by the CPU and CUDA code.
//
// Steps, in the order the model was trained with (see personcls/spec.py):
//   1. resize so the short side is `resize_short` (or to a fixed size), bilinear with
//      half-pixel centres and edge clamping - the sampling grid of cv2.INTER_LINEAR;
//   2. centre crop to crop_w x crop_h (the offset is applied to the resize grid, so only the
//      cropped pixels are ever computed);
//   3. round to the 0..255 grid (the resized image of the reference is uint8);
//   4. out[c] = (v * scale - mean[c]) / std[c]  ==  v * a[c] + b[c], channel order of the model.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define PCLS_HD __host__ __device__ __forceinline__
#else
#define PCLS_HD inline
#endif

namespace personcls {

// One axis of the resize grid for one output index: sample = (1 - w) * src[i0] + w * src[i1].
struct Tap {
  int i0;
  int i1;
  float w;
};

// Output index `dst` of the cropped window, `offset` its position in the resized image,
// `inv_scale` = src_len / resized_len.
PCLS_HD Tap make_tap(int dst, int offset, float inv_scale, int src_len) {
  // Double precision, as the reference computes its grid; the weight is then a float.
  double f = (static_cast<double>(dst + offset) + 0.5) * static_cast<double>(inv_scale) - 0.5;
  int i = static_cast<int>(floor(f));
  float w = static_cast<float>(f - static_cast<double>(i));
  Tap t;
  if (i < 0) {
    t.i0 = 0; t.i1 = 0; t.w = 0.f;
  } else if (i >= src_len - 1) {
    t.i0 = src_len - 1; t.i1 = src_len - 1; t.w = 0.f;
  } else {
    t.i0 = i; t.i1 = i + 1; t.w = w;
  }
  return t;
}

// Bilinear sample of four uint8 neighbours, rounded to the uint8 grid.
PCLS_HD float bilinear_u8(uint8_t p00, uint8_t p01, uint8_t p10, uint8_t p11, float wx, float wy) {
  float top = static_cast<float>(p00) + (static_cast<float>(p01) - static_cast<float>(p00)) * wx;
  float bot = static_cast<float>(p10) + (static_cast<float>(p11) - static_cast<float>(p10)) * wx;
  float v = top + (bot - top) * wy;
  return floorf(v + 0.5f);
}

// Folded normalisation: a = scale / std, b = -mean / std.
PCLS_HD float normalize(float v, float a, float b) { return v * a + b; }

// Everything the kernels need for one image, computed once on the host.
struct Geometry {
  int src_w, src_h;           // input frame
  int off_x, off_y;           // crop offset inside the resized image
  int out_w, out_h;           // crop size = network input
  float inv_scale_x, inv_scale_y;
};

struct Channels {
  float a[3];
  float b[3];
  int src_channel[3];         // which input channel feeds output plane c
};

}  // namespace personcls
