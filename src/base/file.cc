#include "base/file.h"

#include <cerrno>
#include <cstdio>
#include <fstream>

namespace bpfex::base {

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  // Read to the end rather than trusting the size: /proc and sysfs files
  // report 0 bytes.
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::fromErrno(errno, "read " + path);
  std::string s;
  char buf[16384];
  while (in) {
    in.read(buf, sizeof buf);
    s.append(buf, static_cast<size_t>(in.gcount()));
    if (s.size() > max_bytes)
      return Error::msg("read " + path + ": more than the " + std::to_string(max_bytes) + " bytes allowed");
  }
  if (in.bad()) return Error::fromErrno(errno ? errno : EIO, "read " + path);
  return s;
}

Status writeFileAtomic(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out.flush()) return Error::fromErrno(errno ? errno : EIO, "write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Error::fromErrno(errno, "rename " + tmp + " to " + path);
  return okStatus();
}

}  // namespace bpfex::base
