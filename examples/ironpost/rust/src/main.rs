//! ironpost-client (Rust): the counters Ironpost's modules keep as
//! `Arc<AtomicU64>`, living in bpfex's counter region instead of the heap.
//! Raw `bpf(2)` and `mmap` through the C library std already links: no
//! crates. The region's layout is bpf/include/ironpost_counters.h, mirrored
//! here as `#[repr(C)]`; the test compares `layout`'s offsets with the map's
//! BTF, so a drift between the two fails there, not in production.
//!
//!   ironpost-client [--pin PATH] [--version V] [--commit C] [workload|loop|layout]
//!
//! Same modes and the same known increments as examples/ironpost/client.c.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ABI: u64 = 2; // IRONPOST_COUNTERS_ABI
const PIN: &str = "/sys/fs/bpf/bpfex/ironpost_counters";
const PROCESSING_BOUNDS_NS: [u64; 10] = [
    100_000, 500_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000, 500_000_000,
    1_000_000_000, 10_000_000_000,
];
const SCAN_BOUNDS_NS: [u64; 9] = [
    100_000_000, 500_000_000, 1_000_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000,
    60_000_000_000, 120_000_000_000, 300_000_000_000,
];

#[repr(C)]
struct ParseErrors {
    syslog: AtomicU64,
    json: AtomicU64,
    unknown: AtomicU64,
}

#[repr(C)]
struct IsolationResult {
    success: AtomicU64,
    failure: AtomicU64,
}

#[repr(C)]
struct Isolations {
    disconnect: IsolationResult,
    pause: IsolationResult,
    stop: IsolationResult,
}

/// `struct ironpost_counters`.
#[repr(C)]
struct Region {
    abi: AtomicU64,
    start_time_ns: AtomicU64,
    version: [u8; 32],
    commit: [u8; 48],
    plugins_registered: AtomicU64,
    logs_collected: AtomicU64,
    logs_processed: AtomicU64,
    parse_errors: ParseErrors,
    rule_matches: AtomicU64,
    alerts_sent: AtomicU64,
    buffer_size: AtomicU64,
    logs_dropped: AtomicU64,
    processing_buckets: [AtomicU64; 11],
    processing_sum_ns: AtomicU64,
    monitored_containers: AtomicU64,
    policy_violations: AtomicU64,
    isolations: Isolations,
    isolation_failures: AtomicU64,
    alerts_processed: AtomicU64,
    policies_loaded: AtomicU64,
    scan_buckets: [AtomicU64; 10],
    scan_sum_ns: AtomicU64,
    liveness: Liveness,
}

/// `struct bpfex_liveness` (bpfex_liveness.h): who writes, and that it is alive.
#[repr(C)]
struct Liveness {
    writer_pid: AtomicU64,
    heartbeat_ns: AtomicU64,
    writer_state: AtomicU64,
}
const WRITER_RUNNING: u64 = 1;

fn realtime_ns() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    now.as_secs() * 1_000_000_000 + u64::from(now.subsec_nanos())
}

extern "C" {
    fn syscall(num: i64, ...) -> i64;
    fn mmap(addr: *mut u8, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut u8;
    fn close(fd: i32) -> i32;
    fn __errno_location() -> *mut i32;
}

const SYS_BPF: i64 = 321; // x86_64
const BPF_OBJ_GET: i64 = 7;
const BPF_OBJ_GET_INFO_BY_FD: i64 = 15;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_F_MMAPABLE: u32 = 1 << 10;
const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const MAP_SHARED: i32 = 1;

fn errno() -> std::io::Error {
    std::io::Error::from_raw_os_error(unsafe { *__errno_location() })
}

/// Opens the pinned region, checks it is this layout, and maps it.
fn map_region(pin: &str) -> Result<&'static Region, String> {
    let path = CString::new(pin).map_err(|_| "pin path has a NUL".to_string())?;
    // union bpf_attr for BPF_OBJ_GET: pathname (u64), bpf_fd, file_flags.
    let mut attr = [0u64; 16];
    attr[0] = path.as_ptr() as u64;
    let fd = unsafe { syscall(SYS_BPF, BPF_OBJ_GET, attr.as_mut_ptr(), 128u32) };
    if fd < 0 {
        return Err(format!("open {}: {} (is bpfex running with the ironpost_region object?)", pin, errno()));
    }
    let fd = fd as i32;
    // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, ...
    let mut info = [0u32; 32];
    let mut attr = [0u64; 16];
    attr[0] = fd as u64 | ((std::mem::size_of_val(&info) as u64) << 32); // bpf_fd, info_len
    attr[1] = info.as_mut_ptr() as u64;
    if unsafe { syscall(SYS_BPF, BPF_OBJ_GET_INFO_BY_FD, attr.as_mut_ptr(), 128u32) } != 0 {
        return Err(format!("{}: map info: {}", pin, errno()));
    }
    let size = std::mem::size_of::<Region>();
    if info[0] != BPF_MAP_TYPE_ARRAY || info[5] & BPF_F_MMAPABLE == 0 || info[3] as usize != size || info[4] < 1 {
        return Err(format!("{} is not a counter region of this layout (value size {}, want {})", pin, info[3], size));
    }
    let len = (size + 4095) / 4096 * 4096;
    let p = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) };
    let mapped = p as isize != -1;
    let err = errno();
    unsafe { close(fd) }; // the mapping keeps the map alive
    if !mapped {
        return Err(format!("mmap {}: {}", pin, err));
    }
    Ok(unsafe { &*(p as *const Region) })
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn set(g: &AtomicU64, v: u64) {
    g.store(v, Ordering::Relaxed);
}

