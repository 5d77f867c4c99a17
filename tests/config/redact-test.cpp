// soci-routing: redact(), and no password in any error text or printed configuration.

#include "config-test.h"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

using namespace soci_routing;
using namespace soci_routing_test;

namespace
{

// Distinctive enough that finding it anywhere means it leaked.
std::string const secret = "Zq8-SECRET-pw";

/// Configurations, each invalid in a different way, each holding `secret` as a password.
std::vector<std::string> const invalid_inline = {
    "primary='postgresql://host=a port=x password=" + secret + "'",
    "primary='postgresql://host=a password=" + secret + " sslmod=1' stiky=1",
    "primary='host=a password=\\'" + secret + " spaced\\'' replica='port=1'",
    "primary='mysql://host=a pass=" + secret + "' replica='postgresql://host=b'",
    "primary='host=a password=" + secret,  // unterminated
    "primary='host=a password=" + secret + "' replica='host=b password=" + secret + " port=0x'",
    "primary='host=a' replica='host=b password=" + secret + " nme=x'",
    "primary='host=a password=unquoted " + secret + "'",  // the second word is no key=value pair
    "primary='host=a password=x${" + secret + " y}'",
};
std::vector<std::string> const invalid_toml = {
    "[primary]\nhost = \"a\"\npassword = \"" + secret + "\"\nport = \"abc\"\n",
    "[primary]\nhost = \"a\"\npassword = " + secret + "\n",  // not TOML: a bare word
    "[primary]\nhost = \"a\"\npassword = \"" + secret + "\n",  // unterminated string
    "[primary]\nhost = \"a\"\npassword = 123" + secret + "\n",
    "[primary]\nhost = \"a\"\noptions = { sslpassword = \"" + secret + "\", bad = \"\" }\n",
    "[primary]\nhost = \"a\"\npassword = [\"" + secret + "\"]\n",
    "[primary]\nhost = \"a\"\n[[replicas]]\npassword = \"" + secret + "\"\n",
};

void check_no_secret(std::string const& text)
{
    BOOST_TEST(!text.empty());
    BOOST_TEST(text.find(secret) == std::string::npos, "the password leaked: " << text);
    BOOST_TEST(text.find("SECRET") == std::string::npos, "part of the password leaked: " << text);
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_redaction)

BOOST_AUTO_TEST_CASE(conninfo_passwords_are_hidden_bare_and_quoted)
{
    BOOST_TEST(redact("host=a password=p1 user=u") == "host=a password=*** user=u");
    BOOST_TEST(redact(R"(host=a password='p 1\'x' user=u)") == "host=a password='***' user=u");
    BOOST_TEST(redact("host=a pass = p2") == "host=a pass = ***");
    BOOST_TEST(redact("sslpassword=k1 PASSWORD=k2") == "sslpassword=*** PASSWORD=***");
}

BOOST_AUTO_TEST_CASE(toml_json_environment_and_url_passwords_are_hidden)
{
    BOOST_TEST(redact("password = \"p3\"") == "password = \"***\"");
    BOOST_TEST(redact(R"({"password": "p\"4", "user": "u"})") == R"({"password": "***", "user": "u"})");
    BOOST_TEST(redact("DB_PASS=p5 DB_HOST=h") == "DB_PASS=*** DB_HOST=h");
    BOOST_TEST(redact("postgresql://user:p6@host/db") == "postgresql://user:***@host/db");
}

BOOST_AUTO_TEST_CASE(text_without_passwords_is_unchanged)
{
    std::string const text = "host=a passfile=/x user=u primary.password: missing; mysql://host:3306/db";
    BOOST_TEST(redact(text) == text);
}

BOOST_DATA_TEST_CASE(no_password_in_inline_errors, boost::unit_test::data::make(invalid_inline), text)
{
    check_no_secret(error_text([&] { load_connect_string(text); }));
}

BOOST_DATA_TEST_CASE(no_password_in_toml_errors, boost::unit_test::data::make(invalid_toml), text)
{
    check_no_secret(error_text([&] { load_toml(text, "db.toml"); }));
}

BOOST_AUTO_TEST_CASE(no_password_in_environment_errors)
{
    scoped_env pass("SRT_PASS", secret);
    scoped_env port("SRT_PORT", "abc");
    scoped_env timeout("SRT_TIMEOUT", "-1");
    auto const text = error_text([] { load_connect_string("primary='host=a' env_prefix=SRT"); });
    BOOST_TEST(text.find("SRT_PORT") != std::string::npos);
    BOOST_TEST(text.find("SRT_TIMEOUT") != std::string::npos);
    check_no_secret(text);
}

BOOST_AUTO_TEST_CASE(no_password_when_an_inline_configuration_lacks_its_prefix)
{
    auto const text = error_text([] { load_source("primary='host=a password=two " + secret + "'"); });
    BOOST_TEST(text.find("routing://") != std::string::npos);
    check_no_secret(text);
}

BOOST_AUTO_TEST_CASE(no_password_in_printed_configuration_or_descriptions)
{
    auto const c = load_connect_string("primary='postgresql://host=a password=" + secret +
                                       " sslpassword=" + secret + "' replica='host=b'");
    check_no_secret(to_toml(c));
    check_no_secret(to_json(c));
    check_no_secret(c.primary.describe(true));
    check_no_secret(c.replicas.at(0).describe(false));
    check_no_secret(redact(c.replicas.at(0).connect_string()));
    BOOST_TEST(c.identity().find(secret) != std::string::npos);  // the identity keeps it: it is never shown
}

BOOST_AUTO_TEST_SUITE_END()
