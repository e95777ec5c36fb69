// AVX2 + FMA + F16C build of the CPU kernels, chosen at run time by kernels() (kernels_default.cpp).
//
// The whole extension is compiled for baseline x86-64; only the code after the target pragma below may use
// AVX2. Everything that is not instruction-set specific (std, c10, ATen helpers that at::vec pulls in) is
// included *before* the pragma, so no shared inline function is ever emitted with AVX2 instructions; the
// at::vec and fastlit kernel code after it lives in namespaces of its own (CPU_CAPABILITY = AVX2), and
// fastlit/math.h's functions are TU-local. math.h must come after the pragma (via kernels_impl.h) so that its
// templates can inline the AVX2 vector operations.
//
// A GCC debug build (setup.py's DEBUG=1: -O0, FASTLIT_DEBUG) has no AVX2 variant: GCC 12 crashes compiling this
// file at -O0 (internal compiler error in convert_move, on a std::tuple of __m256 under the target pragma; -Og
// and up compile it, and `#pragma GCC optimize` does not help). Such a build runs the baseline kernels.
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__) && !(defined(FASTLIT_DEBUG) && !defined(__clang__))
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2

#include <algorithm>
#include <array>
#include <cassert>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <ostream>
#include <tuple>
#include <type_traits>
#include <x86intrin.h>

#include <ATen/NumericUtils.h>
#include <ATen/native/Math.h>
#include <ATen/native/cpu/zmath.h>
#include <ATen/native/quantized/AffineQuantizerBase.h>
#include <c10/macros/Macros.h>
#include <c10/util/BFloat16-math.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>
#include <c10/util/Load.h>
#include <c10/util/TypeCast.h>
#include <c10/util/copysign.h>
#include <c10/util/irange.h>
#include <c10/util/qint32.h>
#include <c10/util/qint8.h>
#include <c10/util/quint8.h>
// fastlit's own shared inline functions (dtype_code, ...), kept out of the AVX2 section for the same reason.
#include <fastlit/dtypes.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
// The pragma does not define the feature macros in C++; headers included from here on (sleef.h) gate their
// AVX declarations on them.
#ifndef __AVX2__
#define FASTLIT_FEATURE_MACROS
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define __F16C__ 1
#endif

#define FASTLIT_KERNELS kernels_avx2
#define FASTLIT_KERNELS_NAME "AVX2"
#include "cpu/kernels_impl.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
static_assert(std::is_constructible_v<fastlit::cpu::AVX2::Vec, __m256>,
              "at::vec was included before the AVX2 section; this TU would silently build baseline code");
#pragma GCC diagnostic pop

#ifdef FASTLIT_FEATURE_MACROS
#undef __AVX__
#undef __AVX2__
#undef __FMA__
#undef __F16C__
#endif
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64 with GCC/Clang, or a GCC debug build: no AVX2 variant

#include "cpu/kernels.h"
namespace fastlit::cpu {
extern const Kernels kernels_avx2;
const Kernels kernels_avx2 = {};
}  // namespace fastlit::cpu

#endif