/// One observation: its bucket by integer comparison with the bounds (a
/// value on a bound is in that bound's bucket), then the sum.
fn observe(buckets: &[AtomicU64], sum: &AtomicU64, bounds: &[u64], ns: u64) {
    let b = bounds.iter().position(|&le| ns <= le).unwrap_or(bounds.len());
    add(&buckets[b], 1);
    add(sum, ns);
}

/// A region of another layout (or none yet) is zeroed first; a restart goes
/// on counting. Either way the identity is this process's (bpfex_liveness.h).
fn init_region(r: &Region, version: &str, commit: &str) {
    if r.abi.load(Ordering::Acquire) != ABI {
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(r as *const Region as *mut u8, std::mem::size_of::<Region>())
        };
        bytes.iter_mut().for_each(|b| *b = 0);
        r.abi.store(ABI, Ordering::Release);
    }
    set_string(&r.version, version);
    set_string(&r.commit, commit);
    set(&r.start_time_ns, realtime_ns());
    set(&r.plugins_registered, 4);
}

/// Writes a fixed NUL-terminated string field, only when it differs.
fn set_string<const N: usize>(field: &[u8; N], s: &str) {
    let mut want = [0u8; N];
    for (i, b) in s.bytes().take(N - 1).enumerate() {
        want[i] = b;
    }
    if *field != want {
        let dst = field.as_ptr() as *mut u8;
        unsafe { std::ptr::copy_nonoverlapping(want.as_ptr(), dst, N) };
    }
}

/// The known increments (the same as client.c's).
fn workload(r: &Region) {
    add(&r.logs_collected, 1000);
    add(&r.logs_processed, 990);
    add(&r.parse_errors.syslog, 4);
    add(&r.parse_errors.json, 5);
    add(&r.parse_errors.unknown, 1);
    add(&r.rule_matches, 37);
    add(&r.alerts_sent, 36);
    add(&r.logs_dropped, 3);
    set(&r.buffer_size, 128);
    for ns in [50_000, 100_000, 100_001, 700_000, 1_000_000, 3_000_000, 20_000_000, 2_000_000_000, 20_000_000_000] {
        observe(&r.processing_buckets, &r.processing_sum_ns, &PROCESSING_BOUNDS_NS, ns);
    }
    set(&r.monitored_containers, 12);
    add(&r.policy_violations, 9);
    add(&r.isolations.disconnect.success, 3);
    add(&r.isolations.pause.success, 2);
    add(&r.isolations.pause.failure, 1);
    add(&r.isolations.stop.failure, 2);
    add(&r.isolation_failures, 3);
    add(&r.alerts_processed, 40);
    set(&r.policies_loaded, 7);
    for ns in [50_000_000, 100_000_000, 2_000_000_000, 400_000_000_000] {
        observe(&r.scan_buckets, &r.scan_sum_ns, &SCAN_BOUNDS_NS, ns);
    }
}

