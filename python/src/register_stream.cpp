// Binds rnnfast::Stream<T> as _core.Stream32 / Stream64: one time step per call for layer.step(). The arrays
// must already have the exact dtype, shape and layout (the Python layer checks them with user-facing messages),
// so that a step converts nothing and allocates nothing besides the array it returns.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "register.hpp"
#include "rnnfast/rnnfast.hpp"

namespace py = pybind11;

namespace rnnfast::python {
namespace {

template <class T>
using Exact = py::array_t<T, py::array::c_style>;  // no forcecast: a wrong dtype is an error, not a copy

// The data of h if it is a C-contiguous, native-order ndarray of T of exactly rows × cols, else nullptr. Reads
// NumPy's array structs through pybind11's proxies, so that checking a step's input costs tens of nanoseconds
// rather than a conversion.
template <class T>
const T* exact_data(py::handle h, py::ssize_t rows, py::ssize_t cols) {
  using api = py::detail::npy_api;
  if (!api::get().PyArray_Check_(h.ptr())) return nullptr;
  const auto* a = py::detail::array_proxy(h.ptr());
  const auto* descr = py::detail::array_descriptor_proxy(a->descr);
  constexpr int wanted = std::is_same_v<T, float> ? api::NPY_FLOAT_ : api::NPY_DOUBLE_;
  static const bool little_endian = [] {
    const std::uint16_t one = 1;
    return *reinterpret_cast<const unsigned char*>(&one) == 1;
  }();
  const bool native = descr->byteorder == '=' || descr->byteorder == (little_endian ? '<' : '>');
  if (descr->type_num != wanted || !native || a->nd != 2 || a->dimensions[0] != rows || a->dimensions[1] != cols)
    return nullptr;
  if (!(a->flags & api::NPY_ARRAY_C_CONTIGUOUS_)) return nullptr;
  return reinterpret_cast<const T*>(a->data);
}

// A new C-contiguous rows × cols ndarray of T, made through NumPy's C API directly: a step's output costs a
// fraction of what np.empty called from Python would, a visible share of a small step.
template <class T>
py::array new_matrix(py::ssize_t rows, py::ssize_t cols) {
  using api = py::detail::npy_api;
  constexpr int type = std::is_same_v<T, float> ? api::NPY_FLOAT_ : api::NPY_DOUBLE_;
  const auto& numpy = api::get();
  Py_intptr_t dims[2] = {rows, cols};
  // NewFromDescr steals a reference to the descriptor; DescrFromType returns a new one.
  PyObject* a = numpy.PyArray_NewFromDescr_(numpy.PyArray_Type_, numpy.PyArray_DescrFromType_(type), 2, dims,
                                            nullptr, nullptr, 0, nullptr);
  if (a == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(a);
}

template <class T>
const T* optional_data(const std::optional<Exact<T>>& a) {
  return a ? a->data() : nullptr;
}

template <class T>
void require_size(const Exact<T>& a, py::ssize_t n, const char* what) {
  if (a.size() != n) throw py::value_error(std::string("rnnfast._core.Stream: ") + what + " has the wrong size");
}

template <class T>
class PyStream {
 public:
  PyStream(const std::string& cell, Index input_size, Index units, Index batch, bool peephole, bool layer_norm,
           double layer_norm_epsilon, const Exact<T>& kernel, const Exact<T>& recurrent_kernel, const Exact<T>& bias,
           const std::optional<Exact<T>>& peephole_weights, const std::optional<Exact<T>>& norm)
      : stream_(make(cell, input_size, units, batch, peephole, layer_norm, layer_norm_epsilon, kernel,
                     recurrent_kernel, bias, peephole_weights, norm)) {}

  // x (batch × input_size) in; returns the new h, a new (batch, units) array. An x of another dtype, shape or
  // layout raises TypeError (the Python layer then converts it or reports what is wrong).
  py::object step(py::handle x) {
    const T* in = exact_data<T>(x, stream_.batch(), stream_.input_size());
    if (in == nullptr)
      throw py::type_error("rnnfast._core.Stream.step: x must be a C-contiguous (batch, input_size) array of the "
                           "stream's dtype");
    py::array out = new_matrix<T>(stream_.batch(), stream_.units());
    T* y = static_cast<T*>(out.mutable_data());
    if (stream_.units() * stream_.units() * stream_.batch() >= kReleaseGilWork) {
      py::gil_scoped_release release;
      stream_.step(in, y);
    } else {  // a small step: releasing the GIL would cost a good part of it
      stream_.step(in, y);
    }
    return std::move(out);
  }

  void reset(const std::optional<Exact<T>>& h, const std::optional<Exact<T>>& c) {
    if (!h) {
      stream_.reset();
      return;
    }
    require_size(*h, stream_.batch() * stream_.units(), "h");
    if (c) require_size(*c, stream_.batch() * stream_.units(), "c");
    stream_.reset(h->data(), optional_data(c));
  }

  Exact<T> state(bool cell_state) const {
    Exact<T> out({stream_.batch(), stream_.units()});
    const T* from = cell_state ? stream_.c() : stream_.h();
    std::copy(from, from + stream_.batch() * stream_.units(), out.mutable_data());
    return out;
  }

  Index batch() const { return stream_.batch(); }

 private:
  static constexpr Index kReleaseGilWork = 64 * 64;

  static Stream<T> make(const std::string& cell, Index input_size, Index units, Index batch, bool peephole,
                        bool layer_norm, double layer_norm_epsilon, const Exact<T>& kernel,
                        const Exact<T>& recurrent_kernel, const Exact<T>& bias,
                        const std::optional<Exact<T>>& peephole_weights, const std::optional<Exact<T>>& norm) {
    const CellType type = cell_type(cell);
    CellOptions options;
    options.peephole = peephole;
    options.layer_norm = layer_norm;
    options.layer_norm_epsilon = layer_norm_epsilon;
    const Index G = gate_count(type) * units;
    require_size(kernel, input_size * G, "kernel");
    require_size(recurrent_kernel, units * G, "recurrent_kernel");
    require_size(bias, bias_size(type, units), "bias");
    if (peephole_weights) require_size(*peephole_weights, 3 * units, "peephole");
    if (norm) require_size(*norm, norm_size(type, units, options), "norm");
    CellWeights<T> w{kernel.data(), recurrent_kernel.data(), bias.data(), optional_data(peephole_weights),
                     optional_data(norm)};
    try {
      return Stream<T>(type, input_size, units, w, options, batch);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }

  Stream<T> stream_;
};

template <class T>
void register_stream_type(py::module_& m, const char* name) {
  py::class_<PyStream<T>>(m, name)
      .def(py::init<const std::string&, Index, Index, Index, bool, bool, double, const Exact<T>&, const Exact<T>&,
                    const Exact<T>&, const std::optional<Exact<T>>&, const std::optional<Exact<T>>&>(),
           py::arg("cell"), py::arg("input_size"), py::arg("units"), py::arg("batch"), py::arg("peephole"),
           py::arg("layer_norm"), py::arg("layer_norm_epsilon"), py::arg("kernel"), py::arg("recurrent_kernel"),
           py::arg("bias"), py::arg("peephole_weights") = py::none(), py::arg("norm") = py::none())
      .def("step", &PyStream<T>::step, py::arg("x"))
      .def("reset", &PyStream<T>::reset, py::arg("h") = py::none(), py::arg("c") = py::none())
      .def("state", &PyStream<T>::state, py::arg("cell_state"))
      .def_property_readonly("batch", &PyStream<T>::batch);
}

// A model file read by the C++ loader (rnnfast::Model), stepped or run from Python (rnnfast.StreamingModel).
template <class T>
class PyStreamingModel {
 public:
  explicit PyStreamingModel(const std::string& path) : model_(load(path)) {}

  // x (1 × input_size) in; returns the output, a new (1, output_size) array (TypeError as Stream.step).
  py::object step(py::handle x) {
    const T* in = exact_data<T>(x, 1, model_.input_size());
    if (in == nullptr)
      throw py::type_error("rnnfast._core.StreamingModel.step: x must be a C-contiguous (1, input_size) array "
                           "of the model's dtype");
    py::array out = new_matrix<T>(1, model_.output_size());
    T* y = static_cast<T*>(out.mutable_data());
    {
      py::gil_scoped_release release;  // streams of one model may step on several Python threads at once
      model_.step(in, y);
    }
    return std::move(out);
  }
  void reset() { model_.reset(); }
  // Whole sequences: x (batch, time, input_size) of T, C-contiguous (the Python layer converts it).
  Exact<T> run(const Exact<T>& x) {
    if (x.ndim() != 3 || x.shape(2) != model_.input_size())
      throw py::value_error("rnnfast._core.StreamingModel.run: x must be (batch, time, input_size)");
    Exact<T> y({x.shape(0), x.shape(1), static_cast<py::ssize_t>(model_.output_size())});
    const T* in = x.data();
    T* out = y.mutable_data();
    {
      py::gil_scoped_release release;
      model_.run(in, x.shape(0), x.shape(1), out);
    }
    return y;
  }
  // The streaming state (each recurrent layer's h, then its c), and setting it.
  Exact<T> state() const {
    Exact<T> out(static_cast<py::ssize_t>(model_.state_size()));
    model_.state(out.mutable_data());
    return out;
  }
  void set_state(const Exact<T>& state) {
    if (state.ndim() != 1 || state.shape(0) != model_.state_size())
      throw py::value_error("rnnfast._core.StreamingModel.set_state: the state must have state_size values");
    model_.reset(state.data());
  }
  // Another stream of the same model: shares the weights, copies the state.
  PyStreamingModel copy() const { return *this; }
  Index input_size() const { return model_.input_size(); }
  Index output_size() const { return model_.output_size(); }
  Index state_size() const { return model_.state_size(); }

 private:
  static StreamingModel<T> load(const std::string& path) {
    try {
      return StreamingModel<T>::load(path);
    } catch (const ModelFileError& e) {
      throw py::value_error(e.what());
    }
  }
  StreamingModel<T> model_;
};

template <class T>
void register_streaming_model(py::module_& m, const char* name) {
  py::class_<PyStreamingModel<T>>(m, name)
      .def(py::init<const std::string&>(), py::arg("path"))
      .def("step", &PyStreamingModel<T>::step, py::arg("x"))
      .def("reset", &PyStreamingModel<T>::reset)
      .def("run", &PyStreamingModel<T>::run, py::arg("x"))
      .def("state", &PyStreamingModel<T>::state)
      .def("set_state", &PyStreamingModel<T>::set_state, py::arg("state"))
      .def_property_readonly("state_size", [](const PyStreamingModel<T>& m) { return m.state_size(); })
      .def("copy", &PyStreamingModel<T>::copy)
      .def_property_readonly("input_size", &PyStreamingModel<T>::input_size)
      .def_property_readonly("output_size", &PyStreamingModel<T>::output_size);
}

}  // namespace

void register_stream(py::module_& m) {
  register_stream_type<float>(m, "Stream32");
  register_stream_type<double>(m, "Stream64");
  register_streaming_model<float>(m, "StreamingModel32");
  register_streaming_model<double>(m, "StreamingModel64");
}

}  // namespace rnnfast::python
