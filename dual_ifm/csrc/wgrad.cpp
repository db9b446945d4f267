// Weight gradient of a convolution (one group, no dilation) as a matrix product over the output pixels p:
//   dW[o, i, dy, dx] = sum_p grad[p, o] * x[the input pixel under tap (dy, dx) of p, i]
// summed in float32 from bfloat16 pairs: vdpbf16ps multiplies two pixels' values per 32-bit lane and adds both
// products to a float32 accumulator. Blocks of 2*KB pixels are packed so that each 32-bit word holds one channel of
// two consecutive pixels (grad once per block, x once per tap), then multiplied in register tiles of 6 output
// channels x 64 input channels. x's words are laid out in panels of 64 channels, so that the pixel pairs of one
// register tile are contiguous: rows of 64 channels at the stride of a whole map (kilobytes) would all fall in the
// same few sets of the L1 cache and evict each other (7 % faster over BagNet-33's layers).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cstring>
#include <vector>
#include "checks.h"
#include <immintrin.h>
#if defined(__AVX512BF16__)
static const int WG_MR = 6;        // output channels per register tile
static const int WG_NV = 4;        // input channels per register tile, in vectors of 16
static const int64_t WG_KB = 128;  // pixel pairs per block

// (r0[c], r1[c]) as one 32-bit word for c < C, stored at dst[(c / 64) * ps + c % 64]: in panels of 64 channels ps words
// apart (ps = 64: one contiguous row). The words of a last, partial vector of 16 are zero-filled.
static inline void pack_pair(uint32_t* dst, const uint16_t* r0, const uint16_t* r1, int64_t C, int64_t ps) {
  auto at = [&](int64_t c) { return dst + (c >> 6) * ps + (c & 63); };
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                      39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  int64_t c = 0;
  for (; c + 32 <= C; c += 32) {
    const __m512i a = _mm512_loadu_si512(r0 + c), b = _mm512_loadu_si512(r1 + c);
    _mm512_storeu_si512(at(c), _mm512_permutex2var_epi16(a, lo, b));
    _mm512_storeu_si512(at(c + 16), _mm512_permutex2var_epi16(a, hi, b));
  }
  for (; c < C; c += 16) {
    const __mmask32 m = (__mmask32)((1ull << std::min<int64_t>(16, C - c)) - 1);
    const __m512i a = _mm512_maskz_loadu_epi16(m, r0 + c), b = _mm512_maskz_loadu_epi16(m, r1 + c);
    _mm512_storeu_si512(at(c), _mm512_permutex2var_epi16(a, lo, b));
  }
}

// C[r, 16v + j] += sum_k A[k, r] . B[k, 16v + j] (r < MR, v < NV) over K packed pixel pairs; meanwhile prefetch npf
// cache lines from pf (the next block's rows), one per pair.
template <int MR, int NV>
static void wg_tile(const uint32_t* A, int64_t lda, const uint32_t* B, int64_t ldb, float* C, int64_t ldc, int64_t K,
                    const char* pf, int64_t npf) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; r++) for (int v = 0; v < NV; v++) acc[r][v] = _mm512_loadu_ps(C + r * ldc + 16 * v);
  for (int64_t k = 0; k < K; k++) {
    if (k < npf) _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
    __m512i b[NV];
    for (int v = 0; v < NV; v++) b[v] = _mm512_loadu_si512(B + k * ldb + 16 * v);
    for (int r = 0; r < MR; r++) {
      const __m512i a = _mm512_set1_epi32((int)A[k * lda + r]);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)a, (__m512bh)b[v]);
    }
  }
  for (int r = 0; r < MR; r++) for (int v = 0; v < NV; v++) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}
