// Exposition: renders a Registry into text 0.0.4, OpenMetrics 1.0 or the
// delimited protobuf MetricFamily stream (native histograms), and
// chooses between them from an Accept header (prometheus-semantics.md §2.3).
// Thread safety: renderRegistry reads the registry (engine thread only); the
// negotiation functions are pure.
#pragma once

#include <string_view>

#include "metrics/buffer.h"
#include "metrics/family.h"
#include "metrics/registry.h"

namespace bpfex::metrics {

std::string_view contentType(Format f);

// Renders every non-empty family. OpenMetrics output ends with "# EOF\n".
void renderRegistry(const Registry& registry, Format format, Buffer& out);

// The format to serve for an Accept header: the highest-q media range we
// support (protobuf delimited MetricFamily, OpenMetrics 1.0.0/0.0.1,
// text/plain, */*); text 0.0.4 when nothing
// matches or the header is absent.
Format negotiateFormat(std::string_view accept);

// True when Accept-Encoding allows gzip (gzip or *, with q > 0).
bool acceptsGzip(std::string_view accept_encoding);

}  // namespace bpfex::metrics
