// soci-routing: the configuration tests.
#define BOOST_TEST_MODULE soci_routing_config
#include <boost/test/unit_test.hpp>
