// soci-routing: fork() generations and abandoned objects (see fork.h).

#include "fork.h"

#include <fmt/format.h>

#include <pthread.h>
#include <unistd.h>

namespace soci_routing
{

namespace detail
{

std::atomic<std::uint32_t> forks{0};

namespace
{

/// What the child abandoned, in a list that only grows and takes no lock (a lock could be held for good by a
/// thread of an earlier generation). Reachable from this static, so a leak checker counts none of it as lost.
struct abandoned
{
    void* block;                // a unique_ptr's object
    std::shared_ptr<void> kept; // a shared_ptr's share
    abandoned* next;
};
std::atomic<abandoned*> abandoned_list{nullptr};

} // namespace

void abandon_block(void* p, std::shared_ptr<void> keep) noexcept
{
    // No memory for the entry: the object is still never destroyed (the entry would only keep it reachable).
    auto* entry = new (std::nothrow) abandoned{p, nullptr, nullptr};
    if (entry == nullptr)
    {
        new (std::nothrow) std::shared_ptr<void>(std::move(keep));
        return;
    }
    entry->kept = std::move(keep);
    entry->next = abandoned_list.load(std::memory_order_relaxed);
    while (!abandoned_list.compare_exchange_weak(entry->next, entry, std::memory_order_release,
                                                 std::memory_order_relaxed))
    {
    }
}

} // namespace detail

void count_forks()
{
    // In the child only: the forking thread's copy of the process, before fork() returns there.
    static int const registered =
        pthread_atfork(nullptr, nullptr, [] { detail::forks.fetch_add(1, std::memory_order_relaxed); });
    (void)registered;
}

std::string inherited_message(long pid)
{
    return fmt::format("This routing session was opened in process {}, before a fork(); this is process {}. "
                       "Its connections are that process's too, so the child may not use them. Open a new "
                       "session in the child, or call reconnect() on this one.",
                       pid, static_cast<long>(getpid()));
}

} // namespace soci_routing
