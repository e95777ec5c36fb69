#pragma once
// Per-element update math shared by the CPU kernels (V = at::vec::Vectorized<float>, M = VecMath in
// csrc/cpu/kernels_impl.h) and the CUDA kernels (V = float, M = FloatMath). All math is fp32: callers load
// params / grads / state as fp32 and store back in their own dtype.
//
// Every operation mirrors the op order of torch.optim's single-tensor implementations (lerp for exp_avg,
// mul + addcmul for exp_avg_sq, add(alpha=wd) for L2 decay) so results agree with torch to a few ulp. The
// one deliberate change: Adam's denominator carries sqrt(bias_correction2) through the step size, which saves
// a division per element.
//
// The functions sit in an anonymous namespace: the CPU kernels are compiled once per instruction set (see
// csrc/cpu/kernels_avx2.cpp) and must never share an out-of-line copy of them. The plain-data structs are
// shared (they appear in the kernel table's signatures).
#include <cmath>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define FASTLIT_HD __host__ __device__
#else
#define FASTLIT_HD
#endif
#define FASTLIT_HDI FASTLIT_HD inline

namespace fastlit {

// The gradient entering every update: grad * mul1 (stored back when the caller unscales in place) then
// * mul2 (grad_factor and the maximize sign). Multiplying by exactly 1 or -1 is exact, so the common case
// costs two multiplications and no branches.
struct GradScaling {
  float mul1;     // 1 / grad_scale (1 without a scaler)
  float mul2;     // grad_factor, negated for maximize
  bool store;     // write grad * mul1 back (torch's fused kernels leave unscaled grads behind)
};

// Scalars of one Adam step of one tensor (the step count, hence bias correction, is per tensor).
struct AdamCoeffs {
  float lerp_w;    // 1 - beta1, the weight of exp_avg.lerp_(grad, 1 - beta1)
  bool lerp_low;   // lerp_w < 0.5: torch's lerp formula depends on it
  float beta2;
  float one_minus_beta2;
  bool l2;         // Adam: grad += weight_decay * param
  float wd;
  float decay;     // AdamW: param *= 1 - lr * weight_decay (1 for Adam)
  float neg_step;  // -lr / bias_correction1 * sqrt(bias_correction2)
  float eps;       // eps * sqrt(bias_correction2)
};

struct SgdCoeffs {
  float wd;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
  bool nesterov;
  bool first;  // the buffer is uninitialised: buf = grad
};

namespace {

// Scalar float operations (CUDA kernels). The CPU provides the same names for Vectorized<float>.
struct FloatMath {
  FASTLIT_HDI static float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
  FASTLIT_HDI static float sqrt(float a) { return ::sqrtf(a); }
  // NaN-propagating, like torch.maximum / torch.minimum.
  FASTLIT_HDI static float max(float a, float b) { return (a != a || a > b) ? a : b; }
  FASTLIT_HDI static float min(float a, float b) { return (a != a || a < b) ? a : b; }
  FASTLIT_HDI static float abs(float a) { return ::fabsf(a); }
};

// -------------------------------------------------------------------------------------------------- Adam
FASTLIT_HDI AdamCoeffs adam_coeffs(double lr, double beta1, double beta2, double weight_decay, double eps,
                                   bool decoupled, double step) {
  const double bc1 = 1.0 - ::pow(beta1, step);
  const double bc2_sqrt = ::sqrt(1.0 - ::pow(beta2, step));
  AdamCoeffs c;
  c.lerp_w = static_cast<float>(1.0 - beta1);
  c.lerp_low = c.lerp_w < 0.5f;
  c.beta2 = static_cast<float>(beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  c.l2 = !decoupled && weight_decay != 0.0;
  c.wd = static_cast<float>(weight_decay);
  c.decay = (decoupled && weight_decay != 0.0) ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  c.neg_step = static_cast<float>(-lr / bc1 * bc2_sqrt);
  c.eps = static_cast<float>(eps * bc2_sqrt);
  return c;
}

// One element (or one vector of elements) of Adam. `g` is the final gradient (after GradScaling).
// `vmax` is nullptr without amsgrad.
template <class M, class V>
FASTLIT_HDI void adam_update(V& p, V g, V& m, V& v, V* vmax, const AdamCoeffs& c) {
  p = p * V(c.decay);
  if (c.l2) g = M::fma(p, V(c.wd), g);
  const V d = g - m;
  m = c.lerp_low ? M::fma(V(c.lerp_w), d, m) : M::fma(V(c.lerp_w - 1.0f), d, g);
  v = M::fma(V(c.one_minus_beta2) * g, g, v * V(c.beta2));
  V denom_sq = v;
  if (vmax) {
    *vmax = M::max(*vmax, v);
    denom_sq = *vmax;
  }
  p = p + (V(c.neg_step) * m) / (M::sqrt(denom_sq) + V(c.eps));
}

// --------------------------------------------------------------------------------------------------- SGD
// `buf` is nullptr when momentum == 0.
template <class M, class V>
FASTLIT_HDI void sgd_update(V& p, V g, V* buf, const SgdCoeffs& c) {
  if (c.wd != 0.0f) g = M::fma(p, V(c.wd), g);
  if (buf) {
    *buf = c.first ? g : M::fma(g, V(c.one_minus_dampening), *buf * V(c.momentum));
    g = c.nesterov ? M::fma(*buf, V(c.momentum), g) : *buf;
  }
  p = M::fma(g, V(c.neg_lr), p);
}

// --------------------------------------------------------------------------------- norms and loss scaling
// x - x is 0 for finite x and nan for inf / nan: summing it flags a non-finite element without a compare.
template <class V>
FASTLIT_HDI V nonfinite_probe(V x) {
  return x - x;
}

template <class M, class V>
FASTLIT_HDI void norm_accumulate(V x, V& sumsq, V& amax, V& probe) {
  sumsq = M::fma(x, x, sumsq);
  amax = M::max(amax, M::abs(x));
  probe = probe + nonfinite_probe(x);
}

// torch.nn.utils.clip_grad_norm_'s coefficient, min(1, max_norm / (norm + 1e-6)), times inv_scale: the factor
// that turns still-scaled grads into unscaled, clipped ones. norm is the norm of the unscaled grads; a nan norm
// gives a nan factor (as in torch). max_norm <= 0 means no clipping.
FASTLIT_HDI float clip_factor(float norm, float max_norm, float inv_scale) {
  if (!(max_norm > 0.0f)) return inv_scale;
  return inv_scale * FloatMath::min(max_norm / (norm + 1e-6f), 1.0f);
}

}  // namespace
}  // namespace fastlit
