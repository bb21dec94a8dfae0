#include "bpf/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <thread>

#include "base/unique_fd.h"

namespace bpfex::bpf {

base::Status inNetns(const std::string& netns, const std::function<base::Status()>& fn) {
  if (netns.empty()) return fn();
  const std::string path = netns.find('/') == std::string::npos ? "/var/run/netns/" + netns : netns;
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::Error::fromErrno(errno, "open network namespace " + path);
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
