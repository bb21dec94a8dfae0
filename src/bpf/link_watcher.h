// LinkWatcher: the network interfaces of one namespace, followed through the
// kernel's link notifications (rtnetlink, RTMGRP_LINK), never by listing them
// again. It opens a NETLINK_ROUTE socket in the namespace (a socket stays in
// the namespace it was made in), lists the links once, then reports every
// link that appears, changes name or goes.
// Thread safety: one thread at a time; fd() may be polled from another.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bpfex::bpf {

struct LinkEvent {
  enum class Kind : uint8_t { kPresent, kGone };
  Kind kind;
  int ifindex;
  std::string name;
};

class LinkWatcher {
 public:
  // Subscribes first, then lists: a link made between the two is reported
  // twice (present), never missed.
  static base::Result<LinkWatcher> open(const std::string& netns);
  const std::string& netns() const { return netns_; }
  // The links when the watcher opened (kPresent each).
  std::vector<LinkEvent> initial() { return std::move(initial_); }
  // What the kernel reported since the last call, without blocking. An
  // overflowed socket (ENOBUFS: too many changes at once) lists the links
  // again and reports them all as present; `resynced` says so.
  base::Result<std::vector<LinkEvent>> drain(bool* resynced = nullptr);
  int fd() const { return sock_.get(); }

 private:
  LinkWatcher() = default;
  base::Result<std::vector<LinkEvent>> list();
  base::Status receive(std::vector<LinkEvent>& out, bool dump, bool* overflow);

  std::string netns_;
  base::UniqueFd sock_;   // notifications
  base::UniqueFd query_;  // dumps (a separate socket: a dump never interleaves with events)
  std::vector<LinkEvent> initial_;
  uint32_t seq_ = 1;
};

}  // namespace bpfex::bpf
