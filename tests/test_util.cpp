// core/util/: the one string splitter, the name↔enum tables and the text of a sweep point.
#include <catch2/catch.hpp>

#include "util/error.h"
#include "util/name_table.h"
#include "util/split.h"
#include "util/sweep_point.h"

using namespace qlab;

TEST_CASE("split keeps every part between separators, or only the non-empty ones", "[util]") {
  using V = std::vector<std::string>;
  CHECK(split("a,b,,c", ',') == V{"a", "b", "", "c"});
  CHECK(split("a,b,,c", ',', EmptyParts::skip) == V{"a", "b", "c"});
  CHECK(split(":/x::/y:", ':') == V{"", "/x", "", "/y", ""});
  CHECK(split(":/x::/y:", ':', EmptyParts::skip) == V{"/x", "/y"});
  CHECK(split("", '.') == V{""});
  CHECK(split("", '.', EmptyParts::skip).empty());
  CHECK(split("quant.bits", '.') == V{"quant", "bits"});
}

namespace {
enum class Colour { red, green, blue };
constexpr NameTable<Colour, 3> kColours{{{{Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}}}};
}  // namespace

TEST_CASE("a name table maps names to values and back, and lists the names when one is unknown", "[util]") {
  for (Colour c : {Colour::red, Colour::green, Colour::blue}) CHECK(kColours.parse(kColours.name(c), "colour") == c);
  CHECK(std::string(kColours.name(Colour::green)) == "green");
  CHECK(kColours.find("blue") == Colour::blue);
  CHECK_FALSE(kColours.find("Blue").has_value());
  CHECK(kColours.names() == "red, green, blue");
  CHECK_THROWS_WITH(kColours.parse("mauve", "f.toml:3: paint.colour"), "f.toml:3: paint.colour 'mauve' is not one of red, green, blue");
}

TEST_CASE("a sweep point reads as axis=value pairs in axis order", "[util]") {
  CHECK(setting_text({}) == "");
  CHECK(setting_text({{"quant.bits", "4"}, {"pipeline", "awq+rtn(search='mse')"}}) == "quant.bits=4 pipeline=awq+rtn(search='mse')");
}
