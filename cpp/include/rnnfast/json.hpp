// A small JSON reader for model files: values, arrays, objects, strings (with escapes), numbers, true/false/null.
// It reads what rnnfast writes (and any well-formed JSON); malformed input throws ModelFileError with the
// offset of the problem. Not for speed: a model file's header is a few kilobytes, read once.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnnfast {

// Everything wrong with a model file: unreadable, truncated, damaged, or describing something rnnfast cannot build.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }

  // Typed access; a value of another kind throws ModelFileError naming `what`.
  bool as_bool(const char* what) const { return expect(Kind::boolean, what).boolean_; }
  double as_number(const char* what) const { return expect(Kind::number, what).number_; }
  long long as_integer(const char* what) const {
    const double v = as_number(what);
    if (v != static_cast<double>(static_cast<long long>(v)))
      throw ModelFileError(std::string(what) + " must be an integer");
    return static_cast<long long>(v);
  }
  const std::string& as_string(const char* what) const { return expect(Kind::string, what).string_; }
  const std::vector<Json>& as_array(const char* what) const { return expect(Kind::array, what).array_; }
  const std::map<std::string, Json>& as_object(const char* what) const { return expect(Kind::object, what).object_; }

  // Member `key` of an object, or nullptr.
  const Json* find(const std::string& key) const {
    if (kind_ != Kind::object) return nullptr;
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &it->second;
  }
  const Json& at(const std::string& key) const {
    const Json* v = find(key);
    if (v == nullptr) throw ModelFileError("missing entry '" + key + "'");
    return *v;
  }

  static Json parse(const std::string& text) {
    Parser p{text, 0};
    Json v = p.value(0);
    p.skip_space();
    if (p.pos != text.size()) p.fail("text after the JSON value");
    return v;
  }

 private:
  const Json& expect(Kind k, const char* what) const {
    if (kind_ != k) throw ModelFileError(std::string(what) + " has the wrong JSON type");
    return *this;
  }

  struct Parser {
    const std::string& s;
    std::size_t pos;

    [[noreturn]] void fail(const std::string& why) const {
      throw ModelFileError("malformed JSON at offset " + std::to_string(pos) + ": " + why);
    }
    void skip_space() {
      while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) ++pos;
    }
    char peek() {
      skip_space();
      if (pos >= s.size()) fail("unexpected end");
      return s[pos];
    }
    void expect_word(const char* word) {
      for (const char* c = word; *c; ++c, ++pos)
        if (pos >= s.size() || s[pos] != *c) fail(std::string("expected '") + word + "'");
    }

    Json value(int depth) {
      if (depth > 64) fail("nesting too deep");
      Json v;
      const char c = peek();
      if (c == '{') {
        v.kind_ = Kind::object;
        ++pos;
        if (peek() == '}') {
          ++pos;
          return v;
        }
        while (true) {
          if (peek() != '"') fail("expected a string key");
          std::string key = string();
          if (peek() != ':') fail("expected ':'");
          ++pos;
          v.object_[key] = value(depth + 1);
          const char d = peek();
          ++pos;
          if (d == '}') return v;
          if (d != ',') fail("expected ',' or '}'");
        }
      }
      if (c == '[') {
        v.kind_ = Kind::array;
        ++pos;
        if (peek() == ']') {
          ++pos;
          return v;
        }
        while (true) {
          v.array_.push_back(value(depth + 1));
          const char d = peek();
          ++pos;
          if (d == ']') return v;
          if (d != ',') fail("expected ',' or ']'");
        }
      }
      if (c == '"') {
        v.kind_ = Kind::string;
        v.string_ = string();
        return v;
      }
      if (c == 't' || c == 'f') {
        v.kind_ = Kind::boolean;
        v.boolean_ = c == 't';
        expect_word(c == 't' ? "true" : "false");
        return v;
      }
      if (c == 'n') {
        expect_word("null");
        return v;
      }
      v.kind_ = Kind::number;
      v.number_ = number();
      return v;
    }

    double number() {
      const std::size_t start = pos;
      if (pos < s.size() && s[pos] == '-') ++pos;
      while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.' || s[pos] == 'e' ||
                                s[pos] == 'E' || s[pos] == '+' || s[pos] == '-'))
        ++pos;
      const std::string text = s.substr(start, pos - start);
      if (text.empty() || text == "-") fail("expected a value");
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) fail("malformed number '" + text + "'");
      return v;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
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

    std::string string() {
      ++pos;  // the opening quote
      std::string out;
      while (true) {
        if (pos >= s.size()) fail("unterminated string");
        const char c = s[pos++];
        if (c == '"') return out;
        if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
        if (c != '\\') {
          out += c;
          continue;
        }
        if (pos >= s.size()) fail("unterminated escape");
        const char e = s[pos++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            std::uint32_t cp = hex4();
            if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
              if (pos + 2 > s.size() || s[pos] != '\\' || s[pos + 1] != 'u') fail("lone surrogate");
              pos += 2;
              const std::uint32_t low = hex4();
              if (low < 0xDC00 || low >= 0xE000) fail("bad surrogate pair");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: fail("unknown escape");
        }
      }
    }
  };

  Kind kind_ = Kind::null;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
};

}  // namespace rnnfast
