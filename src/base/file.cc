#include "base/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "base/unique_fd.h"

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
  // Crash-consistent: the new contents reach the disk (fsync) before the
  // rename makes them the file, and the rename reaches it (fsync of the
  // directory) before this returns. Without the first, a power cut after
  // the rename could leave an empty file under the old name.
  const std::string tmp = path + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return Error::fromErrno(errno, "write " + tmp);
    for (size_t done = 0; done < contents.size();) {
      const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        ::unlink(tmp.c_str());
        return Error::fromErrno(err, "write " + tmp);
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return Error::fromErrno(err, "fsync " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error::fromErrno(err, "rename " + tmp + " to " + path);
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid() || ::fsync(d.get()) != 0) return Error::fromErrno(errno, "fsync " + dir);
  return okStatus();
}

}  // namespace bpfex::base
