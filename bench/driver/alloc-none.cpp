// soci-routing-bench without the counting allocator (sanitizer builds): nothing is counted.
#include "alloc-count.h"

namespace bench_alloc {
std::uint64_t count() noexcept { return 0; }
bool counting() noexcept { return false; }
} // namespace bench_alloc
