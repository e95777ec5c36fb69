#pragma once
// The CPU kernels' interface. The loops themselves (kernels_impl.h) are compiled twice, for baseline x86-64
// (kernels_default.cpp) and for AVX2+FMA (kernels_avx2.cpp); kernels() picks one table at first use, from
// torch's own CPU capability (so ATEN_CPU_CAPABILITY=default also forces our baseline path; so does
// FASTLIT_CPU_DEFAULT=1, which the tests use to check the baseline kernels on AVX2 machines).
//
// Measured on the autoencoder's 101 k-param Adam step (1 thread, this repo's AMD EPYC): AVX2 52 us, baseline
// 276 us (at::vec's generic Vectorized does not vectorize sqrt / div well), torch's fused kernel 52 us.
//
// Every kernel works on one contiguous range of n elements of one tensor and uses fp32 math. Pointers are
// untyped; the table is indexed by the dtype code of the tensors (kF32, kBF16, kF16) and, for optimizer
// state, by whether the state is fp32 (0) or the param dtype (1).
#include <fastlit/math.h>

#include <cstdint>

namespace fastlit::cpu {

enum DType : int { kF32 = 0, kBF16 = 1, kF16 = 2 };

// Partial results of one norm range; combined by the caller.
struct NormPartial {
  double sumsq = 0.0;
  float amax = 0.0f;
  bool nonfinite = false;
};

using AdamFn = void (*)(const AdamCoeffs&, const GradScaling&, void* p, void* g, void* m, void* v, void* vmax,
                        int64_t n);
using SgdFn = void (*)(const SgdCoeffs&, const GradScaling&, void* p, void* g, void* buf, int64_t n);
using NormFn = void (*)(const void* x, int64_t n, NormPartial* out);
// x *= inv (skipped when inv == 1); returns whether any element of x was inf / nan.
using UnscaleFn = bool (*)(void* x, int64_t n, float inv);
using ClampFn = void (*)(void* x, int64_t n, float lo, float hi);

struct Kernels {
  const char* name;
  AdamFn adam[3][2];
  SgdFn sgd[3][2];
  NormFn norm[3];
  UnscaleFn unscale[3];
  ClampFn clamp[3];
};

extern const Kernels kernels_default;
extern const Kernels kernels_avx2;  // name == nullptr when not compiled (non-x86 or non-GCC/Clang)
const Kernels& kernels();

}  // namespace fastlit::cpu
