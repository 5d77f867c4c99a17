// soci-routing: routing_scope, where read-after-write state lives.

#include <soci/routing/soci-routing.h>

#include <atomic>
#include <cstdint>

namespace soci
{

// Today the scope knows when it last wrote; a causal position (PostgreSQL WAL LSN, MySQL GTID) will join it,
// so that a replica that has replayed that position can serve reads before the window ends.
struct routing_scope::impl
{
    /// steady_clock ticks of the last write; 0: none.
    std::atomic<std::int64_t> last_write{0};
};

routing_scope::routing_scope() : impl_(new impl) {}

routing_scope::~routing_scope() = default;

void routing_scope::note_write() noexcept
{
    std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    impl_->last_write.store(now == 0 ? 1 : now, std::memory_order_relaxed);
}

bool routing_scope::within_window(std::chrono::steady_clock::duration sticky) const noexcept
{
    std::int64_t const last = impl_->last_write.load(std::memory_order_relaxed);
    if (last == 0 || sticky.count() <= 0)
        return false;
    std::chrono::steady_clock::duration const since =
        std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(last);
    return since < sticky;
}

void routing_scope::reset() noexcept
{
    impl_->last_write.store(0, std::memory_order_relaxed);
}

} // namespace soci
