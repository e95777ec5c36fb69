// fastlit::fused_sgd_ on CUDA: one multi-tensor launch per (param dtype, buffer dtype) group.
#include <torch/library.h>

#include <fastlit/checks.h>

#include "cuda/multi_tensor_apply.cuh"

namespace fastlit::cuda {
namespace {

struct SgdArgs {
  SgdCoeffs coeffs;
  bool maximize;
  const float* grad_scale;
  const float* found_inf;
  const float* grad_factor;
};

template <class P, class S, bool MOMENTUM>
struct SgdFunctor {
  __device__ void operator()(TensorListMeta<3>& meta, SgdArgs a) const {
    if (a.found_inf && *a.found_inf != 0.0f) return;
    const BlockWork w = block_work(meta);
    P* p = chunk_ptr<P>(meta.addr[0][w.tensor], w.start);
    P* g = chunk_ptr<P>(meta.addr[1][w.tensor], w.start);
    S* b = MOMENTUM ? chunk_ptr<S>(meta.addr[2][w.tensor], w.start) : nullptr;
    const GradScaling s = device_grad_scaling(a.grad_scale, a.grad_factor, a.maximize);
    for_chunk(w.n, [&](const int64_t* idx, const bool* ok) {
      float rp[kILP], rg[kILP], rb[kILP];
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (!ok[k]) continue;
        rp[k] = static_cast<float>(p[idx[k]]);
        rg[k] = static_cast<float>(g[idx[k]]);
        rb[k] = (MOMENTUM && !a.coeffs.first) ? static_cast<float>(b[idx[k]]) : 0.0f;
      }
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (!ok[k]) continue;
        const float grad = rg[k] * s.mul1;
        if (s.store) g[idx[k]] = static_cast<P>(grad);
        sgd_update<FloatMath>(rp[k], grad * s.mul2, MOMENTUM ? &rb[k] : nullptr, a.coeffs);
        p[idx[k]] = static_cast<P>(rp[k]);
        if (MOMENTUM) b[idx[k]] = static_cast<S>(rb[k]);
      }
    });
  }
};

void fused_sgd_cuda(at::TensorList params, at::TensorList grads, at::TensorList momentum_buffers,
                    double weight_decay, double momentum, double lr, double dampening, bool nesterov, bool maximize,
                    bool is_first_step, const std::optional<at::Tensor>& grad_scale,
                    const std::optional<at::Tensor>& found_inf, const std::optional<at::Tensor>& grad_factor) {
  constexpr const char* op = "fastlit.fused_sgd_";
  if (!check_sgd_inputs(op, params, grads, momentum_buffers, momentum, dampening, nesterov, grad_scale, found_inf,
                        grad_factor)) {
    return;
  }
  const size_t n = params.size();
  const bool use_buf = momentum != 0.0;
  const at::Device device = params[0].device();
  c10::cuda::OptionalCUDAGuard guard(device);
  const SgdArgs args{{static_cast<float>(weight_decay), static_cast<float>(momentum),
                      static_cast<float>(1.0 - dampening), static_cast<float>(-lr), nesterov, is_first_step},
                     maximize, optional_ptr(grad_scale), optional_ptr(found_inf), optional_ptr(grad_factor)};
  DtypeGroups<3> groups;
  for (size_t i = 0; i < n; ++i) {
    const int pd = dtype_code(params[i].scalar_type());
    const int sd = use_buf ? state_code(momentum_buffers[i].scalar_type()) : 0;
    groups[pd][sd].add({params[i].data_ptr(), grads[i].data_ptr(),
                        use_buf ? momentum_buffers[i].data_ptr() : nullptr},
                       params[i].numel());
  }
  for_each_group(groups, [&](auto p, auto s, const TensorRefs<3>& refs) {
    using P = decltype(p);
    using S = decltype(s);
    if (use_buf) {
      multi_tensor_apply<3>(refs, SgdFunctor<P, S, true>{}, args);
    } else {
      multi_tensor_apply<3>(refs, SgdFunctor<P, S, false>{}, args);
    }
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CUDA, m) {
  m.impl("fused_sgd_", &fused_sgd_cuda);
}

}  // namespace fastlit::cuda
