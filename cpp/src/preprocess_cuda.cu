// CUDA fused preprocessing. Geometry, taps, interpolation and normalisation come from
// pixel.h / preprocess_cpu.cpp, so the two paths compute the same numbers.
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "personcls/cuda_preprocess.h"
#include "personcls/errors.h"
#include "personcls/pixel.h"

namespace personcls {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw BackendError(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

// One image as the kernel sees it: a compact HxWxC uint8 copy in device memory.
struct ImageDesc {
  const uint8_t* src;
  int channels;
  Geometry geo;
  Channels ch;
  float* out;
};

__global__ void fused_kernel(const ImageDesc* descs) {
  const ImageDesc d = descs[blockIdx.z];
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= d.geo.out_w || y >= d.geo.out_h) return;
  const Tap tx = make_tap(x, d.geo.off_x, d.geo.inv_scale_x, d.geo.src_w);
  const Tap ty = make_tap(y, d.geo.off_y, d.geo.inv_scale_y, d.geo.src_h);
  const size_t row = static_cast<size_t>(d.geo.src_w) * d.channels;
  const uint8_t* r0 = d.src + ty.i0 * row;
  const uint8_t* r1 = d.src + ty.i1 * row;
  const int x0 = tx.i0 * d.channels, x1 = tx.i1 * d.channels;
  const size_t plane = static_cast<size_t>(d.geo.out_w) * d.geo.out_h;
  const size_t o = static_cast<size_t>(y) * d.geo.out_w + x;
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    const int s = d.ch.src_channel[c];
    const float v = static_cast<float>(bilinear_u8(r0[x0 + s], r0[x1 + s], r1[x0 + s], r1[x1 + s], tx, ty));
    d.out[c * plane + o] = normalize(v, d.ch.a[c], d.ch.b[c]);
  }
}

// Host copy of a frame in compact HWC order (only when the view is not compact already).
const uint8_t* compact(const FrameView& f, std::vector<uint8_t>& scratch) {
  const std::ptrdiff_t c = f.channels;
  if (f.stride_x == c && f.stride_y == c * f.width && (c == 1 || f.stride_c == 1)) return f.data;
  scratch.resize(static_cast<size_t>(f.height) * f.width * c);
  uint8_t* dst = scratch.data();
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x)
      for (int k = 0; k < c; ++k) *dst++ = f.data[y * f.stride_y + x * f.stride_x + k * f.stride_c];
  return scratch.data();
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

DeviceBatch::~DeviceBatch() {
  if (ptr) {
    int prev = 0;
    cudaGetDevice(&prev);
    cudaSetDevice(device);
    cudaFree(ptr);
    cudaSetDevice(prev);
  }
}

std::shared_ptr<DeviceBatch> preprocess_batch_cuda(const std::vector<FrameView>& frames, const PreprocessParams& p,
                                                   int device) {
  p.validate();
  const int n_dev = cuda_device_count();
  if (n_dev == 0) throw BackendError("no CUDA device is available");
  if (device < 0 || device >= n_dev)
    throw InputError("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n_dev) + " found)");
  check(cudaSetDevice(device), "set device");

  auto batch = std::make_shared<DeviceBatch>();
  batch->device = device;
  batch->n = static_cast<int>(frames.size());
  batch->h = p.crop_h;
  batch->w = p.crop_w;
  if (frames.empty()) return batch;
  check(cudaMalloc(&batch->ptr, batch->count() * sizeof(float)), "malloc output");

  // One upload buffer for all frames.
  std::vector<size_t> offsets(frames.size());
  size_t total = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    offsets[i] = total;
    total += (static_cast<size_t>(frames[i].height) * frames[i].width * frames[i].channels + 255) & ~size_t(255);
  }
  uint8_t* d_src = nullptr;
  ImageDesc* d_desc = nullptr;
  cudaStream_t stream = nullptr;
  struct Cleanup {
    uint8_t*& s; ImageDesc*& d; cudaStream_t& st;
    ~Cleanup() { if (s) cudaFree(s); if (d) cudaFree(d); if (st) cudaStreamDestroy(st); }
  } cleanup{d_src, d_desc, stream};
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  check(cudaMalloc(&d_src, total), "malloc input");
  check(cudaMalloc(&d_desc, frames.size() * sizeof(ImageDesc)), "malloc descriptors");

  std::vector<ImageDesc> descs(frames.size());
  std::vector<std::vector<uint8_t>> scratch(frames.size());
  const size_t per_image = static_cast<size_t>(3) * p.crop_w * p.crop_h;
  for (size_t i = 0; i < frames.size(); ++i) {
    const FrameView& f = frames[i];
    const uint8_t* host = compact(f, scratch[i]);
    const size_t bytes = static_cast<size_t>(f.height) * f.width * f.channels;
    check(cudaMemcpyAsync(d_src + offsets[i], host, bytes, cudaMemcpyHostToDevice, stream), "upload frame");
    descs[i].src = d_src + offsets[i];
    descs[i].channels = f.channels;
    descs[i].geo = make_geometry(p, f.width, f.height);
    descs[i].ch = make_channels(p, f);
    descs[i].out = batch->ptr + i * per_image;
  }
  check(cudaMemcpyAsync(d_desc, descs.data(), descs.size() * sizeof(ImageDesc), cudaMemcpyHostToDevice, stream),
        "upload descriptors");
  dim3 block(32, 8);
  dim3 grid((p.crop_w + block.x - 1) / block.x, (p.crop_h + block.y - 1) / block.y, static_cast<unsigned>(frames.size()));
  fused_kernel<<<grid, block, 0, stream>>>(d_desc);
  check(cudaGetLastError(), "launch");
  check(cudaStreamSynchronize(stream), "synchronize");
  return batch;
}

void copy_to_host(const DeviceBatch& b, float* dst) {
  if (b.count() == 0) return;
  check(cudaSetDevice(b.device), "set device");
  check(cudaMemcpy(dst, b.ptr, b.count() * sizeof(float), cudaMemcpyDeviceToHost), "download");
}

}  // namespace personcls
