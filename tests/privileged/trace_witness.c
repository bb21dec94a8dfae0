// The tracing tests' witness: it does known things a known number of times,
// on command, and says what it did, so every count bpfex serves has the
// process's own count beside it (tests/privileged/trace_test.py).
//   ready PID PPID          at start
//   run N   -> ran N SUM    N times: getppid(), bpfex_witness_step(i) (SUM adds
//                           its 2i+1) and the USDT probe bpfex_witness:step(i)
//   faults N -> faulted F   writes N fresh pages; F: page faults, by getrusage
//   exit
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sdt.h>
#include <unistd.h>

__attribute__((noinline, used)) int bpfex_witness_step(int i) {
  __asm__ volatile("" ::: "memory");  // not folded into the caller
  return 2 * i + 1;
}

static long faults(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_minflt + r.ru_majflt;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready %d %d\n", (int)getpid(), (int)getppid());
  char line[128];
  while (fgets(line, sizeof line, stdin) != NULL) {
    long n = 0;
    if (sscanf(line, "run %ld", &n) == 1) {
      long sum = 0;
      for (long i = 1; i <= n; ++i) {
        (void)getppid();
        sum += bpfex_witness_step((int)i);
        STAP_PROBE1(bpfex_witness, step, i);
      }
      printf("ran %ld %ld\n", n, sum);
    } else if (sscanf(line, "faults %ld", &n) == 1) {
      const size_t len = (size_t)n * 4096;
      char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return 1;
      madvise(p, len, MADV_NOHUGEPAGE);  // one fault per page, not one per 2 MiB
      const long before = faults();
      for (long i = 0; i < n; ++i) p[i * 4096] = 1;
      const long after = faults();
      munmap(p, len);
      printf("faulted %ld\n", after - before);
    } else if (strncmp(line, "exit", 4) == 0) {
      break;
    }
  }
  return 0;
}
