#include "base/file.h"

#include <cerrno>
#include <cstdio>
#include <fstream>

namespace bpfex::base {

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Error::fromErrno(errno, "read " + path);
  const std::streamoff size = in.tellg();
  if (size < 0) return Error::fromErrno(errno, "read " + path);
  if (static_cast<size_t>(size) > max_bytes)
    return Error::msg("read " + path + ": " + std::to_string(size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " allowed");
  std::string s(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(s.data(), size);
  if (in.gcount() != size) return Error::fromErrno(errno ? errno : EIO, "read " + path);
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