template <int NV>
static void wg_rows(int mr, const uint32_t* A, int64_t lda, const uint32_t* B, int64_t ldb, float* C, int64_t ldc,
                    int64_t K, const char* pf, int64_t npf) {
  switch (mr) {
    case 6: wg_tile<6, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 5: wg_tile<5, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 4: wg_tile<4, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 3: wg_tile<3, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 2: wg_tile<2, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
    default: wg_tile<1, NV>(A, lda, B, ldb, C, ldc, K, pf, npf); break;
  }
}
static void wg_block(int mr, int nv, const uint32_t* A, int64_t lda, const uint32_t* B, int64_t ldb, float* C,
                     int64_t ldc, int64_t K, const char* pf, int64_t npf) {
  switch (nv) {
    case 4: wg_rows<4>(mr, A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 3: wg_rows<3>(mr, A, lda, B, ldb, C, ldc, K, pf, npf); break;
    case 2: wg_rows<2>(mr, A, lda, B, ldb, C, ldc, K, pf, npf); break;
    default: wg_rows<1>(mr, A, lda, B, ldb, C, ldc, K, pf, npf); break;
  }
}

// The memory the next block will pack (two address ranges), handed out a few cache lines per register tile so that
// the prefetches spread over this block's arithmetic and the next packing reads from cache.
struct Ahead {
  const char* p[2] = {nullptr, nullptr}; int64_t n[2] = {0, 0}; int64_t per = 0;
  void set(int k, const void* lo, const void* hi) { p[k] = (const char*)lo; n[k] = ((const char*)hi - (const char*)lo + 63) / 64; }
  void plan(int64_t tiles) { per = (n[0] + n[1] + tiles - 1) / std::max<int64_t>(tiles, 1); }
  const char* take(int64_t& m) {
    for (int k = 0; k < 2; k++)
      if (n[k] > 0) { m = std::min(per, n[k]); const char* q = p[k]; p[k] += 64 * m; n[k] -= m; return q; }
    m = 0; return nullptr;
  }
};

// grad: N x O x Ho x Wo and x: N x I x H x W, both bfloat16 channels-last, I a multiple of 16. Returns the float32
// weight gradient, O x I x kh x kw with channels-last strides. The pixels are split into S ranges, each summed into its
// own float32 partial (added up at the end), and, with more threads than ranges, the output channels into CB blocks.
// Where a partial would not fit in L2 (1 MB: the wide layers) and there are at least as many output channels as input
// ones, the threads split the output channels instead and share the pixels: each packs all of x (the smaller operand),
// but keeps its accumulators near (10-20 % faster there).
at::Tensor wgrad(at::Tensor g, at::Tensor x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const int64_t I = x.dim() == 4 ? x.size(1) : 0, O = g.dim() == 4 ? g.size(1) : 0;
  check_map(x, "x", I); check_map(g, "grad", O);
  TORCH_CHECK(I > 0 && I % 16 == 0, "x must have a multiple of 16 channels, got ", I);
  TORCH_CHECK(O > 0, "grad has no channels");
  TORCH_CHECK(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && ph >= 0 && pw >= 0, "kernel size and stride must be at least 1 ",
              "and padding at least 0, got kernel ", kh, "x", kw, ", stride ", sh, "x", sw, ", padding ", ph, "x", pw);
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(H + 2 * ph >= kh && W + 2 * pw >= kw, "the kernel (", kh, "x", kw, ") is larger than the padded input (",
              H + 2 * ph, "x", W + 2 * pw, ")");
  const int64_t Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
  TORCH_CHECK(g.size(0) == N && g.size(2) == Ho && g.size(3) == Wo, "grad must be ", N, " x ", O, " x ", Ho, " x ", Wo,
              " for x of shape ", x.sizes(), " (kernel ", kh, "x", kw, ", stride ", sh, "x", sw, ", padding ", ph, "x", pw,
              "), got ", g.sizes());
  const int64_t P = N * Ho * Wo, taps = kh * kw, HWo = Ho * Wo, KB = WG_KB;
  const int64_t T = std::max<int64_t>(1, at::get_num_threads());
  const bool wide = O * taps * I * 4 >= (int64_t(1) << 20) && O >= I && O >= 32 * T;
  int64_t S = wide ? 1 : std::max<int64_t>(1, std::min<int64_t>(T, P / 1024));
  while (S > 1 && S * O * taps * I * 4 > (int64_t(256) << 20)) S--;       // partials: 256 MB at most
  const int64_t OB = ((O + std::max<int64_t>(1, T / S) - 1) / std::max<int64_t>(1, T / S) + 15) / 16 * 16;
  const int64_t CB = (O + OB - 1) / OB;
  auto part = at::zeros({S, O, taps, I}, at::kFloat);
  if (P == 0) return part[0].view({O, kh, kw, I}).permute({0, 3, 1, 2});
  const uint16_t* gp = (const uint16_t*)g.data_ptr(); const uint16_t* xp = (const uint16_t*)x.data_ptr();
  float* pp = part.data_ptr<float>();
  at::parallel_for(0, S * CB, 1, [&](int64_t t0, int64_t t1) {
    std::vector<uint16_t> zero(std::max(OB, I) + 32, 0);
    std::vector<uint32_t> Ap(KB * OB + 16), Bp((I + 63) / 64 * KB * 64 + 16);
    std::vector<int64_t> pn(2 * KB), py(2 * KB), px(2 * KB);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t s = t / CB, o0 = (t % CB) * OB, On = std::min(O, o0 + OB) - o0;
      const int64_t pb = P * s / S, pe = P * (s + 1) / S;
      float* Cs = pp + s * O * taps * I;
      for (int64_t p0 = pb; p0 < pe; p0 += 2 * KB) {
        const int64_t np = std::min(2 * KB, pe - p0), nq = (np + 1) / 2;
        for (int64_t q = 0; q < nq; q++) {
          const uint16_t* r0 = gp + (p0 + 2 * q) * O + o0;
          pack_pair(Ap.data() + q * OB, r0, 2 * q + 1 < np ? r0 + O : zero.data(), On, 64);
        }
        {                                        // output pixel coordinates, counted on from p0
          int64_t n = p0 / HWo, oy = (p0 % HWo) / Wo, ox = p0 % Wo;
          for (int64_t j = 0; j < np; j++) {
            pn[j] = n * H; py[j] = oy * sh - ph; px[j] = ox * sw - pw;
            if (++ox == Wo) { ox = 0; if (++oy == Ho) { oy = 0; n++; } }
          }
        }
        Ahead ahead;
        const int64_t p1 = p0 + np, np1 = std::min(2 * KB, pe - p1);
        if (np1 > 0) {                           // the next block: its grad rows and the span of input rows under its taps
          auto in_row = [&](int64_t p, int64_t dy) {
            const int64_t n = p / HWo, iy = ((p % HWo) / Wo) * sh - ph + dy;
            return n * H + std::min(H - 1, std::max<int64_t>(0, iy));
          };
          ahead.set(0, gp + p1 * O, gp + (p1 + np1) * O);
          ahead.set(1, xp + in_row(p1, 0) * W * I, xp + (in_row(p1 + np1 - 1, kh - 1) + 1) * W * I);
        }
        ahead.plan(taps * ((I + 16 * WG_NV - 1) / (16 * WG_NV)) * ((On + WG_MR - 1) / WG_MR));
        for (int64_t tap = 0; tap < taps; tap++) {
          const int64_t dy = tap / kw, dx = tap % kw;
          auto row = [&](int64_t j) -> const uint16_t* {      // the input pixel under this tap of pixel p0 + j, or zeros
            if (j >= np) return zero.data();
            const int64_t iy = py[j] + dy, ix = px[j] + dx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) return zero.data();
            return xp + ((pn[j] + iy) * W + ix) * I;
          };
          for (int64_t q = 0; q < nq; q++) pack_pair(Bp.data() + q * 64, row(2 * q), row(2 * q + 1), I, KB * 64);
          for (int64_t i0 = 0; i0 < I; i0 += 16 * WG_NV) {
            const int nv = (int)std::min<int64_t>(WG_NV, (I - i0) / 16);
            for (int64_t r0 = 0; r0 < On; r0 += WG_MR) {
              int64_t npf; const char* pf = ahead.take(npf);
              wg_block((int)std::min<int64_t>(WG_MR, On - r0), nv, Ap.data() + r0, OB, Bp.data() + (i0 / 64) * KB * 64, 64,
                       Cs + ((o0 + r0) * taps + tap) * I + i0, taps * I, nq, pf, npf);
            }
          }
        }
      }
    }
  });
  return (S == 1 ? part[0] : part.sum(0)).view({O, kh, kw, I}).permute({0, 3, 1, 2});
}
#endif