/// The demo: a steady trickle that makes every panel move.
fn run_loop(r: &Region) -> ! {
    // Liveness: running, with a heartbeat every 100 ms (a kill is seen as a
    // heartbeat that stops; this client has no signal handler, std has none).
    set(&r.liveness.writer_pid, u64::from(std::process::id()));
    set(&r.liveness.heartbeat_ns, realtime_ns());
    r.liveness.writer_state.store(WRITER_RUNNING, Ordering::Release);
    let mut seed: u32 = 7;
    let mut n: u64 = 0;
    loop {
        set(&r.liveness.heartbeat_ns, realtime_ns());
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let lines = 50 + u64::from(seed % 100);
        add(&r.logs_collected, lines);
        let bad = if seed % 7 == 0 { 1 + u64::from(seed % 3) } else { 0 };
        add(&r.logs_processed, lines - bad);
        if bad > 0 {
            add(if seed % 2 == 1 { &r.parse_errors.syslog } else { &r.parse_errors.json }, bad);
        }
        if seed % 5 == 0 {
            add(&r.rule_matches, 1);
            add(&r.alerts_sent, 1);
            add(&r.alerts_processed, 1);
        }
        set(&r.buffer_size, u64::from(seed % 512));
        observe(&r.processing_buckets, &r.processing_sum_ns, &PROCESSING_BOUNDS_NS, 20_000 + u64::from(seed % 5000) * 1000);
        set(&r.monitored_containers, 10 + (n / 100) % 5);
        if seed % 23 == 0 {
            add(&r.policy_violations, 1);
            add(if seed % 3 == 0 { &r.isolations.pause.success } else { &r.isolations.disconnect.success }, 1);
        }
        if n % 300 == 0 {
            observe(&r.scan_buckets, &r.scan_sum_ns, &SCAN_BOUNDS_NS, 300_000_000 + u64::from(seed % 20) * 100_000_000);
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each field's offset and size, in client.c's format, from this struct.
fn layout() {
    let r = std::mem::MaybeUninit::<Region>::uninit();
    let base = r.as_ptr() as usize;
    let p = r.as_ptr();
    macro_rules! field {
        ($name:expr, $($f:tt).+) => {{
            let at = unsafe { std::ptr::addr_of!((*p).$($f).+) };
            println!("{} {} {}", $name, at as usize - base, std::mem::size_of_val(unsafe { &*at }));
        }};
    }
    println!("size {}", std::mem::size_of::<Region>());
    field!("abi", abi);
    field!("start_time_ns", start_time_ns);
    field!("version", version);
    field!("commit", commit);
    field!("plugins_registered", plugins_registered);
    field!("logs_collected", logs_collected);
    field!("logs_processed", logs_processed);
    field!("parse_errors.syslog", parse_errors.syslog);
    field!("parse_errors.json", parse_errors.json);
    field!("parse_errors.unknown", parse_errors.unknown);
    field!("rule_matches", rule_matches);
    field!("alerts_sent", alerts_sent);
    field!("buffer_size", buffer_size);
    field!("logs_dropped", logs_dropped);
    field!("processing_buckets", processing_buckets);
    field!("processing_sum_ns", processing_sum_ns);
    field!("monitored_containers", monitored_containers);
    field!("policy_violations", policy_violations);
    field!("isolations.disconnect.success", isolations.disconnect.success);
    field!("isolations.disconnect.failure", isolations.disconnect.failure);
    field!("isolations.pause.success", isolations.pause.success);
    field!("isolations.pause.failure", isolations.pause.failure);
    field!("isolations.stop.success", isolations.stop.success);
    field!("isolations.stop.failure", isolations.stop.failure);
    field!("isolation_failures", isolation_failures);
    field!("alerts_processed", alerts_processed);
    field!("policies_loaded", policies_loaded);
    field!("scan_buckets", scan_buckets);
    field!("scan_sum_ns", scan_sum_ns);
    field!("liveness.writer_pid", liveness.writer_pid);
    field!("liveness.heartbeat_ns", liveness.heartbeat_ns);
    field!("liveness.writer_state", liveness.writer_state);
}

fn main() {
    let mut pin = PIN.to_string();
    let (mut version, mut commit, mut mode) = ("0.1.0".to_string(), "unknown".to_string(), "workload".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pin" => pin = args.next().unwrap_or_default(),
            "--version" => version = args.next().unwrap_or_default(),
            "--commit" => commit = args.next().unwrap_or_default(),
            m if !m.starts_with('-') => mode = m.to_string(),
            _ => {
                eprintln!("usage: ironpost-client [--pin PATH] [--version V] [--commit C] [workload|loop|layout]");
                std::process::exit(2);
            }
        }
    }
    if mode == "layout" {
        layout();
        return;
    }
    let r = match map_region(&pin) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ironpost-client: {}", e);
            std::process::exit(1);
        }
    };
    init_region(r, &version, &commit);
    if mode == "loop" {
        run_loop(r);
    }
    workload(r);
}
