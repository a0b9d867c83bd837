// The fused CPU bodies of LAMB, LARS and Adafactor, written by hand (see handwritten.py).
//
// Each method needs per-tensor norms before it can move the tensor, so a step is two
// passes per tensor: one that advances the state and sums every square the norms need,
// one that moves θ. The squares go into kLanes independent accumulators (a few vector
// registers) inside a block, and the blocks add up in double. Both passes are parallel
// over elements (at::parallel_for / parallel_reduce: torch's threads).
//
// The arithmetic is the multi-tensor body's, operation by operation, in the tensors'
// dtype (float or double), built without contraction into fused multiply-adds; only the
// order of the additions in a norm differs. A choice inside a loop is made between
// values already loaded, so that it vectorizes as a blend.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kLanes = 16;       // independent partial sums per norm
constexpr int64_t kBlock = 2048;     // elements summed in the dtype before going to double
constexpr int64_t kGrain = 1 << 15;  // elements per parallel task

using Pair = std::array<double, 2>;

// Σᵢ a(i) and Σᵢ b(i) over [0, n), where f(i, a, b) adds element i's terms to a and b.
template <typename T, typename F>
Pair sums(int64_t n, const F& f) {
  auto part = [&](int64_t begin, int64_t end, Pair total) {
    const F term = f;  // a local copy: its pointers stay in registers through the loop
    for (int64_t start = begin; start < end; start += kBlock) {
      const int64_t stop = std::min(end, start + kBlock);
      T a[kLanes] = {}, b[kLanes] = {};
      int64_t i = start;
      for (; i + kLanes <= stop; i += kLanes) {
#pragma omp simd
        for (int64_t l = 0; l < kLanes; ++l) term(i + l, a[l], b[l]);
      }
      for (; i < stop; ++i) term(i, a[0], b[0]);
      T sa = 0, sb = 0;
      for (int64_t l = 0; l < kLanes; ++l) {
        sa += a[l];
        sb += b[l];
      }
      total[0] += sa;
      total[1] += sb;
    }
    return total;
  };
  return at::parallel_reduce(
      0, n, kGrain, Pair{0, 0},
      [&](int64_t begin, int64_t end, Pair ident) { return part(begin, end, ident); },
      [](Pair x, Pair y) { return Pair{x[0] + y[0], x[1] + y[1]}; });
}

// f(i) for every i in [0, n).
template <typename F>
void each(int64_t n, const F& f) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    const F step = f;  // a local copy: its pointers stay in registers through the loop
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) step(i);
  });
}

// torch.lerp's formula: s + w (e − s) for |w| < 0.5, else e − (e − s)(1 − w).
template <typename T>
inline T lerp(T start, T end, T weight) {
  return std::abs(weight) < T(0.5) ? start + weight * (end - start)
                                   : end - (end - start) * (T(1) - weight);
}

// numerator / denominator where both are positive, else 1 (lars.trust_ratio).
template <typename T>
inline T trust_ratio(T numerator, T denominator) {
  return numerator > T(0) && denominator > T(0) ? numerator / denominator : T(1);
}

template <typename T>
inline T root(double sum_of_squares) {
  return static_cast<T>(std::sqrt(sum_of_squares));
}

void check_cpu(const torch::Tensor& tensor) {
  TORCH_CHECK(tensor.device().is_cpu() && tensor.is_contiguous(),
              "handwritten bodies take contiguous CPU tensors");
}

// Written through its data pointer: counted as an in-place change, as torch's own
// in-place ops count it, so that autograd refuses a graph that saved the old values.
void written(const std::vector<torch::Tensor>& tensors) {
  for (const auto& tensor : tensors) torch::autograd::impl::bump_version(tensor);
}

// ---- LAMB -------------------------------------------------------------------------------

