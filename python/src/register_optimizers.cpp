// Binds rnnfast::optim::apply as _core.optimizer_step: the parameters, gradients and slot arrays come from the
// Python optimiser, which owns them; they are updated in place with the GIL released. The Python side checks
// the arguments with user-facing messages; the checks here only keep inconsistent arrays out of the loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "register.hpp"
#include "rnnfast/optimizers.hpp"

namespace py = pybind11;

namespace rnnfast::python {
namespace {

optim::Kind parse_kind(const std::string& name) {
  if (name == "sgd") return optim::Kind::sgd;
  if (name == "rmsprop") return optim::Kind::rmsprop;
  if (name == "adam") return optim::Kind::adam;
  throw py::value_error("unknown optimiser '" + name + "'");
}

// A writable (or, for gradients, readable) C-contiguous array of exactly T, else a ValueError.
template <class T>
T* data_of(const py::handle& obj, bool writable, const char* what) {
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || (writable && !a.writeable()))
    throw py::value_error(std::string("rnnfast._core.optimizer_step: every ") + what +
                          " must be a C-contiguous array of the parameters' dtype" + (writable ? ", writable" : ""));
  return static_cast<T*>(const_cast<void*>(a.data()));
}

template <class T>
void step(const optim::Settings& settings, long long t, const py::list& params, const py::list& grads,
          const py::list& slots) {
  const int n_slots = optim::slot_count(settings);
  std::vector<optim::Parameter<T>> ps(params.size());
  for (std::size_t k = 0; k < ps.size(); ++k) {
    const auto value = py::reinterpret_borrow<py::array>(params[k]);
    const auto grad = py::reinterpret_borrow<py::array>(grads[k]);
    const auto slot_list = py::reinterpret_borrow<py::list>(slots[k]);
    if (grad.size() != value.size() || static_cast<int>(slot_list.size()) != n_slots)
      throw py::value_error("rnnfast._core.optimizer_step: a gradient or its slots do not match its parameter");
    ps[k].value = data_of<T>(params[k], true, "parameter");
    ps[k].grad = data_of<T>(grads[k], false, "gradient");
    ps[k].n = value.size();
    for (int j = 0; j < n_slots; ++j) {
      if (py::reinterpret_borrow<py::array>(slot_list[j]).size() != value.size())
        throw py::value_error("rnnfast._core.optimizer_step: a slot does not match its parameter");
      ps[k].slots[j] = data_of<T>(slot_list[j], true, "slot");
    }
  }
  py::gil_scoped_release release;
  optim::apply(settings, t, ps);
}

void optimizer_step(const std::string& kind, double learning_rate, double momentum, bool nesterov, double rho,
                    bool centered, double beta_1, double beta_2, bool amsgrad, double epsilon, double clipnorm,
                    double global_clipnorm, double clipvalue, long long t, const py::list& params,
                    const py::list& grads, const py::list& slots) {
  if (grads.size() != params.size() || slots.size() != params.size())
    throw py::value_error("rnnfast._core.optimizer_step: params, grads and slots must have the same length");
  optim::Settings s;
  s.kind = parse_kind(kind);
  s.learning_rate = learning_rate;
  s.momentum = momentum;
  s.nesterov = nesterov;
  s.rho = rho;
  s.centered = centered;
  s.beta_1 = beta_1;
  s.beta_2 = beta_2;
  s.amsgrad = amsgrad;
  s.epsilon = epsilon;
  s.clipnorm = clipnorm;
  s.global_clipnorm = global_clipnorm;
  s.clipvalue = clipvalue;
  if (params.empty()) return;
  if (py::isinstance<py::array_t<float>>(params[0])) step<float>(s, t, params, grads, slots);
  else step<double>(s, t, params, grads, slots);
}

}  // namespace

void register_optimizers(py::module_& m) {
  m.def("optimizer_step", &optimizer_step, py::arg("kind"), py::arg("learning_rate"), py::arg("momentum"),
        py::arg("nesterov"), py::arg("rho"), py::arg("centered"), py::arg("beta_1"), py::arg("beta_2"),
        py::arg("amsgrad"), py::arg("epsilon"), py::arg("clipnorm"), py::arg("global_clipnorm"),
        py::arg("clipvalue"), py::arg("step"), py::arg("params"), py::arg("grads"), py::arg("slots"),
        "One fused, in-place update of every parameter (see cpp/include/rnnfast/optimizers.hpp).");
}

}  // namespace rnnfast::python
