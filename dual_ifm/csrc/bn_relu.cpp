// Batch norm (training statistics) + optional residual + ReLU over bfloat16 channels-last maps, as a [rows, C] matrix.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <array>
#include <cstring>
#include <mutex>
#include <vector>
#include "checks.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#else
#error "the fused kernels are written for AVX-512 (F, BW and VL); dual_ifm.accel.load_kernels builds them only for CPUs that have it"
#endif

static inline float b2f(uint16_t h) { uint32_t u = ((uint32_t)h) << 16; float f; std::memcpy(&f, &u, 4); return f; }
static inline uint16_t f2b(float f) {            // round to nearest even, as c10::BFloat16 does
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u); return (uint16_t)(u >> 16);
}
static inline __m512 ld(const uint16_t* p) {       // 16 bf16 -> 16 float
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
static inline void st(uint16_t* p, __m512 v) {     // 16 float -> 16 bf16, round to nearest even
#if defined(__AVX512BF16__)
  _mm256_storeu_si256((__m256i*)p, (__m256i)_mm512_cvtneps_pbh(v));
#else
  __m512i u = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  u = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  _mm256_storeu_si256((__m256i*)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
#endif
}

static const int64_t CHUNK = 128;   // rows whose sums stay in float before they are added up in double

// K per-channel sums over all R rows into *out[0..K) (float64), rows read in order. Wide rows: row(i, s) adds row i's
// terms to the float sums s[k * C + c] (in L1). Narrow rows (C <= 128 channels, whole vectors of 16): vec(i, c, a) adds
// the terms of channels c..c+15 to the float vectors a[0..K), which stay in registers over CHUNK rows; as sums in memory
// they would wait on their own previous row's store (about twice as slow at 64 channels). Either way the float sums go
// into float64 every CHUNK rows, per thread, and then across threads.
template <int K, int NV, typename VecFn>
static inline void sum_narrow(int64_t r0, int64_t r1, float* s, const VecFn& vec) {
  __m512 acc[NV][K];
  for (int v = 0; v < NV; v++) for (int k = 0; k < K; k++) acc[v][k] = _mm512_setzero_ps();
  for (int64_t i = r0; i < r1; i++) for (int v = 0; v < NV; v++) vec(i, 16 * v, acc[v]);
  for (int v = 0; v < NV; v++) for (int k = 0; k < K; k++) _mm512_storeu_ps(s + k * NV * 16 + 16 * v, acc[v][k]);
}
template <int K, typename RowFn, typename VecFn>
static void sum_rows(int64_t R, int64_t C, std::array<std::vector<double>*, K> out, const RowFn& row, const VecFn& vec) {
  std::mutex mu;
  const bool narrow = C % 16 == 0 && C <= 128;
  at::parallel_for(0, (R + CHUNK - 1) / CHUNK, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> s(K * C); std::vector<double> ls(K * C, 0.0);
    for (int64_t blk = b0; blk < b1; blk++) {
      const int64_t r0 = blk * CHUNK, r1 = std::min(R, r0 + CHUNK);
      if (narrow) {
        switch (C / 16) {
          case 8: sum_narrow<K, 8>(r0, r1, s.data(), vec); break;
          case 7: sum_narrow<K, 7>(r0, r1, s.data(), vec); break;
          case 6: sum_narrow<K, 6>(r0, r1, s.data(), vec); break;
          case 5: sum_narrow<K, 5>(r0, r1, s.data(), vec); break;
          case 4: sum_narrow<K, 4>(r0, r1, s.data(), vec); break;
          case 3: sum_narrow<K, 3>(r0, r1, s.data(), vec); break;
          case 2: sum_narrow<K, 2>(r0, r1, s.data(), vec); break;
          default: sum_narrow<K, 1>(r0, r1, s.data(), vec); break;
        }
      } else {
        std::fill(s.begin(), s.end(), 0.f);
        for (int64_t i = r0; i < r1; i++) row(i, s.data());
      }
      for (int64_t j = 0; j < K * C; j++) ls[j] += s[j];
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int k = 0; k < K; k++) for (int64_t c = 0; c < C; c++) (*out[k])[c] += ls[k * C + c];
  });
}

// Per-channel mean and biased variance (float64), from sums of (x - k) and (x - k)^2 with k = the first row:
// one pass over x, and the shift keeps the variance accurate when the mean is large against the spread.
std::vector<at::Tensor> stats(at::Tensor x) {
  const int64_t C = x.size(1); check_map(x, "x", C);
  const int64_t R = x.numel() / C;
  TORCH_CHECK(R > 0, "x has no rows");
  const uint16_t* xp = (const uint16_t*)x.data_ptr();
  std::vector<float> k(C); for (int64_t c = 0; c < C; c++) k[c] = b2f(xp[c]);
  std::vector<double> S(C, 0.0), Q(C, 0.0);
  sum_rows<2>(R, C, {&S, &Q}, [&](int64_t i, float* s) {
    const uint16_t* row = xp + i * C; float* q = s + C; int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
      __m512 d = _mm512_sub_ps(ld(row + c), _mm512_loadu_ps(&k[c]));
      _mm512_storeu_ps(s + c, _mm512_add_ps(_mm512_loadu_ps(s + c), d));
      _mm512_storeu_ps(q + c, _mm512_fmadd_ps(d, d, _mm512_loadu_ps(q + c)));
    }
    for (; c < C; c++) { float d = b2f(row[c]) - k[c]; s[c] += d; q[c] += d * d; }
  }, [&](int64_t i, int64_t c, __m512* a) {
    const __m512 d = _mm512_sub_ps(ld(xp + i * C + c), _mm512_loadu_ps(&k[c]));
    a[0] = _mm512_add_ps(a[0], d); a[1] = _mm512_fmadd_ps(d, d, a[1]);
  });
  auto mean = at::empty({C}, at::kDouble), var = at::empty({C}, at::kDouble);
  double* mp = mean.data_ptr<double>(); double* vp = var.data_ptr<double>();
  for (int64_t c = 0; c < C; c++) { double m = S[c] / R; mp[c] = k[c] + m; vp[c] = std::max(Q[c] / R - m * m, 0.0); }
  return {mean, var};
}

