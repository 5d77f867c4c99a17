// The cluster's environment for the helper programs of the routing tests (process-events, thread-refusals):
// what `ci/clusters env` prints, and SOCI_ROUTING_TEST_DRIVER.

#ifndef SOCI_ROUTING_TESTS_HELPER_ENV_H_INCLUDED
#define SOCI_ROUTING_TESTS_HELPER_ENV_H_INCLUDED

#include <cstdio>
#include <cstdlib>
#include <string>

namespace helper_env
{

/// SOCI_ROUTING_TEST_DRIVER=mysql: the MariaDB cluster; otherwise PostgreSQL's.
inline bool mysql()
{
    char const* driver = std::getenv("SOCI_ROUTING_TEST_DRIVER");
    return driver != nullptr && std::string(driver) == "mysql";
}

/// The variable's value; the program ends with status 2, naming it, when it is not set.
inline std::string get(char const* program, char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
    {
        std::fprintf(stderr, "%s: %s is not set (ci/clusters env)\n", program, name);
        std::exit(2);
    }
    return v;
}

} // namespace helper_env

#endif // SOCI_ROUTING_TESTS_HELPER_ENV_H_INCLUDED
