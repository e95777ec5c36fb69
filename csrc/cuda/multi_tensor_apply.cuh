#pragma once
// Multi-tensor apply: one kernel launch covers many tensors. Each tensor is cut into chunks of kChunk
// elements, each CUDA block takes one (tensor, chunk) pair, and the tensors' addresses travel in the kernel's
// argument block (TensorListMeta, < 4 KB), so a launch needs no host-to-device copy. Launches go to the
// current stream; callers hold a device guard.
//
// Only c10/cuda headers are used (not ATen/cuda/CUDAContext.h): they are all a kernel needs, and they compile
// against the CPU wheel's headers for the nvcc check in .ci/cuda_check.sh.
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <fastlit/dtypes.h>
#include <fastlit/math.h>

#include <array>
#include <cstdint>
#include <vector>

namespace fastlit::cuda {

constexpr int kBlockSize = 512;
constexpr int kILP = 4;
constexpr int64_t kChunk = 65536;
constexpr int kMaxBlocks = 320;

// Tensors per launch for a given number of lists, sized so the metadata stays under the 4 KB argument limit.
template <int depth>
constexpr int max_tensors() {
  return depth == 1 ? 64 : depth == 2 ? 48 : depth == 3 ? 40 : depth == 4 ? 32 : 28;
}

template <int depth>
struct TensorListMeta {
  static constexpr int N = max_tensors<depth>();
  void* addr[depth][N];
  int64_t numel[N];
  void* extra_ptr[N];    // one per-tensor pointer (Adam: its step count)
  int64_t extra_idx[N];  // one per-tensor integer (norm: where its chunks' partial results go)
  unsigned char block_to_tensor[kMaxBlocks];
  int block_to_chunk[kMaxBlocks];
};
static_assert(sizeof(TensorListMeta<1>) <= 3800 && sizeof(TensorListMeta<5>) <= 3800, "kernel args > 4 KB");

// What the host knows about the tensors of one launch group (same dtypes).
template <int depth>
struct TensorRefs {
  std::vector<std::array<void*, depth>> addr;
  std::vector<int64_t> numel;
  std::vector<void*> extra_ptr;
  std::vector<int64_t> extra_idx;

  void add(const std::array<void*, depth>& a, int64_t n, void* ptr = nullptr, int64_t idx = 0) {
    addr.push_back(a);
    numel.push_back(n);
    extra_ptr.push_back(ptr);
    extra_idx.push_back(idx);
  }
};

template <int depth, class F, class... Args>
__global__ void __launch_bounds__(kBlockSize) multi_tensor_kernel(TensorListMeta<depth> meta, F f, Args... args) {
  f(meta, args...);
}

// Runs f(meta, args...) on the device for every chunk of every tensor in `refs`.
template <int depth, class F, class... Args>
void multi_tensor_apply(const TensorRefs<depth>& refs, F f, Args... args) {
  using Meta = TensorListMeta<depth>;
  Meta meta;
  int nt = 0;  // tensor slots used in this launch
  int nb = 0;  // blocks queued in this launch
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  auto launch = [&] {
    multi_tensor_kernel<depth><<<nb, kBlockSize, 0, stream>>>(meta, f, args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    nb = 0;
  };
  for (size_t t = 0; t < refs.numel.size(); ++t) {
    const int64_t n = refs.numel[t];
    if (n == 0) continue;
    for (int d = 0; d < depth; ++d) meta.addr[d][nt] = refs.addr[t][d];
    meta.numel[nt] = n;
    meta.extra_ptr[nt] = refs.extra_ptr[t];
    meta.extra_idx[nt] = refs.extra_idx[t];
    ++nt;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      meta.block_to_tensor[nb] = static_cast<unsigned char>(nt - 1);
      meta.block_to_chunk[nb] = static_cast<int>(c);
      ++nb;
      const bool tensor_done = c == chunks - 1;
      if (nb == kMaxBlocks || (tensor_done && nt == Meta::N)) {
        launch();
        if (tensor_done) {
          nt = 0;
        } else {  // the current tensor continues in slot 0 of the next launch
          for (int d = 0; d < depth; ++d) meta.addr[d][0] = meta.addr[d][nt - 1];
          meta.numel[0] = meta.numel[nt - 1];
          meta.extra_ptr[0] = meta.extra_ptr[nt - 1];
          meta.extra_idx[0] = meta.extra_idx[nt - 1];
          nt = 1;
        }
      }
    }
  }
  if (nb > 0) launch();
}

// This block's (tensor slot, chunk start, element count).
struct BlockWork {
  int tensor;
  int64_t start;
  int64_t n;
};

template <class Meta>
__device__ inline BlockWork block_work(const Meta& meta) {
  const int t = meta.block_to_tensor[blockIdx.x];
  const int64_t start = static_cast<int64_t>(meta.block_to_chunk[blockIdx.x]) * kChunk;
  const int64_t left = meta.numel[t] - start;
  return {t, start, left < kChunk ? left : kChunk};
}

template <class T>
__device__ inline T* chunk_ptr(void* base, int64_t start) {
  return static_cast<T*>(base) + start;
}

// Walks this block's n elements kILP per thread at a time: body(idx, ok) with idx[k] the element index
// (coalesced: neighbouring threads touch neighbouring elements) and ok[k] whether it is in range.
template <class Body>
__device__ inline void for_chunk(int64_t n, Body&& body) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * kILP;
  for (int64_t base = 0; base < n; base += stride) {
    int64_t idx[kILP];
    bool ok[kILP];
#pragma unroll
    for (int k = 0; k < kILP; ++k) {
      idx[k] = base + threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      ok[k] = idx[k] < n;
    }
    body(idx, ok);
  }
}

