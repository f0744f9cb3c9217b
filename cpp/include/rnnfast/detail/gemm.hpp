// The one narrow interface every matrix product in rnnfast goes through.
//
// Row-major GEMM: C = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ.
// The backend is chosen at compile time:
//   RNNFAST_USE_CBLAS      defined: a CBLAS (OpenBLAS from scipy-openblas32 in the Python wheel; any CBLAS in C++).
//   RNNFAST_CBLAS_PREFIX   the symbol prefix of that CBLAS (scipy-openblas32 exports `scipy_cblas_sgemm`).
// Without RNNFAST_USE_CBLAS, Eigen's own product is the portable fallback.
// Every product runs on its calling thread (OpenBLAS is held to one thread); a team of rnnfast's threads shares
// a large product by cutting it into one product per thread.
#pragma once

#include <Eigen/Core>
#include <cstddef>

#include "rnnfast/detail/parallel.hpp"

namespace rnnfast {

using Index = std::ptrdiff_t;

namespace linalg {

enum class Op { none, transpose };

#ifdef RNNFAST_USE_CBLAS
#ifndef RNNFAST_CBLAS_PREFIX
#define RNNFAST_CBLAS_PREFIX
#endif
#define RNNFAST_CONCAT_(a, b) a##b
#define RNNFAST_CONCAT(a, b) RNNFAST_CONCAT_(a, b)
#define RNNFAST_CBLAS(name) RNNFAST_CONCAT(RNNFAST_CBLAS_PREFIX, name)

extern "C" {
// CBLAS enum values (row major = 101, no-trans = 111, trans = 112) are fixed by the CBLAS standard.
void RNNFAST_CBLAS(cblas_sgemm)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
void RNNFAST_CBLAS(cblas_dgemm)(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                                const double* a, int lda, const double* b, int ldb, double beta, double* c,
                                int ldc);
void RNNFAST_CBLAS(cblas_sgemv)(int order, int trans, int m, int n, float alpha, const float* a, int lda,
                                const float* x, int incx, float beta, float* y, int incy);
void RNNFAST_CBLAS(cblas_dgemv)(int order, int trans, int m, int n, double alpha, const double* a, int lda,
                                const double* x, int incx, double beta, double* y, int incy);

#ifdef RNNFAST_OPENBLAS
void RNNFAST_CBLAS(openblas_set_num_threads)(int n);
#endif
}

namespace detail {
inline int cblas_op(Op op) { return op == Op::none ? 111 : 112; }
// rnnfast's pool decides how many cores work; OpenBLAS's own pool would fight it for them.
inline void blas_single_threaded() {
#ifdef RNNFAST_OPENBLAS
  static const bool done = (RNNFAST_CBLAS(openblas_set_num_threads)(1), true);
  (void)done;
#endif
}
inline void blas_gemm(Op ta, Op tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                      int ldb, float beta, float* c, int ldc) {
  RNNFAST_CBLAS(cblas_sgemm)(101, cblas_op(ta), cblas_op(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_gemm(Op ta, Op tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                      int ldb, double beta, double* c, int ldc) {
  RNNFAST_CBLAS(cblas_dgemm)(101, cblas_op(ta), cblas_op(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_gemv(Op t, int m, int n, float alpha, const float* a, int lda, const float* x, float beta,
                      float* y) {
  RNNFAST_CBLAS(cblas_sgemv)(101, cblas_op(t), m, n, alpha, a, lda, x, 1, beta, y, 1);
}
inline void blas_gemv(Op t, int m, int n, double alpha, const double* a, int lda, const double* x, double beta,
                      double* y) {
  RNNFAST_CBLAS(cblas_dgemv)(101, cblas_op(t), m, n, alpha, a, lda, x, 1, beta, y, 1);
}
}  // namespace detail
#endif

namespace detail {
template <class T>
using ConstStrided =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
template <class T>
using Strided = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;

template <class T, class A, class B>
void eigen_accumulate(const A& a, const B& b, T alpha, T beta, Strided<T>& c) {
  if (beta == T(0)) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

template <class T>
void eigen_gemm(Op ta, Op tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb,
                T beta, T* c, Index ldc) {
  Strided<T> cm(c, m, n, Eigen::OuterStride<>(ldc));
  ConstStrided<T> am(a, ta == Op::none ? m : k, ta == Op::none ? k : m, Eigen::OuterStride<>(lda));
  ConstStrided<T> bm(b, tb == Op::none ? k : n, tb == Op::none ? n : k, Eigen::OuterStride<>(ldb));
  if (ta == Op::none && tb == Op::none) eigen_accumulate(am, bm, alpha, beta, cm);
  else if (ta == Op::none) eigen_accumulate(am, bm.transpose(), alpha, beta, cm);
  else if (tb == Op::none) eigen_accumulate(am.transpose(), bm, alpha, beta, cm);
  else eigen_accumulate(am.transpose(), bm.transpose(), alpha, beta, cm);
}
}  // namespace detail

// C (m×n, leading dimension ldc) = alpha · op(A) · op(B) + beta · C, all row-major.
// op(A) is m×k, op(B) is k×n. beta == 0 never reads C (C may hold garbage or NaN).
template <class T>
void gemm(Op ta, Op tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb, T beta,
          T* c, Index ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    detail::Strided<T> cm(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == T(0)) cm.setZero();
    else cm *= beta;
    return;
  }
#ifdef RNNFAST_USE_CBLAS
  detail::blas_single_threaded();
  if (m == 1 && ta == Op::none) {
    // One row (batch 1): a matrix-vector product. BLAS GEMM has a large fixed cost for such shapes.
    // c (1×n) = a (1×k) · op(B): with B stored k×n that is Bᵀ·a, with B stored n×k (op = transpose) it is B·a.
    if (tb == Op::none)
      detail::blas_gemv(Op::transpose, static_cast<int>(k), static_cast<int>(n), alpha, b, static_cast<int>(ldb),
                        a, beta, c);
    else
      detail::blas_gemv(Op::none, static_cast<int>(n), static_cast<int>(k), alpha, b, static_cast<int>(ldb), a,
                        beta, c);
    return;
  }
  detail::blas_gemm(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
                    static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
#else
  detail::eigen_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

// The same product shared by a team: each thread computes its share of the rows of C, or of its columns when C
// is wider than tall. Two calls with the same m and n split C the same way, so one may accumulate onto the other
// without a barrier in between. The caller syncs the team before anyone reads C.
template <class T>
void gemm(const Team& team, Op ta, Op tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
          Index ldb, T beta, T* c, Index ldc) {
  if (team.size() == 1) return gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (m >= n) {
    const auto [r0, r1] = team.share(m);
    gemm(ta, tb, r1 - r0, n, k, alpha, ta == Op::none ? a + r0 * lda : a + r0, lda, b, ldb, beta, c + r0 * ldc, ldc);
  } else {
    const auto [c0, c1] = team.share(n);
    gemm(ta, tb, m, c1 - c0, k, alpha, a, lda, tb == Op::none ? b + c0 : b + c0 * ldb, ldb, beta, c + c0, ldc);
  }
}

// Name of the active backend, for diagnostics and benchmarks.
inline const char* gemm_backend() {
#if defined(RNNFAST_OPENBLAS)
  return "openblas";
#elif defined(RNNFAST_USE_CBLAS)
  return "cblas";
#else
  return "eigen";
#endif
}

}  // namespace linalg
}  // namespace rnnfast
