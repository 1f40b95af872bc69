/* Fused CPU kernels for the critic ensemble of maq.nn.EnsembleMLP with LayerNorm (see
   maq/native/__init__.py): the squared-error loss's gradient with respect to every parameter, and
   Q of chosen members, with each member computed start to end by one thread.

   A member's activations (batch × width per layer) then stay in that core's L2 cache between the
   matrix products (BLAS sgemm_, taken from the MKL inside libtorch_cpu) and the row-wise
   LayerNorm/ReLU passes, instead of every pass streaming all members through L3 (2.6 MB per
   (10, 256, 256) tensor). The result does not depend on the thread count.

   Layouts are maq.nn.EnsembleMLP's, all float32 and contiguous: weight l (E, in_l, out_l),
   bias l (E, 1, out_l), LayerNorm scale and shift l (E, 1, out_l) for the L hidden layers; the
   output layer has width 1. LayerNorm is torch's: biased variance, eps inside the square root. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

extern void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                   const float *alpha, const float *a, const int *lda, const float *b,
                   const int *ldb, const float *beta, float *c, const int *ldc);

/* Row-major C (m×n) = op(A)·op(B) (+ beta·C); ta: A is stored k×m, tb: B is stored n×k. */
static void gemm(int ta, int tb, int64_t m64, int64_t n64, int64_t k64, const float *A,
                 const float *B, float beta, float *C) {
  const float one = 1.f;
  const int m = (int)m64, n = (int)n64, k = (int)k64;
  const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  sgemm_(tb ? "T" : "N", ta ? "T" : "N", &n, &m, &k, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* x̂ = (h − mean)·rstd of h = z + bias; returns rstd. */
static inline float normalize_row(const float *restrict z, const float *restrict bias,
                                  float *restrict xh, int64_t H, float eps) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < H; j++) {
    xh[j] = z[j] + bias[j];
    s += xh[j];
  }
  const float mean = s / (float)H;
  float v = 0.f;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < H; j++) v += (xh[j] - mean) * (xh[j] - mean);
  const float rstd = 1.f / sqrtf(v / (float)H + eps);
#pragma omp simd
  for (int64_t j = 0; j < H; j++) xh[j] = (xh[j] - mean) * rstd;
  return rstd;
}

/* dz of one row from dy (the gradient at the affine output, ReLU applied) and x̂; adds the
   row's terms to the gradients of bias (cb), g (cg) and beta (cbe). dz may alias dy. */
static inline void ln_backward_row(const float *restrict xh, const float *dy,
                                   const float *restrict g, float rstd, float *dz,
                                   float *restrict cb, float *restrict cg, float *restrict cbe,
                                   int64_t H) {
  float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < H; j++) {
    cbe[j] += dy[j];
    cg[j] += dy[j] * xh[j];
    s1 += dy[j] * g[j];
    s2 += dy[j] * g[j] * xh[j];
  }
  const float m1 = s1 / (float)H, m2 = s2 / (float)H;
#pragma omp simd
  for (int64_t j = 0; j < H; j++) {
    float v = rstd * (dy[j] * g[j] - m1 - xh[j] * m2);
    dz[j] = v;
    cb[j] += v;
  }
}

/* a = relu(g·LN(z + bias) + beta) for B rows of width H. */
static void ln_relu_rows(const float *z, const float *bias, const float *g, const float *beta,
                         float *a, int64_t B, int64_t H, float eps) {
  for (int64_t b = 0; b < B; b++) {
    float *ar = a + b * H;
    normalize_row(z + b * H, bias, ar, H, eps);
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
      float y = g[j] * ar[j] + beta[j];
      ar[j] = y > 0.f ? y : 0.f;
    }
  }
}

typedef struct {
  int64_t B, L; /* rows, hidden layers */
  const int64_t *dims; /* L + 2 widths: input, hidden..., 1 */
  const float *const *W, *const *bias, *const *g, *const *beta; /* L+1, L+1, L, L */
} Net;

/* Where member e starts in layer l's weight (in×out) or in one of its vectors (out). */
static size_t weight_offset(const Net *n, int64_t l, int64_t e) {
  return (size_t)e * n->dims[l] * n->dims[l + 1];
}
static size_t vector_offset(const Net *n, int64_t l, int64_t e) {
  return (size_t)e * n->dims[l + 1];
}

