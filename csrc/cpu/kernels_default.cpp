// Baseline x86-64 (SSE2) / any-architecture build of the CPU kernels, plus the runtime choice of table.
#define CPU_CAPABILITY DEFAULT
#define FASTLIT_KERNELS kernels_default
#define FASTLIT_KERNELS_NAME "DEFAULT"
#include "cpu/kernels_impl.h"

#include <ATen/Version.h>

#include <cstdlib>
#include <string>

namespace fastlit::cpu {

static const Kernels& choose() {
#if defined(__x86_64__) || defined(_M_X64)
  // torch reports the instruction set its own kernels use (honouring ATEN_CPU_CAPABILITY); AVX512 machines
  // run AVX2 code too. The builtin check guards against a torch that over-reports.
  const std::string cap = at::get_cpu_capability();
  const bool torch_avx2 = cap == "AVX2" || cap == "AVX512";
#if defined(__GNUC__)
  const bool cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("f16c");
#else
  const bool cpu_avx2 = false;
#endif
  const char* force_default = std::getenv("FASTLIT_CPU_DEFAULT");
  if (kernels_avx2.name && torch_avx2 && cpu_avx2 && !(force_default && force_default[0] == '1')) {
    return kernels_avx2;
  }
#endif
  return kernels_default;
}

const Kernels& kernels() {
  static const Kernels& chosen = choose();
  return chosen;
}

}  // namespace fastlit::cpu
