-- SBOM scan (seed 001's sbom-scanner metrics), as a push job:
--   bpfex push --gateway URL --job sbom_scan --param dir=/srv/app --param vulndb=/var/lib/vulndb.json \
--     rules/jobs/sbom_scan.lua
-- Finds lock files under `dir` (Cargo.lock, package-lock.json; not inside
-- node_modules or .git), counts their packages by ecosystem, and matches them
-- against a vulnerability database:
--   {"updated": <unix seconds>, "vulns": [{"id": "CVE-...", "ecosystem": "npm",
--     "package": "lodash", "versions": ["4.17.20"], "severity": "high"}]}
local SEVERITIES = { "info", "low", "medium", "high", "critical" }

local scans = metric.counter("ironpost_sbom_scanner_scans_completed_total", "Total number of SBOM scans completed")
local cves = metric.gauge("ironpost_sbom_scanner_cves_found", "Number of CVEs found, by severity", { "severity" })
local duration = metric.histogram("ironpost_sbom_scanner_scan_duration_seconds",
  "Time to complete a single SBOM scan in seconds", {}, { 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300 })
local packages = metric.counter("ironpost_sbom_scanner_packages_scanned_total",
  "Total number of packages scanned across all SBOM scans", { "ecosystem" })
local vulndb_updated = metric.gauge("ironpost_sbom_scanner_vulndb_last_update_timestamp",
  "When the vulnerability database was last updated (Unix seconds)")

-- Cargo.lock: [[package]] blocks with name = "..." and version = "...".
local function cargo(text, out)
  local pos = text:find("[[package]]", 1, true)
  while pos do
    local next_pos = text:find("\n[[", pos + 1, true)
    local block = text:sub(pos, next_pos or #text)
    local name = block:match('\nname%s*=%s*"([^"]+)"')
    local version = block:match('\nversion%s*=%s*"([^"]+)"')
    if name and version then out[#out + 1] = { "cargo", name, version } end
    pos = next_pos and text:find("[[package]]", next_pos, true)
  end
end

-- package-lock.json: "packages" (lockfile v2/v3) or "dependencies" (v1).
local function npm(text, out)
  local ok, lock = pcall(json.decode, text)
  if not ok or type(lock) ~= "table" then return end
  if type(lock.packages) == "table" then
    for path, p in pairs(lock.packages) do
      local name = path:match("node_modules/(.+)$")
      if name and type(p) == "table" and p.version then out[#out + 1] = { "npm", name, p.version } end
    end
  elseif type(lock.dependencies) == "table" then
    for name, p in pairs(lock.dependencies) do
      if type(p) == "table" and p.version then out[#out + 1] = { "npm", name, p.version } end
    end
  end
end

job.run(function()
  local dir = params.dir or job.fail("parameter dir is required (--param dir=...)")
  local t0 = bpfex.clock()
  local files, err = fs.walk(dir)
  if not files then job.fail(err) end

  local found = {}
  for _, path in ipairs(files) do
    local base = path:match("([^/]+)$")
    if base == "Cargo.lock" or base == "package-lock.json" then
      local text, rerr = fs.read(path)
      if not text then job.fail(rerr) end
      if base == "Cargo.lock" then cargo(text, found) else npm(text, found) end
    end
  end

  local by_severity = {}
  for _, s in ipairs(SEVERITIES) do by_severity[s] = 0 end
  if params.vulndb then
    local text, rerr = fs.read(params.vulndb)
    if not text then job.fail(rerr) end
    local db = json.decode(text)
    vulndb_updated:set({}, tonumber(db.updated) or 0)
    local index = {}
    for _, v in ipairs(db.vulns or {}) do
      for _, ver in ipairs(v.versions or {}) do
        local key = v.ecosystem .. "/" .. v.package .. "@" .. ver
        index[key] = index[key] or {}
        table.insert(index[key], v.severity or "info")
      end
    end
    for _, p in ipairs(found) do
      for _, sev in ipairs(index[p[1] .. "/" .. p[2] .. "@" .. p[3]] or {}) do
        if by_severity[sev] then by_severity[sev] = by_severity[sev] + 1 end
      end
    end
  end

  local per_ecosystem = { cargo = 0, npm = 0 }
  for _, p in ipairs(found) do per_ecosystem[p[1]] = per_ecosystem[p[1]] + 1 end
  for eco, n in pairs(per_ecosystem) do packages:add({ eco }, n) end
  for sev, n in pairs(by_severity) do cves:set({ sev }, n) end
  scans:add({}, 1)
  duration:observe({}, bpfex.clock() - t0)
end)
