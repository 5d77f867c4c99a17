// soci-routing: configuration value types, validation, connect strings and redaction.

#include "config.h"
#include "config-detail.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace soci_routing
{

char const* to_string(driver d) noexcept
{
    switch (d)
    {
    case driver::postgresql: return "postgresql";
    case driver::mysql: return "mysql";
    }
    return "postgresql";
}

char const* to_string(balance_policy b) noexcept
{
    switch (b)
    {
    case balance_policy::round_robin: return "round_robin";
    case balance_policy::random: return "random";
    case balance_policy::least_connections: return "least_connections";
    }
    return "round_robin";
}

char const* to_string(topology_mode t) noexcept
{
    return t == topology_mode::discover ? "discover" : "static";
}

char const* to_string(consistency_mode c) noexcept
{
    return c == consistency_mode::causal ? "causal" : "window";
}

namespace detail
{

std::optional<driver> driver_from_string(std::string_view s) noexcept
{
    if (s == "postgresql") return driver::postgresql;
    if (s == "mysql") return driver::mysql;
    return std::nullopt;
}

std::optional<balance_policy> balance_from_string(std::string_view s) noexcept
{
    if (s == "round_robin") return balance_policy::round_robin;
    if (s == "random") return balance_policy::random;
    if (s == "least_connections") return balance_policy::least_connections;
    return std::nullopt;
}

std::optional<topology_mode> topology_from_string(std::string_view s) noexcept
{
    if (s == "static") return topology_mode::static_roles;
    if (s == "discover") return topology_mode::discover;
    return std::nullopt;
}

std::optional<consistency_mode> consistency_from_string(std::string_view s) noexcept
{
    if (s == "window") return consistency_mode::window;
    if (s == "causal") return consistency_mode::causal;
    return std::nullopt;
}

std::string quote_connect_value(std::string_view value)
{
    bool const bare = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return c == '\'' || c == '\\' || std::isspace(static_cast<unsigned char>(c));
    });
    if (bare)
        return std::string(value);
    std::string out = "'";
    for (char c : value)
    {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    out += '\'';
    return out;
}

namespace
{

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i)
    {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
        {
            std::size_t const above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

} // namespace

std::string did_you_mean(std::string_view word, std::vector<std::string> const& candidates)
{
    std::string best;
    std::size_t best_distance = 3;  // more than two edits away is not a typo
    for (auto const& c : candidates)
    {
        std::size_t const d = edit_distance(word, c);
        if (d < best_distance)
        {
            best_distance = d;
            best = c;
        }
    }
    return best.empty() ? std::string() : fmt::format(" (did you mean \"{}\"?)", best);
}

std::string show(std::string_view value)
{
    std::string out = "\"";
    std::size_t n = 0;
    for (char c : value)
    {
        if (++n > 60)
        {
            out += "...";
            break;
        }
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    return out + "\"";
}

} // namespace detail

int endpoint_config::effective_port() const noexcept
{
    if (port != 0)
        return port;
    return drv == driver::mysql ? 3306 : 5432;
}

std::string endpoint_config::address() const
{
    if (host.find(':') != std::string::npos)  // an IPv6 literal
        return fmt::format("[{}]:{}", host, effective_port());
    return fmt::format("{}:{}", host, effective_port());
}

std::string endpoint_config::connect_string() const
{
    using detail::quote_connect_value;
    // Both backends take `key=value` pairs; SOCI 4.0.3's mysql backend names some keys differently and accepts
    // only whole seconds ("connect_timeout", an unsigned integer > 0), as libpq does.
    bool const pg = drv == driver::postgresql;
    std::string out = "host=" + quote_connect_value(host);
    out += fmt::format(" port={}", effective_port());
    if (!database.empty())
        out += (pg ? " dbname=" : " db=") + quote_connect_value(database);
    if (!username.empty())
        out += " user=" + quote_connect_value(username);
    if (!password.empty())
        out += " password=" + quote_connect_value(password);
    auto const seconds = static_cast<long long>(std::ceil(std::max(timeout, 1.0)));
    out += fmt::format(" connect_timeout={}", seconds);
    for (auto const& [key, value] : options)
        out += " " + key + "=" + quote_connect_value(value);
    return out;
}

std::string endpoint_config::describe(bool is_primary) const
{
    std::string out = fmt::format("{} \"{}\" ({}", is_primary ? "primary" : "replica", name, address());
    if (!database.empty())
        out += ", db " + database;
    if (!username.empty())
        out += ", user " + username;
    return redact(out + ")");
}

std::string config_problem::to_string() const
{
    std::string out = source.empty() ? std::string("configuration") : source;
    if (line > 0)
        out += fmt::format(":{}:{}", line, column > 0 ? column : 1);
    out += ": ";
    if (!key.empty())
        out += key + ": ";
    return redact(out + message);
}

namespace
{

std::string join(std::vector<config_problem> const& problems)
{
    std::string out;
    for (auto const& p : problems)
    {
        if (!out.empty())
            out += '\n';
        out += p.to_string();
    }
    return out.empty() ? std::string("invalid configuration") : out;
}

} // namespace

config_error::config_error(std::vector<config_problem> problems)
    : soci::soci_error(join(problems)), problems_(std::move(problems))
{
}

cluster_config load_source(std::string const& source)
{
    std::string_view const scheme = "routing://";
    if (source.compare(0, scheme.size(), scheme) == 0)
        return load_connect_string(source);
    try
    {
        return load_file(source);
    }
    catch (config_error const& e)
    {
        // `soci-routing config "primary='...'"`: say how to give an inline configuration, without repeating
        // the text, which may hold a password that redact() cannot tell apart (`password=two words`).
        auto const& problems = e.problems();
        if (problems.size() == 1 && source.find('=') != std::string::npos
            && problems[0].message.rfind("cannot read", 0) == 0)
            throw config_error({config_problem{
                "SOURCE", 0, 0, "", "neither a readable file nor an inline configuration (which starts with "
                                    "routing://, as in routing://primary='postgresql://host=...')"}});
        throw;
    }
}

// ---------------------------------------------------------------------------------------------------------
// validate()

namespace
{

// libpq 15's connection keywords, less those that are endpoint fields, plus SOCI's own "singlerows".
std::vector<std::string> const postgresql_options = {
    "application_name", "channel_binding", "client_encoding", "fallback_application_name", "gssencmode",
    "gsslib", "hostaddr", "keepalives", "keepalives_count", "keepalives_idle", "keepalives_interval",
    "krbsrvname", "options", "passfile", "replication", "requirepeer", "requiressl", "service",
    "singlerow", "singlerows", "ssl_max_protocol_version", "ssl_min_protocol_version", "sslcert",
    "sslcompression", "sslcrl", "sslcrldir", "sslkey", "sslmode", "sslpassword", "sslrootcert", "sslsni",
    "target_session_attrs", "tcp_user_timeout"};
// What SOCI 4.0.3's mysql backend parses (src/backends/mysql/session.cpp), less the endpoint fields. It
// rejects every other key as "Malformed connection string".
std::vector<std::string> const mysql_options = {"charset", "local_infile", "read_timeout", "reconnect",
                                               "sslca", "sslcert", "sslkey", "unix_socket", "write_timeout"};

// Option keys that duplicate an endpoint field, with the field to use instead.
char const* field_for_option(std::string_view key, driver d)
{
    if (key == "host") return "host";
    if (key == "port") return "port";
    if (key == "dbname") return "database";
    if (key == "user") return "username";
    if (key == "password") return "password";
    if (key == "connect_timeout") return "timeout";
    if (d == driver::mysql && (key == "db" || key == "service")) return "database";
    if (d == driver::mysql && key == "pass") return "password";
    return nullptr;
}

bool is_positive_integer(std::string const& s)
{
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })
        && std::stol(s) > 0;
}

class validator
{
public:
    explicit validator(cluster_config const& c) : config_(c) {}

    std::vector<config_problem> run()
    {
        auto const& r = config_.routing;
        non_negative("routing.sticky", r.sticky);
        non_negative("routing.max_lag", r.max_lag);
        if (r.failures < 1)
            add("routing.failures", fmt::format("expected {}, got {}", detail::expect_positive_count, r.failures));
        positive("routing.retry_window", r.retry_window);
        positive("routing.retry_window_max", r.retry_window_max);
        positive("routing.lag_probe_interval", r.lag_probe_interval);
        non_negative("routing.read_timeout", r.read_timeout);
        positive("routing.role_probe_interval", r.role_probe_interval);
        non_negative("routing.causal_timeout", r.causal_timeout);
        non_negative("routing.linger", r.linger);
        non_negative("routing.rebalance", r.rebalance);

        endpoint("primary", config_.primary, nullptr);
        std::set<std::string> names{config_.primary.name};
        for (std::size_t i = 0; i < config_.replicas.size(); ++i)
        {
            auto const& replica = config_.replicas[i];
            std::string const key = fmt::format("replicas[{}]", i);
            endpoint(key, replica, &config_.primary);
            if (!replica.name.empty() && !names.insert(replica.name).second)
                add(key + ".name", fmt::format("duplicate endpoint name {}, expected a name of its own",
                                               detail::show(replica.name)));
        }

        for (std::size_t i = 0; i < config_.classifier.primary_functions.size(); ++i)
        {
            auto const& f = config_.classifier.primary_functions[i];
            if (f.empty() || f.find_first_of(" \t\r\n(),;'\"") != std::string::npos)
                add(fmt::format("classifier.primary_functions[{}]", i),
                    fmt::format("expected a function name, got {}", detail::show(f)));
        }
        return std::move(problems_);
    }

private:
    void add(std::string key, std::string message)
    {
        problems_.push_back(config_problem{config_.source, 0, 0, std::move(key), std::move(message)});
    }

    // Every such value is seconds (or a weight): above 1e9 it is a typo, and it would overflow the
    // milliseconds and whole seconds the drivers and pools take (found by fuzz-env: timeout = 3e38).
    static constexpr double at_most = 1e9;

    void non_negative(std::string const& key, double v)
    {
        if (!std::isfinite(v) || v < 0)
            add(key, fmt::format("expected {}, got {}", detail::expect_non_negative, v));
        else if (v > at_most)
            add(key, fmt::format("expected at most {:g}, got {:g}", at_most, v));
    }

    void positive(std::string const& key, double v)
    {
        if (!std::isfinite(v) || v <= 0)
            add(key, fmt::format("expected {}, got {}", detail::expect_positive, v));
        else if (v > at_most)
            add(key, fmt::format("expected at most {:g}, got {:g}", at_most, v));
    }

    // A replica shares invalid values with the primary when it inherits them: those are reported once, on
    // the primary, so `shared(x)` skips a replica's check when its value is the primary's.
    void endpoint(std::string const& key, endpoint_config const& e, endpoint_config const* primary)
    {
        auto shared = [&](auto member) { return primary != nullptr && e.*member == primary->*member; };
        if (e.name.empty())
            add(key + ".name", "expected a name, got an empty string");
        if (e.host.empty())
            add(key + ".host", primary != nullptr
                                   ? "missing: every replica names its own host (it is not inherited)"
                                   : "missing: expected a host name or address");
        if ((e.port < 0 || e.port > 65535) && !shared(&endpoint_config::port))
            add(key + ".port", fmt::format("expected {}, got {}", detail::expect_port, e.port));
        if (!shared(&endpoint_config::timeout))
            positive(key + ".timeout", e.timeout);
        if (e.statements < 0 && !shared(&endpoint_config::statements))
            add(key + ".statements", fmt::format("expected {}, got {}", detail::expect_count, e.statements));
        if (!shared(&endpoint_config::weight))
            positive(key + ".weight", e.weight);
        if (primary != nullptr && e.drv != primary->drv)
            add(key + ".driver", fmt::format("expected the primary's driver \"{}\", got \"{}\"",
                                             to_string(primary->drv), to_string(e.drv)));

        auto const& p = e.pool;
        bool const shared_pool = primary != nullptr && p.min == primary->pool.min && p.max == primary->pool.max;
        if (!shared_pool)
        {
            if (p.min < 0)
                add(key + ".pool.min", fmt::format("expected {}, got {}", detail::expect_count, p.min));
            if (p.max < 1)
                add(key + ".pool.max", fmt::format("expected {}, got {}", detail::expect_positive_count, p.max));
            else if (p.min > p.max)
                add(key + ".pool.min", fmt::format("expected at most pool.max ({}), got {}", p.max, p.min));
        }
        if (primary == nullptr || p.wait_timeout != primary->pool.wait_timeout)
            positive(key + ".pool.wait_timeout", p.wait_timeout);
        if (primary == nullptr || p.idle_timeout != primary->pool.idle_timeout)
            positive(key + ".pool.idle_timeout", p.idle_timeout);
        if (primary == nullptr || p.idle_check != primary->pool.idle_check)
            non_negative(key + ".pool.idle_check", p.idle_check);

        for (auto const& [option, value] : e.options)
        {
            if (primary != nullptr && primary->drv == e.drv)
            {
                auto const it = primary->options.find(option);
                if (it != primary->options.end() && it->second == value)
                    continue;  // inherited: checked on the primary
            }
            check_option(key + ".options." + option, e.drv, option, value);
        }
    }

    void check_option(std::string const& key, driver d, std::string const& option, std::string const& value)
    {
        if (char const* field = field_for_option(option, d))
        {
            add(key, fmt::format("is an endpoint field: set `{}` instead of options.{}", field, option));
            return;
        }
        auto const& known = d == driver::mysql ? mysql_options : postgresql_options;
        if (std::find(known.begin(), known.end(), option) == known.end())
        {
            auto candidates = known;
            for (char const* field : {"host", "port", "dbname", "user", "password", "connect_timeout"})
                candidates.emplace_back(field);
            add(key, fmt::format("unknown {} option{}, expected one of: {}", to_string(d),
                                 detail::did_you_mean(option, candidates), fmt::join(known, ", ")));
            return;
        }
        bool const secret = option.find("password") != std::string::npos;
        if (d == driver::mysql)
        {
            if ((option == "read_timeout" || option == "write_timeout") && !is_positive_integer(value))
                add(key, fmt::format("expected whole seconds > 0, got {}", detail::show(value)));
            else if (option == "local_infile" && value != "0" && value != "1")
                add(key, fmt::format("expected 0 or 1, got {}", detail::show(value)));
            else if (option == "reconnect" && value != "1")
                add(key, fmt::format("expected 1 (SOCI accepts no other value), got {}", detail::show(value)));
        }
        else if (option == "target_session_attrs")
        {
            // Roles are the router's business: a primary may ask for a writable server, a replica may only
            // accept what a standby is.
            // Never destroyed (as every static a session may need): a session may open at exit.
            static auto const& for_primary = *new std::vector<std::string>{"any", "read-write", "primary"};
            static auto const& for_replica =
                *new std::vector<std::string>{"any", "read-only", "standby", "prefer-standby"};
            bool const on_primary = key.rfind("primary.", 0) == 0;
            auto const& allowed = on_primary ? for_primary : for_replica;
            if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
                add(key, fmt::format("expected one of {} on {}, got {}{}", fmt::join(allowed, ", "),
                                     on_primary ? "the primary" : "a replica (it is not inherited from the primary)",
                                     detail::show(value), detail::did_you_mean(value, allowed)));
        }
        else if (option == "sslmode")
        {
            static auto const& modes =
                *new std::vector<std::string>{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
            if (std::find(modes.begin(), modes.end(), value) == modes.end())
                add(key, fmt::format("expected one of {}, got {}{}", fmt::join(modes, ", "), detail::show(value),
                                     detail::did_you_mean(value, modes)));
        }
        else if (!secret && value.empty())
        {
            add(key, "expected a value, got an empty string");
        }
    }

    cluster_config const& config_;
    std::vector<config_problem> problems_;
};

} // namespace

std::vector<config_problem> validate(cluster_config const& config)
{
    return validator(config).run();
}

// ---------------------------------------------------------------------------------------------------------
// redact()

namespace
{

// The character classes of the expressions redaction was first written with: `\s` of the "C" locale, and
// the ASCII letters, digits and underscore of a key's name.
bool is_blank(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_name_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool ends_with_ignoring_case(std::string_view text, std::string_view lower_suffix) noexcept
{
    if (text.size() < lower_suffix.size())
        return false;
    text.remove_prefix(text.size() - lower_suffix.size());
    return std::equal(text.begin(), text.end(), lower_suffix.begin(), [](char c, char lower) {
        return (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) == lower;
    });
}

/// Only the end of a name counts: `DB_PASS` and `sslpassword` hold passwords, `passfile` does not.
bool is_password_name(std::string_view name) noexcept
{
    return ends_with_ignoring_case(name, "pass") || ends_with_ignoring_case(name, "password");
}

std::size_t skip_blanks(std::string_view text, std::size_t i) noexcept
{
    while (i < text.size() && is_blank(text[i]))
        ++i;
    return i;
}

/// Where the quoted string opening at `open` ends: past its closing quote; or, unterminated, at the end of
/// the text or before a backslash that escapes nothing or a line break, as an escape never carries a value
/// onto the next line.
std::size_t quoted_end(std::string_view text, std::size_t open) noexcept
{
    char const quote = text[open];
    std::size_t i = open + 1;
    while (i < text.size() && text[i] != quote)
    {
        if (text[i] != '\\')
            ++i;
        else if (i + 1 < text.size() && text[i + 1] != '\n' && text[i + 1] != '\r')
            i += 2;
        else
            return i;
    }
    return i < text.size() ? i + 1 : i;
}

/// `"NAMEpass[word]" : "VALUE"` (JSON) becomes `"NAMEpass[word]" : "***"`.
std::string redact_json_members(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t copied = 0;
    for (std::size_t i = 0; i < text.size(); ++i)
    {
        if (text[i] != '"')
            continue;
        std::size_t name_end = i + 1;
        while (name_end < text.size() && is_name_char(text[name_end]))
            ++name_end;
        if (name_end == text.size() || text[name_end] != '"'
            || !is_password_name(text.substr(i + 1, name_end - i - 1)))
            continue;
        std::size_t const colon = skip_blanks(text, name_end + 1);
        if (colon == text.size() || text[colon] != ':')
            continue;
        std::size_t const open = skip_blanks(text, colon + 1);
        if (open == text.size() || text[open] != '"')
            continue;
        out.append(text.substr(copied, open - copied)).append("\"***\"");
        copied = quoted_end(text, open);
        i = copied - 1;
    }
    return out.append(text.substr(copied));
}

/// `NAMEpass[word] = VALUE` becomes `NAMEpass[word] = ***`, or `= '***'` when VALUE is quoted, so that
/// redacted TOML or conninfo still reads as such.
std::string redact_assignments(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t copied = 0;
    std::size_t i = 0;
    while (i < text.size())
    {
        if (!is_name_char(text[i]))
        {
            ++i;
            continue;
        }
        // A name is read whole: no shorter part of it names a password when the whole does not.
        std::size_t name_end = i;
        while (name_end < text.size() && is_name_char(text[name_end]))
            ++name_end;
        std::size_t next = name_end;
        std::size_t const equals = is_password_name(text.substr(i, name_end - i)) ? skip_blanks(text, name_end)
                                                                                  : text.size();
        if (equals < text.size() && text[equals] == '=')
        {
            std::size_t const value = skip_blanks(text, equals + 1);
            if (value < text.size())
            {
                out.append(text.substr(copied, value - copied));
                char const open = text[value];
                if (open == '\'' || open == '"')
                {
                    out.append(1, open).append("***").append(1, open);
                    next = quoted_end(text, value);
                }
                else
                {
                    out.append("***");
                    next = value;
                    while (next < text.size() && !is_blank(text[next]) && text[next] != '\'' && text[next] != '"')
                        ++next;
                }
                copied = next;
            }
        }
        i = next;
    }
    return out.append(text.substr(copied));
}

/// `scheme://user:VALUE@` becomes `scheme://user:***@`.
std::string redact_url_userinfo(std::string_view text)
{
    auto const ends_part = [](char c, bool in_user) {
        return is_blank(c) || c == '/' || c == '@' || c == '\'' || c == '"' || (in_user && c == ':');
    };
    std::string out;
    out.reserve(text.size());
    std::size_t copied = 0;
    for (std::size_t i = text.find("://"); i != std::string_view::npos; i = text.find("://", i + 1))
    {
        std::size_t colon = i + 3;
        while (colon < text.size() && !ends_part(text[colon], true))
            ++colon;
        if (colon == text.size() || text[colon] != ':')
            continue;
        std::size_t at = colon + 1;
        while (at < text.size() && !ends_part(text[at], false))
            ++at;
        if (at == text.size() || text[at] != '@')
            continue;
        out.append(text.substr(copied, colon + 1 - copied)).append("***@");
        copied = at + 1;
        i = at;
    }
    return out.append(text.substr(copied));
}

} // namespace

std::string redact(std::string_view text)
{
    // Three shapes carry a password: `password=VALUE` / `PASS = 'VALUE'` (conninfo, SOCI mysql, TOML,
    // environment listings), `"password": "VALUE"` (JSON) and `scheme://user:VALUE@host` (URLs).
    // A value is a quoted string (with backslash escapes) or a run of non-blank characters.
    // Each pass is one linear scan without recursion: the text may be an error message of any size, and
    // redaction must never be what fails.
    return redact_url_userinfo(redact_assignments(redact_json_members(text)));
}

} // namespace soci_routing
