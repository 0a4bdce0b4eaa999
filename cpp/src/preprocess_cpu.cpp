#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "personcls/errors.h"
#include "personcls/preprocess.h"
#include "personcls/thread_pool.h"

namespace personcls {

ColorOrder parse_color(const std::string& s) {
  std::string u;
  for (char ch : s) u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  if (u == "BGR") return ColorOrder::BGR;
  if (u == "RGB") return ColorOrder::RGB;
  throw InputError("color must be 'BGR' or 'RGB', got '" + s + "'");
}

void PreprocessParams::validate() const {
  std::ostringstream err;
  if (crop_w <= 0 || crop_h <= 0) err << "crop size must be positive, got " << crop_w << "x" << crop_h;
  else if (resize_short < 0) err << "resize_short must be >= 0, got " << resize_short;
  else if (resize_short > 0 && resize_short < std::max(crop_w, crop_h))
    err << "resize_short " << resize_short << " is smaller than the crop " << crop_w << "x" << crop_h;
  else if (resize_short == 0 && (resize_w < crop_w || resize_h < crop_h))
    err << "resize size " << resize_w << "x" << resize_h << " is smaller than the crop " << crop_w << "x" << crop_h;
  else {
    for (int c = 0; c < 3; ++c)
      if (!(std[c] > 0.f) || !std::isfinite(mean[c])) err << "std must be > 0 and mean finite (channel " << c << ")";
    if (!(scale > 0.f)) err << "scale must be > 0";
  }
  if (!err.str().empty()) throw InputError("invalid preprocessing parameters: " + err.str());
}

void validate_frame(const FrameView& f, const std::string& what) {
  std::ostringstream err;
  if (f.data == nullptr || f.height <= 0 || f.width <= 0)
    err << "is empty (" << f.height << "x" << f.width << ")";
  else if (f.channels != 1 && f.channels != 3 && f.channels != 4)
    err << "has " << f.channels << " channels; expected 1 (grey), 3 (" << (f.order == ColorOrder::BGR ? "BGR" : "RGB")
        << ") or 4 (alpha ignored)";
  else if (f.height > (1 << 16) || f.width > (1 << 16))
    err << "is too large (" << f.height << "x" << f.width << ", limit 65536 per side)";
  if (!err.str().empty()) throw InputError(what + " " + err.str());
}

void resized_size(const PreprocessParams& p, int src_w, int src_h, int* out_w, int* out_h) {
  if (p.resize_short > 0) {
    // Same rule as the reference: percent = short / min(w, h); round half to even.
    double percent = static_cast<double>(p.resize_short) / static_cast<double>(std::min(src_w, src_h));
    *out_w = static_cast<int>(std::nearbyint(src_w * percent));
    *out_h = static_cast<int>(std::nearbyint(src_h * percent));
  } else {
    *out_w = p.resize_w;
    *out_h = p.resize_h;
  }
}

Geometry make_geometry(const PreprocessParams& p, int src_w, int src_h) {
  int rw, rh;
  resized_size(p, src_w, src_h, &rw, &rh);
  if (rw < p.crop_w || rh < p.crop_h) {
    std::ostringstream err;
    err << "a " << src_w << "x" << src_h << " frame resizes to " << rw << "x" << rh
        << ", smaller than the crop " << p.crop_w << "x" << p.crop_h;
    throw InputError(err.str());
  }
  Geometry g;
  g.src_w = src_w;
  g.src_h = src_h;
  g.out_w = p.crop_w;
  g.out_h = p.crop_h;
  g.off_x = (rw - p.crop_w) / 2;
  g.off_y = (rh - p.crop_h) / 2;
  g.inv_scale_x = static_cast<double>(src_w) / rw;
  g.inv_scale_y = static_cast<double>(src_h) / rh;
  return g;
}

Channels make_channels(const PreprocessParams& p, const FrameView& f) {
  Channels ch;
  for (int c = 0; c < 3; ++c) {
    ch.a[c] = p.scale / p.std[c];
    ch.b[c] = -p.mean[c] / p.std[c];
    if (f.channels == 1) ch.src_channel[c] = 0;
    else ch.src_channel[c] = (f.order == p.model_order) ? c : 2 - c;
  }
  return ch;
}

namespace {

constexpr int kRowsPerTask = 32;

struct ImageJob {
  FrameView frame;
  Geometry geo;
  Channels ch;
  std::vector<std::ptrdiff_t> x0, x1;  // byte offsets of the two x taps
  std::vector<Tap> tx;
  float* out;
};

void run_rows(const ImageJob& job, int y_begin, int y_end) {
  const FrameView& f = job.frame;
  const Geometry& g = job.geo;
  const std::size_t plane = static_cast<std::size_t>(g.out_w) * g.out_h;
  const std::ptrdiff_t co[3] = {job.ch.src_channel[0] * f.stride_c, job.ch.src_channel[1] * f.stride_c,
                                job.ch.src_channel[2] * f.stride_c};
  for (int y = y_begin; y < y_end; ++y) {
    const Tap ty = make_tap(y, g.off_y, g.inv_scale_y, g.src_h);
    const uint8_t* r0 = f.data + ty.i0 * f.stride_y;
    const uint8_t* r1 = f.data + ty.i1 * f.stride_y;
    for (int c = 0; c < 3; ++c) {
      float* dst = job.out + c * plane + static_cast<std::size_t>(y) * g.out_w;
      const uint8_t* a = r0 + co[c];
      const uint8_t* b = r1 + co[c];
      const float ka = job.ch.a[c], kb = job.ch.b[c];
      for (int x = 0; x < g.out_w; ++x) {
        const std::ptrdiff_t o0 = job.x0[x], o1 = job.x1[x];
        dst[x] = normalize(static_cast<float>(bilinear_u8(a[o0], a[o1], b[o0], b[o1], job.tx[x], ty)), ka, kb);
      }
    }
  }
}

}  // namespace

void preprocess_batch_cpu(const std::vector<FrameView>& frames, const PreprocessParams& p, float* out,
                          int threads) {
  p.validate();
  const std::size_t per_image = static_cast<std::size_t>(3) * p.crop_w * p.crop_h;
  std::vector<ImageJob> jobs(frames.size());
  for (std::size_t n = 0; n < frames.size(); ++n) {
    ImageJob& j = jobs[n];
    j.frame = frames[n];
    j.geo = make_geometry(p, j.frame.width, j.frame.height);
    j.ch = make_channels(p, j.frame);
    j.out = out + n * per_image;
    j.x0.resize(j.geo.out_w);
    j.x1.resize(j.geo.out_w);
    j.tx.resize(j.geo.out_w);
    for (int x = 0; x < j.geo.out_w; ++x) {
      const Tap t = make_tap(x, j.geo.off_x, j.geo.inv_scale_x, j.geo.src_w);
      j.x0[x] = t.i0 * j.frame.stride_x;
      j.x1[x] = t.i1 * j.frame.stride_x;
      j.tx[x] = t;
    }
  }
  const int bands = (p.crop_h + kRowsPerTask - 1) / kRowsPerTask;
  const std::size_t tasks = frames.size() * static_cast<std::size_t>(bands);
  shared_pool(threads).parallel_for(tasks, [&](std::size_t t) {
    const ImageJob& j = jobs[t / bands];
    const int band = static_cast<int>(t % bands);
    const int y0 = band * kRowsPerTask;
    run_rows(j, y0, std::min(y0 + kRowsPerTask, p.crop_h));
  });
}

}  // namespace personcls
