// soci-routing benchmarks: the test clusters' environment (`eval "$(ci/clusters env)"`).

#ifndef SOCI_ROUTING_BENCH_ENV_H_INCLUDED
#define SOCI_ROUTING_BENCH_ENV_H_INCLUDED

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace bench
{

/// The variable `name`, which must be set and not empty.
inline std::string env(char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        throw std::runtime_error(std::string(name) + " is not set: eval \"$(ci/clusters env)\"");
    return v;
}

} // namespace bench

#endif