template <typename T>
void lamb_tensor(T* __restrict x, const T* __restrict g, T* __restrict m, T* __restrict v,
                 int64_t n, double lr, double c1, double c2, double beta1, double beta2,
                 double eps, double decay, bool bounded, double low, double high) {
  const T w1 = T(1 - beta1), b2 = T(beta2), w2 = T(1 - beta2), fc1 = T(c1), fc2 = T(c2);
  const T feps = T(eps), fdecay = T(decay);
  // r + λx of the advanced moments; a function of values, so that every load happens
  // unconditionally and the choice vectorizes as a blend.
  auto direction = [=](T mi, T vi, T xi) {
    const T r = (mi / fc1) / (std::sqrt(vi / fc2) + feps);
    return fdecay != T(0) ? r + fdecay * xi : r;
  };
  const Pair squares = sums<T>(n, [=](int64_t i, T& xx, T& rr) {
    const T gi = g[i], xi = x[i];
    const T mi = lerp(m[i], gi, w1), vi = v[i] * b2 + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const T r = direction(mi, vi, xi);
    xx += xi * xi;
    rr += r * r;
  });
  T weight_norm = root<T>(squares[0]);
  if (bounded) weight_norm = std::min(std::max(weight_norm, T(low)), T(high));
  const T scale = T(lr) * trust_ratio(weight_norm, root<T>(squares[1]));
  each(n, [=](int64_t i) {
    const T xi = x[i];
    x[i] = xi - direction(m[i], v[i], xi) * scale;
  });
}

void lamb(std::vector<torch::Tensor> params, std::vector<torch::Tensor> grads,
          std::vector<torch::Tensor> exp_avgs, std::vector<torch::Tensor> exp_avg_sqs,
          double lr, std::vector<double> first_corrections,
          std::vector<double> second_corrections, double beta1, double beta2, double eps,
          double decay, bool bounded, double low, double high) {
  for (size_t t = 0; t < params.size(); ++t) {
    for (auto* tensor : {&params[t], &grads[t], &exp_avgs[t], &exp_avg_sqs[t]}) check_cpu(*tensor);
    AT_DISPATCH_FLOATING_TYPES(params[t].scalar_type(), "lamb", [&] {
      lamb_tensor<scalar_t>(params[t].data_ptr<scalar_t>(), grads[t].data_ptr<scalar_t>(),
                            exp_avgs[t].data_ptr<scalar_t>(),
                            exp_avg_sqs[t].data_ptr<scalar_t>(), params[t].numel(), lr,
                            first_corrections[t], second_corrections[t], beta1, beta2, eps,
                            decay, bounded, low, high);
    });
  }
  written(params);
  written(exp_avgs);
  written(exp_avg_sqs);
}

// ---- LARS -------------------------------------------------------------------------------

// shrink: 1 − γβ under decoupled decay, else 1; decay: the β of g + βw (0 when decoupled).
template <typename T>
void lars_tensor(T* __restrict x, const T* __restrict g, T* __restrict velocity, int64_t n,
                 double lr, double momentum, double eta, double decay, double shrink,
                 bool adapt) {
  const T fshrink = T(shrink), fdecay = T(decay), fmomentum = T(momentum);
  auto weight = [=](int64_t i) {
    const T xi = x[i];
    return fshrink != T(1) ? xi * fshrink : xi;
  };
  T scale = T(lr);
  if (adapt) {
    const Pair squares = sums<T>(n, [=](int64_t i, T& ww, T& gg) {
      const T w = weight(i);
      ww += w * w;
      gg += g[i] * g[i];
    });
    const T weight_norm = root<T>(squares[0]), grad_norm = root<T>(squares[1]);
    scale = T(lr) * trust_ratio(T(eta) * weight_norm, grad_norm + fdecay * weight_norm);
  }
  if (velocity == nullptr) {
    each(n, [=](int64_t i) {
      const T w = weight(i);
      x[i] = w - (g[i] + fdecay * w) * scale;
    });
    return;
  }
  each(n, [=](int64_t i) {
    const T w = weight(i);
    const T v = velocity[i] * fmomentum + (g[i] + fdecay * w) * scale;
    velocity[i] = v;
    x[i] = w - v;
  });
}

