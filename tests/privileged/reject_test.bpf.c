// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Test-only: a program the verifier must reject (packet read without a
 * bounds check), to check that bpfex reports the verifier's reason. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int reject_unchecked_read(struct xdp_md *ctx) {
  unsigned char *data = (unsigned char *)(long)ctx->data;
  return data[20] == 6 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
