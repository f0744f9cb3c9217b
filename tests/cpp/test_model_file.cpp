// C++ tests of the model-file loader against docs/model-file-format.md: files written here as the format says
// (model_file_writer.hpp) load, stream without allocating and give the outputs of the same model built in code,
// in version 2 and version 1; every rule of the format refuses a file that breaks it, with ModelFileError and
// a message naming what is wrong; hostile sizes (overflowing shapes, huge header lengths, non-regular files)
// are refused before anything is sized from them; the data is read only for a header that describes a valid
// model; reading a path leaves no descriptor open and never blocks on a FIFO swapped in; numbers are read alike
// in any locale; the public API refuses overflowing sizes with std::invalid_argument. (The Python tests check
// files saved by Python.)
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "rnnfast/detail/stacked_step.hpp"
#include "rnnfast/rnnfast.hpp"

#include "model_file_writer.hpp"
#include "test_support.hpp"

namespace {

using namespace test_files;

// Into the system's temporary directory, so that running the test from a source tree leaves no files there.
std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// What loading gives: "" when the file loads, the ModelFileError's message otherwise, "OTHER: ..." for any
// other exception (always a failure).
template <class Load>
std::string outcome(Load load) {
  try {
    load();
  } catch (const rnnfast::ModelFileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("OTHER: ") + e.what();
  }
  return "";
}
std::string outcome_of_bytes(const std::string& bytes) {
  return outcome([&] { rnnfast::Model<float>::from_memory(bytes.data(), bytes.size(), "test.safetensors"); });
}
std::string outcome_of_path(const std::string& path) {
  return outcome([&] { rnnfast::Model<float>::load(path); });
}

void expect_refused(const std::string& message, const std::string& expected, const std::string& what) {
  const bool ok =
      !message.empty() && message.compare(0, 6, "OTHER:") != 0 && message.find(expected) != std::string::npos;
  if (!ok) std::printf("  %s: message was: %s\n", what.c_str(), message.empty() ? "(loaded)" : message.c_str());
  check(ok, what);
}
void refused(const std::string& bytes, const std::string& expected, const std::string& what) {
  expect_refused(outcome_of_bytes(bytes), expected, what);
}
void loads(const std::string& bytes, const std::string& what) {
  const std::string message = outcome_of_bytes(bytes);
  if (!message.empty()) std::printf("  %s: %s\n", what.c_str(), message.c_str());
  check(message.empty(), what);
}

// The reference model's file with its architecture edited (`from` → `to`), sealed again.
std::string edited_architecture(const std::string& from, const std::string& to, Parts p = lstm_dense()) {
  p.architecture = replaced(p.architecture, from, to);
  return file_of(p);
}
// The reference file with its header text edited, sealed again (the header's length follows the edit).
std::string edited_header(const std::string& from, const std::string& to, Parts p = lstm_dense()) {
  return assemble(replaced(header_of(p), from, to), data_of(p), p.version == "2");
}

float reference_weight(const Parts& p, const std::string& name, std::size_t i) {
  for (const Tensor& t : p.tensors)
    if (t.name == name) {
      if (t.dtype == "F64") {
        double v;
        std::memcpy(&v, t.bytes.data() + 8 * i, 8);
        return static_cast<float>(v);
      }
      float v;
      std::memcpy(&v, t.bytes.data() + 4 * i, 4);
      return v;
    }
  return 0;
}
std::vector<float> weights_of(const Parts& p, const std::string& name) {
  for (const Tensor& t : p.tensors)
    if (t.name == name) {
      std::vector<float> out(t.bytes.size() / (t.dtype == "F64" ? 8 : 4));
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = reference_weight(p, name, i);
      return out;
    }
  return {};
}

// Outputs of 20 steps from zero state.
std::vector<float> stream_outputs(rnnfast::Model<float>& model) {
  std::vector<float> out;
  model.reset();
  std::vector<float> y(static_cast<std::size_t>(model.output_size()));
  for (int t = 0; t < 20; ++t) {
    const float x = 0.05f * static_cast<float>(t) - 0.4f;
    model.step(&x, y.data());
    out.insert(out.end(), y.begin(), y.end());
  }
  return out;
}

void test_valid_files_load_and_match_code() {
  const Parts v2 = lstm_dense("2"), v1 = lstm_dense("1");
  auto model = rnnfast::Model<float>::load(write("model_ok.safetensors", file_of(v2)));
  check(model.input_size() == 1 && model.output_size() == 2, "sizes");
  auto from_v1 = rnnfast::Model<float>::from_memory(file_of(v1).data(), file_of(v1).size());
  const auto kernel = weights_of(v2, "layers.0.kernel"), recurrent = weights_of(v2, "layers.0.recurrent_kernel"),
             bias = weights_of(v2, "layers.0.bias"), dense_kernel = weights_of(v2, "layers.1.kernel"),
             dense_bias = weights_of(v2, "layers.1.bias");
  rnnfast::Model<float> in_code;
  in_code.add_recurrent(rnnfast::CellType::lstm, 1, 4, {kernel.data(), recurrent.data(), bias.data(), nullptr, nullptr})
      .add_dense(4, 2, dense_kernel.data(), dense_bias.data(), rnnfast::DenseActivation::tanh);
  const auto expected = stream_outputs(in_code);
  check(stream_outputs(model) == expected, "a version 2 file streams as the same model built in code");
  check(stream_outputs(from_v1) == expected, "a version 1 file streams as the same model built in code");

  float x = 0.3f, y[2];
  for (int i = 0; i < 10; ++i) model.step(&x, y);
  const long long before = g_allocations;
  for (int i = 0; i < 100000; ++i) {
    x = 0.001f * static_cast<float>(i % 100);
    model.step(&x, y);
  }
  const long long allocations = g_allocations - before;  // read before the message below allocates
  check(allocations == 0, "Model::step allocated " + std::to_string(allocations) + " times");
  check(std::abs(y[0]) <= 1 && std::abs(y[1]) <= 1, "tanh outputs in [-1, 1]");

  // float64 weights of a float64 layer, converted for Model<float>; the TimeDistributed(Dense) form
  Parts f64;
  f64.architecture = "[" + recurrent_entry("GRU", 3, 2, ",\"reset_after\":true", false, "float64") +
                     ",{\"class\":\"TimeDistributed\",\"config\":{\"layer\":" +
                     replaced(dense_entry(1, 3, "linear"), "float32", "float64") + "}}]";
  f64.tensors = {weight("layers.0.kernel", {2, 9}, true), weight("layers.0.recurrent_kernel", {3, 9}, true),
                 weight("layers.0.bias", {2, 9}, true), weight("layers.1.kernel", {3, 1}, true),
                 weight("layers.1.bias", {1}, true)};
  loads(file_of(f64), "GRU(reset_after) float64 + TimeDistributed(Dense)");
}

void test_container() {
  const std::string good = file_of(lstm_dense());
  refused(good.substr(0, 5), "too short", "5 bytes");
  refused(good.substr(0, good.size() - 20), "truncated or extended", "truncated data");
  refused(good + "x", "truncated or extended", "a trailing byte");
  std::string length = good;
  length[7] = '\x80';  // N = 2^63 + ...
  refused(length, "declares a header of", "a header length of 2^63");
  std::string over = good;
  const std::uint64_t mib_plus_one = (1u << 20) + 1;
  for (int i = 0; i < 8; ++i) over[i] = static_cast<char>((mib_plus_one >> (8 * i)) & 0xFF);
  refused(over, "a model file's is 2 to 1048576 bytes", "a header of 1 MiB + 1");
  std::string past_end = good.substr(0, 200);
  refused(past_end, "truncated or not a model file", "a header running past the end");
  std::string tiny = good;
  for (int i = 0; i < 8; ++i) tiny[i] = i == 0 ? 1 : 0;
  refused(tiny, "declares a header of 1 bytes", "a header of 1 byte");

  expect_refused(outcome_of_path("no_such_file.safetensors"), "cannot open", "a missing file");
  expect_refused(outcome_of_path(std::filesystem::temp_directory_path().string()), "is not a regular file",
                 "a directory");
  expect_refused(outcome_of_path("/dev/zero"), "is not a regular file", "/dev/zero");
  const std::string fifo = (std::filesystem::temp_directory_path() / "rnnfast_test_fifo").string();
  std::remove(fifo.c_str());
  if (mkfifo(fifo.c_str(), 0600) == 0) {
    expect_refused(outcome_of_path(fifo), "is not a regular file", "a FIFO");
    std::remove(fifo.c_str());
  }
}

void test_header() {
  const Parts p = lstm_dense();
  refused(edited_header("{\"__metadata__\"", "[{\"__metadata__\""), "damaged header", "a damaged header");
  refused(assemble(header_of(p) + " x", data_of(p), true), "damaged header", "garbage after the header's JSON");
  loads(assemble(header_of(p) + "\n\t ", data_of(p), true), "JSON whitespace after the header's JSON");
  refused(edited_header("\"layers.1.bias\"", "\"layers.1.kernel\""), "repeats the key 'layers.1.kernel'",
          "a repeated tensor name");
  refused(edited_header(",\"layers.0.kernel\"", ",\"__metadata__\":{},\"layers.0.kernel\""),
          "repeats the key '__metadata__'", "a second __metadata__");
  refused(edited_header("\"format\":\"rnnfast\"", "\"format\":\"rnnfast\",\"format\":\"rnnfast\""),
          "repeats the key 'format'", "a repeated metadata key");
  refused(edited_header("\"format\":\"rnnfast\"", "\"format\":\"rnnfast\",\"x\":1"), "not an object of strings",
          "a metadata value that is not a string");
  refused(edited_header("\"format\":\"rnnfast\"", "\"format\":\"rnnfast\",\"x\":\"y\""),
          "version 2 metadata with an unknown member 'x'", "an unknown metadata member");
  refused(edited_header("\"format\":\"rnnfast\"", "\"format\":\"other\""), "not an rnnfast model", "another format");
  refused(edited_header("\"format_version\":\"2\"", "\"format_version\":\"3\""),
          "has format version \"3\"; this rnnfast reads versions 1 and 2", "version 3");
  refused(edited_header("\"format_version\":\"2\",", ""), "has no format version; this rnnfast reads versions 1 and 2",
          "no version");
  refused(edited_header("\"dtype\":\"F32\"", "\"dtype\":\"F16\""), "of a dtype other than F32, F64 and I64",
          "dtype F16");
  refused(edited_header("\"shape\":[1,16]", "\"shape\":[1,16.0]"), "shape is not an array of integers",
          "a fractional dimension");
  refused(edited_header("\"shape\":[1,16]", "\"shape\":[1,-16]"), "shape is not an array of integers",
          "a negative dimension");
  refused(edited_header("\"shape\":[1,16]", "\"shape\":[2,16]"), "does not fit its 64 bytes", "a shape too large");
  refused(edited_header("\"shape\":[1,16]", "\"shape\":[1,1,1,1,1,1,1,1,16]"),
          "has tensor 'layers.0.kernel' whose shape has more than 8 dimensions", "a shape of 9 dimensions");
  refused(edited_header("\"shape\":[1,16]", "\"shape\":[1,1,1,1,1,1,1,16]"),
          "'layers.0.kernel' of the wrong shape or dtype: [1, 1, 1, 1, 1, 1, 1, 16] F32",
          "a shape of 8 dimensions passes the header (and is then the wrong shape)");
  refused(edited_header("\"data_offsets\":[0,64]", "\"data_offsets\":[0,64,64]"), "data_offsets are not two integers",
          "three offsets");
  refused(edited_header("\"data_offsets\":[0,64]", "\"data_offsets\":[64,0]"), "data_offsets are not two integers",
          "begin > end");
  refused(edited_header("\"dtype\":\"F32\",", "\"dtype\":\"F32\",\"x\":0,"), "without exactly the members",
          "an extra member in a tensor entry");
  // offsets: layers.0.kernel [0, 64), recurrent_kernel [64, 320); gaps and overlaps break the tiling
  refused(edited_header("\"data_offsets\":[0,64]", "\"data_offsets\":[4,68]"), "tile the data", "a gap at the start");
  refused(edited_header("\"data_offsets\":[64,320]", "\"data_offsets\":[60,316]"), "tile the data", "an overlap");
  // swapping two equal-sized tensors keeps the tiling: version 2's checksum covers the header, version 1's not
  Parts swap;
  swap.architecture = "[" + dense_entry(2, 2, "linear", false) + "," + dense_entry(2, 2, "linear", false) + "]";
  swap.tensors = {weight("layers.0.kernel", {2, 2}, false, 1), weight("layers.1.kernel", {2, 2}, false, 2)};
  const std::string swapped = replaced(replaced(replaced(file_of(swap), "[0,16]", "[X]"), "[16,32]", "[0,16]"), "[X]",
                                       "[16,32]");
  refused(swapped, "do not match the checksum", "offsets swapped in version 2");
  swap.version = "1";
  loads(replaced(replaced(replaced(file_of(swap), "[0,16]", "[X]"), "[16,32]", "[0,16]"), "[X]", "[16,32]"),
        "offsets swapped in version 1 (its checksum does not cover the header)");

  std::string flipped = file_of(p);
  flipped[flipped.size() - 3] ^= 0x10;
  refused(flipped, "do not match the checksum", "a flipped data byte (version 2)");
  std::string flipped_header = file_of(p);
  flipped_header[flipped_header.find("0.001")] = '1';
  refused(flipped_header, "do not match the checksum", "a changed header byte (version 2)");
  std::string flipped_v1 = file_of(lstm_dense("1"));
  flipped_v1[flipped_v1.size() - 3] ^= 0x10;
  refused(flipped_v1, "do not match the checksum", "a flipped data byte (version 1)");
  // (not sealed: the checksum's place is where these headers hold other bytes)
  const std::string unsealed = header_of(p);
  refused(assemble(replaced(unsealed, "\"file_sha256\":\"" + std::string(64, '0') + "\",", ""), data_of(p), false),
          "version 2 metadata without the member 'file_sha256'", "version 2 without file_sha256");
  refused(assemble(replaced(unsealed, "{\"__metadata__\":{", "{\"__metadata__\": {"), data_of(p), false),
          "does not begin its header with", "version 2 with a space in its prefix");
  refused(assemble(replaced(unsealed, "\"file_sha256\":\"0000", "\"file_sha256\":\"000A"), data_of(p), false),
          "does not begin its header with", "version 2 with an uppercase checksum digit");
  Parts v1 = lstm_dense("1");
  std::string without = header_of(v1);
  without.erase(without.find(",\"data_sha256\""), 16 + 64 + 1);
  refused(assemble(without, data_of(v1), false), "version 1 metadata without the member 'data_sha256'",
          "version 1 without data_sha256");
  refused(edited_header("\"format_version\":\"1\"", "\"format_version\":\"2\"", lstm_dense("1")),
          "version 2 metadata without", "version 2 with version 1's members");
}

void test_json() {
  using rnnfast::Json;
  const auto parses = [](const std::string& text) { return outcome([&] { Json::parse(text); }).empty(); };
  const auto bad = [&](const std::string& text, const std::string& what) {
    check(!parses(text), "JSON refuses " + what);
  };
  const auto good = [&](const std::string& text, const std::string& what) {
    check(parses(text), "JSON reads " + what);
  };
  std::string deep64(64, '['), deep65(65, '[');
  good(deep64 + std::string(64, ']'), "64 nested arrays");
  bad(deep65 + std::string(65, ']'), "65 nested arrays");
  for (const char* t : {"NaN", "Infinity", "-Infinity", "+1", "01", "-01", ".5", "5.", "1e", "1e+", "-", "0x10", "1.e5",
                        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x\"", "[1,]", "{\"a\":1,}", "tru",
                        "nul", "\"a\nb\"", "1e999", "-1e999", "1 2", "[1] x", "{\"a\":1,\"a\":2}", "\xEF\xBB\xBF{}",
                        "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890"})
    bad(t, std::string("'") + t + "'");
  for (const char* t : {"\"\xC0\x80\"", "\"\xE0\x80\xAF\"", "\"\xED\xA0\x80\"", "\"\xF5\x80\x80\x80\"", "\"\xC3\"",
                        "\"\x80\"", "\"\xF4\x90\x80\x80\""})
    bad(t, "invalid UTF-8");
  for (const char* t : {"0", "-0", "1E+2", "1e-400", "-0.0e-0", "9223372036854775807", "-9223372036854775808",
                        " [ ] \t\r\n", "\"\\ud83d\\ude00\"", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"",
                        "{\"a\":{\"a\":1}}"})
    good(t, std::string("'") + t + "'");
  const Json j = Json::parse("[4, 4.0, 4e0, -9223372036854775808, true, 1e-400]");
  const auto e = j.root().elements();
  check(e[0].is_integer() && e[0].integer() == 4, "4 is an integer");
  check(!e[1].is_integer() && e[1].number() == 4.0, "4.0 is a number, not an integer");
  check(!e[2].is_integer(), "4e0 is not an integer");
  check(e[3].integer() == std::numeric_limits<std::int64_t>::min(), "-2^63");
  check(!e[4].is_integer(), "true is not an integer");
  check(e[5].number() == 0.0, "1e-400 rounds to 0");
  check(Json::parse("0.1").root().number() == 0.1 && Json::parse("2.5e-3").root().number() == 2.5e-3,
        "doubles read exactly");
}

void test_numbers_in_another_locale() {
  const char* names[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8", "German"};
  const char* found = nullptr;
  for (const char* name : names)
    if (std::setlocale(LC_ALL, name) != nullptr) {
      found = name;
      break;
    }
  if (found == nullptr) {
    std::printf("note: no locale with a decimal comma is installed; the locale test is skipped\n");
    return;
  }
  loads(file_of(lstm_dense()), std::string("a model file in the locale ") + found);
  check(rnnfast::Json::parse("0.25").root().number() == 0.25, std::string("0.25 in the locale ") + found);
  std::setlocale(LC_ALL, "C");
}

void test_architecture() {
  const std::string cannot = "cannot run one step at a time";
  // strict types: booleans are JSON booleans, integers integer literals
  refused(edited_architecture("\"go_backwards\":false", "\"go_backwards\":1"), "'go_backwards' must be a boolean",
          "go_backwards: 1");
  refused(edited_architecture("\"use_bias\":true", "\"use_bias\":1"), "'use_bias' must be a boolean", "use_bias: 1");
  refused(edited_architecture("\"units\":4,", "\"units\":4.0,"), "'units' must be an integer", "units: 4.0");
  refused(edited_architecture("\"units\":4,", "\"units\":4e0,"), "'units' must be an integer", "units: 4e0");
  refused(edited_architecture("\"units\":4,", "\"units\":true,"), "'units' must be an integer", "units: true");
  refused(edited_architecture("\"units\":4,", "\"units\":0,"), "'units' must be an integer", "units: 0");
  refused(edited_architecture("\"units\":4,", "\"units\":1e999,"), "number too large", "units: 1e999");
  refused(edited_architecture("\"dropout\":0.0", "\"dropout\":NaN"), "malformed JSON", "dropout: NaN");
  refused(edited_architecture("\"layer_norm_epsilon\":0.001", "\"layer_norm_epsilon\":Infinity"), "malformed JSON",
          "epsilon: Infinity");
  refused(edited_architecture("\"layer_norm_epsilon\":0.001", "\"layer_norm_epsilon\":0"), "'layer_norm_epsilon'",
          "epsilon: 0");
  const std::string epsilon_rule = "'layer_norm_epsilon' must be a number >= 1e-30 and <= 1e30";
  for (const char* epsilon : {"1e-30", "1e30", "1E+30", "0.000000000000000000000000000001"})
    loads(edited_architecture("\"layer_norm_epsilon\":0.001", std::string("\"layer_norm_epsilon\":") + epsilon),
          std::string("epsilon: ") + epsilon);
  for (const char* epsilon : {"9.99999999999999e-31", "1.000000000000001e30", "1e-31", "1e31", "-1e-3", "1e-400"})
    refused(edited_architecture("\"layer_norm_epsilon\":0.001", std::string("\"layer_norm_epsilon\":") + epsilon),
            "layer 0 (LSTM) config whose " + epsilon_rule, std::string("epsilon: ") + epsilon);
  refused(edited_architecture("\"dropout\":0.0", "\"dropout\":1.0"), "'dropout' must be a number >= 0 and < 1",
          "dropout: 1");
  refused(edited_architecture("\"recurrent_dropout\":0.0", "\"recurrent_dropout\":-0.5"), "'recurrent_dropout'",
          "recurrent_dropout: -0.5");
  refused(edited_architecture("\"seed\":null", "\"seed\":-1"), "'seed'", "seed: -1");
  loads(edited_architecture("\"seed\":null", "\"seed\":7"), "seed: 7");
  refused(edited_architecture("\"dtype\":\"float32\"", "\"dtype\":\"float16\""), "'dtype' must be one of", "float16");
  refused(edited_architecture("\"return_state\":false", "\"return_state\":true"), "'return_state' must be false",
          "return_state: true");
  refused(edited_architecture("\"time_major\":false", "\"time_major\":true"), "'time_major' must be false",
          "time_major: true");
  refused(edited_architecture("\"activation\":\"tanh\"", "\"activation\":\"elu\""), "'activation' must be one of",
          "an unknown Dense activation");
  refused(edited_architecture("\"peephole\":false,", ""), "without the member 'peephole'", "a missing member");
  refused(edited_architecture("\"peephole\":false", "\"peephole\":false,\"bias\":1"), "unknown member 'bias'",
          "an extra member");
  refused(edited_architecture("\"peephole\":false", "\"peephole\":false,\"peephole\":true"), "repeats the key",
          "a repeated config member");
  refused(edited_architecture("\"class\":\"LSTM\"", "\"class\":\"ConvLSTM\""), "unknown class 'ConvLSTM'",
          "an unknown class");
  refused(edited_architecture("\"units\":4,\"input_size\":1", "\"units\":3,\"input_size\":1"),
          "taking 4 features where layer 0 gives 3",
          "layers that do not chain");
  refused(edited_architecture("[", "[" + std::string(64, '[')), "more than 64 nested", "65 nested arrays");
  refused(edited_architecture("\"class\":\"LSTM\"", "\"class\":\"\\ud800\""), "lone surrogate", "a lone surrogate");
  refused(edited_architecture("\"class\":\"LSTM\"", "\"class\":\"\xC0\xAF\""), "invalid UTF-8", "overlong UTF-8");
  refused(edited_architecture("\"class\":\"LSTM\"", "\"class\":\"\xED\xA0\x80\""), "invalid UTF-8",
          "a surrogate in UTF-8");
  refused(edited_architecture("[", "[[],"), "that is not an object", "a layer that is not an object");
  {
    Parts empty = lstm_dense();
    empty.architecture = "[]";
    empty.tensors.clear();
    refused(file_of(empty), "not a non-empty array", "no layers");
  }
  // the exact tensor set
  {
    Parts extra = lstm_dense();
    extra.tensors.push_back(weight("layers.1.extra", {1}));
    refused(file_of(extra), "does not name: 'layers.1.extra'", "an extra tensor");
    Parts missing = lstm_dense();
    missing.tensors.pop_back();
    refused(file_of(missing), "has no tensor 'layers.1.bias'", "a missing tensor");
    Parts wrong_dtype = lstm_dense();
    wrong_dtype.tensors[0] = weight("layers.0.kernel", {1, 16}, true);
    refused(file_of(wrong_dtype), "wrong shape or dtype", "F64 weights of a float32 layer");
    refused(edited_architecture("\"units\":2,\"activation\"", "\"units\":3,\"activation\""),
            "'layers.1.kernel' of the wrong shape or dtype: [4, 2] F32 where the architecture needs [4, 3] F32",
            "an architecture mismatching the tensors");
    refused(edited_architecture("\"use_bias\":true", "\"use_bias\":false"), "does not name: 'layers.1.bias'",
            "use_bias false with a bias tensor");
  }
  // GRU layer_norm needs reset_after; layer-normalised LSTM with peepholes loads
  {
    Parts gru;
    gru.architecture = "[" + replaced(recurrent_entry("GRU", 2, 1, ",\"reset_after\":false"), "\"layer_norm\":false",
                                      "\"layer_norm\":true") + "]";
    gru.tensors = {weight("layers.0.kernel", {1, 6}), weight("layers.0.recurrent_kernel", {2, 6}),
                   weight("layers.0.bias", {6})};
    for (const char* n : {"ln_x_gamma", "ln_x_beta", "ln_h_gamma", "ln_h_beta"})
      gru.tensors.push_back(weight(std::string("layers.0.") + n, {6}));
    refused(file_of(gru), "'reset_after' must be true when layer_norm is true", "GRU layer_norm without reset_after");
    Parts lstm;
    lstm.architecture = "[" + replaced(recurrent_entry("LSTM", 2, 1, ",\"peephole\":true,\"unit_forget_bias\":false"),
                                       "\"layer_norm\":false", "\"layer_norm\":true") + "]";
    lstm.tensors = {weight("layers.0.kernel", {1, 8}), weight("layers.0.recurrent_kernel", {2, 8}),
                    weight("layers.0.bias", {8})};
    for (const char* n : {"peephole_i", "peephole_f", "peephole_o"})
      lstm.tensors.push_back(weight(std::string("layers.0.") + n, {2}));
    for (const char* n : {"ln_x_gamma", "ln_x_beta", "ln_h_gamma", "ln_h_beta"})
      lstm.tensors.push_back(weight(std::string("layers.0.") + n, {8}));
    for (const char* n : {"ln_c_gamma", "ln_c_beta"}) lstm.tensors.push_back(weight(std::string("layers.0.") + n, {2}));
    loads(file_of(lstm), "a layer-normalised LSTM with peepholes");
    Parts rnn;
    rnn.architecture = "[" + replaced(recurrent_entry("SimpleRNN", 3, 2, ",\"activation\":\"relu\""),
                                      "\"layer_norm\":false", "\"layer_norm\":true") + "]";
    rnn.tensors = {weight("layers.0.kernel", {2, 3}), weight("layers.0.recurrent_kernel", {3, 3}),
                   weight("layers.0.bias", {3}), weight("layers.0.ln_gamma", {3}), weight("layers.0.ln_beta", {3})};
    loads(file_of(rnn), "a layer-normalised SimpleRNN (relu)");
  }
  // valid files that do not stream: refused after the whole file was checked
  {
    Parts embedding;
    embedding.architecture = "[{\"class\":\"Embedding\",\"config\":{\"input_dim\":5,\"output_dim\":4,\"seed\":null,"
                             "\"dtype\":\"float32\"}}," + lstm_entry(2, 4) + "]";
    embedding.tensors = {weight("layers.0.embeddings", {5, 4})};
    add_lstm_weights(embedding.tensors, 1, 2, 4);
    refused(file_of(embedding), cannot, "an Embedding");
    Parts late = embedding;
    late.architecture = "[" + lstm_entry(4, 1) + ",{\"class\":\"Embedding\",\"config\":{\"input_dim\":5,"
                        "\"output_dim\":4,\"seed\":null,\"dtype\":\"float32\"}}]";
    refused(file_of(late), "can only be the first layer", "an Embedding after the first layer");
    embedding.tensors.push_back(weight("layers.1.extra", {1}));
    refused(file_of(embedding), "does not name", "an Embedding file with an extra tensor: the extra tensor first");

    Parts bidirectional;
    bidirectional.architecture = "[{\"class\":\"Bidirectional\",\"config\":{\"layer\":" + lstm_entry(2, 1) +
                                 ",\"backward_layer\":" + lstm_entry(2, 1, true) + ",\"merge_mode\":\"concat\"}}," +
                                 dense_entry(1, 4) + "]";
    add_lstm_weights(bidirectional.tensors, 0, 2, 1, "forward/");
    add_lstm_weights(bidirectional.tensors, 0, 2, 1, "backward/");
    add_dense_weights(bidirectional.tensors, 1, 1, 4);
    refused(file_of(bidirectional), cannot, "a Bidirectional");
    refused(edited_architecture("\"merge_mode\":\"concat\"", "\"merge_mode\":\"sum\"", bidirectional), "taking 4",
            "a Bidirectional sum gives units, not twice");
    refused(edited_architecture("\"merge_mode\":\"concat\"", "\"merge_mode\":\"max\"", bidirectional), "'merge_mode'",
            "an unknown merge_mode");
    refused(edited_architecture("\"go_backwards\":true", "\"go_backwards\":false", bidirectional),
            "opposite go_backwards",
            "a Bidirectional with equal go_backwards");
    const std::string backward_entry = lstm_entry(2, 1, true);
    refused(edited_architecture(backward_entry, replaced(backward_entry, "\"units\":2", "\"units\":3"), bidirectional),
            "has layer 0 (Bidirectional) whose two layers are not of one class with equal units, return_sequences, "
            "dtype and input_size and opposite go_backwards",
            "a Bidirectional whose layers have different units");
    refused(edited_architecture(backward_entry,
                                replaced(backward_entry, "\"layer_norm_epsilon\":0.001", "\"layer_norm_epsilon\":1e31"),
                                bidirectional),
            "layer 0's backward layer (LSTM) config whose " + epsilon_rule,
            "a Bidirectional whose backward layer's epsilon is out of range");
    refused(edited_architecture("\"layer_norm_epsilon\":0.001", "\"layer_norm_epsilon\":1e-31", bidirectional),
            "layer 0's forward layer (LSTM) config whose " + epsilon_rule,
            "a Bidirectional whose forward layer's epsilon is out of range");
    Parts backwards = lstm_dense();
    backwards.architecture = replaced(backwards.architecture, "\"go_backwards\":false", "\"go_backwards\":true");
    refused(file_of(backwards), cannot, "go_backwards: true");
  }
}

// A recurrent layer entry that gives only its last step's output.
std::string last_step_only(const std::string& entry) {
  return replaced(entry, "\"return_sequences\":true", "\"return_sequences\":false");
}

void test_sequences() {
  const std::string not_a_sequence = "whose input is not a sequence (layer 0 has return_sequences false)";
  Parts head = lstm_dense();
  head.architecture = "[" + last_step_only(lstm_entry(4, 1)) + "," + dense_entry(2, 4) + "]";
  loads(file_of(head), "Dense after return_sequences false");
  Parts last = lstm_dense();
  last.architecture = "[" + lstm_entry(4, 1) + "," + last_step_only(lstm_entry(2, 4)) + "]";
  last.tensors.clear();
  add_lstm_weights(last.tensors, 0, 4, 1);
  add_lstm_weights(last.tensors, 1, 2, 4);
  loads(file_of(last), "an LSTM of sequences, then one of return_sequences false");
  Parts dense_first;
  dense_first.architecture = "[" + dense_entry(4, 1) + "," + lstm_entry(2, 4) + "]";
  add_dense_weights(dense_first.tensors, 0, 4, 1);
  add_lstm_weights(dense_first.tensors, 1, 2, 4);
  loads(file_of(dense_first), "a Dense on the model's input gives a sequence");

  Parts stacked;
  stacked.architecture = "[" + last_step_only(lstm_entry(4, 1)) + "," + lstm_entry(2, 4) + "]";
  add_lstm_weights(stacked.tensors, 0, 4, 1);
  add_lstm_weights(stacked.tensors, 1, 2, 4);
  refused(file_of(stacked), "has layer 1 (LSTM) " + not_a_sequence, "an LSTM after return_sequences false");
  Parts through_dense;
  through_dense.architecture =
      "[" + last_step_only(lstm_entry(4, 1)) + "," + dense_entry(4, 4) + "," + lstm_entry(2, 4) + "]";
  add_lstm_weights(through_dense.tensors, 0, 4, 1);
  add_dense_weights(through_dense.tensors, 1, 4, 4);
  add_lstm_weights(through_dense.tensors, 2, 2, 4);
  refused(file_of(through_dense), "has layer 2 (LSTM) " + not_a_sequence,
          "an LSTM after a Dense after return_sequences false");
  Parts time_distributed = head;
  time_distributed.architecture = "[" + last_step_only(lstm_entry(4, 1)) +
                                  ",{\"class\":\"TimeDistributed\",\"config\":{\"layer\":" + dense_entry(2, 4) + "}}]";
  refused(file_of(time_distributed), "has layer 1 (TimeDistributed) " + not_a_sequence,
          "a TimeDistributed after return_sequences false");
  Parts bidirectional_after;
  bidirectional_after.architecture = "[" + last_step_only(lstm_entry(4, 1)) +
                                     ",{\"class\":\"Bidirectional\",\"config\":{\"layer\":" + lstm_entry(2, 4) +
                                     ",\"backward_layer\":" + lstm_entry(2, 4, true) + ",\"merge_mode\":\"sum\"}}]";
  add_lstm_weights(bidirectional_after.tensors, 0, 4, 1);
  add_lstm_weights(bidirectional_after.tensors, 1, 2, 4, "forward/");
  add_lstm_weights(bidirectional_after.tensors, 1, 2, 4, "backward/");
  refused(file_of(bidirectional_after), "has layer 1 (Bidirectional) " + not_a_sequence,
          "a Bidirectional after return_sequences false");
  Parts bidirectional_before;  // a Bidirectional's output is a sequence as its forward layer's is
  bidirectional_before.architecture = "[{\"class\":\"Bidirectional\",\"config\":{\"layer\":" +
                                      last_step_only(lstm_entry(2, 1)) + ",\"backward_layer\":" +
                                      last_step_only(lstm_entry(2, 1, true)) + ",\"merge_mode\":\"sum\"}}," +
                                      lstm_entry(2, 2) + "]";
  add_lstm_weights(bidirectional_before.tensors, 0, 2, 1, "forward/");
  add_lstm_weights(bidirectional_before.tensors, 0, 2, 1, "backward/");
  add_lstm_weights(bidirectional_before.tensors, 1, 2, 2);
  refused(file_of(bidirectional_before), "has layer 1 (LSTM) " + not_a_sequence,
          "an LSTM after a Bidirectional of return_sequences false");
}

// Adam's state (2 slots per weight) for the reference model.
const char* const kAdam = "\"beta_1\":0.9,\"beta_2\":0.999,\"epsilon\":1e-07,\"amsgrad\":false";
Parts compiled(const std::string& optimizer_config = kAdam, const std::string& cls = "Adam", bool with_slots = true) {
  Parts p = lstm_dense();
  p.compile = "{\"loss\":{\"name\":\"mse\",\"config\":{}},\"optimizer\":{\"class\":\"" + cls +
              "\",\"config\":{\"learning_rate\":0.001,\"clipnorm\":null,\"clipvalue\":null,\"global_clipnorm\":null," +
              optimizer_config + "}},\"metrics\":[]}";
  const std::vector<Tensor> weights = p.tensors;
  p.tensors.push_back(int64_scalar("optimizer.iterations", 3));
  if (with_slots)
    for (const Tensor& w : weights) {
      const std::string rest = w.name.substr(7);  // "<i>.<weight>"
      const std::string param = rest.substr(0, rest.find('.')) + "/" + rest.substr(rest.find('.') + 1);
      for (int k = 0; k < 2; ++k) p.tensors.push_back(weight("optimizer." + param + "/" + std::to_string(k), w.shape));
    }
  return p;
}

void test_compile_settings() {
  loads(file_of(compiled()), "Adam with its slots");
  loads(file_of(compiled(kAdam, "Adam", false)),
        "Adam before its first step (no slots)");
  loads(file_of(compiled("\"momentum\":0.0,\"nesterov\":false", "SGD", false)), "SGD without momentum");
  refused(file_of(compiled("\"momentum\":0.0,\"nesterov\":false", "SGD", true)), "belongs to no weight",
          "slots for SGD without momentum");
  Parts p = compiled();
  p.tensors.pop_back();
  refused(file_of(p), "some but not all 2 optimizer slots of '1/bias'", "a missing slot");
  p = compiled();
  p.tensors.back() = weight(p.tensors.back().name, {3});
  refused(file_of(p), "optimizer slot 'optimizer.1/bias/1'", "a slot of the wrong shape");
  p = compiled();
  p.tensors.push_back(weight("optimizer.1/bias/2", {2}));
  refused(file_of(p), "belongs to no weight: 'optimizer.1/bias/2'", "a third Adam slot");
  p = compiled();
  p.tensors.erase(p.tensors.begin() + 5);  // optimizer.iterations
  refused(file_of(p), "has no optimizer.iterations", "no optimizer.iterations");
  p = compiled();
  p.tensors[5] = int64_scalar("optimizer.iterations", -1);
  refused(file_of(p), "has no optimizer.iterations", "optimizer.iterations < 0");
  p = compiled();
  p.compile.clear();
  refused(file_of(p), "but no compile settings", "optimizer tensors without compile settings");
  refused(file_of([] {
            Parts q = compiled();
            q.compile = replaced(q.compile, "\"metrics\":[]", "\"metrics\":[\"accuracy\"]");
            return q;
          }()),
          "metrics", "accuracy with mse");
  refused(file_of([] {
            Parts q = compiled();
            q.compile = replaced(q.compile, "\"clipnorm\":null", "\"clipnorm\":1.0");
            q.compile = replaced(q.compile, "\"global_clipnorm\":null", "\"global_clipnorm\":1.0");
            return q;
          }()),
          "both clipnorm and global_clipnorm", "clipnorm and global_clipnorm");
  refused(file_of([] {
            Parts q = compiled();
            q.compile = replaced(q.compile, "\"learning_rate\":0.001", "\"learning_rate\":0");
            return q;
          }()),
          "'learning_rate' must be a number > 0", "learning_rate 0");
  refused(file_of([] {
            Parts q = compiled();
            q.compile = replaced(q.compile, "{\"name\":\"mse\",\"config\":{}}",
                                 "{\"name\":\"bce\",\"config\":{\"from_logits\":0}}");
            return q;
          }()),
          "'from_logits' must be a boolean", "from_logits: 0");
}

// The header, architecture, compile settings and tensor set are checked before the data is read; the checksum,
// which needs the data, after them, and optimizer.iterations' value last.
void test_data_read_last() {
  Parts unchained = lstm_dense();
  unchained.architecture =
      replaced(unchained.architecture, "\"units\":4,\"input_size\":1", "\"units\":3,\"input_size\":1");
  refused(assemble(header_of(unchained), data_of(unchained), false), "taking 4 features where layer 0 gives 3",
          "an architecture that does not chain, with a wrong checksum: the architecture is named");
  Parts wrong_shape = lstm_dense();
  wrong_shape.tensors[0] = weight("layers.0.kernel", {16, 1});
  refused(assemble(header_of(wrong_shape), data_of(wrong_shape), false), "'layers.0.kernel' of the wrong shape",
          "a tensor of the wrong shape, with a wrong checksum: the tensor is named");
  Parts uncompiled = compiled();
  uncompiled.compile.clear();
  refused(assemble(header_of(uncompiled), data_of(uncompiled), false), "but no compile settings",
          "optimizer tensors without compile settings, with a wrong checksum");

  Parts negative = compiled();
  negative.tensors[5] = int64_scalar("optimizer.iterations", -1);
  std::string damaged = file_of(negative);
  damaged[damaged.size() - 1] ^= 0x01;
  refused(damaged, "do not match the checksum", "optimizer.iterations < 0 in damaged data: the checksum first");
  negative.version = "1";
  refused(file_of(negative), "has no optimizer.iterations", "optimizer.iterations < 0 (version 1)");
  damaged = file_of(negative);
  damaged[damaged.size() - 1] ^= 0x01;
  refused(damaged, "do not match the checksum", "optimizer.iterations < 0 in damaged version 1 data");

  // a header declaring 64 GiB of data in a sparse file: refused for its tensor without reading (or sizing) the data
  Parts one;
  one.architecture = lstm_dense().architecture;
  one.tensors = {weight("layers.0.kernel", {1, 16})};
  const std::uint64_t declared = std::uint64_t(1) << 36;
  const std::string header = replaced(replaced(header_of(one), "\"shape\":[1,16]", "\"shape\":[16,1073741824]"),
                                      "[0,64]", "[0," + std::to_string(declared) + "]");
  const std::string path = write("model_sparse.safetensors", assemble(header, "", true));
  std::error_code error;
  std::filesystem::resize_file(path, std::filesystem::file_size(path) + declared, error);
  if (error) {
    std::printf("note: no sparse file of 64 GiB (%s); its test is skipped\n", error.message().c_str());
  } else {
    expect_refused(outcome_of_path(path), "'layers.0.kernel' of the wrong shape or dtype: [16, 1073741824] F32",
                   "a header declaring 64 GiB of data for a tensor the architecture does not have");
  }
  std::filesystem::remove(path, error);
}

#if defined(__linux__)
std::size_t open_descriptors() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) n += entry.is_symlink() ? 1 : 0;
  return n;
}
#endif

