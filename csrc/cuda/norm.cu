// fastlit::multi_tensor_l2norm and fastlit::clip_grad_value_ on CUDA.
//
// The norm is three launches and no host sync: (1) every chunk of every tensor writes its partial sum of
// squares / max |x| / non-finite probe; (2) one block per tensor folds its chunks (in double); (3) one block
// folds the tensors and writes the outputs, including the clip factor.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <fastlit/checks.h>

#include <cmath>

#include "cuda/multi_tensor_apply.cuh"

namespace fastlit::cuda {
namespace {

struct Partial {
  float sumsq, amax, probe;
};

// Block-wide reduction of (sum, nan-propagating max, sum); the result is valid in thread 0.
__device__ inline void block_reduce(float& sum, float& mx, float& probe) {
  __shared__ float s_sum[32], s_max[32], s_probe[32];
  for (int o = 16; o > 0; o >>= 1) {
    sum += __shfl_down_sync(0xffffffff, sum, o);
    mx = FloatMath::max(mx, __shfl_down_sync(0xffffffff, mx, o));
    probe += __shfl_down_sync(0xffffffff, probe, o);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    s_sum[warp] = sum;
    s_max[warp] = mx;
    s_probe[warp] = probe;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) / 32;
    sum = lane < warps ? s_sum[lane] : 0.0f;
    mx = lane < warps ? s_max[lane] : 0.0f;
    probe = lane < warps ? s_probe[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
      sum += __shfl_down_sync(0xffffffff, sum, o);
      mx = FloatMath::max(mx, __shfl_down_sync(0xffffffff, mx, o));
      probe += __shfl_down_sync(0xffffffff, probe, o);
    }
  }
}

template <class T>
struct NormFunctor {
  __device__ void operator()(TensorListMeta<1>& meta, Partial* partial) const {
    const BlockWork w = block_work(meta);
    const T* x = chunk_ptr<T>(meta.addr[0][w.tensor], w.start);
    float sumsq = 0.0f, amax = 0.0f, probe = 0.0f;
    for_chunk(w.n, [&](const int64_t* idx, const bool* ok) {
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (ok[k]) norm_accumulate<FloatMath>(static_cast<float>(x[idx[k]]), sumsq, amax, probe);
      }
    });
    block_reduce(sumsq, amax, probe);
    if (threadIdx.x == 0) {
      partial[meta.extra_idx[w.tensor] + meta.block_to_chunk[blockIdx.x]] = {sumsq, amax, probe};
    }
  }
};

// Chunk ranges of up to kTensorsPerFold tensors, passed by value.
constexpr int kTensorsPerFold = 240;
struct FoldArgs {
  int64_t first_chunk[kTensorsPerFold];
  int32_t num_chunks[kTensorsPerFold];
  int64_t first_tensor;
};

struct TensorTotal {
  double sumsq;
  float amax;
  float probe;
};

__global__ void fold_tensors(FoldArgs a, const Partial* partial, TensorTotal* out) {
  const int t = blockIdx.x;
  double sumsq = 0.0;
  float amax = 0.0f, probe = 0.0f;
  for (int c = threadIdx.x; c < a.num_chunks[t]; c += blockDim.x) {
    const Partial& p = partial[a.first_chunk[t] + c];
    sumsq += p.sumsq;
    amax = FloatMath::max(amax, p.amax);
    probe += p.probe;
  }
  // Few chunks per tensor: a shared-memory pass in thread 0 is plenty.
  __shared__ double s_sum[128];
  __shared__ float s_max[128], s_probe[128];
  s_sum[threadIdx.x] = sumsq;
  s_max[threadIdx.x] = amax;
  s_probe[threadIdx.x] = probe;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < blockDim.x; ++i) {
      sumsq += s_sum[i];
      amax = FloatMath::max(amax, s_max[i]);
      probe += s_probe[i];
    }
    out[a.first_tensor + t] = {sumsq, amax, probe};
  }
}

