// fastlit::fused_adam_ on CUDA: one multi-tensor launch per (param dtype, state dtype) group.
//
// Step counts live on the device (as in torch's fused Adam) so nothing syncs with the host: the update reads
// step + 1, and a follow-up launch increments the steps unless found_inf is set.
#include <torch/library.h>

#include <fastlit/checks.h>

#include "cuda/multi_tensor_apply.cuh"

namespace fastlit::cuda {
namespace {

struct AdamArgs {
  double lr, beta1, beta2, weight_decay, eps;
  bool decoupled, maximize;
  const float* grad_scale;
  const float* found_inf;
  const float* grad_factor;
};

template <class P, class S, bool AMSGRAD>
struct AdamFunctor {
  __device__ void operator()(TensorListMeta<5>& meta, AdamArgs a) const {
    if (a.found_inf && *a.found_inf != 0.0f) return;
    const BlockWork w = block_work(meta);
    P* p = chunk_ptr<P>(meta.addr[0][w.tensor], w.start);
    P* g = chunk_ptr<P>(meta.addr[1][w.tensor], w.start);
    S* m = chunk_ptr<S>(meta.addr[2][w.tensor], w.start);
    S* v = chunk_ptr<S>(meta.addr[3][w.tensor], w.start);
    S* x = AMSGRAD ? chunk_ptr<S>(meta.addr[4][w.tensor], w.start) : nullptr;
    const float step = *static_cast<const float*>(meta.extra_ptr[w.tensor]) + 1.0f;
    const AdamCoeffs c = adam_coeffs(a.lr, a.beta1, a.beta2, a.weight_decay, a.eps, a.decoupled, step);
    const GradScaling s = device_grad_scaling(a.grad_scale, a.grad_factor, a.maximize);
    for_chunk(w.n, [&](const int64_t* idx, const bool* ok) {
      float rp[kILP], rg[kILP], rm[kILP], rv[kILP], rx[kILP];
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (!ok[k]) continue;
        rp[k] = static_cast<float>(p[idx[k]]);
        rg[k] = static_cast<float>(g[idx[k]]);
        rm[k] = static_cast<float>(m[idx[k]]);
        rv[k] = static_cast<float>(v[idx[k]]);
        rx[k] = AMSGRAD ? static_cast<float>(x[idx[k]]) : 0.0f;
      }
#pragma unroll
      for (int k = 0; k < kILP; ++k) {
        if (!ok[k]) continue;
        const float grad = rg[k] * s.mul1;
        if (s.store) g[idx[k]] = static_cast<P>(grad);
        adam_update<FloatMath>(rp[k], grad * s.mul2, rm[k], rv[k], AMSGRAD ? &rx[k] : nullptr, c);
        p[idx[k]] = static_cast<P>(rp[k]);
        m[idx[k]] = static_cast<S>(rm[k]);
        v[idx[k]] = static_cast<S>(rv[k]);
        if (AMSGRAD) x[idx[k]] = static_cast<S>(rx[k]);
      }
    });
  }
};

// steps[i] += 1 for every step tensor, unless found_inf is set. Pointers travel in the argument block.
constexpr int kStepsPerLaunch = 448;
struct StepPtrs {
  float* ptr[kStepsPerLaunch];
  int n;
};

__global__ void increment_steps(StepPtrs steps, const float* found_inf) {
  if (found_inf && *found_inf != 0.0f) return;
  for (int i = threadIdx.x; i < steps.n; i += blockDim.x) *steps.ptr[i] += 1.0f;
}

void fused_adam_cuda(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, at::TensorList state_steps,
                     double lr, double beta1, double beta2, double weight_decay, double eps, bool amsgrad,
                     bool maximize, bool decoupled_weight_decay, const std::optional<at::Tensor>& grad_scale,
                     const std::optional<at::Tensor>& found_inf, const std::optional<at::Tensor>& grad_factor) {
  constexpr const char* op = "fastlit.fused_adam_";
  if (!check_adam_inputs(op, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, amsgrad, grad_scale,
                         found_inf, grad_factor)) {
    return;
  }
  const size_t n = params.size();
  const at::Device device = params[0].device();
  c10::cuda::OptionalCUDAGuard guard(device);
  const AdamArgs args{lr, beta1, beta2, weight_decay, eps, decoupled_weight_decay, maximize,
                      optional_ptr(grad_scale), optional_ptr(found_inf), optional_ptr(grad_factor)};

  // Group by (param dtype, state dtype): 3 x 2 kernels at most, usually one.
  DtypeGroups<5> groups;
  for (size_t i = 0; i < n; ++i) {
    const int pd = dtype_code(params[i].scalar_type());
    const int sd = state_code(exp_avgs[i].scalar_type());
    groups[pd][sd].add({params[i].data_ptr(), grads[i].data_ptr(), exp_avgs[i].data_ptr(),
                        exp_avg_sqs[i].data_ptr(), amsgrad ? max_exp_avg_sqs[i].data_ptr() : nullptr},
                       params[i].numel(), state_steps[i].data_ptr());
  }
  for_each_group(groups, [&](auto p, auto s, const TensorRefs<5>& refs) {
    using P = decltype(p);
    using S = decltype(s);
    if (amsgrad) {
      multi_tensor_apply<5>(refs, AdamFunctor<P, S, true>{}, args);
    } else {
      multi_tensor_apply<5>(refs, AdamFunctor<P, S, false>{}, args);
    }
  });

  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  for (size_t begin = 0; begin < n; begin += kStepsPerLaunch) {
    StepPtrs steps;
    steps.n = static_cast<int>(std::min<size_t>(kStepsPerLaunch, n - begin));
    for (int i = 0; i < steps.n; ++i) steps.ptr[i] = state_steps[begin + i].data_ptr<float>();
    increment_steps<<<1, 128, 0, stream>>>(steps, args.found_inf);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CUDA, m) {
  m.impl("fused_adam_", &fused_adam_cuda);
}

}  // namespace fastlit::cuda
