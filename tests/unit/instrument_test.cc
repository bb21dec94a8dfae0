#include "lua/instrument.h"

#include <gtest/gtest.h>

namespace bpfex::lua {
namespace {

std::string inst(const std::string& s) {
  auto r = instrumentSource(s, "t.lua");
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? r.value() : "";
}

TEST(Instrument, ChecksEveryLoopBodyGotoAndFunctionEntry) {
  EXPECT_EQ(inst("while x do y() end"), "while x do __bpfex_chk()  y() end");
  EXPECT_EQ(inst("for i=1,2 do end"), "for i=1,2 do __bpfex_chk()  end");
  EXPECT_EQ(inst("repeat until x"), "repeat __bpfex_chk()  until x");
  EXPECT_EQ(inst("goto top"), " __bpfex_chk() goto top");
  EXPECT_EQ(inst("local f = function(a, b) return a end"), "local f = function(a, b) __bpfex_chk()  return a end");
  EXPECT_EQ(inst("local function f(t) end"), "local function f(t) __bpfex_chk()  end");
}

TEST(Instrument, LeavesStringsCommentsAndFieldsAlone) {
  EXPECT_EQ(inst("s = 'do while' .. \"repeat\""), "s = 'do while' .. \"repeat\"");
  EXPECT_EQ(inst("-- do repeat\nx = 1"), "-- do repeat\nx = 1");
  EXPECT_EQ(inst("x = [[ do\n ]] --[==[ repeat ]==]"), "x = [[ do\n ]] --[==[ repeat ]==]");
  EXPECT_EQ(inst("t.do_it = 1; t:repeat_it()"), "t.do_it = 1; t:repeat_it()");
  EXPECT_EQ(inst("s = 'it\\'s do'"), "s = 'it\\'s do'");
}

TEST(Instrument, KeepsLineNumbers) {
  const std::string src = "local a = 1\nwhile true do\n  error('x')\nend\n";
  const std::string out = inst(src);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), std::count(src.begin(), src.end(), '\n'));
}

TEST(Instrument, RejectsTheReservedNameAndBrokenText) {
  EXPECT_FALSE(instrumentSource("local __bpfex_chk = 1", "t.lua").ok());
  auto r = instrumentSource("x = 1\ns = 'open", "t.lua");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "t.lua:2: unfinished string");
  EXPECT_FALSE(instrumentSource("x = [[ never closed", "t.lua").ok());
}

}  // namespace
}  // namespace bpfex::lua
