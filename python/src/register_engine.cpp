// Binds rnnfast::RecurrentLayer<T> as _core.Engine32 / _core.Engine64: NumPy arrays in, NumPy arrays out, the GIL
// released around compute; concurrent calls follow the layer's own policy (recurrent_layer.hpp). The Python layer
// validates arguments with user-facing messages; the checks here only guarantee that no call can reach the engine
// with inconsistent sizes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <tuple>

#include "register.hpp"
#include "rnnfast/rnnfast.hpp"

namespace py = pybind11;

namespace rnnfast::python {
namespace {

template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;
using Lengths = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

void require(bool ok, const std::string& what) {
  if (!ok) throw py::value_error("rnnfast._core: " + what);
}

template <class T>
void require_shape(const Array<T>& a, std::initializer_list<py::ssize_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t i = 0;
  for (auto n : shape) ok = ok && a.shape(i++) == n;
  require(ok, std::string(name) + " has the wrong shape");
}

template <class T>
const T* data_or_null(const std::optional<Array<T>>& a) {
  return a ? a->data() : nullptr;
}

template <class T>
class Engine {
 public:
  Engine(const std::string& cell, Index input_size, Index units, bool peephole, bool layer_norm,
         double layer_norm_epsilon)
      : layer_(cell_type(cell), input_size, units, options(peephole, layer_norm, layer_norm_epsilon)) {}

  py::tuple forward(const Array<T>& x, const Array<T>& kernel, const Array<T>& recurrent_kernel,
                    const Array<T>& bias, const std::optional<Array<T>>& h0, const std::optional<Array<T>>& c0,
                    const std::optional<Lengths>& lengths, bool time_major, bool go_backwards,
                    bool return_sequences, bool training, const std::optional<Array<T>>& peephole,
                    const std::optional<Array<T>>& norm, const std::optional<Array<T>>& input_mask,
                    const std::optional<Array<T>>& recurrent_mask, int max_threads,
                    std::uint64_t weights_version) {
    require(x.ndim() == 3, "x must be 3-D");
    const Index H = layer_.units(), D = layer_.input_size();
    const Index B = time_major ? x.shape(1) : x.shape(0), T_ = time_major ? x.shape(0) : x.shape(1);
    require(x.shape(2) == D, "x has the wrong feature size");
    const CellWeights<T> w = check_weights(kernel, recurrent_kernel, bias, peephole, norm);
    if (input_mask) require_shape(*input_mask, {B, D}, "input_mask");
    if (recurrent_mask) require_shape(*recurrent_mask, {B, H}, "recurrent_mask");
    if (h0) require_shape(*h0, {B, H}, "h0");
    if (c0) require_shape(*c0, {B, H}, "c0");
    if (lengths) {
      require(lengths->ndim() == 1 && lengths->shape(0) == B, "lengths must have one entry per sequence");
      for (Index b = 0; b < B; ++b) require(lengths->data()[b] >= 0 && lengths->data()[b] <= T_, "lengths out of range");
    }

    SequenceInput<T> in;
    in.batch = B;
    in.time = T_;
    in.input_size = D;
    in.x = x.data();
    in.lengths = lengths ? lengths->data() : nullptr;
    in.h0 = data_or_null(h0);
    in.c0 = data_or_null(c0);
    in.input_mask = data_or_null(input_mask);
    in.recurrent_mask = data_or_null(recurrent_mask);
    SequenceOptions opt;
    opt.time_major = time_major;
    opt.go_backwards = go_backwards;
    opt.return_sequences = return_sequences;

    std::optional<Array<T>> y;
    if (return_sequences)
      y = time_major ? Array<T>({T_, B, H}) : Array<T>({B, T_, H});
    Array<T> h({B, H});
    std::optional<Array<T>> c;
    if (has_cell_state(layer_.type())) c = Array<T>({B, H});
    SequenceOutput<T> out;
    out.y = y ? y->mutable_data() : nullptr;
    out.h_final = h.mutable_data();
    out.c_final = c ? c->mutable_data() : nullptr;

    if (training) {
      auto session = training_session();
      {
        py::gil_scoped_release release;
        session.forward(in, opt, w, out, max_threads);
      }
      train_x_ = x;  // the training workspace points into x until the next training call
    } else {
      py::gil_scoped_release release;
      layer_.infer(in, opt, w, out, {max_threads, weights_version});
    }
    py::object y_obj = y ? py::object(*y) : py::object(py::none());
    py::object c_obj = c ? py::object(*c) : py::object(py::none());
    return py::make_tuple(y_obj, h, c_obj);
  }

