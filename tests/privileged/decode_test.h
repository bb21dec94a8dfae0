/* Structs of decode_test.bpf.c, shared with the C++ tests that fill and
 * check its maps. */
#ifndef BPFEX_DECODE_TEST_H
#define BPFEX_DECODE_TEST_H

#include <linux/types.h>

#ifdef __cplusplus
#define DT_BOOL bool
#else
#define DT_BOOL _Bool
#endif

enum color { RED = 1, GREEN = 2, BLUE = 7, NEGATIVE = -3 };

struct inner {
  __u16 port;
  __u8 proto;
};

typedef __u32 my_u32_t;

struct test_key {
  __u8 u8v;
  __s8 s8v;
  __u16 u16v;
  __s16 s16v;
  my_u32_t u32v;
  __s32 s32v;
  __u64 u64v;
  __s64 s64v;
  enum color col;
  char name[12];
  struct inner in;
  __u8 octets[4];
  DT_BOOL flag;
};

struct test_value {
  __u64 count;
  __u32 low : 3;
  __u32 mid : 5;
  __s32 neg : 6;
  __u32 high : 18;
  union {
    __u32 as_u32;
    __u8 as_bytes[4];
  } u;
  __s64 delta;
  double ratio;
  __u64 slots[4];
  __u32 drops;  /* per-CPU u32 counters: their sum is not a u32 */
  __s32 level;
};

#endif
