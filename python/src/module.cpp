// rnnfast._core (and, in portable builds, its variants for newer instruction sets): the private extension.
// Glue only: the engine lives in cpp/, the API in python/rnnfast/.
#include <pybind11/pybind11.h>

#include "register.hpp"

#ifndef RNNFAST_MODULE
#define RNNFAST_MODULE _core
#endif
#ifndef RNNFAST_INSTRUCTION_SET
#define RNNFAST_INSTRUCTION_SET "native"
#endif

PYBIND11_MODULE(RNNFAST_MODULE, m) {
  m.doc() = "rnnfast's private C++ extension; use the rnnfast package instead.";
  m.attr("instruction_set") = RNNFAST_INSTRUCTION_SET;  // what the engine was compiled for
#ifdef RNNFAST_SANITIZED
  m.attr("sanitized") = true;  // built with AddressSanitizer + UndefinedBehaviorSanitizer (memory tests skip)
#else
  m.attr("sanitized") = false;
#endif
  rnnfast::python::register_engine(m);
  rnnfast::python::register_optimizers(m);
  rnnfast::python::register_stream(m);
}
