// soci-routing: the socket watchdog.

#include "watchdog.h"

#include "soci-internals.h"
#include "threads.h"

#include <libpq-fe.h>
#include <mysql.h>

#include <sys/socket.h>

#include <algorithm>

namespace soci_routing
{
namespace
{

int socket_of(soci::session& sql, driver d) noexcept
{
    if (d == driver::postgresql)
    {
        PGconn* conn = soci_internals::pg_connection(sql);
        return conn != nullptr ? PQsocket(conn) : -1;
    }
    MYSQL* conn = soci_internals::mysql_connection(sql);
    return conn != nullptr ? static_cast<int>(mysql_get_socket(conn)) : -1;
}

} // namespace

socket_watchdog::watch::watch(watch&& other) noexcept
    : owner_(other.owner_), id_(other.id_), fired_(other.fired_)
{
    other.owner_ = nullptr;
}

socket_watchdog::watch& socket_watchdog::watch::operator=(watch&& other) noexcept
{
    if (this != &other)
    {
        end();
        owner_ = other.owner_;
        id_ = other.id_;
        fired_ = other.fired_;
        other.owner_ = nullptr;
    }
    return *this;
}

bool socket_watchdog::watch::end() noexcept
{
    if (owner_ != nullptr)
    {
        fired_ = owner_->disarm(id_) || fired_;
        owner_ = nullptr;
    }
    return fired_;
}

socket_watchdog::~socket_watchdog()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

socket_watchdog::watch socket_watchdog::arm(soci::session& sql, driver d, std::chrono::milliseconds timeout)
{
    watch w;
    if (timeout.count() <= 0)
        return w;
    int const fd = socket_of(sql, d);
    if (fd < 0)
        return w;
    auto const deadline = clock::now() + timeout;
    bool notify = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!thread_.joinable())
        {
            try
            {
                thread_ = router_thread([this] { run(); });
            }
            catch (std::system_error const&)
            {
                // The process is at its limit of threads or processes: this round trip goes untimed, as with
                // plain SOCI, rather than fail (or be taken for its server's failure); the next one tries again.
                return w;
            }
        }
        w.owner_ = this;
        w.id_ = ++next_id_;
        entries_.push_back({w.id_, fd, deadline, false});
        // The thread sleeps until the earliest deadline it knows: wake it only for an earlier one (with one
        // timeout for every statement, that is when it had nothing to watch).
        notify = deadline < sleeping_until_;
    }
    if (notify)
        wake_.notify_one();
    return w;
}

bool socket_watchdog::disarm(std::uint64_t id) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
    {
        if (it->id == id)
        {
            bool const fired = it->fired;
            *it = entries_.back();
            entries_.pop_back();
            return fired;
        }
    }
    return false;
}

std::uint64_t socket_watchdog::fired() const noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    return fired_;
}

void socket_watchdog::run()
{
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_)
    {
        auto const now = clock::now();
        auto next = clock::time_point::max();
        for (entry& e : entries_)
        {
            if (e.fired)
                continue;
            if (e.deadline <= now)
            {
                // Under the mutex: the statement cannot end its watch (and its connection cannot be closed,
                // the descriptor reused) while the socket is shut down. Both directions: the blocked read
                // returns end-of-file, a blocked write fails.
                ::shutdown(e.fd, SHUT_RDWR);
                e.fired = true;
                ++fired_;
            }
            else
                next = std::min(next, e.deadline);
        }
        sleeping_until_ = next;
        if (next == clock::time_point::max())
            wake_.wait(lock);
        else
            wake_.wait_until(lock, next);
    }
}

} // namespace soci_routing
