// fastlit::fused_sgd_ on the CPU: one pass over every tensor, vectorized, chunks shared by the thread pool.
#include <torch/library.h>

#include <fastlit/checks.h>

#include "cpu/common.h"
#include "cpu/kernels.h"

namespace fastlit::cpu {
namespace {

struct SgdTask {
  SgdFn fn;
  void* ptr[3];  // param, grad, momentum buffer (nullptr without momentum)
  int64_t psize;
  int64_t bsize;
};

void fused_sgd_cpu(at::TensorList params, at::TensorList grads, at::TensorList momentum_buffers,
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
  if (scalar_or(found_inf, 0.0f) != 0.0f) return;

  const GradScaling scaling = grad_scaling(grad_scale, grad_factor, maximize);
  const SgdCoeffs coeffs{static_cast<float>(weight_decay), static_cast<float>(momentum),
                         static_cast<float>(1.0 - dampening), static_cast<float>(-lr), nesterov, is_first_step};
  const Kernels& k = kernels();
  std::vector<SgdTask> tasks(n);
  std::vector<int64_t> numels(n);
  for (size_t i = 0; i < n; ++i) {
    const int sd = use_buf ? state_code(momentum_buffers[i].scalar_type()) : 0;
    tasks[i] = {k.sgd[dtype_code(params[i].scalar_type())][sd],
                {params[i].data_ptr(), grads[i].data_ptr(), use_buf ? momentum_buffers[i].data_ptr() : nullptr},
                params[i].element_size(),
                use_buf ? momentum_buffers[i].element_size() : 0};
    numels[i] = params[i].numel();
  }
  bool parallel = false;
  const auto chunks = plan_chunks(numels, parallel);
  run_chunks(chunks, parallel, [&](const Chunk& c, size_t) {
    const SgdTask& t = tasks[c.tensor];
    if (c.end <= c.begin) return;
    t.fn(coeffs, scaling, at_elem(t.ptr[0], c.begin, t.psize), at_elem(t.ptr[1], c.begin, t.psize),
         at_elem(t.ptr[2], c.begin, t.bsize), c.end - c.begin);
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CPU, m) {
  m.impl("fused_sgd_", &fused_sgd_cpu);
}

}  // namespace fastlit::cpu
