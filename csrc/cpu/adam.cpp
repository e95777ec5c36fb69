// fastlit::fused_adam_ on the CPU: one pass over every tensor, vectorized, chunks shared by the thread pool.
#include <torch/library.h>

#include <fastlit/checks.h>

#include "cpu/common.h"
#include "cpu/kernels.h"

namespace fastlit::cpu {
namespace {

struct AdamTask {
  AdamFn fn;
  AdamCoeffs coeffs;
  void* ptr[5];  // param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (nullptr without amsgrad)
  int64_t psize;  // bytes per param / grad element
  int64_t ssize;  // bytes per state element
};

void fused_adam_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
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
  if (scalar_or(found_inf, 0.0f) != 0.0f) return;  // skipped step: nothing changes, steps included

  const GradScaling scaling = grad_scaling(grad_scale, grad_factor, maximize);
  const Kernels& k = kernels();
  std::vector<AdamTask> tasks(n);
  std::vector<int64_t> numels(n);
  for (size_t i = 0; i < n; ++i) {
    float* step = state_steps[i].data_ptr<float>();
    *step += 1.0f;
    tasks[i] = {k.adam[dtype_code(params[i].scalar_type())][state_code(exp_avgs[i].scalar_type())],
                adam_coeffs(lr, beta1, beta2, weight_decay, eps, decoupled_weight_decay, *step),
                {params[i].data_ptr(), grads[i].data_ptr(), exp_avgs[i].data_ptr(), exp_avg_sqs[i].data_ptr(),
                 amsgrad ? max_exp_avg_sqs[i].data_ptr() : nullptr},
                params[i].element_size(),
                exp_avgs[i].element_size()};
    numels[i] = params[i].numel();
  }
  bool parallel = false;
  const auto chunks = plan_chunks(numels, parallel);
  run_chunks(chunks, parallel, [&](const Chunk& c, size_t) {
    const AdamTask& t = tasks[c.tensor];
    if (c.end <= c.begin) return;
    t.fn(t.coeffs, scaling, at_elem(t.ptr[0], c.begin, t.psize), at_elem(t.ptr[1], c.begin, t.psize),
         at_elem(t.ptr[2], c.begin, t.ssize), at_elem(t.ptr[3], c.begin, t.ssize),
         at_elem(t.ptr[4], c.begin, t.ssize), c.end - c.begin);
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CPU, m) {
  m.impl("fused_adam_", &fused_adam_cpu);
}

}  // namespace fastlit::cpu
