// Python 3 `str` operations over UTF-8 text, as the harness's templates apply them: lengths
// are code points, strip() uses Python's whitespace set, capitalize() title-cases the first
// character and lower-cases the rest.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace qlab {

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629), or npos.
size_t first_invalid_utf8(std::string_view text);

// Code points of `text`; fails on malformed UTF-8.
std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view code_points);

int64_t code_point_count(std::string_view text);  // len(text)
std::string python_strip(std::string_view text);  // text.strip()
// text.replace(from, to): non-overlapping matches, left to right; `from` is not empty.
std::string python_replace(std::string_view text, std::string_view from, std::string_view to);
std::string python_capitalize(std::string_view text);  // text.capitalize()

}  // namespace qlab
