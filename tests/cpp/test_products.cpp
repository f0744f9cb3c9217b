// The large products after a backward loop (detail::large_products on linalg::gemm_packing) against a plain
// double-precision triple loop: every transpose, one and two left operands sharing B, accumulate or not, row and
// column counts that are not multiples of the tiles, depths past one kc block, widths past one nc block, strided
// operands, and a team of two threads against one.
#include <cmath>
#include <random>
#include <string>
#include <vector>

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

}  // namespace

int main() {
  check_all<double>(1e-13);
  check_all<float>(2e-6);
  rnnfast::set_num_threads(1);
  if (g_failures == 0) std::printf("all product checks passed\n");
  return g_failures == 0 ? 0 : 1;
}
