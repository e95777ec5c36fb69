// Loss scaling on the CPU: fastlit::unscale_and_check_.
#include <torch/library.h>

#include <fastlit/checks.h>

#include <algorithm>

#include "cpu/common.h"
#include "cpu/kernels.h"

namespace fastlit::cpu {
namespace {

void unscale_and_check_cpu(at::TensorList grads, const at::Tensor& found_inf, const at::Tensor& inv_scale) {
  constexpr const char* op = "fastlit.unscale_and_check_";
  const size_t n = grads.size();
  if (n == 0) return;
  const at::Device device = grads[0].device();
  check_scalar(op, "found_inf", found_inf, device);
  check_scalar(op, "inv_scale", inv_scale, device);
  check_dense_list(op, "grads", grads);
  std::vector<int64_t> numels(n);
  for (size_t i = 0; i < n; ++i) numels[i] = grads[i].numel();
  const float inv = *inv_scale.data_ptr<float>();
  bool parallel = false;
  const auto chunks = plan_chunks(numels, parallel);
  std::vector<char> bad(chunks.size(), 0);
  const Kernels& k = kernels();
  run_chunks(chunks, parallel, [&](const Chunk& c, size_t slot) {
    if (c.end <= c.begin) return;
    const at::Tensor& g = grads[c.tensor];
    bad[slot] = k.unscale[dtype_code(g.scalar_type())](at_elem(g.data_ptr(), c.begin, g.element_size()),
                                                       c.end - c.begin, inv);
  });
  if (std::any_of(bad.begin(), bad.end(), [](char b) { return b != 0; })) *found_inf.data_ptr<float>() = 1.0f;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastlit, CPU, m) {
  m.impl("unscale_and_check_", &unscale_and_check_cpu);
}

}  // namespace fastlit::cpu