  py::tuple backward(const Array<T>& kernel, const Array<T>& recurrent_kernel, const Array<T>& bias,
                     const std::optional<Array<T>>& dy, const std::optional<Array<T>>& dh,
                     const std::optional<Array<T>>& dc, bool want_dx, const std::optional<Array<T>>& peephole,
                     const std::optional<Array<T>>& norm, int max_threads) {
    auto session = training_session();
    require(session.trained(), "backward needs a forward pass with training=True first");
    const CellWeights<T> w = check_weights(kernel, recurrent_kernel, bias, peephole, norm);
    const Index H = layer_.units(), D = layer_.input_size(), B = session.batch(), T_ = session.time();
    const bool tm = session.sequence_options().time_major;
    if (dy) {
      if (session.sequence_options().return_sequences) require_shape(*dy, {tm ? T_ : B, tm ? B : T_, H}, "dy");
      else require_shape(*dy, {B, H}, "dy");
    }
    if (dh) require_shape(*dh, {B, H}, "dh");
    if (dc) require_shape(*dc, {B, H}, "dc");

    std::optional<Array<T>> dx;
    if (want_dx) dx = tm ? Array<T>({T_, B, D}) : Array<T>({B, T_, D});
    Array<T> dh0({B, H});
    std::optional<Array<T>> dc0;
    if (has_cell_state(layer_.type())) dc0 = Array<T>({B, H});
    Array<T> dkernel(kernel.request().shape), drec(recurrent_kernel.request().shape), dbias(bias.request().shape);
    std::optional<Array<T>> dpeephole;
    if (peephole) dpeephole = Array<T>({3 * H});
    std::optional<Array<T>> dnorm;
    if (norm) dnorm = Array<T>({norm->size()});

    SequenceGradIn<T> gin;
    gin.dy = data_or_null(dy);
    gin.dh_final = data_or_null(dh);
    gin.dc_final = data_or_null(dc);
    SequenceGradOut<T> gout;
    gout.dx = dx ? dx->mutable_data() : nullptr;
    gout.dh0 = dh0.mutable_data();
    gout.dc0 = dc0 ? dc0->mutable_data() : nullptr;
    gout.weights.kernel = dkernel.mutable_data();
    gout.weights.recurrent_kernel = drec.mutable_data();
    gout.weights.bias = dbias.mutable_data();
    gout.weights.peephole = dpeephole ? dpeephole->mutable_data() : nullptr;
    gout.weights.norm = dnorm ? dnorm->mutable_data() : nullptr;
    {
      py::gil_scoped_release release;
      session.backward(w, gin, gout, max_threads);
    }
    py::object dx_obj = dx ? py::object(*dx) : py::object(py::none());
    py::object dc_obj = dc0 ? py::object(*dc0) : py::object(py::none());
    py::object dp_obj = dpeephole ? py::object(*dpeephole) : py::object(py::none());
    py::object dn_obj = dnorm ? py::object(*dnorm) : py::object(py::none());
    return py::make_tuple(dx_obj, dh0, dc_obj, dkernel, drec, dbias, dp_obj, dn_obj);
  }

  Index input_size() const { return layer_.input_size(); }
  Index units() const { return layer_.units(); }

 private:
  // The layer's training workspace for this thread, waited for without the GIL, so that the thread holding it
  // can always take the GIL back.
  typename RecurrentLayer<T>::Training training_session() {
    py::gil_scoped_release release;
    return layer_.training();
  }

  static CellOptions options(bool peephole, bool layer_norm, double layer_norm_epsilon) {
    CellOptions o;
    o.peephole = peephole;
    o.layer_norm = layer_norm;
    o.layer_norm_epsilon = layer_norm_epsilon;
    return o;
  }

  CellWeights<T> check_weights(const Array<T>& kernel, const Array<T>& recurrent_kernel, const Array<T>& bias,
                               const std::optional<Array<T>>& peephole, const std::optional<Array<T>>& norm) const {
    const Index H = layer_.units(), D = layer_.input_size(), G = gate_count(layer_.type()) * H;
    require_shape(kernel, {D, G}, "kernel");
    require_shape(recurrent_kernel, {H, G}, "recurrent_kernel");
    require(bias.size() == bias_size(layer_.type(), H), "bias has the wrong size");
    require(peephole.has_value() == layer_.options().peephole, "peephole weights given iff the cell has peepholes");
    if (peephole) require_shape(*peephole, {3 * H}, "peephole");
    const Index norm_n = norm_size(layer_.type(), H, layer_.options());
    require(norm.has_value() == (norm_n > 0), "norm weights given iff the cell is layer-normalised");
    if (norm) require_shape(*norm, {norm_n}, "norm");
    CellWeights<T> w;
    w.kernel = kernel.data();
    w.recurrent_kernel = recurrent_kernel.data();
    w.bias = bias.data();
    w.peephole = data_or_null(peephole);
    w.norm = data_or_null(norm);
    return w;
  }

  RecurrentLayer<T> layer_;
  py::object train_x_;
};

template <class T>
void register_engine_type(py::module_& m, const char* name) {
  py::class_<Engine<T>>(m, name)
      .def(py::init<const std::string&, Index, Index, bool, bool, double>(), py::arg("cell"), py::arg("input_size"),
           py::arg("units"), py::arg("peephole") = false, py::arg("layer_norm") = false,
           py::arg("layer_norm_epsilon") = 1e-3)
      .def("forward", &Engine<T>::forward, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
           py::arg("bias"), py::arg("h0"), py::arg("c0"), py::arg("lengths"), py::arg("time_major"),
           py::arg("go_backwards"), py::arg("return_sequences"), py::arg("training"), py::arg("peephole") = py::none(),
           py::arg("norm") = py::none(), py::arg("input_mask") = py::none(), py::arg("recurrent_mask") = py::none(),
           py::arg("max_threads") = 0, py::arg("weights_version") = 0)
      .def("backward", &Engine<T>::backward, py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
           py::arg("dy"), py::arg("dh"), py::arg("dc"), py::arg("want_dx"), py::arg("peephole") = py::none(),
           py::arg("norm") = py::none(), py::arg("max_threads") = 0)
      .def_property_readonly("input_size", &Engine<T>::input_size)
      .def_property_readonly("units", &Engine<T>::units);
}

}  // namespace

void register_engine(py::module_& m) {
  register_engine_type<float>(m, "Engine32");
  register_engine_type<double>(m, "Engine64");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), py::call_guard<py::gil_scoped_release>());
  m.def("get_num_threads", &get_num_threads);
  m.def("gemm_backend", &linalg::gemm_backend);
}

}  // namespace rnnfast::python
