// fastlit::multi_tensor_l2norm and fastlit::clip_grad_value_ on the CPU.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <fastlit/checks.h>

#include <cmath>

#include "cpu/common.h"
#include "cpu/kernels.h"

namespace fastlit::cpu {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> multi_tensor_l2norm_cpu(
    at::TensorList tensors, double norm_type, bool per_tensor, double max_norm,
    const std::optional<at::Tensor>& inv_scale) {
  constexpr const char* op = "fastlit.multi_tensor_l2norm";
  const bool inf_norm = check_norm_type(op, norm_type);
  check_dense_list(op, "tensors", tensors);
  const size_t n = tensors.size();
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);
  if (n > 0) check_optional_scalar(op, "inv_scale", inv_scale, tensors[0].device());
  const double inv = scalar_or(inv_scale, 1.0f);

  std::vector<int64_t> numels(n);
  for (size_t i = 0; i < n; ++i) numels[i] = tensors[i].numel();
  bool parallel = false;
  const auto chunks = plan_chunks(numels, parallel);
  std::vector<NormPartial> partial(chunks.size());
  const Kernels& k = kernels();
  run_chunks(chunks, parallel, [&](const Chunk& c, size_t slot) {
    if (c.end <= c.begin) return;
    const at::Tensor& t = tensors[c.tensor];
    k.norm[dtype_code(t.scalar_type())](at_elem(t.data_ptr(), c.begin, t.element_size()), c.end - c.begin,
                                        &partial[slot]);
  });

  // Chunks come in tensor order: fold them per tensor, then over tensors.
  at::Tensor per = at::empty({per_tensor ? static_cast<int64_t>(n) : 0}, opts);
  double total_sumsq = 0.0;
  float total_amax = 0.0f;
  bool nonfinite = false;
  size_t slot = 0;
  for (size_t i = 0; i < n; ++i) {
    NormPartial acc;
    for (; slot < chunks.size() && chunks[slot].tensor == static_cast<int64_t>(i); ++slot) {
      acc.sumsq += partial[slot].sumsq;
      acc.amax = FloatMath::max(acc.amax, partial[slot].amax);
      acc.nonfinite |= partial[slot].nonfinite;
    }
    if (per_tensor) {
      per.data_ptr<float>()[i] = static_cast<float>((inf_norm ? acc.amax : std::sqrt(acc.sumsq)) * inv);
    }
    total_sumsq += acc.sumsq;
    total_amax = FloatMath::max(total_amax, acc.amax);
    nonfinite |= acc.nonfinite;
  }
  const float norm = static_cast<float>((inf_norm ? total_amax : std::sqrt(total_sumsq)) * inv);
  at::Tensor norm_t = at::empty({}, opts);
  at::Tensor flag_t = at::empty({}, opts);
  at::Tensor factor_t = at::empty({}, opts);
  *norm_t.data_ptr<float>() = norm;
  *flag_t.data_ptr<float>() = nonfinite ? 1.0f : 0.0f;
  *factor_t.data_ptr<float>() = clip_factor(norm, static_cast<float>(max_norm), static_cast<float>(inv));
  return {norm_t, per, flag_t, factor_t};
}

void clip_grad_value_cpu(at::TensorList grads, double clip_value) {
  constexpr const char* op = "fastlit.clip_grad_value_";
  check_dense_list(op, "grads", grads);
  std::vector<int64_t> numels(grads.size());
  for (size_t i = 0; i < grads.size(); ++i) numels[i] = grads[i].numel();
  bool parallel = false;
  const auto chunks = plan_chunks(numels, parallel);
  const Kernels& k = kernels();
  const float hi = static_cast<float>(clip_value);
  run_chunks(chunks, parallel, [&](const Chunk& c, size_t) {
    if (c.end <= c.begin) return;
    const at::Tensor& t = grads[c.tensor];
    k.clamp[dtype_code(t.scalar_type())](at_elem(t.data_ptr(), c.begin, t.element_size()), c.end - c.begin, -hi,
                                         hi);
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CPU, m) {
  m.impl("multi_tensor_l2norm", &multi_tensor_l2norm_cpu);
  m.impl("clip_grad_value_", &clip_grad_value_cpu);
}

}  // namespace fastlit::cpu
