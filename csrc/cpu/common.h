#pragma once
// Helpers shared by the CPU ops: optional scalar inputs, gradient scaling, and work splitting.
//
// Work splitting: all tensors of one call form one pass, split into chunks that the
// intra-op thread pool shares. Small calls (the common case for small models) stay on the calling thread:
// waking the pool costs more than updating a few ten thousand elements.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <fastlit/dtypes.h>
#include <fastlit/math.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace fastlit::cpu {

// Total elements below which a call never goes parallel. The seed autoencoder (101 k params) is above it: on
// 2 threads its Adam step measured ~15 % faster than serial (57 -> 49 us per call).
constexpr int64_t kParallelMin = 1 << 16;

struct Chunk {
  int64_t tensor;
  int64_t begin;
  int64_t end;
};

// One chunk per tensor when serial; otherwise pieces of at most `size` elements (a multiple of 64 so every
// chunk starts on a full vector block).
inline std::vector<Chunk> plan_chunks(const std::vector<int64_t>& numels, bool& parallel) {
  int64_t total = 0;
  for (int64_t n : numels) total += n;
  const int threads = at::get_num_threads();
  parallel = total >= kParallelMin && threads > 1 && !at::in_parallel_region();
  std::vector<Chunk> chunks;
  if (!parallel) {
    chunks.reserve(numels.size());
    for (size_t i = 0; i < numels.size(); ++i) chunks.push_back({static_cast<int64_t>(i), 0, numels[i]});
    return chunks;
  }
  int64_t size = std::clamp<int64_t>(total / (4 * threads), 1 << 12, 1 << 16);
  size = (size + 63) / 64 * 64;
  chunks.reserve(total / size + numels.size());
  for (size_t i = 0; i < numels.size(); ++i) {
    for (int64_t b = 0; b < numels[i]; b += size) {
      chunks.push_back({static_cast<int64_t>(i), b, std::min(numels[i], b + size)});
    }
  }
  return chunks;
}

// Calls fn(chunk, chunk_index) for every chunk, over the thread pool when `parallel`.
template <class F>
void run_chunks(const std::vector<Chunk>& chunks, bool parallel, const F& fn) {
  if (!parallel) {
    for (size_t k = 0; k < chunks.size(); ++k) fn(chunks[k], k);
    return;
  }
  at::parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) fn(chunks[k], static_cast<size_t>(k));
  });
}

// Byte offset of element `i` of a tensor whose elements are `itemsize` bytes.
inline void* at_elem(void* base, int64_t i, int64_t itemsize) {
  return base ? static_cast<char*>(base) + i * itemsize : nullptr;
}

// Value of an optional one-element float32 CPU tensor, or `fallback` when absent.
inline float scalar_or(const std::optional<at::Tensor>& t, float fallback) {
  return t.has_value() && t->defined() ? *t->data_ptr<float>() : fallback;
}

// How the gradient enters the update: 1/grad_scale (written back, as torch's fused kernels do), then
// grad_factor and the maximize sign.
inline GradScaling grad_scaling(const std::optional<at::Tensor>& grad_scale,
                                const std::optional<at::Tensor>& grad_factor, bool maximize) {
  GradScaling s;
  s.store = grad_scale.has_value() && grad_scale->defined();
  s.mul1 = s.store ? static_cast<float>(1.0 / static_cast<double>(*grad_scale->data_ptr<float>())) : 1.0f;
  s.mul2 = scalar_or(grad_factor, 1.0f) * (maximize ? -1.0f : 1.0f);
  return s;
}

}  // namespace fastlit::cpu
