// soci-routing: helpers of the configuration tests.

#ifndef SOCI_ROUTING_CONFIG_TEST_H_INCLUDED
#define SOCI_ROUTING_CONFIG_TEST_H_INCLUDED

#include "config.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace soci_routing
{
// So that Boost.Test can print the enumerations in a failed check (found by argument-dependent lookup).
inline std::ostream& operator<<(std::ostream& out, driver d) { return out << to_string(d); }
inline std::ostream& operator<<(std::ostream& out, balance_policy b) { return out << to_string(b); }
} // namespace soci_routing

namespace soci_routing_test
{

/// The problems of a configuration that must fail to load; fails the test when it loads.
template <typename Load>
std::vector<soci_routing::config_problem> problems_of(Load load)
{
    try
    {
        load();
    }
    catch (soci_routing::config_error const& e)
    {
        return e.problems();
    }
    BOOST_ERROR("the configuration loaded, but it is invalid");
    return {};
}

/// The whole message (config_error::what()) of a configuration that must fail to load.
template <typename Load>
std::string error_text(Load load)
{
    try
    {
        load();
    }
    catch (soci_routing::config_error const& e)
    {
        return e.what();
    }
    BOOST_ERROR("the configuration loaded, but it is invalid");
    return {};
}

inline std::vector<soci_routing::config_problem> toml_problems(std::string const& text,
                                                               std::string const& source = "db.toml")
{
    return problems_of([&] { soci_routing::load_toml(text, source); });
}

inline std::vector<soci_routing::config_problem> inline_problems(std::string const& text)
{
    return problems_of([&] { soci_routing::load_connect_string(text); });
}

/// The one problem with `key`; fails the test when there is none.
inline soci_routing::config_problem problem_with_key(std::vector<soci_routing::config_problem> const& problems,
                                                     std::string const& key)
{
    for (auto const& p : problems)
        if (p.key == key)
            return p;
    std::string all;
    for (auto const& p : problems)
        all += "\n  " + p.to_string();
    BOOST_ERROR("no problem with key " << key << "; problems:" << all);
    return {};
}

/// Sets an environment variable for the lifetime of the object (restoring the former value).
class scoped_env
{
public:
    scoped_env(std::string name, std::optional<std::string> value) : name_(std::move(name))
    {
        if (char const* old = std::getenv(name_.c_str()))
            old_ = old;
        if (value)
            ::setenv(name_.c_str(), value->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    ~scoped_env()
    {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    scoped_env(scoped_env const&) = delete;
    scoped_env& operator=(scoped_env const&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

inline std::string fixture(std::string const& name)
{
    return std::string(SOCI_ROUTING_CONFIG_FIXTURES) + "/" + name;
}

} // namespace soci_routing_test

#endif
