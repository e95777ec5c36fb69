#pragma once
// Input checks shared by the CPU and CUDA ops. Every message names the op, the list and index of the
// offending tensor, and the fix.
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>

namespace fastlit {

inline bool is_supported_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf;
}

// Every list in `lists` must have as many tensors as the first one (`names` labels them in errors).
// A list may also be empty when `optional_empty` is set for it (max_exp_avg_sqs without amsgrad).
inline void check_same_length(const char* op, std::initializer_list<at::TensorList> lists,
                              std::initializer_list<const char*> names) {
  const auto n = lists.begin()->size();
  auto name = names.begin();
  for (const auto& list : lists) {
    TORCH_CHECK(list.size() == n, op, ": got ", n, " ", *names.begin(), " but ", list.size(), " ", *name,
                "; pass one entry per parameter.");
    ++name;
  }
}

// `t` (list `what`, index i) must be usable as a flat array alongside `ref` (the param at index i):
// same device, same shape, same memory layout, dense (no gaps, no overlap).
inline void check_like_param(const char* op, const char* what, size_t i, const at::Tensor& t,
                             const at::Tensor& ref) {
  TORCH_CHECK(t.defined(), op, ": ", what, "[", i, "] is undefined (None); drop parameters without a gradient "
              "before calling.");
  TORCH_CHECK(t.layout() == at::kStrided, op, ": ", what, "[", i, "] is sparse; fastlit's fused ops need dense "
              "tensors (use torch.optim for sparse gradients).");
  TORCH_CHECK(t.device() == ref.device(), op, ": ", what, "[", i, "] is on ", t.device(), " but params[", i,
              "] is on ", ref.device(), "; move them to the same device.");
  TORCH_CHECK(t.sizes() == ref.sizes(), op, ": ", what, "[", i, "] has shape ", t.sizes(), " but params[", i,
              "] has shape ", ref.sizes(), ".");
  TORCH_CHECK(t.is_non_overlapping_and_dense() && t.strides() == ref.strides(), op, ": ", what, "[", i,
              "] is not laid out like params[", i, "] (strides ", t.strides(), " vs ", ref.strides(),
              "); call .contiguous() on both or give them the same memory format.");
}

inline void check_float_tensor(const char* op, const char* what, size_t i, const at::Tensor& t) {
  TORCH_CHECK(is_supported_float(t.scalar_type()), op, ": ", what, "[", i, "] has dtype ", t.scalar_type(),
              "; fastlit's fused ops support float32, bfloat16 and float16.");
}

// Tensors whose element order does not matter (norms, clamping, unscaling): dense float tensors, any memory
// layout, all on one device.
inline void check_dense_list(const char* op, const char* what, at::TensorList ts) {
  for (size_t i = 0; i < ts.size(); ++i) {
    const at::Tensor& t = ts[i];
    TORCH_CHECK(t.defined(), op, ": ", what, "[", i, "] is undefined (None); pass only tensors that exist.");
    TORCH_CHECK(t.layout() == at::kStrided && t.is_non_overlapping_and_dense(), op, ": ", what, "[", i,
                "] is not dense (sparse, or a view with gaps); call .contiguous() on it first.");
    TORCH_CHECK(t.device() == ts[0].device(), op, ": ", what, "[", i, "] is on ", t.device(), " but ", what,
                "[0] is on ", ts[0].device(), "; call once per device.");
    check_float_tensor(op, what, i, t);
  }
}

// Params: dense float tensors, all on one device.
inline void check_param(const char* op, size_t i, const at::Tensor& p, const at::Tensor& first) {
  TORCH_CHECK(p.defined(), op, ": params[", i, "] is undefined.");
  TORCH_CHECK(p.layout() == at::kStrided && p.is_non_overlapping_and_dense(), op, ": params[", i,
              "] is not a dense tensor (sparse, or a view with gaps); fused ops update tensors as flat arrays.");
  TORCH_CHECK(p.device() == first.device(), op, ": params[", i, "] is on ", p.device(), " but params[0] is on ",
              first.device(), "; group tensors by device and call once per device.");
  check_float_tensor(op, "params", i, p);
}

inline void check_grad(const char* op, size_t i, const at::Tensor& g, const at::Tensor& p) {
  check_like_param(op, "grads", i, g, p);
  TORCH_CHECK(g.scalar_type() == p.scalar_type(), op, ": grads[", i, "] has dtype ", g.scalar_type(),
              " but params[", i, "] has dtype ", p.scalar_type(), "; gradients must match their parameter.");
}

// Optimizer state: fp32 (recommended for low-precision params) or the param's own dtype.
inline void check_state(const char* op, const char* what, size_t i, const at::Tensor& s, const at::Tensor& p) {
  check_like_param(op, what, i, s, p);
  TORCH_CHECK(s.scalar_type() == at::kFloat || s.scalar_type() == p.scalar_type(), op, ": ", what, "[", i,
              "] has dtype ", s.scalar_type(), " but params[", i, "] has dtype ", p.scalar_type(),
              "; state must be float32 or the param dtype.");
}

// A one-element float32 tensor (scale, found_inf, step, factor) on `device` (or on the CPU when cpu_ok).
inline void check_scalar(const char* op, const char* what, const at::Tensor& t, const at::Device& device,
                         bool cpu_ok = false) {
  TORCH_CHECK(t.numel() == 1 && t.scalar_type() == at::kFloat, op, ": ", what, " must be a one-element float32 "
              "tensor, got dtype ", t.scalar_type(), " with ", t.numel(), " elements.");
  TORCH_CHECK(t.device() == device || (cpu_ok && t.device().is_cpu()), op, ": ", what, " is on ", t.device(),
              " but the tensors are on ", device, "; move it with .to(", device, ").");
}

inline void check_optional_scalar(const char* op, const char* what, const std::optional<at::Tensor>& t,
                                  const at::Device& device) {
  if (t.has_value() && t->defined()) check_scalar(op, what, *t, device);
}

}  // namespace fastlit
