// soci-routing: the router's own threads (pools' housekeeping, probes, the watchdog, the cluster keeper).

#ifndef SOCI_ROUTING_THREADS_H_INCLUDED
#define SOCI_ROUTING_THREADS_H_INCLUDED

#include <signal.h>

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

} // namespace soci_routing

#endif // SOCI_ROUTING_THREADS_H_INCLUDED
