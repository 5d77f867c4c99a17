// soci-routing: hostile inputs for the classifier, shared by the hostile and allocation tests.

#ifndef SOCI_ROUTING_TESTS_CLASSIFIER_HOSTILE_H_INCLUDED
#define SOCI_ROUTING_TESTS_CLASSIFIER_HOSTILE_H_INCLUDED

#include "classifier.h"

#include <ostream>
#include <string>
#include <vector>

struct hostile_row
{
    std::string name;
    soci_routing::dialect dialect;
    std::string sql;
    std::string expected;  ///< a reason name
};

std::ostream& operator<<(std::ostream& os, hostile_row const& r);

/// Statements of 1 MiB and more, NUL bytes, invalid UTF-8, 10,000 nested parentheses and comments, …
std::vector<hostile_row> const& hostile_rows();

#endif
