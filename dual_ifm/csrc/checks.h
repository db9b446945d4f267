// Argument checks shared by the kernels: what a map and a per-channel vector must be.
#pragma once
#include <torch/extension.h>

static inline void check_map(const at::Tensor& t, const char* name, int64_t C) {
  TORCH_CHECK(t.scalar_type() == at::kBFloat16, name, " must be bfloat16, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 4 && t.size(1) == C && t.is_contiguous(at::MemoryFormat::ChannelsLast),
              name, " must be a channels-last 4-D tensor with ", C, " channels, got shape ", t.sizes());
}
static inline void check_vec(const at::Tensor& t, const char* name, int64_t C) {
  TORCH_CHECK(t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == C && t.is_contiguous(),
              name, " must be a contiguous float32 vector of ", C, " values");
}
