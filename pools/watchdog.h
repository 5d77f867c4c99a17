// soci-routing: a deadline for a statement that blocks in a driver call.
//
// SOCI's postgresql and mysql backends block in libpq / Connector/C until the server answers; neither gives a
// read timeout that holds against a server which accepted the connection and then stopped answering (a hung
// process, a black-holed network path, a frozen VM). The watchdog does what the drivers cannot: past the
// deadline it shuts the connection's socket down, and the blocked call fails at once as a lost connection.
// The connection is then broken and is closed by its pool.

#ifndef SOCI_ROUTING_POOLS_WATCHDOG_H_INCLUDED
#define SOCI_ROUTING_POOLS_WATCHDOG_H_INCLUDED

#include "config.h"

#include <soci/soci.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace soci_routing
{

/// The error of a statement the watchdog cut: a connection failure (the connection is gone), whose message
/// says which deadline passed.
class deadline_error : public soci::soci_error
{
public:
    explicit deadline_error(std::string const& message) : soci::soci_error(message) {}
    error_category get_error_category() const override { return connection_error; }
};

/// Shuts down the socket of a connection whose statement runs past its deadline. Thread-safe. Its thread
/// starts with the first watch.
class socket_watchdog
{
public:
    socket_watchdog() = default;
    ~socket_watchdog();
    socket_watchdog(socket_watchdog const&) = delete;
    socket_watchdog& operator=(socket_watchdog const&) = delete;

    /// A statement under watch. Ending it (or destroying it) before the deadline is all a statement that
    /// answered in time does; the watchdog never touches the socket after that.
    class watch
    {
    public:
        watch() noexcept = default;
        watch(watch&& other) noexcept;
        watch& operator=(watch&& other) noexcept;
        watch(watch const&) = delete;
        watch& operator=(watch const&) = delete;
        ~watch() { end(); }

        /// Stops watching. True when the deadline had passed and the socket was shut down.
        bool end() noexcept;

    private:
        friend class socket_watchdog;
        socket_watchdog* owner_ = nullptr;
        std::uint64_t id_ = 0;
        bool fired_ = false;
    };

    /// Watches the connection of `sql` (a session of SOCI's postgresql or mysql backend) for `timeout`.
    /// A zero timeout, or a session without a socket, gives an empty watch.
    watch arm(soci::session& sql, driver d, std::chrono::milliseconds timeout);

    /// Socket shutdowns so far.
    std::uint64_t fired() const noexcept;

private:
    using clock = std::chrono::steady_clock;
    struct entry
    {
        std::uint64_t id;
        int fd;
        clock::time_point deadline;
        bool fired;
    };

    bool disarm(std::uint64_t id) noexcept;
    void run();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<entry> entries_;
    std::uint64_t next_id_ = 0;
    std::uint64_t fired_ = 0;
    clock::time_point sleeping_until_ = clock::time_point::max();
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace soci_routing

#endif // SOCI_ROUTING_POOLS_WATCHDOG_H_INCLUDED
