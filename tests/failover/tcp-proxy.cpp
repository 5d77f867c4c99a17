// soci-routing failover tests: the loopback TCP proxy.

#include "tcp-proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace failover_test
{

namespace
{

[[noreturn]] void fail(char const* what)
{
    throw std::runtime_error(std::string("tcp_proxy: ") + what + ": " + std::strerror(errno));
}

sockaddr_in loopback(int port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// Closes with an RST rather than a FIN: the peer sees "connection reset", as after a crash.
void reset_close(int fd)
{
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

void no_delay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Writes everything, waiting at most 2 s for room: a stuck peer drops the connection instead of the proxy.
bool write_all(int fd, char const* p, std::size_t n)
{
    while (n > 0)
    {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
        {
            p += w;
            n -= static_cast<std::size_t>(w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            pollfd pfd{fd, POLLOUT, 0};
            if (poll(&pfd, 1, 2000) <= 0)
                return false;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        return false;
    }
    return true;
}

struct connection_pair
{
    int client;
    int upstream;
};

} // namespace

tcp_proxy::tcp_proxy(int target_port) : target_port_(target_port)
{
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
        fail("pipe2");
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
        fail("socket");
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);  // an ephemeral port: tests never collide with each other or the servers
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        fail("bind");
    if (listen(listen_fd_, 64) != 0)
        fail("listen");
    socklen_t len = sizeof a;
    if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        fail("getsockname");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
}

tcp_proxy::~tcp_proxy()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    char c = 's';
    (void)!write(wake_[1], &c, 1);
    thread_.join();
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
}

void tcp_proxy::set_mode(mode m)
{
    request(&m, false);
}

void tcp_proxy::cut()
{
    request(nullptr, true);
}

void tcp_proxy::request(mode const* new_mode, bool cut)
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (new_mode)
        mode_ = *new_mode;
    if (cut)
        cut_requested_ = true;
    std::uint64_t const ticket = ++requested_;
    char c = 'r';
    (void)!write(wake_[1], &c, 1);
    applied_.wait(lock, [&] { return done_ >= ticket; });
}

void tcp_proxy::run()
{
    std::vector<connection_pair> pairs;
    std::vector<int> unanswered;  // accepted while stalled
    std::vector<pollfd> fds;
    std::vector<char> buf(64 * 1024);
    mode current = mode::forward;

    auto drop = [&](connection_pair& p, bool reset) {
        if (reset)
        {
            reset_close(p.client);
            reset_close(p.upstream);
        }
        else
        {
            close(p.client);
            close(p.upstream);
        }
        p.client = p.upstream = -1;
    };

    for (;;)
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            current = mode_;
            if (cut_requested_ || stop_)
            {
                for (auto& p : pairs)
                    drop(p, true);
                pairs.clear();
                cut_requested_ = false;
            }
            if (current != mode::stall || stop_)
            {
                for (int fd : unanswered)
                    reset_close(fd);
                unanswered.clear();
            }
            open_.store(static_cast<int>(pairs.size()));
            done_ = requested_;
            applied_.notify_all();
            if (stop_)
                return;
        }

        fds.clear();
        fds.push_back({wake_[0], POLLIN, 0});
        fds.push_back({listen_fd_, POLLIN, 0});
        if (current != mode::stall)
        {
            for (auto const& p : pairs)
            {
                fds.push_back({p.client, POLLIN, 0});
                fds.push_back({p.upstream, POLLIN, 0});
            }
        }
        int n = poll(fds.data(), fds.size(), -1);
        if (n < 0)
        {
            if (errno == EINTR)
                continue;
            return;  // nothing sensible left to do; the destructor still joins
        }
        if (fds[0].revents)
        {
            char drain[64];
            while (read(wake_[0], drain, sizeof drain) > 0)
            {
            }
        }
        if (fds[1].revents & POLLIN)
        {
            int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0)
            {
                accepted_.fetch_add(1);
                if (current == mode::reject)
                    reset_close(c);
                else if (current == mode::stall)
                    unanswered.push_back(c);
                else
                {
                    int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                    sockaddr_in t = loopback(target_port_);
                    if (u < 0 || connect(u, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0)
                    {
                        if (u >= 0)
                            close(u);
                        reset_close(c);
                    }
                    else
                    {
                        no_delay(c);
                        no_delay(u);
                        pairs.push_back({c, u});
                    }
                }
            }
        }
        // fds[2 + 2i] is pairs[i].client, fds[3 + 2i] its upstream (pairs added above are not polled yet)
        std::size_t const polled = (fds.size() - 2) / 2;
        for (std::size_t i = 0; i < polled; ++i)
        {
            connection_pair& p = pairs[i];
            for (int side = 0; side < 2 && p.client >= 0; ++side)
            {
                pollfd const& f = fds[2 + 2 * i + side];
                if (!f.revents)
                    continue;
                int from = side == 0 ? p.client : p.upstream;
                int to = side == 0 ? p.upstream : p.client;
                ssize_t r = recv(from, buf.data(), buf.size(), MSG_DONTWAIT);
                if (r > 0)
                {
                    if (!write_all(to, buf.data(), static_cast<std::size_t>(r)))
                        drop(p, true);
                }
                else if (r == 0)
                    drop(p, false);  // one side closed: close the other, as the server or client would see
                else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    drop(p, true);
            }
        }
        std::vector<connection_pair> live;
        live.reserve(pairs.size());
        for (auto const& p : pairs)
            if (p.client >= 0)
                live.push_back(p);
        pairs.swap(live);
    }
}

} // namespace failover_test
