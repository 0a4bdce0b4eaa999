// CUDA version of the fused preprocessing (built when CMake finds a CUDA toolkit). The
// per-pixel arithmetic is pixel.h, the same code the CPU path runs.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "personcls/preprocess.h"

namespace personcls {

// Number of usable CUDA devices; 0 when there is no driver or no device (never throws).
int cuda_device_count();

// Float32 NCHW batch in device memory; freed on destruction.
struct DeviceBatch {
  float* ptr = nullptr;
  int device = 0;
  int n = 0, c = 3, h = 0, w = 0;
  std::size_t count() const { return static_cast<std::size_t>(n) * c * h * w; }
  ~DeviceBatch();
};

// Uploads the frames, runs the fused kernel, and returns the batch on `device`.
// Throws InputError for bad frames, BackendError for CUDA failures.
std::shared_ptr<DeviceBatch> preprocess_batch_cuda(const std::vector<FrameView>& frames,
                                                   const PreprocessParams& p, int device);

void copy_to_host(const DeviceBatch& b, float* dst);

}  // namespace personcls
