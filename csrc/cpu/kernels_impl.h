// The vectorized CPU loops. No include guard on purpose: kernels_default.cpp and kernels_avx2.cpp each include
// this once, with CPU_CAPABILITY set (DEFAULT / AVX2) so that at::vec::Vectorized and everything here lands in
// a namespace of its own per instruction set, and FASTLIT_KERNELS naming the table to define.
//
// Each loop makes one pass over its range: blocks of 2 x Vectorized<float>::size() elements (one
// Vectorized<BFloat16/Half> worth), then one partial block with masked loads/stores, so there is no scalar
// tail and no separate code path to keep in sync.
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <tuple>
#include <type_traits>

#include "cpu/kernels.h"

namespace fastlit::cpu {
inline namespace CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kW = Vec::size();
constexpr int64_t kBlock = 2 * kW;
static_assert(at::vec::Vectorized<c10::BFloat16>::size() == kBlock, "bf16 vector must hold two float vectors");

// math.h's operations on Vectorized<float>.
struct VecMath {
  static Vec fma(const Vec& a, const Vec& b, const Vec& c) { return at::vec::fmadd(a, b, c); }
  static Vec sqrt(const Vec& a) { return a.sqrt(); }
  static Vec max(const Vec& a, const Vec& b) { return at::vec::maximum(a, b); }  // NaN-propagating
  static Vec min(const Vec& a, const Vec& b) { return at::vec::minimum(a, b); }
  static Vec abs(const Vec& a) { return a.abs(); }
};

// Load / store one block of T as two fp32 vectors. FULL: the block has kBlock elements; otherwise n < kBlock
// and the missing lanes read as 0 and are never written.
template <class T>
struct Io {
  template <bool FULL>
  static void load(const T* p, int64_t n, Vec& a, Vec& b) {
    using VT = at::vec::Vectorized<T>;
    std::tie(a, b) = at::vec::convert_to_float<T>(FULL ? VT::loadu(p) : VT::loadu(p, n));
  }
  template <bool FULL>
  static void store(T* p, int64_t n, const Vec& a, const Vec& b) {
    auto x = at::vec::convert_from_float<T>(a, b);
    FULL ? x.store(p) : x.store(p, n);
  }
};

template <>
struct Io<float> {
  template <bool FULL>
  static void load(const float* p, int64_t n, Vec& a, Vec& b) {
    if (FULL) {
      a = Vec::loadu(p);
      b = Vec::loadu(p + kW);
    } else {
      a = Vec::loadu(p, std::min(n, kW));
      b = n > kW ? Vec::loadu(p + kW, n - kW) : Vec(0.0f);
    }
  }
  template <bool FULL>
  static void store(float* p, int64_t n, const Vec& a, const Vec& b) {
    if (FULL) {
      a.store(p);
      b.store(p + kW);
    } else {
      a.store(p, std::min(n, kW));
      if (n > kW) b.store(p + kW, n - kW);
    }
  }
};

// Runs body(offset, count, FULL) over [0, n) in blocks.
template <class F>
inline void for_blocks(int64_t n, F&& body) {
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) body(i, kBlock, std::true_type{});
  if (i < n) body(i, n - i, std::false_type{});
}

