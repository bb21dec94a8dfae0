// ironpost-client in Go: an application keeping its counters in bpfex's
// counter region (bpf/include/ironpost_counters.h), with the standard library
// only (raw bpf(2) through package syscall, mmap, sync/atomic): no modules, no
// cgo, no syscall per increment. The same modes as client.c:
//
//	ironpost-client [--pin PATH] [--version V] [--commit C] [workload|loop|layout]
//
// workload: the known increments tests/privileged/ironpost_test.py expects;
// loop: the demo's trickle with the liveness protocol (bpfex_liveness.h), a
// heartbeat every 100 ms and "stopped" on SIGTERM or SIGINT; layout: each
// field's offset and size, compared with the map's BTF by the test.
//
// Build: go build -o ironpost-client-go examples/ironpost/go/main.go
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	abi           = 2 // IRONPOST_COUNTERS_ABI
	writerRunning = 1 // BPFEX_WRITER_RUNNING
	writerStopped = 2 // BPFEX_WRITER_STOPPED
)

var processingBoundsNs = [...]uint64{100000, 500000, 1000000, 5000000, 10000000, 50000000, 100000000,
	500000000, 1000000000, 10000000000}
var scanBoundsNs = [...]uint64{100000000, 500000000, 1000000000, 5000000000, 10000000000, 30000000000,
	60000000000, 120000000000, 300000000000}

type isolationResult struct{ Success, Failure uint64 }

// region mirrors struct ironpost_counters field for field (every field is a
// u64 or a char array, so Go's layout is C's; `layout` lets the test check).
type region struct {
	Abi                 uint64
	StartTimeNs         uint64
	Version             [32]byte
	Commit              [48]byte
	PluginsRegistered   uint64
	LogsCollected       uint64
	LogsProcessed       uint64
	ParseErrors         struct{ Syslog, JSON, Unknown uint64 }
	RuleMatches         uint64
	AlertsSent          uint64
	BufferSize          uint64
	LogsDropped         uint64
	ProcessingBuckets   [len(processingBoundsNs) + 1]uint64
	ProcessingSumNs     uint64
	MonitoredContainers uint64
	PolicyViolations    uint64
	Isolations          struct{ Disconnect, Pause, Stop isolationResult }
	IsolationFailures   uint64
	AlertsProcessed     uint64
	PoliciesLoaded      uint64
	ScanBuckets         [len(scanBoundsNs) + 1]uint64
	ScanSumNs           uint64
	Liveness            struct{ WriterPid, HeartbeatNs, WriterState uint64 } // bpfex_liveness.h
}

