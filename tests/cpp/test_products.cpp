// The large products after a backward loop (detail::large_products on linalg::gemm_packing) against a plain
// double-precision triple loop: every transpose, one and two left operands sharing B, accumulate or not, row and
// column counts that are not multiples of the tiles, depths past one kc block, widths past one nc block, strided
// operands, and a team of two threads against one. Also the per-step product on a packed B (linalg::gemm_packed):
// batch rows past and within a tile, panel ranges that start past the first panel and end on a partial panel,
// single panels left after the pairs of the two-panel tile, and the columns outside the range left untouched.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rnnfast/detail/cells/common/products.hpp"
#include "rnnfast/rnnfast.hpp"
#include "test_support.hpp"

namespace {

using rnnfast::Index;
using rnnfast::linalg::Op;

template <class T>
std::vector<T> random_matrix(Index n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

// worst = max(worst, error), a NaN error counting as infinite (std::max would drop it).
void note(double& worst, double error) { worst = std::max(worst, std::isnan(error) ? HUGE_VAL : error); }

struct Shape {
  Index m0, m1, n, k;  // m1 = 0: one left operand
};

// C_i = op(A_i)·op(B) (+ C_i's old values when accumulating), each operand stored with a row stride `pad` past
// its width, run by a team of `threads`.
template <class T>
void check_shape(const Shape& s, Op ta, Op tb, bool accumulate, int threads, double tolerance) {
  const Index pad = 3;
  const int count = s.m1 > 0 ? 2 : 1;
  const Index ms[2] = {s.m0, s.m1};
  // op(A_i) is m × k: stored m × k, or k × m when transposed.
  std::vector<std::vector<T>> a(2), c(2), c_old(2);
  Index lda[2], ldc = s.n + pad;
  for (int i = 0; i < count; ++i) {
    lda[i] = (ta == Op::none ? s.k : ms[i]) + pad;
    a[i] = random_matrix<T>((ta == Op::none ? ms[i] : s.k) * lda[i], 10 + i);
    c[i] = random_matrix<T>(ms[i] * ldc, 20 + i);
    c_old[i] = c[i];
  }
  const Index ldb = (tb == Op::none ? s.n : s.k) + pad;
  const auto b = random_matrix<T>((tb == Op::none ? s.k : s.n) * ldb, 30);

  rnnfast::linalg::LeftOperand<T> left[2];
  for (int i = 0; i < count; ++i) left[i] = {a[i].data(), lda[i], ms[i], c[i].data(), ldc};
  rnnfast::set_num_threads(threads);
  rnnfast::ThreadPool::global().run(threads, [&](const rnnfast::Team& team) {
    rnnfast::detail::large_products(team, ta, tb, left, count, s.n, s.k, b.data(), ldb, accumulate);
  });

  double worst = 0;
  for (int i = 0; i < count; ++i)
    for (Index r = 0; r < ms[i]; ++r) {
      for (Index j = 0; j < s.n; ++j) {
        double want = accumulate ? static_cast<double>(c_old[i][r * ldc + j]) : 0.0;
        for (Index p = 0; p < s.k; ++p) {
          const double av = ta == Op::none ? a[i][r * lda[i] + p] : a[i][p * lda[i] + r];
          const double bv = tb == Op::none ? b[p * ldb + j] : b[j * ldb + p];
          want += av * bv;
        }
        note(worst, std::abs(want - static_cast<double>(c[i][r * ldc + j])) / (1.0 + std::sqrt(s.k)));
      }
      for (Index j = s.n; j < ldc; ++j)  // the padding past each row stays untouched
        note(worst, c[i][r * ldc + j] == c_old[i][r * ldc + j] ? 0.0 : HUGE_VAL);
    }
  check(worst <= tolerance, "large_products " + std::string(sizeof(T) == 4 ? "float" : "double") + " m=" +
                                std::to_string(s.m0) + "+" + std::to_string(s.m1) + " n=" + std::to_string(s.n) +
                                " k=" + std::to_string(s.k) + " ta=" + std::to_string(ta == Op::transpose) +
                                " tb=" + std::to_string(tb == Op::transpose) + " acc=" + std::to_string(accumulate) +
                                " threads=" + std::to_string(threads) + ": error " + std::to_string(worst));
}

template <class T>
void check_all(double tolerance) {
  using S = rnnfast::linalg::PanelShape<T>;
  const Index nr = S::nr;
  const Shape shapes[] = {
      {1, 0, 1, 1},
      {7, 0, 5, 3},
      {13, 5, 2 * nr + 3, 2 * S::kc + 17},  // depth past two kc blocks, a partial last panel
      {200, 0, 37, 300},                    // rows past one mc block (24 tiles)
      {11, 29, 64 * nr + nr + 1, 40},       // width past one nc block (64 panels)
      {11, 29, 128 * nr + nr + 1, 9},       // and on each thread of a team of two
      {150, 40, 20, 300},                   // two operands taller than wide: rows shared, not columns
      {6, 6, nr, S::kc},                    // exact tiles
  };
  for (const auto& s : shapes)
    for (Op ta : {Op::none, Op::transpose})
      for (Op tb : {Op::none, Op::transpose})
        for (bool accumulate : {false, true})
          for (int threads : {1, 2}) check_shape<T>(s, ta, tb, accumulate, threads, tolerance);
}

// C[:, p0·nr : min(p1·nr, n)) (+)= A (m × k) · B (k × n), B packed; every other value of C stays as it was.
template <class T>
void check_packed(Index m, Index n, Index k, Index p0, Index p1, bool accumulate, double tolerance) {
  using S = rnnfast::linalg::PanelShape<T>;
  const Index pad = 3, lda = k + pad, ldc = n + pad;
  const auto a = random_matrix<T>(m * lda, 40), b = random_matrix<T>(k * n, 41);
  auto c = random_matrix<T>(m * ldc + S::nr, 42);  // one panel's width of slack past the end, to see overruns
  const auto c_old = c;
  std::vector<T, Eigen::aligned_allocator<T>> packed(static_cast<std::size_t>(S::packed_size(k, n)));
  rnnfast::linalg::pack_panels(b.data(), n, false, k, n, 0, S::panels(n), packed.data());
  const rnnfast::linalg::PackedMatrix<T> pb{packed.data(), k, n};
  rnnfast::linalg::gemm_packed(m, a.data(), lda, pb, p0, p1, c.data(), ldc, accumulate);

  const Index j0 = p0 * S::nr, j1 = std::min(p1 * S::nr, n);
  double worst = 0;
  for (Index r = 0; r < m; ++r)
    for (Index j = 0; j < ldc; ++j) {
      const double old = c_old[r * ldc + j], got = c[r * ldc + j];
      if (j < j0 || j >= j1) {
        note(worst, got == old ? 0.0 : HUGE_VAL);
        continue;
      }
      double want = accumulate ? old : 0.0;
      for (Index p = 0; p < k; ++p) want += static_cast<double>(a[r * lda + p]) * b[p * n + j];
      note(worst, std::abs(want - got) / (1.0 + std::sqrt(k)));
    }
  for (Index i = m * ldc; i < m * ldc + S::nr; ++i) note(worst, c[i] == c_old[i] ? 0.0 : HUGE_VAL);
  check(worst <= tolerance, "gemm_packed " + std::string(sizeof(T) == 4 ? "float" : "double") + " m=" +
                                std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                " panels=[" + std::to_string(p0) + "," + std::to_string(p1) + ") acc=" +
                                std::to_string(accumulate) + ": error " + std::to_string(worst));
}

template <class T>
void check_packed_all(double tolerance) {
  using S = rnnfast::linalg::PanelShape<T>;
  const Index nr = S::nr;
  for (Index m : {1, 2, 5, 6, 7, 13})
    for (Index n : {Index(3), nr, 2 * nr + 3, 3 * nr, 4 * nr + 1})
      for (Index k : {Index(1), Index(40), S::kc + 17})
        for (bool accumulate : {false, true}) {
          const Index panels = S::panels(n);
          check_packed<T>(m, n, k, 0, panels, accumulate, tolerance);
          if (panels > 1) check_packed<T>(m, n, k, 1, panels, accumulate, tolerance);  // a team's later share
          if (panels > 2) check_packed<T>(m, n, k, 0, panels - 1, accumulate, tolerance);
        }
}

}  // namespace

int main() {
  check_all<double>(1e-13);
  check_all<float>(2e-6);
  check_packed_all<double>(1e-13);
  check_packed_all<float>(2e-6);
  rnnfast::set_num_threads(1);
  if (g_failures == 0) std::printf("all product checks passed\n");
  return g_failures == 0 ? 0 : 1;
}
