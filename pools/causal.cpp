// soci-routing: causal positions and tokens (see causal.h).

#include "causal.h"
#include "soci-internals.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/soci.h>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <thread>

namespace soci_routing
{

namespace
{

/// Reads an unsigned number of `base` at `at` no greater than `limit`; false when there is none or it is
/// too large.
bool read_number(std::string_view text, std::size_t& at, std::uint64_t limit, int base, std::uint64_t& value)
{
    std::size_t const begin = at;
    value = 0;
    for (; at < text.size(); ++at)
    {
        char const c = text[at];
        int digit = -1;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        if (digit < 0 || digit >= base)
            break;
        auto const d = static_cast<std::uint64_t>(digit);
        if (value > (limit - d) / static_cast<std::uint64_t>(base))
            return false;
        value = value * static_cast<std::uint64_t>(base) + d;
    }
    return at > begin;
}

/// A token as it may be shown in a message: at most 64 characters, anything but printable ASCII as `?`.
std::string shown(std::string_view token)
{
    std::string out;
    for (char c : token.substr(0, 64))
        out += c >= 0x20 && c < 0x7f ? c : '?';
    if (token.size() > 64)
        out += "...";
    return "\"" + out + "\"";
}

[[noreturn]] void bad_token(std::string_view token, driver d, std::string const& why)
{
    throw soci::soci_error(fmt::format("Invalid causal token {} for a {} cluster: {}. A token is what "
                                       "soci::routing.causal_token() returned (\"pg:TIMELINE:LSN\" or "
                                       "\"mariadb:GTIDS\").",
                                       shown(token), to_string(d), why));
}

bool is_connection_error(soci::mysql_soci_error const& e) noexcept
{
    return e.err_num_ >= 2000;  // client errors: the connection, not the query
}

} // namespace

void merge(causal_position& into, causal_position const& p)
{
    if (p.lsn != 0)
    {
        if (into.lsn == 0 || p.timeline > into.timeline)
        {
            into.lsn = p.lsn;
            into.timeline = p.timeline;
        }
        else if (p.timeline == into.timeline)
            into.lsn = std::max(into.lsn, p.lsn);
    }
    for (auto const& [domain, g] : p.domains)
    {
        auto const it = into.domains.find(domain);
        if (it == into.domains.end() || it->second.seq < g.seq)
            into.domains[domain] = g;
    }
}

bool covers(causal_position const& replayed, causal_position const& required) noexcept
{
    if (required.lsn != 0 && replayed.lsn < required.lsn)
        return false;
    for (auto const& [domain, g] : required.domains)
    {
        auto const it = replayed.domains.find(domain);
        if (g.seq > 0 && (it == replayed.domains.end() || it->second.seq < g.seq))
            return false;
    }
    return true;
}

bool same_history(causal_position const& required, causal_position const& primary) noexcept
{
    if (required.lsn != 0 && (required.timeline == 0 || required.timeline != primary.timeline))
        return false;
    for (auto const& [domain, g] : required.domains)
    {
        auto const it = primary.domains.find(domain);
        if (it == primary.domains.end() || it->second.server != g.server || it->second.seq < g.seq)
            return false;
    }
    return true;
}

std::optional<causal_position> parse_gtid_list(std::string_view text)
{
    causal_position out;
    std::size_t at = 0;
    auto skip_space = [&] {
        while (at < text.size() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t' || text[at] == '\r'))
            ++at;
    };
    skip_space();
    if (at == text.size())
        return out;
    std::uint64_t const u32 = std::numeric_limits<std::uint32_t>::max();
    for (;;)
    {
        std::uint64_t domain = 0;
        std::uint64_t server = 0;
        std::uint64_t seq = 0;
        if (!read_number(text, at, u32, 10, domain) || at == text.size() || text[at++] != '-')
            return std::nullopt;
        if (!read_number(text, at, u32, 10, server) || at == text.size() || text[at++] != '-')
            return std::nullopt;
        if (!read_number(text, at, std::numeric_limits<std::uint64_t>::max(), 10, seq))
            return std::nullopt;
        causal_position::gtid const g{static_cast<std::uint32_t>(server), seq};
        auto const it = out.domains.find(static_cast<std::uint32_t>(domain));
        if (it == out.domains.end() || it->second.seq < seq)
            out.domains[static_cast<std::uint32_t>(domain)] = g;
        skip_space();
        if (at == text.size())
            return out;
        if (text[at++] != ',')
            return std::nullopt;
        skip_space();
    }
}

std::string gtid_list(causal_position const& p)
{
    std::string out;
    for (auto const& [domain, g] : p.domains)
    {
        if (!out.empty())
            out += ',';
        out += fmt::format("{}-{}-{}", domain, g.server, g.seq);
    }
    return out;
}

std::string lsn_text(std::uint64_t lsn)
{
    return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xffffffffu);
}

std::string to_token(causal_position const& p, driver d)
{
    if (p.empty())
        return {};
    if (d == driver::postgresql)
        return fmt::format("pg:{}:{}", p.timeline, lsn_text(p.lsn));
    return "mariadb:" + gtid_list(p);
}

causal_position parse_token(std::string_view token, driver d)
{
    if (token.empty())
        return {};
    bool const pg_token = token.substr(0, 3) == "pg:";
    bool const mariadb_token = token.substr(0, 8) == "mariadb:";
    if (d == driver::postgresql && mariadb_token)
        bad_token(token, d, "it is a MariaDB token");
    if (d == driver::mysql && pg_token)
        bad_token(token, d, "it is a PostgreSQL token");
    if (d == driver::postgresql)
    {
        if (!pg_token)
            bad_token(token, d, "it does not begin with \"pg:\"");
        std::size_t at = 3;
        std::uint64_t timeline = 0;
        std::uint64_t hi = 0;
        std::uint64_t lo = 0;
        if (!read_number(token, at, std::numeric_limits<std::uint32_t>::max(), 10, timeline) || timeline == 0
            || at == token.size() || token[at++] != ':')
            bad_token(token, d, "expected a timeline (a number from 1) after \"pg:\"");
        if (!read_number(token, at, 0xffffffffu, 16, hi) || at == token.size() || token[at++] != '/'
            || !read_number(token, at, 0xffffffffu, 16, lo) || at != token.size())
            bad_token(token, d, "expected a WAL position (like 0/3000060) after the timeline");
        causal_position p;
        p.timeline = static_cast<std::uint32_t>(timeline);
        p.lsn = hi << 32 | lo;
        return p;
    }
    if (!mariadb_token)
        bad_token(token, d, "it does not begin with \"mariadb:\"");
    auto p = parse_gtid_list(token.substr(8));
    if (!p || p->domains.empty())
        bad_token(token, d, "expected GTIDs (like 0-1-14,1-2-7) after \"mariadb:\"");
    return *p;
}

std::optional<causal_position> read_primary_position(soci::session& primary, driver d)
{
    if (d == driver::postgresql)
    {
        long long lsn = 0;
        std::string file;
        primary << "SELECT pg_wal_lsn_diff(l, '0/0')::bigint, pg_walfile_name(l) FROM pg_current_wal_insert_lsn() AS l",
            soci::into(lsn), soci::into(file);
        causal_position p;
        p.lsn = static_cast<std::uint64_t>(lsn);
        std::size_t at = 0;
        std::uint64_t timeline = 0;
        // A WAL file name is TTTTTTTTXXXXXXXXYYYYYYYY: the timeline first, 8 hex digits.
        if (file.size() >= 8 && read_number(std::string_view(file).substr(0, 8), at, 0xffffffffu, 16, timeline))
            p.timeline = static_cast<std::uint32_t>(timeline);
        return p;
    }
    return read_gtid_variable(primary, "SELECT @@global.gtid_binlog_pos");
}

std::optional<causal_position> read_replayed_position(soci::session& sql, driver d)
{
    if (d == driver::postgresql)
    {
        long long lsn = 0;
        soci::indicator ind = soci::i_ok;
        sql << "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint", soci::into(lsn, ind);
        if (ind != soci::i_ok)
            return std::nullopt;  // not in recovery
        causal_position p;
        p.lsn = static_cast<std::uint64_t>(lsn);
        return p;
    }
    return read_gtid_variable(sql, "SELECT @@global.gtid_slave_pos");
}

std::optional<causal_position> wait_for_position(soci::session& sql, driver d, causal_position const& required,
                                                 std::chrono::steady_clock::duration timeout, bool& reached)
{
    using clock = std::chrono::steady_clock;
    reached = false;
    if (d == driver::postgresql)
    {
        auto const deadline = clock::now() + timeout;
        auto pause = std::chrono::microseconds(100);
        std::optional<causal_position> seen;
        for (;;)
        {
            seen = read_replayed_position(sql, d);
            if (!seen)
                return seen;
            if (covers(*seen, required))
            {
                reached = true;
                return seen;
            }
            auto const now = clock::now();
            if (now >= deadline)
                return seen;
            std::this_thread::sleep_for(std::min<clock::duration>(pause, deadline - now));
            pause = std::min(pause * 2, std::chrono::microseconds(2000));
        }
    }
    double const seconds = std::chrono::duration<double>(timeout).count();
    int result = -1;
    soci::indicator ind = soci::i_ok;
    try
    {
        // The GTID list is digits, '-' and ',' only (gtid_list()).
        sql << fmt::format("SELECT MASTER_GTID_WAIT('{}', {:.6f})", gtid_list(required), seconds),
            soci::into(result, ind);
    }
    catch (soci::mysql_soci_error const& e)
    {
        if (is_connection_error(e))
            throw;
        return std::nullopt;  // MySQL proper: no MASTER_GTID_WAIT
    }
    if (ind != soci::i_ok || result != 0)
        return std::nullopt;
    reached = true;
    return required;
}

std::optional<causal_position> read_gtid_variable(soci::session& sql, char const* query)
{
    std::string text;
    soci::indicator ind = soci::i_ok;
    try
    {
        sql << query, soci::into(text, ind);
    }
    catch (soci::mysql_soci_error const& e)
    {
        if (is_connection_error(e))
            throw;
        return std::nullopt;  // 1193, unknown system variable: MySQL proper
    }
    if (ind != soci::i_ok)
        return causal_position{};
    return parse_gtid_list(text);
}

bool mysql_track_last_gtid(soci::session& sql) noexcept
{
    MYSQL* conn = soci_internals::mysql_connection(sql);
    if (conn == nullptr)
        return false;
    // Added to what the session tracks already (Connector/C follows the current database and character set
    // through it).
    return mysql_query(conn, "SET SESSION session_track_system_variables = "
                             "CONCAT_WS(',', NULLIF(@@session.session_track_system_variables, ''), 'last_gtid')")
        == 0;
}

std::optional<causal_position> mysql_tracked_gtid(soci::session& sql) noexcept
{
    MYSQL* conn = soci_internals::mysql_connection(sql);
    if (conn == nullptr)
        return std::nullopt;
    try
    {
        // Names and values alternate: name, value, name, value...
        char const* data = nullptr;
        std::size_t length = 0;
        bool name = true;
        bool wanted = false;
        std::optional<causal_position> found;
        for (int r = mysql_session_track_get_first(conn, SESSION_TRACK_SYSTEM_VARIABLES, &data, &length); r == 0;
             r = mysql_session_track_get_next(conn, SESSION_TRACK_SYSTEM_VARIABLES, &data, &length))
        {
            std::string_view const text(data != nullptr ? data : "", data != nullptr ? length : 0);
            if (name)
                wanted = text == "last_gtid";
            else if (wanted && !text.empty())
                found = parse_gtid_list(text);
            name = !name;
        }
        return found;
    }
    catch (...)
    {
        return std::nullopt;
    }
}

} // namespace soci_routing
