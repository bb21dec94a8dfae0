-- Re-exporting a map as ebpf_exporter does, with no Lua per entry
-- (docs/lua-api.md, "Re-exporting a map"): one series per flow, labelled by
-- the key fields, one family per value field.
local flows = bpf.map("demo/flows")
local labels = {"ifindex", "proto", "hook"}
bpf.export(flows, metric.counter("example_export_packets_total", "Packets per flow.", labels), "packets")
bpf.export(flows, metric.counter("example_export_bytes_total", "Bytes per flow.", {"iface", "proto", "hook"}),
           "bytes", {iface = "ifindex"})
