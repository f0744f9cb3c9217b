// The JSON reader of model files, strict as docs/model-file-format.md demands: RFC 8259 JSON in valid UTF-8
// (no overlong forms, no encoded surrogates, no lone \u surrogates), only the JSON number grammar, finite
// numbers, integers (no fraction, no exponent) within int64, no repeated key in an object, at most 64 nested
// arrays and objects, nothing after the value but JSON whitespace. Malformed input throws ModelFileError with the
// offset of the problem. Numbers are read independently of the process locale.
//
// A parsed text is compact (a 1 MiB header stays a few times its size): every value is one node in document
// order, a container's members follow it, and strings are decoded into one buffer. Values are light views
// into their Json, valid while it lives.
#pragma once

// Part of model_file.hpp, which declares ModelFileError before it includes this reader.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rnnfast {

class Json {
 public:
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
  static constexpr int kMaxDepth = 64;  // nested arrays and objects, the outermost counting as one

 private:
  struct Node {
    Kind kind = Kind::null;
    bool integer = false;     // a number written without fraction and exponent
    std::uint32_t count = 0;  // elements or members of a container; bytes of a string
    std::uint32_t end = 0;    // the index after this value and everything inside it
    union {
      bool boolean;
      std::int64_t integer_value;
      double number;
      std::uint64_t offset;  // of a string in the string buffer
    } u{};
  };

 public:
  class Value {
   public:
    Kind kind() const noexcept { return node().kind; }
    bool is(Kind k) const noexcept { return kind() == k; }
    bool is_integer() const noexcept { return is(Kind::number) && node().integer; }

    bool boolean() const { return expect(Kind::boolean).u.boolean; }
    std::int64_t integer() const {
      if (!is_integer()) throw ModelFileError("a JSON value is not an integer");
      return node().u.integer_value;
    }
    double number() const {
      const Node& n = expect(Kind::number);
      return n.integer ? static_cast<double>(n.u.integer_value) : n.u.number;
    }
    std::string_view string() const {
      const Node& n = expect(Kind::string);
      return {strings_ + n.u.offset, n.count};
    }

    // Elements of an array; members of an object, in the text's order.
    std::size_t size() const {
      if (!is(Kind::array) && !is(Kind::object)) throw ModelFileError("a JSON value is not a container");
      return node().count;
    }
    std::vector<Value> elements() const {
      const Node& n = expect(Kind::array);
      std::vector<Value> out;
      out.reserve(n.count);
      for (std::uint32_t i = index_ + 1; i < n.end; i = nodes_[i].end) out.push_back(at(i));
      return out;
    }
    std::vector<std::pair<std::string_view, Value>> members() const {
      const Node& n = expect(Kind::object);
      std::vector<std::pair<std::string_view, Value>> out;
      out.reserve(n.count);
      for (std::uint32_t key = index_ + 1; key < n.end; key = nodes_[key + 1].end)
        out.emplace_back(at(key).string(), at(key + 1));
      return out;
    }
    std::optional<Value> find(std::string_view name) const {
      const Node& n = expect(Kind::object);
      for (std::uint32_t key = index_ + 1; key < n.end; key = nodes_[key + 1].end)
        if (at(key).string() == name) return at(key + 1);
      return std::nullopt;
    }

   private:
    friend class Json;
    Value(const Node* nodes, const char* strings, std::uint32_t index) noexcept
        : nodes_(nodes), strings_(strings), index_(index) {}
    const Node& node() const noexcept { return nodes_[index_]; }
    Value at(std::uint32_t index) const noexcept { return {nodes_, strings_, index}; }
    const Node& expect(Kind k) const {
      if (kind() != k) throw ModelFileError("a JSON value has the wrong type");
      return node();
    }

    const Node* nodes_;
    const char* strings_;
    std::uint32_t index_;
  };

  // The value of a whole JSON text; ModelFileError when the text is not strict JSON (see the top).
  static Json parse(std::string_view text) {
    if (text.size() > UINT32_MAX / 2) throw ModelFileError("malformed JSON: the text is too long");
    Json json;
    Parser p{text, json};
    p.skip_space();
    p.value(1);
    p.skip_space();
    if (p.pos != text.size()) p.fail("text after the JSON value");
    return json;
  }

  // Valid while this Json lives (moving it keeps them valid: nodes and strings stay where they are).
  Value root() const noexcept { return Value(nodes_.data(), strings_.data(), 0); }

 private:
  struct Parser {
    std::string_view s;
    Json& out;
    std::size_t pos = 0;

