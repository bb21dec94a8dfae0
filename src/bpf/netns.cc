#include "bpf/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/vfs.h>

#include <cerrno>
#include <thread>

#include "base/unique_fd.h"

namespace bpfex::bpf {

bool isNetnsName(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

base::Status inNetns(const std::string& netns, const std::function<base::Status()>& fn) {
  if (netns.empty()) return fn();
  const std::string path = netns.find('/') == std::string::npos ? "/var/run/netns/" + netns : netns;
  // O_NONBLOCK: a FIFO (or any file that waits on open) named here must
  // not park the caller, which is the engine thread for a rule's lookup.
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return base::Error::fromErrno(errno, "open network namespace " + path);
  struct statfs fs {};
  if (fstatfs(fd.get(), &fs) != 0 || fs.f_type != NSFS_MAGIC)
    return base::Error::msg("open network namespace " + path + ": not a namespace file");
  base::Status result;
  // setns() changes only the calling thread's namespace; this thread ends
  // right after, so nothing else ever runs in the wrong namespace.
  std::thread t([&] {
    if (setns(fd.get(), CLONE_NEWNET) != 0) {
      result = base::Error::fromErrno(errno, "enter network namespace " + path);
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

}  // namespace bpfex::bpf
