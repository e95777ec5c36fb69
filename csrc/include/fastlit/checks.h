#pragma once
// Input checks shared by the CPU and CUDA ops. Every message names the op, the list and index of the
// offending tensor, and the fix.
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <fastlit/dtypes.h>

#include <cmath>
#include <optional>

namespace fastlit {

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
              "; fastlit's fused ops support ", kSupportedDtypesText, ".");
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

// ------------------------------------------------------------------ whole-op checks (CPU and CUDA alike)
// Each validates every input before the op mutates anything; false means "nothing to do" (empty lists).

// The optional one-element float32 inputs every optimizer op takes, on the params' device.
inline void check_scaling_inputs(const char* op, const at::Device& device, const std::optional<at::Tensor>& grad_scale,
                                 const std::optional<at::Tensor>& found_inf,
                                 const std::optional<at::Tensor>& grad_factor) {
  check_optional_scalar(op, "grad_scale", grad_scale, device);
  check_optional_scalar(op, "found_inf", found_inf, device);
  check_optional_scalar(op, "grad_factor", grad_factor, device);
}

inline bool check_adam_inputs(const char* op, at::TensorList params, at::TensorList grads,
                              at::TensorList exp_avgs, at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs,
                              at::TensorList state_steps, bool amsgrad, const std::optional<at::Tensor>& grad_scale,
                              const std::optional<at::Tensor>& found_inf,
                              const std::optional<at::Tensor>& grad_factor) {
  check_same_length(op, {params, grads, exp_avgs, exp_avg_sqs, state_steps},
                    {"params", "grads", "exp_avgs", "exp_avg_sqs", "state_steps"});
  const size_t n = params.size();
  TORCH_CHECK(max_exp_avg_sqs.size() == n || (!amsgrad && max_exp_avg_sqs.empty()), op, ": amsgrad needs ",
              "one max_exp_avg_sqs tensor per parameter, got ", max_exp_avg_sqs.size(), " for ", n, " params.");
  if (n == 0) return false;
  const at::Device device = params[0].device();
  check_scaling_inputs(op, device, grad_scale, found_inf, grad_factor);
  for (size_t i = 0; i < n; ++i) {
    check_param(op, i, params[i], params[0]);
    check_grad(op, i, grads[i], params[i]);
    check_state(op, "exp_avgs", i, exp_avgs[i], params[i]);
    check_state(op, "exp_avg_sqs", i, exp_avg_sqs[i], params[i]);
    TORCH_CHECK(exp_avg_sqs[i].scalar_type() == exp_avgs[i].scalar_type(), op, ": exp_avg_sqs[", i,
                "] and exp_avgs[", i, "] must have the same dtype.");
    if (amsgrad) {
      check_state(op, "max_exp_avg_sqs", i, max_exp_avg_sqs[i], params[i]);
      TORCH_CHECK(max_exp_avg_sqs[i].scalar_type() == exp_avgs[i].scalar_type(), op, ": max_exp_avg_sqs[", i,
                  "] and exp_avgs[", i, "] must have the same dtype.");
    }
    // Steps live with the params (the CUDA kernels read them on the device, like torch's fused Adam).
    const at::Tensor& st = state_steps[i];
    TORCH_CHECK(st.numel() == 1 && st.scalar_type() == at::kFloat && st.device() == device, op,
                ": state_steps[", i, "] must be a one-element float32 tensor on ", device, " (got ",
                st.scalar_type(), ", ", st.numel(), " elements, on ", st.device(), ").");
  }
  return true;
}

inline bool check_sgd_inputs(const char* op, at::TensorList params, at::TensorList grads,
                             at::TensorList momentum_buffers, double momentum, double dampening, bool nesterov,
                             const std::optional<at::Tensor>& grad_scale, const std::optional<at::Tensor>& found_inf,
                             const std::optional<at::Tensor>& grad_factor) {
  check_same_length(op, {params, grads}, {"params", "grads"});
  const size_t n = params.size();
  const bool use_buf = momentum != 0.0;
  TORCH_CHECK(!use_buf || momentum_buffers.size() == n, op, ": momentum=", momentum, " needs one momentum buffer ",
              "per parameter, got ", momentum_buffers.size(), " for ", n, " params.");
  TORCH_CHECK(!nesterov || (use_buf && dampening == 0.0), op,
              ": nesterov momentum requires a momentum and zero dampening.");
  if (n == 0) return false;
  const at::Device device = params[0].device();
  check_scaling_inputs(op, device, grad_scale, found_inf, grad_factor);
  for (size_t i = 0; i < n; ++i) {
    check_param(op, i, params[i], params[0]);
    check_grad(op, i, grads[i], params[i]);
    if (use_buf) check_state(op, "momentum_buffers", i, momentum_buffers[i], params[i]);
  }
  return true;
}

// multi_tensor_l2norm's norm_type: returns whether it is the inf-norm.
inline bool check_norm_type(const char* op, double norm_type) {
  const bool inf_norm = std::isinf(norm_type) && norm_type > 0;
  TORCH_CHECK(norm_type == 2.0 || inf_norm, op, ": norm_type must be 2 or inf, got ", norm_type,
              "; use torch.nn.utils.clip_grad_norm_ / torch.linalg.vector_norm for other norms.");
  return inf_norm;
}

}  // namespace fastlit