// Reading a path: the descriptor is closed on every path out, and a path swapped for a FIFO never blocks.
void test_reading_a_path() {
  const std::string good = file_of(lstm_dense());
  std::string damaged = good;
  damaged[damaged.size() - 1] ^= 0x01;
  const std::string unchained = edited_architecture("\"units\":4,\"input_size\":1", "\"units\":3,\"input_size\":1");
  const std::vector<std::string> written = {write("model_fd_ok.safetensors", good),
                                            write("model_fd_short.safetensors", good.substr(0, 5)),
                                            write("model_fd_header.safetensors", good.substr(0, 200)),
                                            write("model_fd_damaged.safetensors", damaged),
                                            write("model_fd_chain.safetensors", unchained)};
  std::vector<std::string> paths = written;
  paths.insert(paths.end(), {"no_such_file.safetensors", std::filesystem::temp_directory_path().string()});
#if defined(__linux__)
  outcome_of_path(paths[0]);  // so that whatever the library opens once for good is open before the count
  const std::size_t before = open_descriptors();
  for (int round = 0; round < 3; ++round)
    for (const std::string& path : paths) outcome_of_path(path);
  check(open_descriptors() == before, "reading files (valid or refused at any check) leaves no descriptor open");
#endif
  check(outcome_of_path(paths[0]).empty(), "a valid file loads from its path");
  for (const std::string& path : written) std::remove(path.c_str());

  // a symbolic link swapped, again and again, between a valid file and a FIFO nobody writes to
  const auto temp = std::filesystem::temp_directory_path();
  const std::string file = write("model_swap_ok.safetensors", good), fifo = (temp / "rnnfast_swap_fifo").string(),
                    link = (temp / "rnnfast_swap_link").string(), next = (temp / "rnnfast_swap_next").string();
  for (const std::string& path : {fifo, link, next}) std::remove(path.c_str());
  if (mkfifo(fifo.c_str(), 0600) != 0 || symlink(file.c_str(), link.c_str()) != 0) {
    std::printf("note: no FIFO or symbolic link could be made; the swap test is skipped\n");
    for (const std::string& path : {file, fifo, link}) std::remove(path.c_str());
    return;
  }
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    for (bool to_fifo = false; !stop; to_fifo = !to_fifo) {
      std::remove(next.c_str());
      if (symlink((to_fifo ? fifo : file).c_str(), next.c_str()) == 0) std::rename(next.c_str(), link.c_str());
    }
  });
  alarm(60);  // a read blocked on the FIFO ends the test (as a failure) rather than hang it
  int loaded = 0, refused_fifo = 0, other = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string message = outcome_of_path(link);
    if (message.empty()) {
      ++loaded;
    } else if (message.find("is not a regular file") != std::string::npos) {
      ++refused_fifo;
    } else if (other++ == 0) {
      std::printf("  swapped path: %s\n", message.c_str());
    }
  }
  alarm(0);
  stop = true;
  swapper.join();
  check(other == 0, "a path swapped between a file and a FIFO either loads or is not a regular file");
  std::printf("note: the swapped path loaded %d times and was refused as a FIFO %d times\n", loaded, refused_fifo);
  for (const std::string& path : {file, fifo, link, next}) std::remove(path.c_str());
}

