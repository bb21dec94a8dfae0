// bpf::inNetns and the names rules may pass (bpf/netns.h): a path that is
// not a namespace file is refused without blocking, whatever it is.
#include "bpf/netns.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

namespace bpfex::bpf {
namespace {

namespace fs = std::filesystem;

TEST(Netns, NamesAreNamesNotPaths) {
  EXPECT_TRUE(isNetnsName("bpfex-demo-a"));
  EXPECT_FALSE(isNetnsName(""));
  EXPECT_FALSE(isNetnsName("."));
  EXPECT_FALSE(isNetnsName(".."));
  EXPECT_FALSE(isNetnsName("/tmp/fifo"));
  EXPECT_FALSE(isNetnsName("a/../b"));
  EXPECT_FALSE(isNetnsName(std::string(256, 'n')));
  EXPECT_FALSE(isNetnsName(std::string("a\0b", 3)));
}

// A FIFO with no writer used to park the caller in open() forever.
TEST(Netns, AFifoOrAFileIsRefusedAtOnce) {
  const fs::path dir = fs::temp_directory_path() / ("bpfex-netns-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string fifo = (dir / "fifo").string(), file = (dir / "file").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(file) << "x";
  for (const std::string& path : {fifo, file, std::string("/dev/null")}) {
    bool ran = false;
    auto call = std::async(std::launch::async, [&] {
      return inNetns(path, [&]() -> base::Status {
        ran = true;
        return base::okStatus();
      });
    });
    ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready) << path << " blocked";
    const base::Status st = call.get();
    ASSERT_FALSE(st.ok()) << path;
    EXPECT_NE(st.error().message().find("not a namespace file"), std::string::npos) << st.error().message();
    EXPECT_FALSE(ran);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bpfex::bpf
