// soci-routing: redact(), and no password in any error text or printed configuration.

#include "config-test.h"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

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

std::size_t const one_megabyte = std::size_t(1) << 20;

/// Compares texts too long to print whole: on a difference, shows where the two part.
void check_same_text(std::string const& actual, std::string const& expected)
{
    auto const diff = std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
    auto const at = static_cast<std::size_t>(diff.first - actual.begin());
    BOOST_TEST((actual == expected), "the texts differ at offset " << at << " (sizes " << actual.size() << " and "
                                         << expected.size() << "): got \"" << actual.substr(at, 60)
                                         << "\", expected \"" << expected.substr(at, 60) << "\"");
}

/// Text as error messages hold it (hosts, paths, URLs), with runs of one kind of character long enough to
/// exhaust the stack of a recursive matcher: a host name, blanks, a URL path, an unterminated quote, a JSON
/// string.
std::string megabyte_filler(std::size_t index)
{
    switch (index % 6)
    {
    case 0:
        return "replica r" + std::to_string(index) + ": host=db" + std::to_string(index) +
               ".example.com port=5432 user=app dbname=orders passfile=/x\n";
    case 1: return "cannot resolve host=" + std::string(150000, 'h') + ".example.com\n";
    case 2: return "[" + std::string(150000, ' ') + "]\n";
    case 3: return "see https://docs.example.com/" + std::string(150000, 'p') + " (user:x) @home\n";
    case 4: return "value '" + std::string(150000, 'q') + " \\ \"" + std::string(1000, 'd') + "\n";
    default: return "{\"user\": \"" + std::string(150000, 'u') + "\", \"passes\": 3}\n";
    }
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

// Redaction runs on every error text that reaches an application or a log, so no text may crash it.

BOOST_AUTO_TEST_CASE(redact_handles_a_one_megabyte_error_text)
{
    std::string text;
    for (std::size_t i = 0; text.size() < one_megabyte; ++i)
        text += megabyte_filler(i);
    check_same_text(redact(text), text);
}

BOOST_AUTO_TEST_CASE(redact_hides_every_password_scattered_in_a_one_megabyte_text)
{
    std::string text;
    std::string expected;
    auto const both = [&](std::string const& s) {
        text += s;
        expected += s;
    };
    for (std::size_t i = 0; text.size() < one_megabyte; ++i)
    {
        auto const n = std::to_string(i);
        both(megabyte_filler(i));
        switch (i % 6)
        {
        case 0:
            both("host=a password=");
            text += "SECRET" + n;
            expected += "***";
            both(" user=u\n");
            break;
        case 1:
            both("PASS = '");
            text += "SEC\\'RET " + n;
            expected += "***";
            both("' port=1\n");
            break;
        case 2:
            both("{\"sslpassword\": \"");
            text += "SECRET\\\"" + n;
            expected += "***";
            both("\", \"user\": \"u\"}\n");
            break;
        case 3:
            both("postgresql://app:");
            text += "SECRET" + n;
            expected += "***";
            both("@db1/orders\n");
            break;
        case 4:
            // The name of the key may be as long as a run of word characters gets.
            both(std::string(100000, 'x') + "_password=\"");
            text += "SECRET " + n;
            expected += "***";
            both("\"\n");
            break;
        default:
            both("DB_PASS=");
            text += "SECRET" + n;
            expected += "***";
            both("\n");
            break;
        }
    }
    auto const redacted = redact(text);
    BOOST_TEST(redacted.find("SECRET") == std::string::npos);
    check_same_text(redacted, expected);
}

BOOST_AUTO_TEST_CASE(redact_hides_a_one_megabyte_unterminated_quoted_password)
{
    check_same_text(redact("password='" + std::string(one_megabyte, 'a')), "password='***'");
}

BOOST_AUTO_TEST_CASE(redact_hides_one_megabyte_passwords_of_every_shape)
{
    std::string const big(one_megabyte, 'a');
    std::string const escaped = [] {
        std::string s;
        while (s.size() < one_megabyte)
            s += "a\\'b\\\"c";
        return s;
    }();
    check_same_text(redact("password=" + big + " user=u"), "password=*** user=u");
    check_same_text(redact("password = '" + escaped + "' user=u"), "password = '***' user=u");
    check_same_text(redact("password=\"" + escaped + "\" user=u"), "password=\"***\" user=u");
    check_same_text(redact("{\"password\": \"" + escaped + "\"}"), "{\"password\": \"***\"}");
    check_same_text(redact("{\"password\": \"" + big), "{\"password\": \"***\"");
    check_same_text(redact("mysql://" + big + ":" + big + "@h/db"), "mysql://" + big + ":***@h/db");
    check_same_text(redact(big + "password=p"), big + "password=***");
}

BOOST_AUTO_TEST_CASE(a_configuration_with_a_one_megabyte_host_prints_without_its_password)
{
    // `soci-routing config` on such a file died in redacting the connect strings it prints.
    std::string const host(one_megabyte, 'h');
    auto const c = load_toml(
        "[primary]\nhost = \"a\"\npassword = \"" + secret + "\"\n\n[[replicas]]\nhost = \"" + host + "\"\n", "db.toml");
    for (auto const& printed : {to_toml(c), to_json(c)})
    {
        BOOST_TEST(printed.find(host) != std::string::npos);
        BOOST_TEST(printed.find(secret) == std::string::npos);
    }
}

// The shapes of a value, as redaction has always read them.

BOOST_AUTO_TEST_CASE(quoted_values_hold_escaped_quotes_and_may_be_unterminated)
{
    BOOST_TEST(redact(R"(password='a\'b' x=1)") == "password='***' x=1");
    BOOST_TEST(redact(R"(password="a\"b" x=1)") == R"(password="***" x=1)");
    BOOST_TEST(redact(R"(password='a"b' x=1)") == "password='***' x=1");
    BOOST_TEST(redact(R"(password="a'b x=1)") == R"(password="***")");
    BOOST_TEST(redact(R"({"Password" : "a\\", "x": "y"})") == R"({"Password" : "***", "x": "y"})");
    BOOST_TEST(redact(R"({"password": "a)") == R"({"password": "***")");
}

BOOST_AUTO_TEST_CASE(bare_values_end_at_a_blank_or_a_quote)
{
    BOOST_TEST(redact("password=a'b' x=1") == "password=***'b' x=1");
    BOOST_TEST(redact("password=\n\tvalue x=1") == "password=\n\t*** x=1");
    BOOST_TEST(redact("MyPassWord=a;b,c x=1") == "MyPassWord=*** x=1");
    BOOST_TEST(redact("pass=a pass=b") == "pass=*** pass=***");
    BOOST_TEST(redact("password='a'password=b") == "password='***'password=***");
}

BOOST_AUTO_TEST_CASE(keys_that_only_look_like_passwords_are_left_alone)
{
    std::string const text = "passfile=/x passwords=y {\"password\": 1} {\"passwd\": \"z\"} "
                             "http://host:80/x ftp://user@h://a:b c";
    BOOST_TEST(redact(text) == text);
    BOOST_TEST(redact("password") == "password");
    BOOST_TEST(redact("password = ") == "password = ");
}

BOOST_AUTO_TEST_CASE(url_userinfo_hides_only_the_password)
{
    BOOST_TEST(redact("postgresql://user:p:w@host/db") == "postgresql://user:***@host/db");
    BOOST_TEST(redact("x://:p@h and y://u:@h") == "x://:***@h and y://u:***@h");
    BOOST_TEST(redact("mysql://u:p@h/d?password=q") == "mysql://u:***@h/d?password=***");
}

BOOST_AUTO_TEST_SUITE_END()
