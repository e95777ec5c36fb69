#pragma once
// The floating dtypes fastlit's ops take, spelled once for the C++ side (Python: fastlit.ops.SUPPORTED_DTYPES,
// which tests/ops/test_dtypes.py checks against the ops themselves).
//
// A dtype's code is its index in every per-dtype table: the CPU kernel tables (csrc/cpu/kernels.h) and the CUDA
// launch groups (csrc/cuda/multi_tensor_apply.cuh). Optimizer state adds a second index, state_code().
// Adding a dtype: a code below (and kNumDtypes, kSupportedDtypesText), its C++ type in DtypeOf, its case in
// is_supported_float / dtype_code / dispatch_float, the CPU table rows (csrc/cpu/kernels_impl.h), and
// SUPPORTED_DTYPES in fastlit/ops.py.
#include <c10/core/ScalarType.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace fastlit {

enum DtypeCode : int { kF32 = 0, kBF16 = 1, kF16 = 2 };
constexpr int kNumDtypes = 3;

// For error messages (checks.h): the same list as the codes above.
constexpr const char* kSupportedDtypesText = "float32, bfloat16 and float16";

// The C++ element type of each code.
template <int code>
struct DtypeOf;
template <>
struct DtypeOf<kF32> { using type = float; };
template <>
struct DtypeOf<kBF16> { using type = c10::BFloat16; };
template <>
struct DtypeOf<kF16> { using type = c10::Half; };

inline bool is_supported_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf;
}

// Only for dtypes that passed is_supported_float (every op checks its inputs first, see checks.h).
inline int dtype_code(at::ScalarType t) {
  return t == at::kFloat ? kF32 : (t == at::kBFloat16 ? kBF16 : kF16);
}

// Optimizer state (Adam moments, SGD momentum) is fp32 (0) or in the param's own dtype (1).
constexpr int kNumStateCodes = 2;
inline int state_code(at::ScalarType state) {
  return state == at::kFloat ? 0 : 1;
}

// Calls fn(T{}) with T = DtypeOf<code>::type: turns a runtime code into a kernel's template argument.
template <class Fn>
void dispatch_float(int code, Fn&& fn) {
  switch (code) {
    case kF32: fn(DtypeOf<kF32>::type{}); break;
    case kBF16: fn(DtypeOf<kBF16>::type{}); break;
    default: fn(DtypeOf<kF16>::type{}); break;
  }
}

}  // namespace fastlit
