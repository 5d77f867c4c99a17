// facts_of(): a statement text's classification and first word, cached per thread (no server). A cached answer
// must be the classifier's own, whatever the texts, dialects and options that came before it.

#include <boost/test/unit_test.hpp>

#include "text-facts.h"

#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace soci_routing;

namespace soci_routing
{
// Boost.Test prints what it compares, by name (found by argument-dependent lookup).
inline std::ostream& boost_test_print_type(std::ostream& os, target t) { return os << to_string(t); }
inline std::ostream& boost_test_print_type(std::ostream& os, reason r) { return os << to_string(r); }
} // namespace soci_routing

namespace
{

bool same(classification const& a, classification const& b)
{
    return a.where == b.where && a.kind == b.kind && a.why == b.why && a.begins_transaction == b.begins_transaction
        && a.ends_transaction == b.ends_transaction && a.pins_session == b.pins_session && a.is_write == b.is_write;
}

} // namespace

BOOST_AUTO_TEST_SUITE(text_facts_cache)

BOOST_AUTO_TEST_CASE(a_text_seen_again_gets_the_classifiers_own_answer)
{
    classify_options const none;
    std::vector<std::string> const texts = {"SELECT :aid", "select abalance from pgbench_accounts where aid = :aid",
                                            "UPDATE t SET x = 1", "SELECT 1 FOR UPDATE", "BEGIN", "SET search_path = a",
                                            "/* c */ SELECT 1", "  \n\tWITH x AS (DELETE FROM t RETURNING *) SELECT 1"};
    for (int round = 0; round < 3; ++round)
    {
        for (std::string const& t : texts)
        {
            for (dialect d : {dialect::postgresql, dialect::mysql})
            {
                text_facts const f = facts_of(t, d, none, 0);
                BOOST_TEST_CONTEXT(t << " round " << round)
                {
                    BOOST_TEST(same(f.c, classify(t, d, none)));
                    BOOST_TEST(std::string(f.first_word()) == std::string(first_word_of(t).data()));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(texts_that_share_a_slot_are_never_taken_for_each_other)
{
    // Many more texts than the cache holds, writes and reads alternating, looked up over and over: a write
    // answered with a read's classification would show here.
    classify_options const none;
    std::vector<std::string> texts;
    for (int i = 0; i < 500; ++i)
        texts.push_back(i % 2 == 0 ? "SELECT " + std::to_string(i) : "DELETE FROM t WHERE id = " + std::to_string(i));
    for (int round = 0; round < 4; ++round)
    {
        for (std::size_t i = 0; i < texts.size(); i += (round + 1))
        {
            text_facts const f = facts_of(texts[i], dialect::postgresql, none, 0);
            BOOST_TEST(f.c.where == (i % 2 == 0 ? target::replica : target::primary), texts[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_same_text_under_other_options_or_dialect_is_classified_again)
{
    // "SELECT bump()" is a read by default and a write once bump is a primary function.
    classify_options const none;
    std::string_view const bump[] = {"bump"};
    classify_options with_bump;
    with_bump.primary_functions = bump;
    with_bump.primary_function_count = 1;
    std::uint64_t const key = 1;  // a cluster's serial
    std::string const text = "SELECT bump()";
    for (int round = 0; round < 2; ++round)
    {
        BOOST_TEST(facts_of(text, dialect::postgresql, none, 0).c.where == target::replica);
        BOOST_TEST(facts_of(text, dialect::postgresql, with_bump, key).c.why == reason::side_effect_function);
    }
    // `#` starts a comment in MySQL only: there the DELETE is commented out, in PostgreSQL it is a second
    // statement.
    std::string const hashed = "SELECT 1 # ; DELETE FROM t";
    for (int round = 0; round < 2; ++round)
    {
        BOOST_TEST(facts_of(hashed, dialect::mysql, none, 0).c.where == target::replica);
        BOOST_TEST(facts_of(hashed, dialect::postgresql, none, 0).c.where == target::primary);
    }
}

BOOST_AUTO_TEST_CASE(a_text_longer_than_the_cache_keeps_is_classified_every_time)
{
    std::string text = "SELECT 1";
    text += std::string(2000, ' ');
    text += "FOR UPDATE";
    for (int round = 0; round < 2; ++round)
        BOOST_TEST(facts_of(text, dialect::postgresql, {}, 0).c.why == reason::locking_read);
}

BOOST_AUTO_TEST_CASE(each_thread_has_its_own_cache)
{
    classify_options const none;
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int t = 0; t < 4; ++t)
    {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i)
            {
                std::string const text = (i + t) % 3 == 0 ? "INSERT INTO t VALUES (" + std::to_string(i % 50) + ")"
                                                          : "SELECT " + std::to_string(i % 50);
                target const expected = (i + t) % 3 == 0 ? target::primary : target::replica;
                if (facts_of(text, dialect::mysql, none, 0).c.where != expected)
                    ++wrong[t];
            }
        });
    }
    for (auto& th : threads)
        th.join();
    BOOST_TEST(wrong == (std::vector<int>{0, 0, 0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(first_word_is_lower_case_ascii_letters_only)
{
    BOOST_TEST(std::string(first_word_of("  SeLeCt 1").data()) == "select");
    BOOST_TEST(std::string(first_word_of("/* x */ SELECT 1").data()).empty());
    BOOST_TEST(std::string(first_word_of("TRANSACTIONS").data()) == "transactio");  // at most 10 letters
    BOOST_TEST(std::string(first_word_of("\xc3\xa9tat").data()).empty());
    BOOST_TEST(std::string(first_word_of("").data()).empty());
}

BOOST_AUTO_TEST_SUITE_END()
