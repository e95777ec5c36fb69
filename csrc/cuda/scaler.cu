// Loss scaling on CUDA: fastlit::unscale_and_check_ (no host sync).
#include <torch/library.h>

#include <fastlit/checks.h>

#include "cuda/multi_tensor_apply.cuh"

namespace fastlit::cuda {
namespace {

template <class T>
struct UnscaleFunctor {
  __device__ void operator()(TensorListMeta<1>& meta, const float* inv_scale, float* found_inf) const {
    const BlockWork w = block_work(meta);
    T* x = chunk_ptr<T>(meta.addr[0][w.tensor], w.start);
    const float inv = *inv_scale;
    bool bad = false;
    for_chunk(w.n, [&](const int64_t* idx, const bool* ok) {
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (!ok[k]) continue;
        const float v = static_cast<float>(x[idx[k]]);
        bad |= nonfinite_probe(v) != 0.0f;
        if (inv != 1.0f) x[idx[k]] = static_cast<T>(v * inv);
      }
    });
    if (bad) *found_inf = 1.0f;  // every writer writes the same value
  }
};

void unscale_and_check_cuda(at::TensorList grads, const at::Tensor& found_inf, const at::Tensor& inv_scale) {
  constexpr const char* op = "fastlit.unscale_and_check_";
  if (grads.empty()) return;
  const at::Device device = grads[0].device();
  check_scalar(op, "found_inf", found_inf, device);
  check_scalar(op, "inv_scale", inv_scale, device);
  check_dense_list(op, "grads", grads);
  c10::cuda::OptionalCUDAGuard guard(device);
  apply_by_dtype<UnscaleFunctor>(grads, nullptr, static_cast<const float*>(inv_scale.data_ptr<float>()),
                                 found_inf.data_ptr<float>());
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CUDA, m) {
  m.impl("unscale_and_check_", &unscale_and_check_cuda);
}

}  // namespace fastlit::cuda