func add(p *uint64, n uint64) { atomic.AddUint64(p, n) }
func set(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// observe: the bucket by an integer comparison with the bounds (an
// observation on a bound is in that bound's bucket, as le says), then the sum.
func observe(buckets []uint64, sum *uint64, bounds []uint64, ns uint64) {
	b := 0
	for b < len(bounds) && ns > bounds[b] {
		b++
	}
	add(&buckets[b], 1)
	add(sum, ns)
}

func realtimeNs() uint64 { return uint64(time.Now().UnixNano()) }

// bpfAttr is the part of union bpf_attr these commands use.
type objGetAttr struct {
	Pathname  uint64
	BpfFd     uint32
	FileFlags uint32
}
type infoAttr struct {
	BpfFd   uint32
	InfoLen uint32
	Info    uint64
}
type mapInfo struct {
	Type, ID, KeySize, ValueSize, MaxEntries, MapFlags uint32
	Name                                               [16]byte
	Rest                                               [64]byte
}

const (
	bpfObjGet         = 7
	bpfObjGetInfoByFd = 15
	bpfMapTypeArray   = 2
	bpfFMmapable      = 1 << 10
)

// sysBPF is bpf(2)'s number: package syscall is frozen before it (golang.org/x/sys has it; no modules here).
func sysBPF() uintptr {
	switch runtime.GOARCH {
	case "arm64":
		return 280
	default: // amd64
		return 321
	}
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, e := syscall.Syscall(sysBPF(), cmd, uintptr(attr), size)
	if e != 0 {
		return 0, e
	}
	return r, nil
}

// mapRegion opens the pin, checks it is an mmapable array of one region of
// this layout, and maps it read-write and shared.
func mapRegion(pin string) (*region, error) {
	path, err := syscall.BytePtrFromString(pin)
	if err != nil {
		return nil, err
	}
	get := objGetAttr{Pathname: uint64(uintptr(unsafe.Pointer(path)))}
	fd, err := bpf(bpfObjGet, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if err != nil {
		return nil, fmt.Errorf("open %s: %v (is bpfex running with the region's object?)", pin, err)
	}
	defer syscall.Close(int(fd))
	var info mapInfo
	ia := infoAttr{BpfFd: uint32(fd), InfoLen: uint32(unsafe.Sizeof(info)), Info: uint64(uintptr(unsafe.Pointer(&info)))}
	if _, err := bpf(bpfObjGetInfoByFd, unsafe.Pointer(&ia), unsafe.Sizeof(ia)); err != nil {
		return nil, fmt.Errorf("%s: map info: %v", pin, err)
	}
	size := uint32(unsafe.Sizeof(region{}))
	if info.Type != bpfMapTypeArray || info.MapFlags&bpfFMmapable == 0 || info.ValueSize != size || info.MaxEntries != 1 {
		return nil, fmt.Errorf("%s is not a counter region of this layout (%d x %d bytes, want 1 x %d)", pin,
			info.MaxEntries, info.ValueSize, size)
	}
	page := os.Getpagesize()
	length := (int(size) + page - 1) / page * page
	mem, err := syscall.Mmap(int(fd), 0, length, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %v", pin, err)
	}
	return (*region)(unsafe.Pointer(&mem[0])), nil
}

// setString writes a fixed NUL-terminated field, only when it differs.
func setString(field []byte, s string) {
	want := make([]byte, len(field))
	copy(want[:len(field)-1], s)
	for i := range field {
		if field[i] != want[i] {
			copy(field, want)
			return
		}
	}
}

// initRegion: a region of another layout (or none yet) is zeroed first; a
// restart goes on counting. The identity is this process's either way.
func initRegion(r *region, version, commit string) {
	if atomic.LoadUint64(&r.Abi) != abi {
		*r = region{}
		atomic.StoreUint64(&r.Abi, abi)
	}
	setString(r.Version[:], version)
	setString(r.Commit[:], commit)
	set(&r.StartTimeNs, realtimeNs())
	set(&r.PluginsRegistered, 4)
}

// workload: the same known increments as client.c's.
func workload(r *region) {
	add(&r.LogsCollected, 1000)
	add(&r.LogsProcessed, 990)
	add(&r.ParseErrors.Syslog, 4)
	add(&r.ParseErrors.JSON, 5)
	add(&r.ParseErrors.Unknown, 1)
	add(&r.RuleMatches, 37)
	add(&r.AlertsSent, 36)
	add(&r.LogsDropped, 3)
	set(&r.BufferSize, 128)
	for _, ns := range []uint64{50000, 100000, 100001, 700000, 1000000, 3000000, 20000000, 2000000000, 20000000000} {
		observe(r.ProcessingBuckets[:], &r.ProcessingSumNs, processingBoundsNs[:], ns)
	}
	set(&r.MonitoredContainers, 12)
	add(&r.PolicyViolations, 9)
	add(&r.Isolations.Disconnect.Success, 3)
	add(&r.Isolations.Pause.Success, 2)
	add(&r.Isolations.Pause.Failure, 1)
	add(&r.Isolations.Stop.Failure, 2)
	add(&r.IsolationFailures, 3)
	add(&r.AlertsProcessed, 40)
	set(&r.PoliciesLoaded, 7)
	for _, ns := range []uint64{50000000, 100000000, 2000000000, 400000000000} {
		observe(r.ScanBuckets[:], &r.ScanSumNs, scanBoundsNs[:], ns)
	}
}

// loop: the demo's trickle, alive (bpfex_liveness.h) until SIGTERM or SIGINT.
func loop(r *region) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	set(&r.Liveness.WriterPid, uint64(os.Getpid()))
	set(&r.Liveness.HeartbeatNs, realtimeNs())
	atomic.StoreUint64(&r.Liveness.WriterState, writerRunning)
	seed := uint32(11)
	tick := time.NewTicker(100 * time.Millisecond)
	for n := uint64(0); ; n++ {
		select {
		case <-stop:
			atomic.StoreUint64(&r.Liveness.WriterState, writerStopped)
			os.Exit(0)
		case <-tick.C:
		}
		set(&r.Liveness.HeartbeatNs, realtimeNs())
		seed = seed*1103515245 + 12345
		lines := uint64(50 + seed%100)
		add(&r.LogsCollected, lines)
		add(&r.LogsProcessed, lines)
		set(&r.BufferSize, uint64(seed%512))
		observe(r.ProcessingBuckets[:], &r.ProcessingSumNs, processingBoundsNs[:], 20000+uint64(seed%5000)*1000)
		set(&r.MonitoredContainers, 10+(n/100)%5)
		set(&r.PoliciesLoaded, 7)
	}
}

func layout() {
	var r region
	base := uintptr(unsafe.Pointer(&r))
	field := func(name string, p unsafe.Pointer, size uintptr) {
		fmt.Printf("%s %d %d\n", name, uintptr(p)-base, size)
	}
	fmt.Printf("size %d\n", unsafe.Sizeof(r))
	field("abi", unsafe.Pointer(&r.Abi), 8)
	field("start_time_ns", unsafe.Pointer(&r.StartTimeNs), 8)
	field("version", unsafe.Pointer(&r.Version), unsafe.Sizeof(r.Version))
	field("commit", unsafe.Pointer(&r.Commit), unsafe.Sizeof(r.Commit))
	field("plugins_registered", unsafe.Pointer(&r.PluginsRegistered), 8)
	field("logs_collected", unsafe.Pointer(&r.LogsCollected), 8)
	field("logs_processed", unsafe.Pointer(&r.LogsProcessed), 8)
	field("parse_errors.syslog", unsafe.Pointer(&r.ParseErrors.Syslog), 8)
	field("parse_errors.json", unsafe.Pointer(&r.ParseErrors.JSON), 8)
	field("parse_errors.unknown", unsafe.Pointer(&r.ParseErrors.Unknown), 8)
	field("rule_matches", unsafe.Pointer(&r.RuleMatches), 8)
	field("alerts_sent", unsafe.Pointer(&r.AlertsSent), 8)
	field("buffer_size", unsafe.Pointer(&r.BufferSize), 8)
	field("logs_dropped", unsafe.Pointer(&r.LogsDropped), 8)
	field("processing_buckets", unsafe.Pointer(&r.ProcessingBuckets), unsafe.Sizeof(r.ProcessingBuckets))
	field("processing_sum_ns", unsafe.Pointer(&r.ProcessingSumNs), 8)
	field("monitored_containers", unsafe.Pointer(&r.MonitoredContainers), 8)
	field("policy_violations", unsafe.Pointer(&r.PolicyViolations), 8)
	field("isolations.disconnect.success", unsafe.Pointer(&r.Isolations.Disconnect.Success), 8)
	field("isolations.disconnect.failure", unsafe.Pointer(&r.Isolations.Disconnect.Failure), 8)
	field("isolations.pause.success", unsafe.Pointer(&r.Isolations.Pause.Success), 8)
	field("isolations.pause.failure", unsafe.Pointer(&r.Isolations.Pause.Failure), 8)
	field("isolations.stop.success", unsafe.Pointer(&r.Isolations.Stop.Success), 8)
	field("isolations.stop.failure", unsafe.Pointer(&r.Isolations.Stop.Failure), 8)
	field("isolation_failures", unsafe.Pointer(&r.IsolationFailures), 8)
	field("alerts_processed", unsafe.Pointer(&r.AlertsProcessed), 8)
	field("policies_loaded", unsafe.Pointer(&r.PoliciesLoaded), 8)
	field("scan_buckets", unsafe.Pointer(&r.ScanBuckets), unsafe.Sizeof(r.ScanBuckets))
	field("scan_sum_ns", unsafe.Pointer(&r.ScanSumNs), 8)
	field("liveness.writer_pid", unsafe.Pointer(&r.Liveness.WriterPid), 8)
	field("liveness.heartbeat_ns", unsafe.Pointer(&r.Liveness.HeartbeatNs), 8)
	field("liveness.writer_state", unsafe.Pointer(&r.Liveness.WriterState), 8)
}

func main() {
	pin, version, commit, mode := "/sys/fs/bpf/bpfex/ironpost_counters", "0.1.0", "unknown", "workload"
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--pin" && i+1 < len(args):
			i++
			pin = args[i]
		case args[i] == "--version" && i+1 < len(args):
			i++
			version = args[i]
		case args[i] == "--commit" && i+1 < len(args):
			i++
			commit = args[i]
		case len(args[i]) > 0 && args[i][0] != '-':
			mode = args[i]
		default:
			fmt.Fprintln(os.Stderr, "usage: ironpost-client [--pin PATH] [--version V] [--commit C] [workload|loop|layout]")
			os.Exit(2)
		}
	}
	if mode == "layout" {
		layout()
		return
	}
	r, err := mapRegion(pin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ironpost-client:", err)
		os.Exit(1)
	}
	initRegion(r, version, commit)
	if mode == "loop" {
		loop(r)
	}
	workload(r)
}
