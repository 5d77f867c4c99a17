// soci-routing: the rendered connect strings are accepted by SOCI's own backends. No server is needed: each
// endpoint points at a closed port, so a string that parses fails to connect, while one that does not parse
// fails with the backend's "Malformed connection string" / libpq's "invalid connection option".

#include "config-test.h"

#include <boost/test/unit_test.hpp>
#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

/// The error of connecting with `e`'s connect string (the test fails if the connection succeeds).
std::string connect_error(endpoint_config const& e)
{
    try
    {
        if (e.drv == driver::mysql)
            soci::session sql(soci::mysql, e.connect_string());
        else
            soci::session sql(soci::postgresql, e.connect_string());
    }
    catch (soci::soci_error const& error)
    {
        return error.what();
    }
    BOOST_ERROR("connected to a closed port");
    return {};
}

endpoint_config closed_port(driver d)
{
    endpoint_config e;
    e.drv = d;
    e.host = "127.0.0.1";
    e.port = 1;  // nothing listens there
    e.database = "my db";
    e.username = "u";
    e.password = R"(it's a \ "secret")";
    e.timeout = 1;
    return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_backend_acceptance)

BOOST_AUTO_TEST_CASE(soci_mysql_parses_the_rendered_string_with_every_supported_option)
{
    auto e = closed_port(driver::mysql);
    e.options = {{"charset", "utf8mb4"}, {"sslca", "/no/ca.pem"}, {"read_timeout", "3"}, {"write_timeout", "3"},
                 {"local_infile", "0"}, {"reconnect", "1"}};
    auto const error = connect_error(e);
    BOOST_TEST(error.find("Malformed") == std::string::npos, error);
    BOOST_TEST(!error.empty());
}

BOOST_AUTO_TEST_CASE(soci_mysql_refuses_an_option_it_does_not_know)
{
    // The reason validate() refuses such options before a connection is tried.
    auto e = closed_port(driver::mysql);
    e.options = {{"sslmode", "require"}};
    BOOST_TEST(connect_error(e).find("Malformed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(libpq_parses_the_rendered_string_with_options)
{
    auto e = closed_port(driver::postgresql);
    e.options = {{"sslmode", "disable"}, {"application_name", "two words"}};
    auto const error = connect_error(e);
    BOOST_TEST(error.find("invalid connection option") == std::string::npos, error);
    BOOST_TEST(error.find("missing") == std::string::npos, error);
    BOOST_TEST(!error.empty());
}

BOOST_AUTO_TEST_SUITE_END()