__device__ inline float load_scalar(const float* p, float fallback) {
  return p ? *p : fallback;
}

// The GradScaling of math.h from device-side scalars.
__device__ inline GradScaling device_grad_scaling(const float* grad_scale, const float* grad_factor,
                                                  bool maximize) {
  GradScaling s;
  s.store = grad_scale != nullptr;
  s.mul1 = grad_scale ? static_cast<float>(1.0 / static_cast<double>(*grad_scale)) : 1.0f;
  s.mul2 = load_scalar(grad_factor, 1.0f) * (maximize ? -1.0f : 1.0f);
  return s;
}

// Launch groups by dtype: [dtype_code(param)][state_code(state)] (fastlit/dtypes.h). Calls fn(P{}, S{}, refs)
// for every non-empty group, P / S being the C++ param and state types.
template <int depth>
using DtypeGroups = std::array<std::array<TensorRefs<depth>, kNumStateCodes>, kNumDtypes>;

template <int depth, class Fn>
void for_each_group(const DtypeGroups<depth>& groups, Fn&& fn) {
  for (int pd = 0; pd < kNumDtypes; ++pd) {
    for (int sd = 0; sd < kNumStateCodes; ++sd) {
      const TensorRefs<depth>& refs = groups[pd][sd];
      if (refs.numel.empty()) continue;
      dispatch_float(pd, [&](auto p) {
        if (sd == 0) {
          fn(p, float{}, refs);
        } else {
          fn(p, p, refs);
        }
      });
    }
  }
}

// One depth-1 launch per dtype present in `ts`, running F<T> (T: the tensors' C++ type). extra_idx[i], when
// given, travels with tensor i (TensorListMeta::extra_idx).
template <template <class> class F, class... Args>
void apply_by_dtype(at::TensorList ts, const std::vector<int64_t>* extra_idx, Args... args) {
  std::array<TensorRefs<1>, kNumDtypes> groups;
  for (size_t i = 0; i < ts.size(); ++i) {
    groups[dtype_code(ts[i].scalar_type())].add({ts[i].data_ptr()}, ts[i].numel(), nullptr,
                                                extra_idx ? (*extra_idx)[i] : 0);
  }
  for (int code = 0; code < kNumDtypes; ++code) {
    if (groups[code].numel.empty()) continue;
    dispatch_float(code, [&](auto tag) { multi_tensor_apply<1>(groups[code], F<decltype(tag)>{}, args...); });
  }
}

inline const float* optional_ptr(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t->data_ptr<float>() : nullptr;
}

}  // namespace fastlit::cuda
