#pragma once

#include <pybind11/pybind11.h>

namespace rnnfast::python {
void register_engine(pybind11::module_& m);
void register_optimizers(pybind11::module_& m);
void register_stream(pybind11::module_& m);
}
