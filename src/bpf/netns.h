// Running a step inside another network namespace: XDP and TC attach by
// ifindex in the caller's namespace, so attaching to an interface in a named
// namespace (`ip netns add NAME`) happens on a short-lived thread that joins
// it; the daemon's own threads never change namespace.
#pragma once

#include <functional>
#include <string>

#include "base/result.h"

namespace bpfex::bpf {

// Runs fn in network namespace `netns` (a name under /var/run/netns, or a
// path); an empty name runs fn on the calling thread. The path is opened
// without blocking and must be a namespace file (nsfs), else an error.
base::Status inNetns(const std::string& netns, const std::function<base::Status()>& fn);
// A namespace name as `ip netns` makes them (what rules may pass): no '/',
// not "." or "..", at most 255 bytes, not empty.
bool isNetnsName(const std::string& name);

}  // namespace bpfex::bpf
