// soci-routing: routing_scope, where read-after-write state lives: the time of the last write (consistency =
// "window") and, per cluster, the causal position of the scope's writes (consistency = "causal").

#include "scope.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

namespace soci
{

struct routing_scope::impl
{
    /// steady_clock ticks of the last write; 0: none.
    std::atomic<std::int64_t> last_write{0};

    /// Causal state of one cluster.
    struct causal_state
    {
        std::uint64_t writes = 0;    ///< committed writes noted
        std::uint64_t resolved = 0;  ///< writes covered by `position`
        std::uint64_t version = 0;   ///< the scope's `versions` at its last change
        soci_routing::causal_position position;
    };
    /// Unique in the process (sessions cache a scope's position by id and version).
    std::uint64_t const id = next_id();
    static std::uint64_t next_id() noexcept
    {
        static std::atomic<std::uint64_t> ids{0};
        return ids.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    /// Counts every change of any cluster's state (never reset: a version is never seen twice).
    std::uint64_t versions = 0;
    /// True once anything causal was noted: scopes of window mode never take the lock.
    std::atomic<bool> causal{false};
    mutable std::mutex mutex;
    std::map<void const*, causal_state> clusters;
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
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->clusters.clear();
    impl_->causal.store(false, std::memory_order_relaxed);
}

} // namespace soci

namespace soci_routing
{

std::int64_t scope_access::last_write(soci::routing_scope const& s) noexcept
{
    return s.impl_->last_write.load(std::memory_order_relaxed);
}

void scope_access::note_write(soci::routing_scope& s, void const* cluster) noexcept
{
    try
    {
        std::lock_guard<std::mutex> lock(s.impl_->mutex);
        auto& c = s.impl_->clusters[cluster];
        ++c.writes;
        c.version = ++s.impl_->versions;
        s.impl_->causal.store(true, std::memory_order_release);
    }
    catch (...)
    {
        // Out of memory: the write is not tracked (its reads may be stale); nothing else can be done here.
    }
}

void scope_access::note_write_at(soci::routing_scope& s, void const* cluster, causal_position const& p) noexcept
{
    try
    {
        std::lock_guard<std::mutex> lock(s.impl_->mutex);
        auto& c = s.impl_->clusters[cluster];
        merge(c.position, p);
        if (c.resolved == c.writes)
            ++c.resolved;
        ++c.writes;
        c.version = ++s.impl_->versions;
        s.impl_->causal.store(true, std::memory_order_release);
    }
    catch (...)
    {
        note_write(s, cluster);
    }
}

bool scope_access::need(soci::routing_scope const& s, void const* cluster, causal_need& out, std::uint64_t known)
{
    if (!s.impl_->causal.load(std::memory_order_acquire))
        return false;
    std::lock_guard<std::mutex> lock(s.impl_->mutex);
    auto const it = s.impl_->clusters.find(cluster);
    if (it == s.impl_->clusters.end())
        return false;
    out.writes = it->second.writes;
    out.pending = it->second.resolved < it->second.writes;
    out.version = it->second.version;
    out.copied = out.version != known;
    if (out.copied)
        out.position = it->second.position;
    return out.pending || !it->second.position.empty();
}

std::uint64_t scope_access::id(soci::routing_scope const& s) noexcept
{
    return s.impl_->id;
}

void scope_access::settle(soci::routing_scope& s, void const* cluster, causal_position const& p, std::uint64_t writes)
{
    std::lock_guard<std::mutex> lock(s.impl_->mutex);
    auto& c = s.impl_->clusters[cluster];
    merge(c.position, p);
    c.resolved = std::max(c.resolved, writes);
    c.version = ++s.impl_->versions;
    s.impl_->causal.store(true, std::memory_order_release);
}

void scope_access::replace(soci::routing_scope& s, void const* cluster, causal_position const& p, std::uint64_t writes)
{
    std::lock_guard<std::mutex> lock(s.impl_->mutex);
    auto& c = s.impl_->clusters[cluster];
    c.position = p;
    c.resolved = std::max(c.resolved, writes);
    c.version = ++s.impl_->versions;
    s.impl_->causal.store(true, std::memory_order_release);
}

void scope_access::require(soci::routing_scope& s, void const* cluster, causal_position const& p)
{
    if (p.empty())
        return;
    std::lock_guard<std::mutex> lock(s.impl_->mutex);
    auto& c = s.impl_->clusters[cluster];
    merge(c.position, p);
    c.version = ++s.impl_->versions;
    s.impl_->causal.store(true, std::memory_order_release);
}

} // namespace soci_routing
