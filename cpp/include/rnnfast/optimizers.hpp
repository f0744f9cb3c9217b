// Parameter updates of the optimisers, as Keras 3 defines them, fused: one pass over each parameter reads its
// gradient once, clips it, updates the slots and the parameter in place.
//
//   SGD:      m ← μ·m − lr·g;  p ← p + μ·m − lr·g (Nesterov) or p ← p + m;  without momentum p ← p − lr·g
//   RMSprop:  v ← ρ·v + (1−ρ)·g²;  centred: a ← ρ·a + (1−ρ)·g, d = v − a² + ε, else d = v + ε;
//             δ = lr·g/√d;  with momentum m ← μ·m + δ, p ← p − m;  else p ← p − δ
//   Adam:     m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v);  AMSGrad: v̂ ← max(v̂, v) used for v;
//             p ← p − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε)         (t = the step, counted from 1)
// Gradient clipping, as Keras: clipnorm scales each gradient to an L2 norm of at most clipnorm; else
// global_clipnorm scales all of them by one factor so that their joint norm is at most global_clipnorm; else
// clipvalue clips each element to [−clipvalue, clipvalue]. (0 = off.)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace rnnfast::optim {

using Index = std::ptrdiff_t;

enum class Kind { sgd, rmsprop, adam };

struct Settings {
  Kind kind = Kind::sgd;
  double learning_rate = 0.01;
  double momentum = 0.0;  // SGD, RMSprop
  bool nesterov = false;  // SGD
  double rho = 0.9;       // RMSprop
  bool centered = false;  // RMSprop
  double beta_1 = 0.9, beta_2 = 0.999;  // Adam
  bool amsgrad = false;                 // Adam
  double epsilon = 1e-7;                // RMSprop, Adam
  double clipnorm = 0.0, global_clipnorm = 0.0, clipvalue = 0.0;
};

// How many slot arrays (each the size of the parameter) an optimiser keeps per parameter.
inline int slot_count(const Settings& s) {
  switch (s.kind) {
    case Kind::sgd: return s.momentum > 0 ? 1 : 0;
    case Kind::rmsprop: return 1 + (s.momentum > 0 ? 1 : 0) + (s.centered ? 1 : 0);
    case Kind::adam: return s.amsgrad ? 3 : 2;
  }
  return 0;
}

// One parameter: its values, its gradient, and slot_count() slot arrays, all of n values.
template <class T>
struct Parameter {
  T* value = nullptr;
  const T* grad = nullptr;
  Index n = 0;
  T* slots[3] = {nullptr, nullptr, nullptr};
};

namespace detail {
template <class T>
double squared_norm(const T* g, Index n) {
  double s = 0;
  for (Index i = 0; i < n; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return s;
}
}  // namespace detail

// Applies one step (t >= 1: this is the t-th update) to every parameter.
template <class T>
void apply(const Settings& s, long long t, const std::vector<Parameter<T>>& params) {
  if (t < 1) throw std::invalid_argument("rnnfast: the optimiser step must be >= 1");
  // The clipping factor of each parameter (norms are taken in double, as the sums can be long).
  std::vector<double> scale(params.size(), 1.0);
  if (s.clipnorm > 0) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      const double norm = std::sqrt(detail::squared_norm(params[k].grad, params[k].n));
      scale[k] = s.clipnorm / std::max(norm, s.clipnorm);
    }
  } else if (s.global_clipnorm > 0) {
    double total = 0;
    for (const auto& p : params) total += detail::squared_norm(p.grad, p.n);
    std::fill(scale.begin(), scale.end(), s.global_clipnorm / std::max(std::sqrt(total), s.global_clipnorm));
  }
  const bool clip_values = !(s.clipnorm > 0) && !(s.global_clipnorm > 0) && s.clipvalue > 0;
  const T lr = static_cast<T>(s.learning_rate), mu = static_cast<T>(s.momentum), eps = static_cast<T>(s.epsilon);
  const T rho = static_cast<T>(s.rho), b1 = static_cast<T>(s.beta_1), b2 = static_cast<T>(s.beta_2);
  const T cv = static_cast<T>(s.clipvalue);
  // Adam's bias corrections, folded into its step size.
  const T adam_lr = static_cast<T>(s.learning_rate * std::sqrt(1.0 - std::pow(s.beta_2, static_cast<double>(t))) /
                                   (1.0 - std::pow(s.beta_1, static_cast<double>(t))));
  for (std::size_t k = 0; k < params.size(); ++k) {
    const Parameter<T>& p = params[k];
    const T c = static_cast<T>(scale[k]);
    // The kind is chosen outside the loop over the values, so that each loop is a plain vectorisable one.
    auto each = [&](auto&& update) {
      for (Index i = 0; i < p.n; ++i) {
        T g = p.grad[i] * c;
        if (clip_values) g = std::min(std::max(g, -cv), cv);
        update(i, g, p.value[i]);
      }
    };
    switch (s.kind) {
      case Kind::sgd:
        if (!(mu > 0)) each([&](Index, T g, T& w) { w -= lr * g; });
        else if (s.nesterov)
          each([&](Index i, T g, T& w) {
            T& m = p.slots[0][i];
            m = mu * m - lr * g;
            w += mu * m - lr * g;
          });
        else
          each([&](Index i, T g, T& w) {
            T& m = p.slots[0][i];
            m = mu * m - lr * g;
            w += m;
          });
        break;
      case Kind::rmsprop:
        each([&](Index i, T g, T& w) {
          T& v = p.slots[0][i];
          v = rho * v + (T(1) - rho) * g * g;
          T denominator = v + eps;
          if (s.centered) {
            T& a = p.slots[mu > 0 ? 2 : 1][i];
            a = rho * a + (T(1) - rho) * g;
            denominator = v - a * a + eps;
          }
          const T increment = lr * g / std::sqrt(denominator);
          if (mu > 0) {
            T& m = p.slots[1][i];
            m = mu * m + increment;
            w -= m;
          } else {
            w -= increment;
          }
        });
        break;
      case Kind::adam:
        each([&](Index i, T g, T& w) {
          T& m = p.slots[0][i];
          T& v = p.slots[1][i];
          m += (T(1) - b1) * (g - m);
          v += (T(1) - b2) * (g * g - v);
          T v_used = v;
          if (s.amsgrad) {
            T& v_hat = p.slots[2][i];
            v_hat = std::max(v_hat, v);
            v_used = v_hat;
          }
          w -= adam_lr * m / (std::sqrt(v_used) + eps);
        });
        break;
    }
  }
}

}  // namespace rnnfast::optim
