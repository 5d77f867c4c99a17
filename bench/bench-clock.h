// soci-routing benchmarks: wall and process CPU time (user + system) of repeated work, per iteration.

#ifndef SOCI_ROUTING_BENCH_CLOCK_H_INCLUDED
#define SOCI_ROUTING_BENCH_CLOCK_H_INCLUDED

#include <sys/resource.h>

#include <chrono>

namespace bench
{

inline double cpu_seconds()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
        + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// Accumulated wall and CPU time of `n` iterations.
struct cost
{
    double wall = 0;
    double cpu = 0;
    long n = 0;

    /// Runs `f` `count` times and adds the time it took.
    template <typename F>
    void add(F const& f, int count)
    {
        auto const t0 = std::chrono::steady_clock::now();
        double const c0 = cpu_seconds();
        for (int i = 0; i < count; ++i)
            f();
        wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        cpu += cpu_seconds() - c0;
        n += count;
    }
    double wall_us() const { return wall * 1e6 / static_cast<double>(n); }
    double cpu_us() const { return cpu * 1e6 / static_cast<double>(n); }
};

} // namespace bench

#endif // SOCI_ROUTING_BENCH_CLOCK_H_INCLUDED