    [[noreturn]] void fail(const std::string& why) const {
      throw ModelFileError("malformed JSON at offset " + std::to_string(pos) + ": " + why);
    }
    void skip_space() noexcept {
      while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) ++pos;
    }
    char peek() {
      skip_space();
      if (pos >= s.size()) fail("unexpected end");
      return s[pos];
    }
    bool digit_at(std::size_t i) const noexcept { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

    std::uint32_t add(Kind kind) {
      const auto index = static_cast<std::uint32_t>(out.nodes_.size());
      out.nodes_.emplace_back();
      out.nodes_.back().kind = kind;
      return index;
    }
    void close(std::uint32_t index) noexcept { out.nodes_[index].end = static_cast<std::uint32_t>(out.nodes_.size()); }

    void value(int depth) {
      const char c = peek();
      if (c == '{' || c == '[') {
        if (depth > kMaxDepth) fail("more than " + std::to_string(kMaxDepth) + " nested arrays and objects");
        return c == '{' ? object(depth) : array(depth);
      }
      if (c == '"') return close(string());
      if (c == 't' || c == 'f' || c == 'n') {
        const std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (s.substr(pos, word.size()) != word) fail("unexpected character");
        pos += word.size();
        const std::uint32_t index = add(c == 'n' ? Kind::null : Kind::boolean);
        out.nodes_[index].u.boolean = c == 't';
        return close(index);
      }
      if (c == '-' || (c >= '0' && c <= '9')) return number();
      fail("unexpected character");
    }

    void array(int depth) {
      const std::uint32_t index = add(Kind::array);
      ++pos;
      std::uint32_t count = 0;
      if (peek() != ']') {
        while (true) {
          value(depth + 1);
          ++count;
          const char d = peek();
          ++pos;
          if (d == ']') break;
          if (d != ',') fail("expected ',' or ']'");
        }
      } else {
        ++pos;
      }
      out.nodes_[index].count = count;
      close(index);
    }

    void object(int depth) {
      const std::uint32_t index = add(Kind::object);
      const std::size_t start = pos;
      ++pos;
      std::uint32_t count = 0;
      if (peek() != '}') {
        while (true) {
          if (peek() != '"') fail("expected a string key");
          close(string());
          if (peek() != ':') fail("expected ':'");
          ++pos;
          value(depth + 1);
          ++count;
          const char d = peek();
          ++pos;
          if (d == '}') break;
          if (d != ',') fail("expected ',' or '}'");
        }
      } else {
        ++pos;
      }
      out.nodes_[index].count = count;
      close(index);
      if (count > 1) refuse_repeated_keys(index, start);
    }

    void refuse_repeated_keys(std::uint32_t object, std::size_t start) const {
      const Value v = Value(out.nodes_.data(), out.strings_.data(), object);
      std::vector<std::string_view> keys;
      keys.reserve(out.nodes_[object].count);
      for (const auto& member : v.members()) keys.push_back(member.first);
      std::sort(keys.begin(), keys.end());
      const auto repeated = std::adjacent_find(keys.begin(), keys.end());
      if (repeated != keys.end())
        throw ModelFileError("malformed JSON at offset " + std::to_string(start) + ": the object repeats the key '" +
                             std::string(*repeated) + "'");
    }

    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    void number() {
      const std::size_t start = pos;
      if (s[pos] == '-') ++pos;
      if (!digit_at(pos)) fail("malformed number");
      if (s[pos] == '0') {
        ++pos;
      } else {
        while (digit_at(pos)) ++pos;
      }
      const std::size_t integer_end = pos;
      bool integer = true;
      if (pos < s.size() && s[pos] == '.') {
        integer = false;
        ++pos;
        if (!digit_at(pos)) fail("malformed number: no digit after '.'");
        while (digit_at(pos)) ++pos;
      }
      std::size_t exponent_at = 0;
      if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
        integer = false;
        ++pos;
        if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) ++pos;
        exponent_at = pos;
        if (!digit_at(pos)) fail("malformed number: no digit in the exponent");
        while (digit_at(pos)) ++pos;
      }
      const char* first = s.data() + start;
      const char* last = s.data() + pos;
      const std::uint32_t index = add(Kind::number);
      Node& n = out.nodes_[index];
      n.integer = integer;
      if (integer) {
        const auto r = std::from_chars(first, last, n.u.integer_value);
        if (r.ec != std::errc() || r.ptr != last) fail("integer outside [-2^63, 2^63)");
      } else {
        const auto r = std::from_chars(first, last, n.u.number, std::chars_format::general);
        if (r.ec == std::errc::result_out_of_range) {
          if (overflows(start, integer_end, exponent_at)) fail("number too large for a double");
          n.u.number = *first == '-' ? -0.0 : 0.0;  // too small: rounds to zero, as in any JSON reader
        } else if (r.ec != std::errc() || r.ptr != last) {
          fail("malformed number");
        }
      }
      close(index);
    }

    // Whether a finite literal that from_chars found out of range is too large (not too small): its magnitude is
    // at least 1, i.e. 10^e times a first significant digit with e = (integer digits − 1) + exponent ≥ 0, or
    // −(zeros after the point + 1) + exponent.
    bool overflows(std::size_t start, std::size_t integer_end, std::size_t exponent_at) const {
      std::size_t i = start + (s[start] == '-' ? 1 : 0);
      long long scale = 0;
      if (s[i] != '0') {
        scale = static_cast<long long>(integer_end - i) - 1;
      } else {
        std::size_t j = integer_end + 1;  // past the point (an out-of-range zero has a fraction or exponent)
        while (j < s.size() && s[j] == '0') ++j;
        if (!digit_at(j)) return false;  // all zeros: never out of range
        scale = -static_cast<long long>(j - integer_end);
      }
      if (exponent_at == 0) return scale >= 0;
      const bool negative = s[exponent_at - 1] == '-';
      long long exponent = 0;
      for (std::size_t k = exponent_at; digit_at(k); ++k) exponent = std::min(exponent * 10 + (s[k] - '0'), 1LL << 40);
      return scale + (negative ? -exponent : exponent) >= 0;
    }

    std::uint32_t hex4() {
      if (pos + 4 > s.size()) fail("truncated \\u escape");
      std::uint32_t cp = 0;
      for (int i = 0; i < 4; ++i) {
        const char h = s[pos++];
        cp <<= 4;
        if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
        else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
        else fail("bad \\u escape");
      }
      return cp;
    }

    static void append_utf8(std::vector<char>& to, std::uint32_t cp) {
      if (cp < 0x80) {
        to.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        to.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        to.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        to.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        to.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        to.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        to.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        to.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        to.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        to.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }

    // The length of the well-formed UTF-8 sequence at pos (Unicode's table 3-7: no overlong forms, no
    // surrogates, nothing above U+10FFFF), or 0.
    std::size_t utf8_length() const noexcept {
      const auto byte = [&](std::size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0; };
      const auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
      const unsigned char b0 = byte(pos), b1 = byte(pos + 1);
      const auto tail = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i)
          if (!in(byte(pos + i), 0x80, 0xBF)) return false;
        return true;
      };
      if (in(b0, 0xC2, 0xDF)) return tail(1, 2) ? 2 : 0;
      if (b0 == 0xE0) return in(b1, 0xA0, 0xBF) && tail(2, 3) ? 3 : 0;
      if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) return tail(1, 3) ? 3 : 0;
      if (b0 == 0xED) return in(b1, 0x80, 0x9F) && tail(2, 3) ? 3 : 0;
      if (b0 == 0xF0) return in(b1, 0x90, 0xBF) && tail(2, 4) ? 4 : 0;
      if (in(b0, 0xF1, 0xF3)) return tail(1, 4) ? 4 : 0;
      if (b0 == 0xF4) return in(b1, 0x80, 0x8F) && tail(2, 4) ? 4 : 0;
      return 0;
    }

    // A string at pos (its opening quote): its node, the decoded bytes appended to the string buffer.
    std::uint32_t string() {
      const std::uint32_t index = add(Kind::string);
      std::vector<char>& to = out.strings_;
      const std::size_t offset = to.size();
      ++pos;
      while (true) {
        if (pos >= s.size()) fail("unterminated string");
        const auto c = static_cast<unsigned char>(s[pos]);
        if (c == '"') {
          ++pos;
          break;
        }
        if (c < 0x20) fail("control character in a string");
        if (c >= 0x80) {
          const std::size_t n = utf8_length();
          if (n == 0) fail("invalid UTF-8");
          to.insert(to.end(), s.begin() + pos, s.begin() + pos + n);
          pos += n;
          continue;
        }
        ++pos;
        if (c != '\\') {
          to.push_back(static_cast<char>(c));
          continue;
        }
        if (pos >= s.size()) fail("unterminated escape");
        const char e = s[pos++];
        switch (e) {
          case '"': to.push_back('"'); break;
          case '\\': to.push_back('\\'); break;
          case '/': to.push_back('/'); break;
          case 'b': to.push_back('\b'); break;
          case 'f': to.push_back('\f'); break;
          case 'n': to.push_back('\n'); break;
          case 'r': to.push_back('\r'); break;
          case 't': to.push_back('\t'); break;
          case 'u': {
            std::uint32_t cp = hex4();
            if (cp >= 0xDC00 && cp < 0xE000) fail("lone surrogate escape");
            if (cp >= 0xD800 && cp < 0xDC00) {
              if (pos + 2 > s.size() || s[pos] != '\\' || s[pos + 1] != 'u') fail("lone surrogate escape");
              pos += 2;
              const std::uint32_t low = hex4();
              if (low < 0xDC00 || low >= 0xE000) fail("lone surrogate escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(to, cp);
            break;
          }
          default: fail("unknown escape");
        }
      }
      Node& n = out.nodes_[index];
      n.u.offset = offset;
      n.count = static_cast<std::uint32_t>(to.size() - offset);
      return index;
    }
  };

  std::vector<Node> nodes_;
  std::vector<char> strings_;
};

}  // namespace rnnfast
