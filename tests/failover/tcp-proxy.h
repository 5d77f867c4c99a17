// soci-routing failover tests: a loopback TCP proxy in front of one real server.
//
// Killing a shared server disturbs everyone using it; a proxy lets a test make one endpoint refuse, reset or
// lose its connections while the server behind it keeps running. The statements still run on the real server
// (inet_server_port() reports the server's own port, not the proxy's).

#ifndef SOCI_ROUTING_TESTS_FAILOVER_TCP_PROXY_H_INCLUDED
#define SOCI_ROUTING_TESTS_FAILOVER_TCP_PROXY_H_INCLUDED

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace failover_test
{

/// Forwards 127.0.0.1:port() to 127.0.0.1:target_port. Thread-safe; every call returns once the proxy thread
/// has applied it.
class tcp_proxy
{
public:
    enum class mode
    {
        forward,  ///< connections are forwarded to the target
        reject,   ///< connections are accepted, counted and reset at once (a server that is down)
        /// a server that stopped answering (hung, or a black-holed path): new connections are accepted and
        /// never answered, nothing more is forwarded on the open ones; leaving the mode resets the unanswered
        /// connections and lets the open ones go on
        stall
    };

    explicit tcp_proxy(int target_port);
    ~tcp_proxy();
    tcp_proxy(tcp_proxy const&) = delete;
    tcp_proxy& operator=(tcp_proxy const&) = delete;

    /// The port clients connect to.
    int port() const noexcept { return port_; }
    void set_mode(mode m);
    /// Resets (TCP RST) every forwarded connection; new ones are handled by the current mode.
    void cut();
    /// Connections accepted so far, in either mode (connection attempts).
    int accepted() const noexcept { return accepted_.load(); }
    /// Connections currently forwarded.
    int open_connections() const noexcept { return open_.load(); }

private:
    void run();
    void request(mode const* new_mode, bool cut);

    int target_port_;
    int port_ = 0;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};

    std::mutex mutex_;
    std::condition_variable applied_;
    mode mode_ = mode::forward;
    bool cut_requested_ = false;
    bool stop_ = false;
    std::uint64_t requested_ = 0;
    std::uint64_t done_ = 0;

    std::atomic<int> accepted_{0};
    std::atomic<int> open_{0};
    std::thread thread_;
};

} // namespace failover_test

#endif