// y = relu(x * scale + shift [+ r]), computed in float, stored in bf16; r = res, or res * res_scale + res_shift when
// those are given (the residual's own batch norm, as in a downsample branch). With keep_mask, also the ReLU's mask
// (v > 0) as bits: one 16-bit word per 16 channels of a row, 1/16 of y's size, for the backward to read instead of y.
std::vector<at::Tensor> apply(at::Tensor x, at::Tensor scale, at::Tensor shift, c10::optional<at::Tensor> res,
                              c10::optional<at::Tensor> res_scale, c10::optional<at::Tensor> res_shift, bool keep_mask) {
  const int64_t C = x.size(1); check_map(x, "x", C); check_vec(scale, "scale", C); check_vec(shift, "shift", C);
  if (res) { check_map(*res, "residual", C); TORCH_CHECK(res->sizes() == x.sizes(), "residual must have the shape of x"); }
  TORCH_CHECK(res_scale.has_value() == res_shift.has_value() && (!res_scale || res), "res_scale and res_shift come together, with a residual");
  if (res_scale) { check_vec(*res_scale, "res_scale", C); check_vec(*res_shift, "res_shift", C); }
  const float* rs = res_scale ? res_scale->data_ptr<float>() : nullptr; const float* rb = res_shift ? res_shift->data_ptr<float>() : nullptr;
  const int64_t R = x.numel() / C;
  auto y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  const uint16_t* xp = (const uint16_t*)x.data_ptr(); uint16_t* yp = (uint16_t*)y.data_ptr();
  const uint16_t* rp = res ? (const uint16_t*)res->data_ptr() : nullptr;
  const float* a = scale.data_ptr<float>(); const float* b = shift.data_ptr<float>();
  const int64_t CM = (C + 15) / 16;
  at::Tensor mask; uint16_t* mp = nullptr;
  if (keep_mask) { mask = at::empty({R, CM}, at::kShort); mp = (uint16_t*)mask.data_ptr(); }
  at::parallel_for(0, R, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; i++) {
      const uint16_t* xr = xp + i * C; uint16_t* yr = yp + i * C; const uint16_t* rr = rp ? rp + i * C : nullptr;
      uint16_t* mr = mp ? mp + i * CM : nullptr;
      int64_t c = 0;
      const __m512 z = _mm512_setzero_ps();
      for (; c + 16 <= C; c += 16) {
        __m512 v = _mm512_fmadd_ps(ld(xr + c), _mm512_loadu_ps(a + c), _mm512_loadu_ps(b + c));
        if (rr) v = _mm512_add_ps(v, rs ? _mm512_fmadd_ps(ld(rr + c), _mm512_loadu_ps(rs + c), _mm512_loadu_ps(rb + c)) : ld(rr + c));
        if (mr) mr[c >> 4] = (uint16_t)_mm512_cmp_ps_mask(v, z, _CMP_GT_OQ);
        st(yr + c, _mm512_max_ps(v, z));
      }
      uint16_t bits = 0;
      for (; c < C; c++) {
        float v = b2f(xr[c]) * a[c] + b[c];
        if (rr) v += rs ? b2f(rr[c]) * rs[c] + rb[c] : b2f(rr[c]);
        yr[c] = f2b(v > 0.f ? v : 0.f);
        if (v > 0.f) bits |= (uint16_t)(1u << (c & 15));
        if (mr && ((c & 15) == 15 || c == C - 1)) { mr[c >> 4] = bits; bits = 0; }
      }
    }
  });
  if (keep_mask) return {y, mask};
  return {y};
}