void lars(std::vector<torch::Tensor> params, std::vector<torch::Tensor> grads,
          std::vector<torch::Tensor> velocities, double lr, double momentum, double eta,
          std::vector<double> decays, std::vector<double> shrinks, std::vector<bool> adapts) {
  for (size_t t = 0; t < params.size(); ++t) {
    check_cpu(params[t]);
    check_cpu(grads[t]);
    if (!velocities.empty()) check_cpu(velocities[t]);
    AT_DISPATCH_FLOATING_TYPES(params[t].scalar_type(), "lars", [&] {
      lars_tensor<scalar_t>(
          params[t].data_ptr<scalar_t>(), grads[t].data_ptr<scalar_t>(),
          velocities.empty() ? nullptr : velocities[t].data_ptr<scalar_t>(), params[t].numel(),
          lr, momentum, eta, decays[t], shrinks[t], adapts[t]);
    });
  }
  written(params);
  written(velocities);
}

// ---- Adafactor ----------------------------------------------------------------------------

struct AdafactorOptions {
  double lr, weight, relative_step, eps1, eps2, d, decay;
  bool paper;
};

// U's scale u(V̂) = 1/√V̂, V̂ floored at ε₁² under torch's convention (torch's rsqrt).
template <typename T>
inline T inverse_root(T estimate, bool paper, T floor) {
  return T(1) / std::sqrt(paper ? estimate : std::max(estimate, floor));
}

// α / max(1, RMS(U)/d) with α = max(ε₂, RMS(X)) ρ, from ‖X‖² and ‖U‖².
template <typename T>
T step_size(const Pair& squares, int64_t n, const AdafactorOptions& o) {
  const T rms_root = T(std::sqrt(double(n)));
  const T alpha = std::max(root<T>(squares[0]) / rms_root, T(o.eps2)) * T(o.relative_step);
  const T clipping = std::max(root<T>(squares[1]) / (T(std::sqrt(double(n)) * o.d)), T(1));
  return alpha / clipping;
}

// X ← X (1 − γλ) − s U over n elements, for U = u(i) g.
template <typename T, typename U>
void adafactor_move(T* __restrict x, const T* __restrict g, int64_t n, T s,
                    const AdafactorOptions& o, const U& u) {
  const T keep = T(1.0 - o.lr * o.decay);
  const bool decays = o.decay != 0;
  each(n, [=](int64_t i) {
    const T xi = x[i];
    const T w = decays ? xi * keep : xi;
    x[i] = w - u(i) * g[i] * s;
  });
}

template <typename T>
void adafactor_vector(T* __restrict x, const T* __restrict g, T* __restrict variance, int64_t n,
                      const AdafactorOptions& o) {
  const T weight = T(o.weight), eps1 = T(o.eps1), floor = T(o.eps1 * o.eps1);
  const bool paper = o.paper;
  auto u = [=](int64_t i) { return inverse_root(variance[i], paper, floor); };
  const Pair squares = sums<T>(n, [=](int64_t i, T& xx, T& uu) {
    const T gi = g[i];
    const T square = paper ? gi * gi + eps1 : gi * gi;
    variance[i] = lerp(variance[i], square, weight);
    const T update = u(i) * g[i];
    xx += x[i] * x[i];
    uu += update * update;
  });
  adafactor_move(x, g, n, step_size<T>(squares, n, o), o, u);
}

