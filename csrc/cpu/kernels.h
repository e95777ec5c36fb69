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
// untyped; the table is indexed by the dtype code of the tensors and, for optimizer state, by the state code
// (fp32 or the param dtype): dtype_code() / state_code() in fastlit/dtypes.h.
#include <fastlit/dtypes.h>
#include <fastlit/math.h>

#include <cstdint>

namespace fastlit::cpu {

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
  AdamFn adam[kNumDtypes][kNumStateCodes];
  SgdFn sgd[kNumDtypes][kNumStateCodes];
  NormFn norm[kNumDtypes];
  UnscaleFn unscale[kNumDtypes];
  ClampFn clamp[kNumDtypes];
};

extern const Kernels kernels_default;
extern const Kernels kernels_avx2;  // name == nullptr when not compiled (non-x86 or non-GCC/Clang)
const Kernels& kernels();

}  // namespace fastlit::cpu