// ------------------------------------------------------------------------------------------------- Adam
template <class P, class S, bool AMSGRAD>
void adam_loop(const AdamCoeffs& c, const GradScaling& s, P* p, P* g, S* m, S* v, S* vmax, int64_t n) {
  const Vec mul1(s.mul1), mul2(s.mul2);
  for_blocks(n, [&](int64_t i, int64_t cnt, auto full) {
    constexpr bool F = decltype(full)::value;
    Vec p0, p1, g0, g1, m0, m1, v0, v1, x0, x1;
    Io<P>::template load<F>(p + i, cnt, p0, p1);
    Io<P>::template load<F>(g + i, cnt, g0, g1);
    Io<S>::template load<F>(m + i, cnt, m0, m1);
    Io<S>::template load<F>(v + i, cnt, v0, v1);
    if (AMSGRAD) Io<S>::template load<F>(vmax + i, cnt, x0, x1);
    g0 = g0 * mul1;
    g1 = g1 * mul1;
    if (s.store) Io<P>::template store<F>(g + i, cnt, g0, g1);
    adam_update<VecMath>(p0, g0 * mul2, m0, v0, AMSGRAD ? &x0 : nullptr, c);
    adam_update<VecMath>(p1, g1 * mul2, m1, v1, AMSGRAD ? &x1 : nullptr, c);
    Io<P>::template store<F>(p + i, cnt, p0, p1);
    Io<S>::template store<F>(m + i, cnt, m0, m1);
    Io<S>::template store<F>(v + i, cnt, v0, v1);
    if (AMSGRAD) Io<S>::template store<F>(vmax + i, cnt, x0, x1);
  });
}

template <class P, class S>
void adam_kernel(const AdamCoeffs& c, const GradScaling& s, void* p, void* g, void* m, void* v, void* vmax,
                 int64_t n) {
  auto* pp = static_cast<P*>(p);
  auto* gp = static_cast<P*>(g);
  if (vmax) {
    adam_loop<P, S, true>(c, s, pp, gp, static_cast<S*>(m), static_cast<S*>(v), static_cast<S*>(vmax), n);
  } else {
    adam_loop<P, S, false>(c, s, pp, gp, static_cast<S*>(m), static_cast<S*>(v), nullptr, n);
  }
}

// -------------------------------------------------------------------------------------------------- SGD
template <class P, class S, bool MOMENTUM>
void sgd_loop(const SgdCoeffs& c, const GradScaling& s, P* p, P* g, S* buf, int64_t n) {
  const Vec mul1(s.mul1), mul2(s.mul2);
  for_blocks(n, [&](int64_t i, int64_t cnt, auto full) {
    constexpr bool F = decltype(full)::value;
    Vec p0, p1, g0, g1, b0(0.0f), b1(0.0f);
    Io<P>::template load<F>(p + i, cnt, p0, p1);
    Io<P>::template load<F>(g + i, cnt, g0, g1);
    if (MOMENTUM && !c.first) Io<S>::template load<F>(buf + i, cnt, b0, b1);
    g0 = g0 * mul1;
    g1 = g1 * mul1;
    if (s.store) Io<P>::template store<F>(g + i, cnt, g0, g1);
    sgd_update<VecMath>(p0, g0 * mul2, MOMENTUM ? &b0 : nullptr, c);
    sgd_update<VecMath>(p1, g1 * mul2, MOMENTUM ? &b1 : nullptr, c);
    Io<P>::template store<F>(p + i, cnt, p0, p1);
    if (MOMENTUM) Io<S>::template store<F>(buf + i, cnt, b0, b1);
  });
}

template <class P, class S>
void sgd_kernel(const SgdCoeffs& c, const GradScaling& s, void* p, void* g, void* buf, int64_t n) {
  if (buf) {
    sgd_loop<P, S, true>(c, s, static_cast<P*>(p), static_cast<P*>(g), static_cast<S*>(buf), n);
  } else {
    sgd_loop<P, S, false>(c, s, static_cast<P*>(p), static_cast<P*>(g), nullptr, n);
  }
}

// ------------------------------------------------------------------------------------ norms, scaling, clamp
inline void flush(const Vec& sumsq, const Vec& amax, const Vec& probe, NormPartial* out) {
  alignas(64) float s[kW], a[kW], z[kW];
  sumsq.store(s);
  amax.store(a);
  probe.store(z);
  for (int64_t k = 0; k < kW; ++k) {
    out->sumsq += s[k];
    out->amax = FloatMath::max(out->amax, a[k]);
    out->nonfinite |= z[k] != 0.0f;  // 0 for finite lanes, nan otherwise (nan != 0 is true)
  }
}

