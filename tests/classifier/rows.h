// soci-routing: the classifier's rules as data rows, shared by the rule and allocation tests.

#ifndef SOCI_ROUTING_TESTS_CLASSIFIER_ROWS_H_INCLUDED
#define SOCI_ROUTING_TESTS_CLASSIFIER_ROWS_H_INCLUDED

#include "classifier.h"

#include <ostream>
#include <string>
#include <vector>

/// One statement and the reason it must be given; the target follows from the reason.
struct rule_row
{
    soci_routing::dialect dialect;
    std::string sql;
    std::string expected;  ///< a reason name: "select", "locking_read", …
    int line;              ///< the row's line in rows.cpp, to find it when it fails
};

std::ostream& operator<<(std::ostream& os, rule_row const& r);

/// Every row: both dialects, every rule, every lexer trap.
std::vector<rule_row> const& rule_rows();

/// True for the reasons that send a statement to a replica.
bool is_replica_reason(std::string const& reason);

#endif