// The ReLU's mask for channels c..c+15 of a row: the forward's bits when kept (bits), else x * scale + shift > 0.
static inline __mmask16 relu_on(const uint16_t* bits, int64_t c, __m512 xv, const float* a, const float* b) {
  if (bits) return (__mmask16)bits[c >> 4];
  return _mm512_cmp_ps_mask(_mm512_fmadd_ps(xv, _mm512_loadu_ps(a + c), _mm512_loadu_ps(b + c)), _mm512_setzero_ps(), _CMP_GT_OQ);
}
static inline bool relu_on1(const uint16_t* bits, int64_t c, float xv, const float* a, const float* b) {
  return bits ? (bits[c >> 4] >> (c & 15)) & 1u : xv * a[c] + b[c] > 0.f;
}

// A batch norm's backward from its two sums SG = sum gz and SX = sum gz * (x - mean) over R rows: grad weight and grad
// bias into gw and gb, and grad x = A gz + B x + D per channel (A, B, D in float, computed in double).
static void bn_grad_coefficients(int64_t C, int64_t R, const std::vector<double>& SG, const std::vector<double>& SX,
                                 const float* invstd, const float* weight, const float* mean, float* gw, float* gb,
                                 std::vector<float>& A, std::vector<float>& B, std::vector<float>& D) {
  for (int64_t c = 0; c < C; c++) {
    gb[c] = (float)SG[c]; gw[c] = (float)(SX[c] * invstd[c]);
    const double Ad = (double)weight[c] * invstd[c], Bd = -Ad * invstd[c] * invstd[c] * SX[c] / R;
    A[c] = (float)Ad; B[c] = (float)Bd; D[c] = (float)(-Ad * SG[c] / R - Bd * mean[c]);
  }
}

