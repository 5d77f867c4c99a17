// soci-routing: every classifier rule and lexer trap, as data rows (rows.cpp).

#include "rows.h"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

namespace bdata = boost::unit_test::data;
using namespace soci_routing;

BOOST_AUTO_TEST_SUITE(classifier_rules)

BOOST_DATA_TEST_CASE(statement_is_routed_with_its_reason, bdata::make(rule_rows()), row)
{
    classification const c = classify(row.sql, row.dialect);
    BOOST_TEST(std::string(to_string(c.why)) == row.expected);
    BOOST_TEST((c.where == target::replica) == is_replica_reason(row.expected));
}

BOOST_DATA_TEST_CASE(replica_statement_carries_no_flags, bdata::make(rule_rows()), row)
{
    classification const c = classify(row.sql, row.dialect);
    if (c.where == target::replica)
    {
        BOOST_TEST((c.kind == statement_kind::read));
        BOOST_TEST(!c.is_write);
        BOOST_TEST(!c.pins_session);
        BOOST_TEST(!c.begins_transaction);
        BOOST_TEST(!c.ends_transaction);
    }
    else
        BOOST_TEST(!is_replica_reason(to_string(c.why)));
}

BOOST_DATA_TEST_CASE(hint_comment_never_lets_a_statement_reach_a_replica, bdata::make(rule_rows()), row)
{
    classification const before = classify("/* soci-routing: primary */ " + row.sql, row.dialect);
    classification const after = classify(row.sql + "\n/* soci-routing: primary */", row.dialect);
    BOOST_TEST((before.where == target::primary));
    BOOST_TEST((after.where == target::primary));
}

BOOST_DATA_TEST_CASE(second_statement_never_lets_a_statement_reach_a_replica, bdata::make(rule_rows()), row)
{
    classification const c = classify(row.sql + "\n; SELECT 1", row.dialect);
    BOOST_TEST((c.where == target::primary));
}

BOOST_AUTO_TEST_CASE(rule_table_has_at_least_400_rows_over_both_dialects)
{
    std::size_t pg = 0, my = 0;
    for (auto const& r : rule_rows()) (r.dialect == dialect::postgresql ? pg : my) += 1;
    BOOST_TEST(pg + my >= 400u);
    BOOST_TEST(pg >= 150u);
    BOOST_TEST(my >= 150u);
}

BOOST_AUTO_TEST_CASE(rule_table_covers_every_reason)
{
    std::set<std::string> seen;
    for (auto const& r : rule_rows()) seen.insert(r.expected);
    for (int i = 0; i <= static_cast<int>(reason::unknown); ++i)
        BOOST_TEST(seen.count(to_string(static_cast<reason>(i))) == 1u, to_string(static_cast<reason>(i)));
}

BOOST_AUTO_TEST_CASE(reason_names_are_stable_and_distinct)
{
    char const* const expected[] = {"select",         "show",        "explain",         "cte_read",
                                    "write",          "locking_read", "select_into",    "explain_analyze",
                                    "cte_write",      "side_effect_function", "multi_statement",
                                    "transaction_control", "session_state", "hint",    "unknown"};
    int i = 0;
    for (char const* name : expected) BOOST_TEST(std::string(to_string(static_cast<reason>(i++))) == name);
    BOOST_TEST(std::string(to_string(target::replica)) == "replica");
    BOOST_TEST(std::string(to_string(target::primary)) == "primary");
    BOOST_TEST(std::string(to_string(statement_kind::session_state)) == "session_state");
}

BOOST_AUTO_TEST_CASE(extra_primary_functions_from_options_route_to_primary)
{
    std::string_view const extra[] = {"audit_log", "Touch_Row"};
    classify_options options;
    options.primary_functions = extra;
    options.primary_function_count = 2;
    for (dialect d : {dialect::postgresql, dialect::mysql})
    {
        BOOST_TEST((classify("SELECT audit_log(1)", d).why == reason::select));
        BOOST_TEST((classify("SELECT audit_log(1)", d, options).why == reason::side_effect_function));
        BOOST_TEST((classify("SELECT app.AUDIT_LOG (1)", d, options).why == reason::side_effect_function));
        BOOST_TEST((classify("SELECT touch_row(1)", d, options).why == reason::side_effect_function));
        BOOST_TEST((classify("SELECT audit_log FROM t", d, options).why == reason::select));
        BOOST_TEST((classify("SELECT audit_logs(1)", d, options).why == reason::select));
        BOOST_TEST((classify("SELECT 'audit_log(1)'", d, options).why == reason::select));
        BOOST_TEST(classify("SELECT audit_log(1)", d, options).is_write);
    }
}

BOOST_AUTO_TEST_SUITE_END()