__global__ void finish_norm(const TensorTotal* totals, int64_t n, bool inf_norm, float max_norm,
                            const float* inv_scale, float* per_tensor, float* norm, float* nonfinite,
                            float* factor) {
  if (threadIdx.x != 0) return;
  const double inv = inv_scale ? *inv_scale : 1.0f;
  double sumsq = 0.0;
  float amax = 0.0f;
  bool bad = false;
  for (int64_t t = 0; t < n; ++t) {
    const TensorTotal& x = totals[t];
    if (per_tensor) per_tensor[t] = static_cast<float>((inf_norm ? x.amax : ::sqrt(x.sumsq)) * inv);
    sumsq += x.sumsq;
    amax = FloatMath::max(amax, x.amax);
    bad |= x.probe != 0.0f;  // nan for a non-finite element, 0 otherwise
  }
  const float total = static_cast<float>((inf_norm ? amax : ::sqrt(sumsq)) * inv);
  *norm = total;
  *nonfinite = bad ? 1.0f : 0.0f;
  *factor = clip_factor(total, max_norm, static_cast<float>(inv));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> multi_tensor_l2norm_cuda(
    at::TensorList tensors, double norm_type, bool per_tensor, double max_norm,
    const std::optional<at::Tensor>& inv_scale) {
  constexpr const char* op = "fastlit.multi_tensor_l2norm";
  const bool inf_norm = check_norm_type(op, norm_type);
  check_dense_list(op, "tensors", tensors);
  const int64_t n = static_cast<int64_t>(tensors.size());
  TORCH_CHECK(n > 0, op, ": needs at least one tensor (fastlit.ops.multi_tensor_l2norm handles empty lists).");
  const at::Device device = tensors[0].device();
  check_optional_scalar(op, "inv_scale", inv_scale, device);
  c10::cuda::OptionalCUDAGuard guard(device);
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);

  std::vector<int64_t> first_chunk(n), num_chunks(n);
  int64_t chunks = 0;
  for (int64_t i = 0; i < n; ++i) {
    first_chunk[i] = chunks;
    num_chunks[i] = (tensors[i].numel() + kChunk - 1) / kChunk;
    chunks += num_chunks[i];
  }
  // Partials (3 floats per chunk) and per-tensor totals (16 bytes each, so 16-byte aligned) share one scratch
  // allocation.
  static_assert(sizeof(TensorTotal) == 16 && sizeof(Partial) == 12, "scratch layout");
  const int64_t partial_floats = (chunks * 3 + 3) / 4 * 4;
  at::Tensor scratch = at::empty({partial_floats + n * 4}, f32);
  auto* partial = reinterpret_cast<Partial*>(scratch.data_ptr<float>());
  auto* totals = reinterpret_cast<TensorTotal*>(scratch.data_ptr<float>() + partial_floats);

  // Empty tensors have no chunks: their totals are written by fold_tensors with num_chunks = 0.
  apply_by_dtype<NormFunctor>(tensors, &first_chunk, partial);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  for (int64_t begin = 0; begin < n; begin += kTensorsPerFold) {
    FoldArgs a;
    const int64_t count = std::min<int64_t>(kTensorsPerFold, n - begin);
    for (int64_t i = 0; i < count; ++i) {
      a.first_chunk[i] = first_chunk[begin + i];
      a.num_chunks[i] = static_cast<int32_t>(num_chunks[begin + i]);
    }
    a.first_tensor = begin;
    fold_tensors<<<static_cast<unsigned>(count), 128, 0, stream>>>(a, partial, totals);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  at::Tensor per = at::empty({per_tensor ? n : 0}, f32);
  at::Tensor norm = at::empty({}, f32), flag = at::empty({}, f32), factor = at::empty({}, f32);
  finish_norm<<<1, 32, 0, stream>>>(totals, n, inf_norm, static_cast<float>(max_norm), optional_ptr(inv_scale),
                                    per_tensor ? per.data_ptr<float>() : nullptr, norm.data_ptr<float>(),
                                    flag.data_ptr<float>(), factor.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {norm, per, flag, factor};
}

template <class T>
struct ClampFunctor {
  __device__ void operator()(TensorListMeta<1>& meta, float hi) const {
    const BlockWork w = block_work(meta);
    T* x = chunk_ptr<T>(meta.addr[0][w.tensor], w.start);
    for_chunk(w.n, [&](const int64_t* idx, const bool* ok) {
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (ok[k]) {
          x[idx[k]] = static_cast<T>(FloatMath::min(FloatMath::max(static_cast<float>(x[idx[k]]), -hi), hi));
        }
      }
    });
  }
};

void clip_grad_value_cuda(at::TensorList grads, double clip_value) {
  check_dense_list("fastlit.clip_grad_value_", "grads", grads);
  if (grads.empty()) return;
  c10::cuda::OptionalCUDAGuard guard(grads[0].device());
  apply_by_dtype<ClampFunctor>(grads, nullptr, static_cast<float>(clip_value));
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CUDA, m) {
  m.impl("multi_tensor_l2norm", &multi_tensor_l2norm_cuda);
  m.impl("clip_grad_value_", &clip_grad_value_cuda);
}

}  // namespace fastlit::cuda