// A factored tensor, (matrices × rows × cols), one matrix and row at a time: R and C
// advanced by the row and column means of G² (with ‖X‖² in the same pass), then ‖U‖²
// for V̂ = R C / mean(R), then the move; the RMS of X and U are over the whole tensor.
template <typename T>
void adafactor_factored(T* __restrict x, const T* __restrict g, T* __restrict row_vars,
                        T* __restrict col_vars, int64_t matrices, int64_t rows, int64_t cols,
                        const AdafactorOptions& o) {
  const T weight = T(o.weight), eps1 = T(o.eps1), floor = T(o.eps1 * o.eps1);
  const bool paper = o.paper;
  std::vector<T> row_means(matrices);
  std::vector<double> col_squares(cols);
  double* cs = col_squares.data();
  double weight_squares = 0;
  for (int64_t b = 0; b < matrices; ++b) {
    T* row_var = row_vars + b * rows;
    T* col_var = col_vars + b * cols;
    std::fill(col_squares.begin(), col_squares.end(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const T* gr = g + (b * rows + r) * cols;
      const T* xr = x + (b * rows + r) * cols;
      const Pair row = sums<T>(cols, [=](int64_t j, T& xx, T& gg) {
        xx += xr[j] * xr[j];
        gg += gr[j] * gr[j];
      });
      weight_squares += row[0];
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) cs[j] += double(gr[j]) * gr[j];
      T mean = root<T>(row[1]);
      mean = mean * mean / T(cols);
      row_var[r] = lerp(row_var[r], paper ? mean + eps1 : mean, weight);
    }
    for (int64_t j = 0; j < cols; ++j) {
      T mean = root<T>(cs[j]);
      mean = mean * mean / T(rows);
      col_var[j] = lerp(col_var[j], paper ? mean + eps1 : mean, weight);
    }
    T row_mean = 0;
    for (int64_t r = 0; r < rows; ++r) row_mean += row_var[r];
    row_mean /= T(rows);
    row_means[b] = paper ? row_mean : std::max(row_mean, eps1);
  }
  // U's scale along row r of matrix b: 1/√(R_r C_j / mean(R)).
  auto scale_of_row = [&](int64_t b, int64_t r) {
    const T row = row_vars[b * rows + r], mean = row_means[b];
    const T* col_var = col_vars + b * cols;
    return [=](int64_t j) { return inverse_root(row * col_var[j] / mean, paper, floor); };
  };
  double update_squares = 0;
  for (int64_t b = 0; b < matrices; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* gr = g + (b * rows + r) * cols;
      const auto u = scale_of_row(b, r);
      update_squares += sums<T>(cols, [=](int64_t j, T& uu, T&) {
        const T update = u(j) * gr[j];
        uu += update * update;
      })[0];
    }
  }
  const int64_t n = matrices * rows * cols;
  const T s = step_size<T>(Pair{weight_squares, update_squares}, n, o);
  for (int64_t b = 0; b < matrices; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t offset = (b * rows + r) * cols;
      adafactor_move(x + offset, g + offset, cols, s, o, scale_of_row(b, r));
    }
  }
}

void adafactor(std::vector<torch::Tensor> params, std::vector<torch::Tensor> grads,
               std::vector<torch::Tensor> row_vars, std::vector<torch::Tensor> col_vars,
               std::vector<torch::Tensor> variances, double lr, std::vector<double> weights,
               std::vector<double> relative_steps, std::vector<double> eps1s, double eps2,
               double d, bool paper, double decay) {
  size_t factored = 0, vector = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    check_cpu(params[t]);
    check_cpu(grads[t]);
    const AdafactorOptions o{lr, weights[t], relative_steps[t], eps1s[t], eps2, d, decay, paper};
    const auto& p = params[t];
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adafactor", [&] {
      scalar_t* x = p.data_ptr<scalar_t>();
      const scalar_t* g = grads[t].data_ptr<scalar_t>();
      if (p.dim() < 2) {
        auto& variance = variances[vector++];
        check_cpu(variance);
        adafactor_vector<scalar_t>(x, g, variance.data_ptr<scalar_t>(), p.numel(), o);
        return;
      }
      auto& row_var = row_vars[factored];
      auto& col_var = col_vars[factored++];
      check_cpu(row_var);
      check_cpu(col_var);
      const int64_t rows = p.size(-2), cols = p.size(-1);
      adafactor_factored<scalar_t>(x, g, row_var.data_ptr<scalar_t>(),
                                   col_var.data_ptr<scalar_t>(), p.numel() / (rows * cols),
                                   rows, cols, o);
    });
  }
  written(params);
  written(row_vars);
  written(col_vars);
  written(variances);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("lamb", &lamb, "LAMB's step, two passes per tensor");
  module.def("lars", &lars, "LARS's step, two passes per tensor");
  module.def("adafactor", &adafactor, "Adafactor's step, two or three passes per tensor");
}