#define MAX_LAYERS 16

/* Where one thread's scratch buffers start, in floats: L pre-activations and L−1 activations
   (B × width), two gradient buffers (B × the widest hidden width) and one row; total: its size. */
typedef struct {
  int64_t z[MAX_LAYERS], a[MAX_LAYERS], d1, d2, row, total;
} Layout;

static Layout layout(int64_t B, int64_t L, const int64_t *dims) {
  Layout s;
  int64_t at = 0, hmax = 0;
  for (int64_t l = 0; l < L; l++) {
    const int64_t h = dims[l + 1];
    hmax = h > hmax ? h : hmax;
    s.z[l] = at;
    at += B * h;
    if (l < L - 1) {
      s.a[l] = at;
      at += B * h;
    }
  }
  s.d1 = at;
  s.d2 = at + B * hmax;
  s.row = at + 2 * B * hmax;
  s.total = s.row + hmax;
  return s;
}

/* Scratch floats one thread needs (−1 for an unsupported depth). */
int64_t maq_workspace_floats(int64_t B, int64_t L, const int64_t *dims) {
  return L < 1 || L > MAX_LAYERS ? -1 : layout(B, L, dims).total;
}

/* Forward of member e up to the last hidden pre-activation; z[l], a[l] point into scratch. */
static void forward_hidden(const Net *n, int64_t e, const float *x, float **z, float **a,
                           float eps) {
  const int64_t B = n->B, L = n->L;
  const float *in = x;
  for (int64_t l = 0; l < L; l++) {
    const int64_t di = n->dims[l], dout = n->dims[l + 1];
    gemm(0, 0, B, dout, di, in, n->W[l] + weight_offset(n, l, e), 0.f, z[l]);
    if (l < L - 1) {
      const size_t o = vector_offset(n, l, e);
      ln_relu_rows(z[l], n->bias[l] + o, n->g[l] + o, n->beta[l] + o, a[l], B, dout, eps);
      in = a[l];
    }
  }
}

static void carve(const Net *n, float *ws, float **z, float **a, float **d1, float **d2,
                  float **row) {
  const Layout s = layout(n->B, n->L, n->dims);
  for (int64_t l = 0; l < n->L; l++) {
    z[l] = ws + s.z[l];
    if (l < n->L - 1) a[l] = ws + s.a[l]; /* the last layer's activation is never stored */
  }
  *d1 = ws + s.d1;
  *d2 = ws + s.d2;
  *row = ws + s.row;
}

/* Q of one row from its last hidden pre-activation z: leaves x̂ in row and its rstd in *rstd. */
static inline float output_row(const float *restrict z, const float *restrict bias,
                               const float *restrict g, const float *restrict beta,
                               const float *restrict w, float c, float *restrict row, int64_t H,
                               float eps, float *rstd) {
  *rstd = normalize_row(z, bias, row, H, eps);
  float q = 0.f;
#pragma omp simd reduction(+ : q)
  for (int64_t j = 0; j < H; j++) {
    float v = g[j] * row[j] + beta[j];
    q += (v > 0.f ? v : 0.f) * w[j];
  }
  return q + c;
}

/* q (K, B) of the members listed in idx (K of them), for inputs x (B, in). Returns 0, or −1
   for an unsupported network, −2 for a member index out of range. */
int maq_ensemble_q(int64_t E, int64_t B, int64_t L, const int64_t *dims, const float *const *W,
                   const float *const *bias, const float *const *g, const float *const *beta,
                   const int64_t *idx, int64_t K, const float *x, float *q, float *work,
                   int64_t work_floats, float eps, int threads) {
  if (L < 1 || L > MAX_LAYERS || dims[L + 1] != 1) return -1;
  for (int64_t k = 0; k < K; k++)
    if (idx[k] < 0 || idx[k] >= E) return -2;
  const Net n = {B, L, dims, W, bias, g, beta};
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t k = 0; k < K; k++) {
    float *z[MAX_LAYERS], *a[MAX_LAYERS], *d1, *d2, *row;
    carve(&n, work + (size_t)omp_get_thread_num() * work_floats, z, a, &d1, &d2, &row);
    const int64_t e = idx[k], H = dims[L];
    forward_hidden(&n, e, x, z, a, eps);
    const size_t o = vector_offset(&n, L - 1, e);
    const float *bi = bias[L - 1] + o, *gr = g[L - 1] + o, *br = beta[L - 1] + o;
    const float *w = W[L] + weight_offset(&n, L, e), c = bias[L][e];
    float rstd;
    for (int64_t b = 0; b < B; b++)
      q[k * B + b] = output_row(z[L - 1] + b * H, bi, gr, br, w, c, row, H, eps, &rstd);
  }
  return 0;
}