// Backward of y = relu(batch_norm(x) [+ res]) with batch statistics. The ReLU mask is the forward's bits when given
// (the residual case), else x * scale + shift > 0 (the same float operation as the forward, so the same mask).
// With gz = the masked gradient and xhat = (x - mean) * invstd:
//   grad bias = sum gz, grad weight = sum gz * xhat,
//   grad x = weight * invstd * (gz - sum gz / R - xhat * sum(gz * xhat) / R) = A gz + B x + D per channel.
// Returns grad x, grad weight, grad bias and, in the residual case, grad res (= gz). When the residual had its own batch
// norm (res, res_mean, res_invstd, res_weight: its input and statistics), its gradient is that batch norm's backward
// of gz, done in the same two passes, followed by that batch norm's grad weight and grad bias (= sum gz).
std::vector<at::Tensor> backward(at::Tensor g, at::Tensor x, c10::optional<at::Tensor> mask, at::Tensor scale, at::Tensor shift,
                                 at::Tensor mean, at::Tensor invstd, at::Tensor weight, c10::optional<at::Tensor> res,
                                 c10::optional<at::Tensor> res_mean, c10::optional<at::Tensor> res_invstd,
                                 c10::optional<at::Tensor> res_weight) {
  const int64_t C = x.size(1); check_map(x, "x", C); check_map(g, "grad", C);
  check_vec(scale, "scale", C); check_vec(shift, "shift", C); check_vec(mean, "mean", C);
  check_vec(invstd, "invstd", C); check_vec(weight, "weight", C);
  const int64_t CM = (C + 15) / 16;
  if (mask) TORCH_CHECK(mask->scalar_type() == at::kShort && mask->dim() == 2 && mask->size(0) * C == x.numel() && mask->size(1) == CM && mask->is_contiguous(),
                     "mask must be the forward's int16 bits, ", x.numel() / C, " x ", CM, ", got ", mask->scalar_type(), " ", mask->sizes());
  TORCH_CHECK(!res || (mask && res_mean && res_invstd && res_weight), "the residual's batch norm needs the mask, res_mean, res_invstd and res_weight");
  if (res) {
    check_map(*res, "residual", C); TORCH_CHECK(res->sizes() == x.sizes(), "residual must have the shape of x");
    check_vec(*res_mean, "res_mean", C); check_vec(*res_invstd, "res_invstd", C); check_vec(*res_weight, "res_weight", C);
  }
  const uint16_t* rxp = res ? (const uint16_t*)res->data_ptr() : nullptr;
  const float* rm = res ? res_mean->data_ptr<float>() : nullptr;
  const int64_t R = x.numel() / C;
  const uint16_t* xp = (const uint16_t*)x.data_ptr(); const uint16_t* gp = (const uint16_t*)g.data_ptr();
  const uint16_t* yp = mask ? (const uint16_t*)mask->data_ptr() : nullptr;     // the mask's bits
  const float* a = scale.data_ptr<float>(); const float* b = shift.data_ptr<float>(); const float* m = mean.data_ptr<float>();
  std::vector<double> SG(C, 0.0), SX(C, 0.0), SR(C, 0.0);
  sum_rows<3>(R, C, {&SG, &SX, &SR}, [&](int64_t i, float* sg) {
    const uint16_t* xr = xp + i * C; const uint16_t* gr = gp + i * C; const uint16_t* yr = yp ? yp + i * CM : nullptr;
    const uint16_t* rr = rxp ? rxp + i * C : nullptr; float* sx = sg + C; float* sr = sg + 2 * C;
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
      __m512 xv = ld(xr + c);
      __m512 gz = _mm512_maskz_mov_ps(relu_on(yr, c, xv, a, b), ld(gr + c));
      _mm512_storeu_ps(sg + c, _mm512_add_ps(_mm512_loadu_ps(sg + c), gz));
      _mm512_storeu_ps(sx + c, _mm512_fmadd_ps(gz, _mm512_sub_ps(xv, _mm512_loadu_ps(m + c)), _mm512_loadu_ps(sx + c)));
      if (rr) _mm512_storeu_ps(sr + c, _mm512_fmadd_ps(gz, _mm512_sub_ps(ld(rr + c), _mm512_loadu_ps(rm + c)), _mm512_loadu_ps(sr + c)));
    }
    for (; c < C; c++) {
      float xv = b2f(xr[c]);
      float gz = relu_on1(yr, c, xv, a, b) ? b2f(gr[c]) : 0.f; sg[c] += gz; sx[c] += gz * (xv - m[c]);
      if (rr) sr[c] += gz * (b2f(rr[c]) - rm[c]);
    }
  }, [&](int64_t i, int64_t c, __m512* acc) {
    const __m512 xv = ld(xp + i * C + c);
    const __m512 gz = _mm512_maskz_mov_ps(relu_on(yp ? yp + i * CM : nullptr, c, xv, a, b), ld(gp + i * C + c));
    acc[0] = _mm512_add_ps(acc[0], gz);
    acc[1] = _mm512_fmadd_ps(gz, _mm512_sub_ps(xv, _mm512_loadu_ps(m + c)), acc[1]);
    if (rxp) acc[2] = _mm512_fmadd_ps(gz, _mm512_sub_ps(ld(rxp + i * C + c), _mm512_loadu_ps(rm + c)), acc[2]);
  });
  auto gw = at::empty({C}, at::kFloat), gb = at::empty({C}, at::kFloat);
  std::vector<float> A(C), B(C), D(C), RA(C), RB(C), RD(C);     // this batch norm's A, B, D and the residual's
  bn_grad_coefficients(C, R, SG, SX, invstd.data_ptr<float>(), weight.data_ptr<float>(), m, gw.data_ptr<float>(),
                       gb.data_ptr<float>(), A, B, D);
  at::Tensor rgw, rgb;
  if (res) {                                              // its grad bias is the same sum gz
    rgw = at::empty({C}, at::kFloat); rgb = at::empty({C}, at::kFloat);
    bn_grad_coefficients(C, R, SG, SR, res_invstd->data_ptr<float>(), res_weight->data_ptr<float>(), rm,
                         rgw.data_ptr<float>(), rgb.data_ptr<float>(), RA, RB, RD);
  }
  auto gx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  at::Tensor gres; uint16_t* gresp = nullptr;
  if (mask) { gres = at::empty_like(x, at::MemoryFormat::ChannelsLast); gresp = (uint16_t*)gres.data_ptr(); }
  uint16_t* op = (uint16_t*)gx.data_ptr();
  at::parallel_for(0, R, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; i++) {
      const uint16_t* xr = xp + i * C; const uint16_t* gr = gp + i * C; const uint16_t* yr = yp ? yp + i * CM : nullptr;
      uint16_t* o = op + i * C; uint16_t* gro = gresp ? gresp + i * C : nullptr; const uint16_t* rr = rxp ? rxp + i * C : nullptr;
      int64_t c = 0;
      for (; c + 16 <= C; c += 16) {
        __m512 xv = ld(xr + c);
        __m256i gh = _mm256_maskz_mov_epi16(relu_on(yr, c, xv, a, b), _mm256_loadu_si256((const __m256i*)(gr + c)));   // masked, bit for bit
        __m512 gz = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(gh), 16));
        if (rr) st(gro + c, _mm512_fmadd_ps(gz, _mm512_loadu_ps(&RA[c]), _mm512_fmadd_ps(ld(rr + c), _mm512_loadu_ps(&RB[c]), _mm512_loadu_ps(&RD[c]))));
        else if (gro) _mm256_storeu_si256((__m256i*)(gro + c), gh);
        st(o + c, _mm512_fmadd_ps(gz, _mm512_loadu_ps(&A[c]), _mm512_fmadd_ps(xv, _mm512_loadu_ps(&B[c]), _mm512_loadu_ps(&D[c]))));
      }
      for (; c < C; c++) {
        float xv = b2f(xr[c]);
        const bool on = relu_on1(yr, c, xv, a, b);
        float gz = on ? b2f(gr[c]) : 0.f;
        if (rr) gro[c] = f2b(gz * RA[c] + (b2f(rr[c]) * RB[c] + RD[c]));
        else if (gro) gro[c] = on ? gr[c] : (uint16_t)0;
        o[c] = f2b(gz * A[c] + (xv * B[c] + D[c]));
      }
    }
  });
  if (res) return {gx, gw, gb, gres, rgw, rgb};
  if (mask) return {gx, gw, gb, gres};
  return {gx, gw, gb};
}
