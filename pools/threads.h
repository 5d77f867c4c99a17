// soci-routing: the router's own threads (pools' housekeeping, probes, the watchdog, the cluster keeper).

#ifndef SOCI_ROUTING_THREADS_H_INCLUDED
#define SOCI_ROUTING_THREADS_H_INCLUDED

#include <soci/soci-backend.h>

#include <signal.h>

#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace soci_routing
{

/// While it lives, the calling thread blocks every signal but those a fault raises (SIGSEGV, SIGBUS, SIGFPE,
/// SIGILL, SIGTRAP, SIGSYS), and a thread it starts inherits that mask; then the thread's own mask comes back.
class signals_blocked
{
public:
    signals_blocked() noexcept
    {
        sigset_t all;
        sigfillset(&all);
        for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS})
            sigdelset(&all, fault);
        pthread_sigmask(SIG_SETMASK, &all, &saved_);
    }
    ~signals_blocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
    signals_blocked(signals_blocked const&) = delete;
    signals_blocked& operator=(signals_blocked const&) = delete;

private:
    sigset_t saved_;
};

/// Starts a thread of the router's, with signals blocked (signals_blocked): a signal sent to the process
/// (SIGTERM, SIGINT, SIGCHLD, ...) goes to one of the application's threads, never to one of the router's. An
/// application that waits for its signals with sigwait() in a thread of its own gets every one, whenever it
/// blocked them in its other threads, and its handlers never run on a thread of the router's.
template <typename F>
std::thread router_thread(F&& f)
{
    signals_blocked const blocked;
    return std::thread(std::forward<F>(f));
}

/// router_thread(), for a thread without which the work cannot go on: a refusal to start it (EAGAIN, the process
/// at its limit of threads or processes: a container's pid limit, RLIMIT_NPROC) becomes a soci_error that names
/// the thread, for the application to act on.
template <typename F>
std::thread needed_router_thread(char const* what, F&& f)
{
    try
    {
        return router_thread(std::forward<F>(f));
    }
    catch (std::system_error const& e)
    {
        throw soci::soci_error(std::string("soci-routing could not start its ") + what + " thread: " + e.what()
                               + " (is the process at its limit of threads or processes?)");
    }
}

} // namespace soci_routing

#endif // SOCI_ROUTING_THREADS_H_INCLUDED
