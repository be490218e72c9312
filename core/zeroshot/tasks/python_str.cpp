#include "zeroshot/tasks/python_str.h"

#include <locale.h>
#include <wctype.h>

#include "util/error.h"

namespace qlab {

namespace {
// Decodes the code point at `pos`; its byte length, or 0 when the bytes there are not
// well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF included).
int decode_one(std::string_view s, size_t pos, char32_t& out) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) {
    out = b0;
    return 1;
  }
  int len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  if (byte(pos + 1) < lo || byte(pos + 1) > hi) return 0;
  char32_t c = b0 & (0xFF >> (len + 1));
  for (int i = 1; i < len; ++i) {
    if (i > 1 && (byte(pos + i) & 0xC0) != 0x80) return 0;
    c = (c << 6) | (byte(pos + i) & 0x3F);
  }
  out = c;
  return len;
}

// Python's str.isspace() set (Py_UNICODE_ISSPACE).
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Unicode's simple case mappings come from glibc's C.UTF-8 locale, so they do not depend on
// the process locale.
locale_t unicode_locale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
  if (!locale) fail("case mapping of non-ASCII text needs the C.UTF-8 locale, which this system lacks");
  return locale;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), unicode_locale()));
}

// Title case differs from upper case for the Latin digraphs DŽ, LJ, NJ, DZ and for Georgian
// Mkhedruli, which has no title-case form.
char32_t to_title(char32_t c) {
  if (c >= 0x10D0 && c <= 0x10FF) return c;
  if (c >= 0x1C4 && c <= 0x1C6) return 0x1C5;
  if (c >= 0x1C7 && c <= 0x1C9) return 0x1C8;
  if (c >= 0x1CA && c <= 0x1CC) return 0x1CB;
  if (c >= 0x1F1 && c <= 0x1F3) return 0x1F2;
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), unicode_locale()));
}
}  // namespace

size_t first_invalid_utf8(std::string_view text) {
  char32_t c = 0;
  for (size_t pos = 0; pos < text.size();) {
    const int len = decode_one(text, pos, c);
    if (len == 0) return pos;
    pos += len;
  }
  return std::string_view::npos;
}

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  char32_t c = 0;
  for (size_t pos = 0; pos < text.size();) {
    const int len = decode_one(text, pos, c);
    if (len == 0) fail("malformed UTF-8 at byte {} of \"{}\"", pos, text.substr(0, 80));
    out.push_back(c);
    pos += len;
  }
  return out;
}

std::string utf8_encode(std::u32string_view code_points) {
  std::string out;
  for (char32_t c : code_points) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

int64_t code_point_count(std::string_view text) { return static_cast<int64_t>(utf8_decode(text).size()); }

std::string python_strip(std::string_view text) {
  const std::u32string cps = utf8_decode(text);
  size_t begin = 0, end = cps.size();
  while (begin < end && is_python_space(cps[begin])) ++begin;
  while (end > begin && is_python_space(cps[end - 1])) --end;
  return utf8_encode(std::u32string_view(cps).substr(begin, end - begin));
}

std::string python_replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit = text.find(from); hit != std::string_view::npos; hit = text.find(from, pos)) {
    out.append(text.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  return out.append(text.substr(pos));
}

// Python maps with Unicode's full case mappings; the only multi-character lower-case one is
// U+0130 (İ → i̇). Over every code point, glibc 2.36's one-character mappings agree with
// CPython 3.11's; the final-sigma rule (Σ → ς at a word end) and the 48 multi-character title
// cases of a first character (ß → Ss, ligatures) are not reproduced.
std::string python_capitalize(std::string_view text) {
  std::u32string out;
  const std::u32string cps = utf8_decode(text);
  for (size_t i = 0; i < cps.size(); ++i) {
    if (i == 0) {
      out.push_back(to_title(cps[i]));
    } else if (cps[i] == 0x130) {
      out += U"i\u0307";
    } else {
      out.push_back(to_lower(cps[i]));
    }
  }
  return utf8_encode(out);
}

}  // namespace qlab
