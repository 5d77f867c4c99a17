// soci-routing: what a process forked from one with routing sessions may do with them (nothing).
//
// A child of fork() gets a copy of its parent's memory: the clusters, their pools and idle connections, the
// routing sessions and statements. It must use none of it. Every connection is a socket shared with the
// parent: two processes on one connection mix their protocol streams (each may read the other's answers, a TLS
// stream breaks), and a child that closes one (PQfinish sends a Terminate message) closes the parent's.
// The clusters' threads stayed in the parent, so nothing may wait for them, and a lock one of them held at the
// fork stays locked in the child for good.
//
// So each fork() starts a new generation of the process (pthread_atfork). What an earlier generation made is
// never used, closed or destroyed: a session or statement of the parent refuses to run in the child, the
// registry of clusters and the cluster keeper start anew, and an inherited object the child lets go is
// abandoned, kept as it is until the process ends (which closes the child's copies of the sockets without a
// word to the servers).

#ifndef SOCI_ROUTING_FORK_H_INCLUDED
#define SOCI_ROUTING_FORK_H_INCLUDED

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace soci_routing
{

namespace detail
{
extern std::atomic<std::uint32_t> forks;
void abandon_block(void* p, std::shared_ptr<void> keep) noexcept;
} // namespace detail

/// The number of fork()s between the process that made the first cluster and this one: 0 there, 1 in its
/// children, ... An object that records it when made is inherited when it differs from the current one.
inline std::uint32_t process_generation() noexcept
{
    return detail::forks.load(std::memory_order_relaxed);
}

/// Starts counting fork()s (once per process; its children count on). Called before the first cluster is made.
void count_forks();

/// Keeps an inherited object as it is for good: never destroyed, still reachable (a leak checker does not
/// report it). For what the child must not destroy: a connection, a pool, a statement of the parent's.
template <typename T>
void abandon(std::unique_ptr<T> p) noexcept
{
    if (p)
        detail::abandon_block(p.release(), nullptr);
}
template <typename T>
void abandon(std::shared_ptr<T> p) noexcept
{
    if (p)
        detail::abandon_block(nullptr, std::move(p));
}

/// The error for a routing session, statement or pool used in a process forked after it was made (`pid`: the
/// process that made it).
std::string inherited_message(long pid);

/// The object of this generation in `slot`: made (with `T::generation` set) when the slot holds none, or one
/// an earlier generation made, which is abandoned, never touched again (its lock may be held for good).
template <typename T>
T& of_this_generation(std::atomic<T*>& slot)
{
    std::uint32_t const now = process_generation();
    T* current = slot.load(std::memory_order_acquire);
    while (current == nullptr || current->generation != now)
    {
        auto made = std::make_unique<T>();
        made->generation = now;
        if (slot.compare_exchange_strong(current, made.get(), std::memory_order_acq_rel))
        {
            if (current != nullptr)
                abandon(std::unique_ptr<T>(current));
            return *made.release();
        }
    }
    return *current;
}

} // namespace soci_routing

#endif // SOCI_ROUTING_FORK_H_INCLUDED
