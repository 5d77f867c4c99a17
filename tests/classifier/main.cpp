// soci-routing: the classifier's unit tests.
#define BOOST_TEST_MODULE soci_routing_classifier
#include <boost/test/unit_test.hpp>
