// rnnfast._core: the private extension. Glue only: the engine lives in cpp/, the API in python/rnnfast/.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnfast's private C++ extension; use the rnnfast package instead.";
  rnnfast::python::register_engine(m);
}
