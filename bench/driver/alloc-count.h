// soci-routing-bench: heap allocations counted per thread.
//
// alloc-count.cpp defines malloc, calloc, realloc and the aligned allocators in the executable, which
// makes them the definitions every library of the process calls (SOCI, its backends, libpq, Connector/C,
// the routing plugin): each counts one allocation for its thread and hands over to glibc's allocator.
// Without the counting file (sanitizer builds replace the allocator themselves) the count stays 0.
#ifndef SOCI_ROUTING_BENCH_ALLOC_COUNT_H_INCLUDED
#define SOCI_ROUTING_BENCH_ALLOC_COUNT_H_INCLUDED

#include <cstdint>

namespace bench_alloc {

/// Allocations made by the calling thread so far.
std::uint64_t count() noexcept;

/// True when allocations are counted (the counting allocator is linked in).
bool counting() noexcept;

} // namespace bench_alloc

#endif
