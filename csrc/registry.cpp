// The one op registry: every fastlit op schema is declared here, implementations live in cpu/ and cuda/.
//
// Conventions: mutating ops take `Tensor(x!)` arguments and return `()`; state and scale tensors stay on
// the device so no op forces a host sync; floats are fp32 scalars in 0-dim (or 1-element) tensors.
// No argument is keyword-only (unlike aten's fused optimizer ops): from Python, each keyword argument costs
// ~0.6 us of parsing, so the optimizers pass everything positionally.
#include <Python.h>
#include <torch/library.h>

#include "cpu/kernels.h"

TORCH_LIBRARY(fastlit, m) {
  // Adam / AdamW (decoupled_weight_decay) step over lists of same-device tensors. Mirrors
  // aten::_fused_adamw_, except that state_steps are incremented here (skipped with everything else when
  // found_inf != 0) and that grad_factor (unscale x clip coefficient, see multi_tensor_l2norm) scales the
  // gradient inside the update without writing it back. With grad_scale, grads are unscaled in place (as
  // torch's fused kernels do). State may be fp32 or the param dtype; the math is fp32.
  m.def(
      "fused_adam_(Tensor(a!)[] params, Tensor(b!)[] grads, Tensor(c!)[] exp_avgs, Tensor(d!)[] exp_avg_sqs, "
      "Tensor(e!)[] max_exp_avg_sqs, Tensor(f!)[] state_steps, float lr, float beta1, float beta2, "
      "float weight_decay, float eps, bool amsgrad, bool maximize, bool decoupled_weight_decay, "
      "Tensor? grad_scale=None, Tensor? found_inf=None, Tensor? grad_factor=None) -> ()");

  // SGD (momentum, dampening, nesterov) step. Mirrors aten::_fused_sgd_ (momentum_buffers empty when
  // momentum == 0; is_first_step copies the gradient into the buffers) plus grad_factor as above.
  m.def(
      "fused_sgd_(Tensor(a!)[] params, Tensor(b!)[] grads, Tensor(c!)[] momentum_buffers, "
      "float weight_decay, float momentum, float lr, float dampening, bool nesterov, bool maximize, "
      "bool is_first_step, Tensor? grad_scale=None, Tensor? found_inf=None, Tensor? grad_factor=None) -> ()");

  // One pass over `tensors * inv_scale`: returns (total norm, per-tensor norms (empty unless per_tensor),
  // non-finite flag (1.0 if any element is inf/nan), grad_factor = inv_scale * min(1, max_norm / (norm +
  // 1e-6)) or just inv_scale when max_norm <= 0). norm_type is 2 or inf. All outputs are fp32 tensors.
  m.def(
      "multi_tensor_l2norm(Tensor[] tensors, float norm_type=2., bool per_tensor=False, float max_norm=0., "
      "Tensor? inv_scale=None) -> (Tensor, Tensor, Tensor, Tensor)");

  // aten::_amp_foreach_non_finite_check_and_unscale_: grads *= inv_scale; found_inf = 1 if any grad has an
  // inf/nan (never reset to 0 here).
  m.def("unscale_and_check_(Tensor(a!)[] grads, Tensor(b!) found_inf, Tensor inv_scale) -> ()");

  // grads.clamp_(-clip_value, clip_value) for every tensor; nan stays nan (as torch.clamp).
  m.def("clip_grad_value_(Tensor(a!)[] grads, float clip_value) -> ()");
}

// `import fastlit._C` loads this library, whose static initializers above register the ops. The module itself
// only answers which CPU kernel variant runs, so the build can stay on the stable (limited) Python API.
static PyObject* cpu_capability(PyObject*, PyObject*) {
  return PyUnicode_FromString(fastlit::cpu::kernels().name);
}

static PyObject* with_cuda(PyObject*, PyObject*) {
#ifdef FASTLIT_WITH_CUDA
  Py_RETURN_TRUE;
#else
  Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"cpu_capability", cpu_capability, METH_NOARGS, "Name of the CPU kernel variant in use (DEFAULT or AVX2)."},
    {"with_cuda", with_cuda, METH_NOARGS, "Whether the CUDA kernels were compiled in."},
    {nullptr, nullptr, 0, nullptr}};

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "fastlit's compiled ops", -1, methods};
  return PyModule_Create(&module);
}
