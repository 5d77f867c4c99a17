// soci-routing: built-in functions that write or depend on the session (internal; not installed).
//
// A call of one of these (unqualified name, lower case) sends the statement to the primary with reason
// side_effect_function. `pins` marks the ones whose effect outlives the statement in the session (session-level
// advisory and user locks, session settings, persistent dblink connections): the session stays on the primary.

#ifndef SOCI_ROUTING_CLASSIFIER_FUNCTIONS_H_INCLUDED
#define SOCI_ROUTING_CLASSIFIER_FUNCTIONS_H_INCLUDED

#include "classifier.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace soci_routing::detail
{

enum : std::uint8_t { in_pg = 1, in_my = 2, in_both = 3 };

struct function_rule
{
    std::string_view name;
    std::uint8_t dialects;
    bool pins;
};

// Exact names.
inline constexpr function_rule exact_functions[] = {
    // PostgreSQL: sequences
    {"nextval", in_both, false},   // MariaDB has NEXTVAL/LASTVAL/SETVAL too
    {"setval", in_both, false},
    {"currval", in_pg, false},     // session-bound: the value this session's nextval returned
    {"lastval", in_both, false},
    // PostgreSQL: session settings, notifications, large objects (lo_* is a prefix below)
    {"set_config", in_pg, true},   // is_local = false changes the session
    {"pg_notify", in_pg, false},
    {"loread", in_pg, false},
    {"lowrite", in_pg, false},
    // PostgreSQL: server administration and signalling
    {"pg_terminate_backend", in_pg, false},
    {"pg_cancel_backend", in_pg, false},
    {"pg_reload_conf", in_pg, false},
    {"pg_rotate_logfile", in_pg, false},
    {"pg_switch_wal", in_pg, false},
    {"pg_switch_xlog", in_pg, false},
    {"pg_promote", in_pg, false},
    {"pg_log_backend_memory_contexts", in_pg, false},
    {"pg_import_system_collations", in_pg, false},
    {"pg_truncate_visibility_map", in_pg, false},
    {"pg_stat_statements_reset", in_pg, false},
    {"pg_file_write", in_pg, false},   // adminpack
    {"pg_file_rename", in_pg, false},
    {"pg_file_unlink", in_pg, false},
    {"pg_file_sync", in_pg, false},
    // PostgreSQL: backup, WAL, replication
    {"pg_start_backup", in_pg, false},
    {"pg_stop_backup", in_pg, false},
    {"pg_logical_emit_message", in_pg, false},
    {"pg_drop_replication_slot", in_pg, false},
    {"pg_replication_slot_advance", in_pg, false},
    // PostgreSQL: transaction ids and snapshots (assign an xid, or belong to this transaction)
    {"txid_current", in_pg, false},
    {"txid_current_if_assigned", in_pg, false},
    {"pg_current_xact_id", in_pg, false},
    {"pg_current_xact_id_if_assigned", in_pg, false},
    {"pg_export_snapshot", in_pg, false},
    // PostgreSQL: index maintenance
    {"brin_desummarize_range", in_pg, false},
    {"gin_clean_pending_list", in_pg, false},
    // PostgreSQL: answers that depend on the session itself
    {"pg_backend_pid", in_pg, false},
    {"pg_listening_channels", in_pg, false},
    // dblink: remote statements, persistent named connections
    {"dblink", in_pg, false},
    {"dblink_exec", in_pg, false},
    {"dblink_connect", in_pg, true},
    {"dblink_connect_u", in_pg, true},
    {"dblink_open", in_pg, true},
    // MySQL / MariaDB: user-level locks
    {"get_lock", in_my, true},
    {"release_lock", in_my, true},
    {"release_all_locks", in_my, true},
    {"is_free_lock", in_my, false},
    {"is_used_lock", in_my, false},
    // MySQL / MariaDB: answers about this connection's previous statement
    {"last_insert_id", in_my, false},
    {"found_rows", in_my, false},
    {"row_count", in_my, false},
    {"connection_id", in_my, false},
};

// Name prefixes (each a family of functions).
inline constexpr function_rule prefix_functions[] = {
    {"lo_", in_pg, false},                     // large objects
    {"pg_advisory_", in_pg, true},             // session-level unless _xact_ (see below)
    {"pg_try_advisory_", in_pg, true},
    {"pg_stat_reset", in_pg, false},
    {"brin_summarize_", in_pg, false},
    {"pg_create_", in_pg, false},              // restore points, replication slots
    {"pg_copy_", in_pg, false},                // replication slots
    {"pg_logical_slot_", in_pg, false},        // get_changes consumes the slot
    {"pg_replication_origin_", in_pg, false},
    {"pg_backup_", in_pg, false},              // pg_backup_start / pg_backup_stop (15)
    {"pg_current_wal_", in_pg, false},         // fails on a standby
    {"pg_wal_replay_", in_pg, false},
    {"dblink_", in_pg, false},
};

struct function_effect
{
    bool matches = false;
    bool pins = false;
};

inline bool starts_with(char const* s, std::size_t n, std::string_view p) noexcept
{
    return n >= p.size() && std::memcmp(s, p.data(), p.size()) == 0;
}

inline bool contains(char const* s, std::size_t n, std::string_view p) noexcept
{
    return std::string_view(s, n).find(p) != std::string_view::npos;
}

/// Which exact names (bit i: exact_functions[i]) have a given length, first letter or last letter: most calls
/// (count, coalesce, now, …) share none with any listed name, and are rejected by three loads and two ANDs.
struct function_index
{
    static constexpr std::size_t max_len = 64;
    std::uint64_t by_length[max_len] = {};
    std::uint64_t by_first[256] = {};
    std::uint64_t by_last[256] = {};
    bool prefix_first[256] = {}; ///< the first letters of the name prefixes
};

constexpr std::size_t exact_function_count = sizeof exact_functions / sizeof exact_functions[0];
static_assert(exact_function_count <= 64, "function_index holds a bit per exact name");

constexpr function_index make_function_index() noexcept
{
    function_index x{};
    for (std::size_t i = 0; i < exact_function_count; ++i)
    {
        std::string_view const n = exact_functions[i].name;
        std::uint64_t const bit = std::uint64_t{1} << i;
        if (n.size() < function_index::max_len) x.by_length[n.size()] |= bit;
        x.by_first[static_cast<unsigned char>(n.front())] |= bit;
        x.by_last[static_cast<unsigned char>(n.back())] |= bit;
    }
    for (auto const& f : prefix_functions) x.prefix_first[static_cast<unsigned char>(f.name[0])] = true;
    return x;
}

inline constexpr function_index function_names = make_function_index();

inline function_effect lookup_builtin(char const* s, std::size_t n, std::uint8_t mask) noexcept
{
    auto const first = static_cast<unsigned char>(s[0]);
    if (n < function_index::max_len)
    {
        std::uint64_t candidates = function_names.by_length[n] & function_names.by_first[first] &
                                   function_names.by_last[static_cast<unsigned char>(s[n - 1])];
        while (candidates != 0) // in the list's order: the first match wins, as in a plain scan
        {
            unsigned i = 0;
            while (!(candidates & (std::uint64_t{1} << i))) ++i;
            candidates &= candidates - 1;
            function_rule const& f = exact_functions[i];
            if ((f.dialects & mask) && std::memcmp(f.name.data(), s, n) == 0) return {true, f.pins};
        }
    }
    if (!function_names.prefix_first[first]) return {};
    for (auto const& f : prefix_functions)
        if (f.name[0] == s[0] && (f.dialects & mask) && starts_with(s, n, f.name))
        {
            bool pins = f.pins;
            if (pins && contains(s, n, "_xact_")) pins = false; // transaction-level advisory locks
            if (starts_with(s, n, "pg_replication_origin_session_setup")) pins = true;
            return {true, pins};
        }
    return {};
}

/// Looks up a called function's name (lower case, unqualified).
inline function_effect lookup_function(char const* s, std::size_t n, dialect d,
                                       classify_options const& options) noexcept
{
    std::uint8_t const mask = (d == dialect::postgresql) ? in_pg : in_my;
    if (n == 0) return {};
    if (function_effect const f = lookup_builtin(s, n, mask); f.matches) return f;
    for (std::size_t i = 0; i < options.primary_function_count; ++i)
    {
        std::string_view const name = options.primary_functions[i];
        if (name.size() != n) continue;
        bool same = true;
        for (std::size_t j = 0; j < n && same; ++j)
        {
            char c = name[j];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
            same = c == s[j];
        }
        if (same) return {true, false};
    }
    return {};
}

} // namespace soci_routing::detail

#endif // SOCI_ROUTING_CLASSIFIER_FUNCTIONS_H_INCLUDED
