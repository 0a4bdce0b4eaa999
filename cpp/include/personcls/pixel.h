// Per-pixel arithmetic of the fused preprocessing, shared by the CPU and CUDA code.
//
// Steps, in the order the model was trained with (see personcls/spec.py):
//   1. resize so the short side is `resize_short` (or to a fixed size), bilinear with
//      half-pixel centres and edge clamping - the sampling grid of cv2.INTER_LINEAR;
//   2. centre crop to crop_w x crop_h (the offset is applied to the resize grid, so only the
//      cropped pixels are ever computed);
//   3. land on the 0..255 grid exactly as the reference's uint8 resized image does;
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

// One axis of the resize grid for one output index:
//   sample = (q0 * src[i0] + q1 * src[i1]) / 2048, weights in 11-bit fixed point.
struct Tap {
  int i0;
  int i1;
  int q0;
  int q1;
};

constexpr int kCoefBits = 11;  // weights are multiples of 1/2048

// Output index `dst` of the cropped window, `offset` its position in the resized image,
// `inv_scale` = src_len / resized_len. The grid is computed in double and cast to float,
// the fraction taken in float and quantised with round-half-even.
PCLS_HD Tap make_tap(int dst, int offset, double inv_scale, int src_len) {
  float f = static_cast<float>((static_cast<double>(dst + offset) + 0.5) * inv_scale - 0.5);
  int i = static_cast<int>(floorf(f));
  float w = f - static_cast<float>(i);
  if (i < 0) {
    i = 0;
    w = 0.f;
  }
  if (i >= src_len - 1) {
    i = src_len - 1;
    w = 0.f;
  }
  Tap t;
  t.i0 = i;
  t.i1 = i + 1 < src_len ? i + 1 : src_len - 1;
  t.q0 = static_cast<int>(rintf((1.f - w) * (1 << kCoefBits)));
  t.q1 = static_cast<int>(rintf(w * (1 << kCoefBits)));
  return t;
}

// Bilinear sample of four uint8 neighbours on the uint8 grid. Integer arithmetic with the
// rounding of OpenCV's vectorised INTER_LINEAR path, so the result equals cv2.resize's
// pixel exactly: horizontal sums S (x2048), then ((S0>>4)*qy0 >> 16) + ((S1>>4)*qy1 >> 16),
// rounded by +2 >> 2.
PCLS_HD int bilinear_u8(int p00, int p01, int p10, int p11, const Tap& tx, const Tap& ty) {
  const int s0 = p00 * tx.q0 + p01 * tx.q1;
  const int s1 = p10 * tx.q0 + p11 * tx.q1;
  int v = ((((s0 >> 4) * ty.q0) >> 16) + (((s1 >> 4) * ty.q1) >> 16) + 2) >> 2;
  return v > 255 ? 255 : (v < 0 ? 0 : v);
}

// Folded normalisation: a = scale / std, b = -mean / std.
PCLS_HD float normalize(float v, float a, float b) { return v * a + b; }

// Everything the kernels need for one image, computed once on the host.
struct Geometry {
  int src_w, src_h;           // input frame
  int off_x, off_y;           // crop offset inside the resized image
  int out_w, out_h;           // crop size = network input
  double inv_scale_x, inv_scale_y;
};

struct Channels {
  float a[3];
  float b[3];
  int src_channel[3];         // which input channel feeds output plane c
};

}  // namespace personcls
