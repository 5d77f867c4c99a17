// soci-routing: the keywords the classifier recognises (internal; not installed).
//
// Only words that decide a route are keywords; every other word is kw::none. Recognition is a switch on
// length and first letter, then one comparison: no hashing, no allocation.

#ifndef SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED
#define SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace soci_routing::detail
{

enum class kw : std::uint8_t
{
    none,
    select_,
    values_,
    table_,
    with_,
    show_,
    explain_,
    describe_,
    desc_,
    analyze_,
    analyse_,
    insert_,
    update_,
    delete_,
    merge_,
    replace_,
    begin_,
    start_,
    commit_,
    end_,
    rollback_,
    abort_,
    savepoint_,
    release_,
    set_,
    reset_,
    discard_,
    prepare_,
    execute_,
    deallocate_,
    listen_,
    unlisten_,
    declare_,
    create_,
    drop_,
    alter_,
    truncate_,
    grant_,
    revoke_,
    lock_,
    unlock_,
    use_,
    xa_,
    fetch_,
    move_,
    close_,
    load_,
    handler_,
    transaction_,
    work_,
    to_,
    local_,
    session_,
    constraints_,
    temp_,
    temporary_,
    global_,
    for_,
    no_,
    key_,
    share_,
    in_,
    into_,
    next_,
    previous_,
    value_,
    format_,
    verbose_,
    extended_,
    partitions_,
    and_,
    chain_,
    prepared_,
    statement_,
    sql_calc_found_rows_,
    warnings_,
    errors_,
    count_,
    profile_,
    profiles_,
    or_,
};

/// The keyword spelled by `s` (lower case, `n` bytes), or kw::none.
inline kw lookup_keyword(char const* s, std::size_t n) noexcept
{
    auto is = [&](char const* w) { return std::memcmp(s + 1, w + 1, n - 1) == 0; };
    switch (n)
    {
    case 2:
        switch (s[0])
        {
        case 'i':
            if (is("in")) return kw::in_;
            break;
        case 'n':
            if (is("no")) return kw::no_;
            break;
        case 'o':
            if (is("or")) return kw::or_;
            break;
        case 't':
            if (is("to")) return kw::to_;
            break;
        case 'x':
            if (is("xa")) return kw::xa_;
            break;
        default:
            break;
        }
        break;
    case 3:
        switch (s[0])
        {
        case 'a':
            if (is("and")) return kw::and_;
            break;
        case 'e':
            if (is("end")) return kw::end_;
            break;
        case 'f':
            if (is("for")) return kw::for_;
            break;
        case 'k':
            if (is("key")) return kw::key_;
            break;
        case 's':
            if (is("set")) return kw::set_;
            break;
        case 'u':
            if (is("use")) return kw::use_;
            break;
        default:
            break;
        }
        break;
    case 4:
        switch (s[0])
        {
        case 'd':
            if (is("desc")) return kw::desc_;
            if (is("drop")) return kw::drop_;
            break;
        case 'i':
            if (is("into")) return kw::into_;
            break;
        case 'l':
            if (is("lock")) return kw::lock_;
            if (is("load")) return kw::load_;
            break;
        case 'm':
            if (is("move")) return kw::move_;
            break;
        case 'n':
            if (is("next")) return kw::next_;
            break;
        case 's':
            if (is("show")) return kw::show_;
            break;
        case 't':
            if (is("temp")) return kw::temp_;
            break;
        case 'w':
            if (is("with")) return kw::with_;
            if (is("work")) return kw::work_;
            break;
        default:
            break;
        }
        break;
    case 5:
        switch (s[0])
        {
        case 'a':
            if (is("abort")) return kw::abort_;
            if (is("alter")) return kw::alter_;
            break;
        case 'b':
            if (is("begin")) return kw::begin_;
            break;
        case 'c':
            if (is("close")) return kw::close_;
            if (is("chain")) return kw::chain_;
            if (is("count")) return kw::count_;
            break;
        case 'f':
            if (is("fetch")) return kw::fetch_;
            break;
        case 'g':
            if (is("grant")) return kw::grant_;
            break;
        case 'l':
            if (is("local")) return kw::local_;
            break;
        case 'm':
            if (is("merge")) return kw::merge_;
            break;
        case 'r':
            if (is("reset")) return kw::reset_;
            break;
        case 's':
            if (is("start")) return kw::start_;
            if (is("share")) return kw::share_;
            break;
        case 't':
            if (is("table")) return kw::table_;
            break;
        case 'v':
            if (is("value")) return kw::value_;
            break;
        default:
            break;
        }
        break;
    case 6:
        switch (s[0])
        {
        case 'c':
            if (is("commit")) return kw::commit_;
            if (is("create")) return kw::create_;
            break;
        case 'd':
            if (is("delete")) return kw::delete_;
            break;
        case 'e':
            if (is("errors")) return kw::errors_;
            break;
        case 'f':
            if (is("format")) return kw::format_;
            break;
        case 'g':
            if (is("global")) return kw::global_;
            break;
        case 'i':
            if (is("insert")) return kw::insert_;
            break;
        case 'l':
            if (is("listen")) return kw::listen_;
            break;
        case 'r':
            if (is("revoke")) return kw::revoke_;
            break;
        case 's':
            if (is("select")) return kw::select_;
            break;
        case 'u':
            if (is("update")) return kw::update_;
            if (is("unlock")) return kw::unlock_;
            break;
        case 'v':
            if (is("values")) return kw::values_;
            break;
        default:
            break;
        }
        break;
    case 7:
        switch (s[0])
        {
        case 'a':
            if (is("analyze")) return kw::analyze_;
            if (is("analyse")) return kw::analyse_;
            break;
        case 'd':
            if (is("discard")) return kw::discard_;
            if (is("declare")) return kw::declare_;
            break;
        case 'e':
            if (is("explain")) return kw::explain_;
            if (is("execute")) return kw::execute_;
            break;
        case 'h':
            if (is("handler")) return kw::handler_;
            break;
        case 'p':
            if (is("prepare")) return kw::prepare_;
            if (is("profile")) return kw::profile_;
            break;
        case 'r':
            if (is("replace")) return kw::replace_;
            if (is("release")) return kw::release_;
            break;
        case 's':
            if (is("session")) return kw::session_;
            break;
        case 'v':
            if (is("verbose")) return kw::verbose_;
            break;
        default:
            break;
        }
        break;
    case 8:
        switch (s[0])
        {
        case 'd':
            if (is("describe")) return kw::describe_;
            break;
        case 'e':
            if (is("extended")) return kw::extended_;
            break;
        case 'p':
            if (is("previous")) return kw::previous_;
            if (is("prepared")) return kw::prepared_;
            if (is("profiles")) return kw::profiles_;
            break;
        case 'r':
            if (is("rollback")) return kw::rollback_;
            break;
        case 't':
            if (is("truncate")) return kw::truncate_;
            break;
        case 'u':
            if (is("unlisten")) return kw::unlisten_;
            break;
        case 'w':
            if (is("warnings")) return kw::warnings_;
            break;
        default:
            break;
        }
        break;
    case 9:
        switch (s[0])
        {
        case 's':
            if (is("savepoint")) return kw::savepoint_;
            if (is("statement")) return kw::statement_;
            break;
        case 't':
            if (is("temporary")) return kw::temporary_;
            break;
        default:
            break;
        }
        break;
    case 10:
        switch (s[0])
        {
        case 'd':
            if (is("deallocate")) return kw::deallocate_;
            break;
        case 'p':
            if (is("partitions")) return kw::partitions_;
            break;
        default:
            break;
        }
        break;
    case 11:
        switch (s[0])
        {
        case 'c':
            if (is("constraints")) return kw::constraints_;
            break;
        case 't':
            if (is("transaction")) return kw::transaction_;
            break;
        default:
            break;
        }
        break;
    case 19:
        switch (s[0])
        {
        case 's':
            if (is("sql_calc_found_rows")) return kw::sql_calc_found_rows_;
            break;
        default:
            break;
        }
        break;
    default:
        break;
    }
    return kw::none;
}

} // namespace soci_routing::detail

#endif // SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED
