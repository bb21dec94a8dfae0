#include "bpf/link_watcher.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "bpf/netns.h"

namespace bpfex::bpf {

using base::Error;
using base::Result;
using base::Status;

namespace {

Result<base::UniqueFd> netlinkSocket(uint32_t groups) {
  base::UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!fd.valid()) return Error::fromErrno(errno, "open rtnetlink socket");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return Error::fromErrno(errno, "bind rtnetlink socket");
  // Room for a burst of link changes (a node creating many pods at once).
  const int rcvbuf = 1 << 20;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  return fd;
}

// A link message's index and name (IFLA_IFNAME), if it has them.
bool parseLink(const nlmsghdr* h, LinkEvent& ev) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  ev.ifindex = ifi->ifi_index;
  ev.kind = h->nlmsg_type == RTM_DELLINK ? LinkEvent::Kind::kGone : LinkEvent::Kind::kPresent;
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
  for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
    if (a->rta_type == IFLA_IFNAME) {
      const char* name = static_cast<const char*>(RTA_DATA(a));
      ev.name.assign(name, strnlen(name, RTA_PAYLOAD(a)));
    }
  return ev.ifindex > 0;
}

}  // namespace

Result<LinkWatcher> LinkWatcher::open(const std::string& netns) {
  LinkWatcher w;
  w.netns_ = netns;
  Status st = inNetns(netns, [&]() -> Status {
    auto events = netlinkSocket(RTMGRP_LINK);
    if (!events) return std::move(events).error();
    auto query = netlinkSocket(0);
    if (!query) return std::move(query).error();
    w.sock_ = std::move(events).value();
    w.query_ = std::move(query).value();
    return base::okStatus();
  });
  if (!st) return std::move(st).error().context(netns.empty() ? "watch links" : "watch links in netns " + netns);
  auto links = w.list();
  if (!links) return std::move(links).error();
  w.initial_ = std::move(links).value();
  return w;
}

Result<std::vector<LinkEvent>> LinkWatcher::list() {
  struct {
    nlmsghdr h;
    ifinfomsg i;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = ++seq_;
  req.i.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(query_.get(), &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return Error::fromErrno(errno, "list links");
  std::vector<LinkEvent> out;
  if (auto st = receive(out, true, nullptr); !st) return std::move(st).error();
  return out;
}

Status LinkWatcher::receive(std::vector<LinkEvent>& out, bool dump, bool* overflow) {
  alignas(nlmsghdr) char buf[32768];
  const int fd = dump ? query_.get() : sock_.get();
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, dump ? 0 : MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!dump && (errno == EAGAIN || errno == EWOULDBLOCK)) return base::okStatus();
      if (!dump && errno == ENOBUFS && overflow != nullptr) {
        *overflow = true;  // events were lost: the caller lists again
        continue;
      }
      if (dump && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // The dump socket is non-blocking too: wait for the kernel's reply.
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        timeval tv{5, 0};
        if (::select(fd + 1, &rd, nullptr, nullptr, &tv) <= 0) return Error(ETIMEDOUT, "list links: no answer");
        continue;
      }
      return Error::fromErrno(errno, "read link notifications");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return base::okStatus();
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error != 0) return Error::fromErrno(-e->error, "list links");
        continue;
      }
      if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) continue;
      LinkEvent ev{};
      if (parseLink(h, ev)) out.push_back(std::move(ev));
    }
    if (!dump) continue;  // more notifications may be queued
  }
}

Result<std::vector<LinkEvent>> LinkWatcher::drain(bool* resynced) {
  std::vector<LinkEvent> out;
  bool overflow = false;
  if (auto st = receive(out, false, &overflow); !st) return std::move(st).error();
  if (resynced != nullptr) *resynced = overflow;
  if (overflow) {
    // Some changes were lost: the links as they are now. A link that went
    // while the socket overflowed is not in the list; the caller compares.
    auto now = list();
    if (!now) return std::move(now).error();
    out = std::move(now).value();
  }
  return out;
}

}  // namespace bpfex::bpf