// Sums squares in fp32 lanes and flushes them to the double total every kFlush elements, which keeps the
// result close to a pairwise sum at no measurable cost.
template <class T>
void norm_kernel(const void* x_, int64_t n, NormPartial* out) {
  constexpr int64_t kFlush = 64 * kBlock;
  const T* x = static_cast<const T*>(x_);
  for (int64_t start = 0; start < n; start += kFlush) {
    Vec s0(0.0f), s1(0.0f), a0(0.0f), a1(0.0f), z0(0.0f), z1(0.0f);
    for_blocks(std::min(kFlush, n - start), [&](int64_t i, int64_t cnt, auto full) {
      Vec x0, x1;
      Io<T>::template load<decltype(full)::value>(x + start + i, cnt, x0, x1);
      norm_accumulate<VecMath>(x0, s0, a0, z0);
      norm_accumulate<VecMath>(x1, s1, a1, z1);
    });
    flush(s0 + s1, VecMath::max(a0, a1), z0 + z1, out);
  }
}

template <class T>
bool unscale_kernel(void* x_, int64_t n, float inv) {
  T* x = static_cast<T*>(x_);
  const Vec inv_v(inv);
  const bool scale = inv != 1.0f;
  Vec z(0.0f);
  for_blocks(n, [&](int64_t i, int64_t cnt, auto full) {
    constexpr bool F = decltype(full)::value;
    Vec x0, x1;
    Io<T>::template load<F>(x + i, cnt, x0, x1);
    z = z + nonfinite_probe(x0) + nonfinite_probe(x1);
    if (scale) Io<T>::template store<F>(x + i, cnt, x0 * inv_v, x1 * inv_v);
  });
  alignas(64) float lanes[kW];
  z.store(lanes);
  return std::any_of(lanes, lanes + kW, [](float f) { return f != 0.0f; });
}

template <class T>
void clamp_kernel(void* x_, int64_t n, float lo, float hi) {
  T* x = static_cast<T*>(x_);
  const Vec lo_v(lo), hi_v(hi);
  for_blocks(n, [&](int64_t i, int64_t cnt, auto full) {
    constexpr bool F = decltype(full)::value;
    Vec x0, x1;
    Io<T>::template load<F>(x + i, cnt, x0, x1);
    Io<T>::template store<F>(x + i, cnt, VecMath::min(VecMath::max(x0, lo_v), hi_v),
                             VecMath::min(VecMath::max(x1, lo_v), hi_v));
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

using c10::BFloat16;
using c10::Half;
using namespace CPU_CAPABILITY;

// Constant-initialised (function addresses only): no code from this instruction set runs at load time. Rows in
// dtype-code order (float, BFloat16, Half); columns in state-code order (fp32 state, state in the param dtype).
static_assert(kNumDtypes == 3 && kNumStateCodes == 2, "fastlit/dtypes.h changed: update this table");
extern const Kernels FASTLIT_KERNELS;
const Kernels FASTLIT_KERNELS = {
    FASTLIT_KERNELS_NAME,
    {{adam_kernel<float, float>, adam_kernel<float, float>},
     {adam_kernel<BFloat16, float>, adam_kernel<BFloat16, BFloat16>},
     {adam_kernel<Half, float>, adam_kernel<Half, Half>}},
    {{sgd_kernel<float, float>, sgd_kernel<float, float>},
     {sgd_kernel<BFloat16, float>, sgd_kernel<BFloat16, BFloat16>},
     {sgd_kernel<Half, float>, sgd_kernel<Half, Half>}},
    {norm_kernel<float>, norm_kernel<BFloat16>, norm_kernel<Half>},
    {unscale_kernel<float>, unscale_kernel<BFloat16>, unscale_kernel<Half>},
    {clamp_kernel<float>, clamp_kernel<BFloat16>, clamp_kernel<Half>},
};

}  // namespace fastlit::cpu