/* One Adam step (torch.optim.Adam's update, no weight decay or AMSGrad) and optionally one
   Polyak step, applied by maq_ensemble_mse_grad to each member right after its gradients, while
   they are in cache. Arrays hold one pointer per parameter tensor in the order weights (L+1),
   biases (L+1), LayerNorm scales (L), LayerNorm shifts (L). */
typedef struct {
  float *const *params, *const *exp_avg, *const *exp_avg_sq;
  float *const *target; /* NULL: no Polyak step */
  float beta1, beta2, step_size, bias_correction2_sqrt, eps, tau;
} MaqAdam;

/* m ← m + (1−β1)·(g − m), v ← β2·v + (1−β2)·g², p ← p − step_size·m / (√v / √(1−β2^t) + eps)
   (torch's fused Adam in the same order), then target ← target + τ·(p − target). */
static void adam_polyak(const MaqAdam *o, float *restrict p, const float *restrict grad,
                        float *restrict m, float *restrict v, float *restrict target, size_t n) {
  const float b1 = o->beta1, b2 = o->beta2, lr = o->step_size, c2 = o->bias_correction2_sqrt;
  const float eps = o->eps, tau = o->tau;
  if (target) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
      const float mi = m[i] + (1.f - b1) * (grad[i] - m[i]);
      const float vi = b2 * v[i] + (1.f - b2) * grad[i] * grad[i];
      const float pi = p[i] - lr * mi / (sqrtf(vi) / c2 + eps);
      m[i] = mi;
      v[i] = vi;
      p[i] = pi;
      target[i] += tau * (pi - target[i]);
    }
    return;
  }
#pragma omp simd
  for (size_t i = 0; i < n; i++) {
    const float mi = m[i] + (1.f - b1) * (grad[i] - m[i]);
    const float vi = b2 * v[i] + (1.f - b2) * grad[i] * grad[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * mi / (sqrtf(vi) / c2 + eps);
  }
}

/* Adam (and Polyak) on member e's slice of every parameter tensor. */
static void member_adam(const Net *n, int64_t e, float *const *dW, float *const *dbias,
                        float *const *dg, float *const *dbeta, const MaqAdam *o) {
  const int64_t L = n->L;
  for (int64_t j = 0; j < 4 * L + 2; j++) {
    const int64_t l = j <= L ? j : j <= 2 * L + 1 ? j - (L + 1) : (j - 2 * (L + 1)) % L;
    const int is_weight = j <= L;
    const size_t size = is_weight ? (size_t)n->dims[l] * n->dims[l + 1] : (size_t)n->dims[l + 1];
    const size_t off = (size_t)e * size;
    const float *grad = j <= L             ? dW[l]
                        : j <= 2 * L + 1   ? dbias[l]
                        : j < 3 * L + 2    ? dg[l]
                                           : dbeta[l];
    adam_polyak(o, o->params[j] + off, grad + off, o->exp_avg[j] + off, o->exp_avg_sq[j] + off,
                o->target ? o->target[j] + off : NULL, size);
  }
}

/* Gradient of Σ_e mean_b (q_e(x_b) − y_b)² with respect to every parameter of every member,
   written to dW, dbias, dg, dbeta (same layouts as the parameters); qsum[e] = Σ_b q_e(x_b) and
   sqsum[e] = Σ_b (q_e(x_b) − y_b)². With adam (else NULL), each member's parameters then take
   their Adam (and Polyak) step. Each member is one thread's work from start to end; the matrix
   products inside run single-threaded (OpenMP nesting is off by default). */
