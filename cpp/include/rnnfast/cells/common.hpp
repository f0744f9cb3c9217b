// What every cell shares: weight views, the per-step views the sequence driver hands to a cell, and the
// post-loop weight-gradient products.
//
// Layouts (all row-major, Keras order): kernel D × G·H, recurrent_kernel H × G·H, bias G·H (GRU with
// reset_after: 2 × 3H, input row then recurrent row). A "block" is the B rows of one time step: row r of a block
// starts at data + r * ld, so a step's rows may be strided inside a whole-sequence array.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "rnnfast/gemm.hpp"

namespace rnnfast {

template <class T>
struct CellWeights {
  const T* kernel = nullptr;            // D × G·H
  const T* recurrent_kernel = nullptr;  // H × G·H
  const T* bias = nullptr;              // G·H (GRU reset_after: 2 × 3H)
};

template <class T>
struct CellGrads {
  T* kernel = nullptr;
  T* recurrent_kernel = nullptr;
  T* bias = nullptr;  // accumulated by the backward steps; zeroed by the driver
};

// One forward time step. The cell computes the recurrent product(s) itself (some cells need two per step).
template <class T>
struct StepForward {
  Index batch = 0;
  const T* xw = nullptr;  // x·W without bias
  Index ld_xw = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  const T* c_prev = nullptr;  // cells with a cell state only
  Index ld_c_prev = 0;
  T* h = nullptr;  // new state, written for every row (rows past their length copy h_prev)
  Index ld_h = 0;
  T* c = nullptr;
  Index ld_c = 0;
  T* saved = nullptr;  // what backward needs, Cell::saved_width() per row (at inference: scratch)
  Index ld_saved = 0;
  const std::uint8_t* active = nullptr;  // per row: 1 while the sequence runs; nullptr = all rows active
};

// One backward time step, in reverse order.
template <class T>
struct StepBackward {
  Index batch = 0;
  const T* saved = nullptr;
  Index ld_saved = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  const T* c_prev = nullptr;
  Index ld_c_prev = 0;
  const T* c = nullptr;  // c_t, the cell state this step produced
  Index ld_c = 0;
  const T* dh = nullptr;  // batch × H, dL/dh_t (contiguous)
  T* dc = nullptr;        // batch × H, in: dL/dc_t, out: dL/dc_{t-1}
  T* dh_prev = nullptr;   // batch × H, out: dL/dh_{t-1}
  T* da = nullptr;        // pre-activation gradients, Cell::da_width() per row (zeros for inactive rows)
  Index ld_da = 0;
  T* scratch = nullptr;  // batch × Cell::scratch_width()
  const std::uint8_t* active = nullptr;
};

// Everything the post-loop products need: whole-sequence matrices of n_rows rows, each in the same row order.
template <class T>
struct SequenceMatrices {
  Index rows = 0;
  const T* x = nullptr;       // rows × D
  const T* h_prev = nullptr;  // rows × H
  const T* saved = nullptr;   // rows × saved_width
  const T* da = nullptr;      // rows × da_width
  T* dx = nullptr;            // rows × D (nullptr: not wanted)
};

namespace detail {

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

inline bool row_active(const std::uint8_t* active, Index r) { return active == nullptr || active[r] != 0; }

template <class T>
void copy_row(const T* from, T* to, Index n) {
  std::copy(from, from + n, to);
}

// out[r] = dh[r] for rows that did not run: their state passed through the step unchanged.
template <class T>
void pass_inactive_gradient(const StepBackward<T>& s, Index units) {
  if (s.active == nullptr) return;
  for (Index r = 0; r < s.batch; ++r)
    if (!s.active[r]) copy_row(s.dh + r * units, s.dh_prev + r * units, units);
}

// The per-step recurrent product: out (batch × n) = h (batch × units) · U[:, 0:n), U of row length ld_u.
template <class T>
void recurrent_product(Index batch, Index units, Index n, const T* h, Index ld_h, const T* u, Index ld_u, T* out,
                       Index ld_out) {
  linalg::gemm(linalg::Op::none, linalg::Op::none, batch, n, units, T(1), h, ld_h, u, ld_u, T(0), out, ld_out);
}

// Its backward: dh (batch × units, contiguous) = dA[:, 0:n) · U[:, 0:n)ᵀ.
template <class T>
void recurrent_product_backward(Index batch, Index units, Index n, const T* da, Index ld_da, const T* u, Index ld_u,
                                T* dh) {
  linalg::gemm(linalg::Op::none, linalg::Op::transpose, batch, units, n, T(1), da, ld_da, u, ld_u, T(0), dh, units);
}

// Accumulate the pre-activation gradient of one row into the bias gradient.
template <class T>
void add_row(T* acc, const T* row, Index n) {
  Vec<T>(acc, n) += CVec<T>(row, n);
}

// dW[:, cols) (+)= Xᵀ · dA[:, da_cols) over all rows; ld's are the full widths of each matrix.
template <class T>
void accumulate_at_b(Index rows, Index m, Index n, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                     T beta = T(0)) {
  linalg::gemm(linalg::Op::transpose, linalg::Op::none, m, n, rows, T(1), a, lda, b, ldb, beta, c, ldc);
}

}  // namespace detail
}  // namespace rnnfast

namespace rnnfast::detail {

// The usual post-loop products when dA (rows × G·H) feeds all of W and U: dW = Xᵀ·dA, dU = H_prevᵀ·dA,
// dX = dA·Wᵀ. Three large GEMMs over every step at once.
template <class T>
void dense_weight_grads(const SequenceMatrices<T>& m, Index input_size, Index units, Index width,
                        const CellWeights<T>& w, const CellGrads<T>& g) {
  accumulate_at_b(m.rows, input_size, width, m.x, input_size, m.da, width, g.kernel, width);
  accumulate_at_b(m.rows, units, width, m.h_prev, units, m.da, width, g.recurrent_kernel, width);
  if (m.dx != nullptr)
    linalg::gemm(linalg::Op::none, linalg::Op::transpose, m.rows, input_size, width, T(1), m.da, width, w.kernel,
                 width, T(0), m.dx, input_size);
}

}  // namespace rnnfast::detail
