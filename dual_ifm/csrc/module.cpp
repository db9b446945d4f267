// The Python module of dual_ifm's CPU kernels: bn_relu.cpp (batch norm + residual + ReLU) and, on CPUs with
// AVX512_BF16, wgrad.cpp (weight gradients of convolutions). dual_ifm.accel.load_kernels compiles the three files.
#include <torch/extension.h>
#include <vector>

std::vector<at::Tensor> stats(at::Tensor x);
std::vector<at::Tensor> apply(at::Tensor x, at::Tensor scale, at::Tensor shift, c10::optional<at::Tensor> res,
                              c10::optional<at::Tensor> res_scale, c10::optional<at::Tensor> res_shift, bool keep_mask);
std::vector<at::Tensor> backward(at::Tensor g, at::Tensor x, c10::optional<at::Tensor> mask, at::Tensor scale, at::Tensor shift,
                                 at::Tensor mean, at::Tensor invstd, at::Tensor weight, c10::optional<at::Tensor> res,
                                 c10::optional<at::Tensor> res_mean, c10::optional<at::Tensor> res_invstd,
                                 c10::optional<at::Tensor> res_weight);
#if defined(__AVX512BF16__)
at::Tensor wgrad(at::Tensor g, at::Tensor x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw);
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("stats", &stats, "per-channel mean and biased variance");
  mod.def("apply", &apply, "relu(x * scale + shift [+ residual])");
  mod.def("backward", &backward, "gradients of relu(batch_norm(x) [+ residual])");
#if defined(__AVX512BF16__)
  mod.def("wgrad", &wgrad, "float32 weight gradient of a convolution of bfloat16 channels-last maps");
#endif
}