int maq_ensemble_mse_grad(int64_t E, int64_t B, int64_t L, const int64_t *dims,
                          const float *const *W, const float *const *bias, const float *const *g,
                          const float *const *beta, const float *x, const float *y,
                          float *const *dW, float *const *dbias, float *const *dg,
                          float *const *dbeta, float *qsum, float *sqsum, float *work,
                          int64_t work_floats, float eps, int threads, const MaqAdam *adam) {
  if (L < 1 || L > MAX_LAYERS || dims[L + 1] != 1) return -1;
  const Net n = {B, L, dims, W, bias, g, beta};
  const float scale = 2.f / (float)B;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t e = 0; e < E; e++) {
    float *z[MAX_LAYERS], *a[MAX_LAYERS], *d1, *d2, *row;
    carve(&n, work + (size_t)omp_get_thread_num() * work_floats, z, a, &d1, &d2, &row);
    forward_hidden(&n, e, x, z, a, eps);
    /* the last hidden layer, the output layer and the loss, row by row */
    const int64_t H = dims[L];
    size_t o = vector_offset(&n, L - 1, e);
    const float *bi = bias[L - 1] + o, *gr = g[L - 1] + o, *br = beta[L - 1] + o;
    const float *w = W[L] + weight_offset(&n, L, e), c = bias[L][e];
    float *cb = dbias[L - 1] + o, *cg = dg[L - 1] + o, *cbe = dbeta[L - 1] + o;
    float *cw = dW[L] + weight_offset(&n, L, e), *cc = dbias[L] + e;
    memset(cb, 0, H * sizeof(float));
    memset(cg, 0, H * sizeof(float));
    memset(cbe, 0, H * sizeof(float));
    memset(cw, 0, H * sizeof(float));
    float qs = 0.f, sq = 0.f, dcs = 0.f;
    for (int64_t b = 0; b < B; b++) {
      float rstd;
      const float q = output_row(z[L - 1] + b * H, bi, gr, br, w, c, row, H, eps, &rstd);
      const float err = q - y[b], dq = scale * err;
      qs += q;
      sq += err * err;
      dcs += dq;
      float *dy = d1 + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; j++) {
        float v = gr[j] * row[j] + br[j];
        cw[j] += v > 0.f ? dq * v : 0.f;
        dy[j] = v > 0.f ? dq * w[j] : 0.f;
      }
      ln_backward_row(row, dy, gr, rstd, dy, cb, cg, cbe, H);
    }
    *cc = dcs;
    qsum[e] = qs;
    sqsum[e] = sq;
    /* back through the hidden layers: d1 holds dL/dz of layer l */
    for (int64_t l = L - 1; l >= 0; l--) {
      const int64_t di = dims[l], dout = dims[l + 1];
      const float *in = l == 0 ? x : a[l - 1];
      gemm(1, 0, di, dout, B, in, d1, 0.f, dW[l] + weight_offset(&n, l, e));
      if (l == 0) break;
      gemm(0, 1, B, di, dout, d1, W[l] + weight_offset(&n, l, e), 0.f, d2);
      o = vector_offset(&n, l - 1, e);
      const float *bl = bias[l - 1] + o, *gl = g[l - 1] + o, *bel = beta[l - 1] + o;
      float *pb = dbias[l - 1] + o, *pg = dg[l - 1] + o, *pbe = dbeta[l - 1] + o;
      memset(pb, 0, di * sizeof(float));
      memset(pg, 0, di * sizeof(float));
      memset(pbe, 0, di * sizeof(float));
      for (int64_t b = 0; b < B; b++) {
        const float rstd = normalize_row(z[l - 1] + b * di, bl, row, di, eps);
        float *dr = d2 + b * di;
#pragma omp simd
        for (int64_t j = 0; j < di; j++) dr[j] = (gl[j] * row[j] + bel[j]) > 0.f ? dr[j] : 0.f;
        ln_backward_row(row, dr, gl, rstd, dr, pb, pg, pbe, di);
      }
      float *t = d1;
      d1 = d2;
      d2 = t;
    }
    if (adam) member_adam(&n, e, dW, dbias, dg, dbeta, adam);
  }
  return 0;
}