void test_hostile_sizes() {
  // SimpleRNN(4) on 2^62 + 1024 inputs: the kernel's element count wraps to 4096 in 64 bits
  Parts p;
  const std::string huge = std::to_string((std::int64_t(1) << 62) + 1024);
  p.architecture = "[" + replaced(recurrent_entry("SimpleRNN", 4, 1, ",\"activation\":\"tanh\""), "\"input_size\":1",
                                  "\"input_size\":" + huge) + "]";
  p.tensors = {weight("layers.0.kernel", {1024, 4}), weight("layers.0.recurrent_kernel", {4, 4}),
               weight("layers.0.bias", {4})};
  refused(edited_header("\"shape\":[1024,4]", "\"shape\":[" + huge + ",4]", p), "does not fit its 16384 bytes",
          "a shape whose element count wraps");
  refused(edited_header("\"shape\":[1024,4]", "\"shape\":[4294967296,4294967296,0,1024,4]", p),
          "does not fit", "a zero-element shape of large dimensions");
  refused(file_of(p), "wrong shape or dtype", "an input_size of 2^62 + 1024");
  p.architecture = "[" + replaced(lstm_entry(4, 1), "\"units\":4", "\"units\":4611686018427387904") + "]";
  refused(file_of(p), "overflow 64 bits", "an LSTM of 2^62 units (4 · units overflows)");

  const std::int64_t big = std::int64_t(1) << 40;
  const float w[16] = {};
  const auto invalid = [](auto make) {
    try {
      make();
    } catch (const std::invalid_argument&) {
      return true;
    } catch (...) {
      return false;
    }
    return false;
  };
  check(invalid([&] { rnnfast::Stream<float>(rnnfast::CellType::lstm, big, big, {w, w, w, nullptr, nullptr}); }),
        "Stream refuses sizes whose products overflow");
  check(invalid([&] {
          rnnfast::Stream<float>(rnnfast::CellType::lstm, 1, 4, {w, w, w, nullptr, nullptr}, {}, big << 20);
        }),
        "Stream refuses a batch whose buffers overflow");
  check(invalid([&] {
          rnnfast::Model<float> m;
          m.add_dense(big, big, w, nullptr);
        }),
        "Model::add_dense refuses sizes whose product overflows");
  check(invalid([&] {
          rnnfast::Model<float> m;
          m.add_recurrent(rnnfast::CellType::gru, std::int64_t(1) << 62, 4, {w, w, w, nullptr, nullptr});
        }),
        "Model::add_recurrent refuses sizes whose products overflow");
  check(invalid([&] { rnnfast::StackedStep<float>(rnnfast::CellType::lstm, big, big, {w, w, w, nullptr, nullptr}); }),
        "StackedStep refuses sizes whose products overflow");
  check(invalid([&] {
          rnnfast::Model<float> m;
          m.add_dense(1, 1, w, nullptr);
          float x = 0, y = 0;
          m.run(&x, big, big, &y);
        }),
        "Model::run refuses batch × time that overflows");
}

}  // namespace

int main() {
  check(rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>("abc"), 3) ==
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-256 of 'abc'");
  test_valid_files_load_and_match_code();
  test_container();
  test_header();
  test_json();
  test_numbers_in_another_locale();
  test_architecture();
  test_sequences();
  test_compile_settings();
  test_data_read_last();
  test_reading_a_path();
  test_hostile_sizes();
  std::printf("%s\n", g_failures == 0 ? "all model-file tests passed" : "model-file tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
