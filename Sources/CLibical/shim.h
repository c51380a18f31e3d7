#ifndef CLIBICAL_SHIM_H
#define CLIBICAL_SHIM_H

// libical 3.0 (Debian 12: 3.0.16) for Swift: building, validating and parsing iCalendar
// (RFC 5545) and iTIP (RFC 5546) objects, and expanding recurrences. libical's variadic
// constructors (icalcomponent_vanew, icalproperty_vanew_*) cannot be called from Swift; code builds
// components with icalcomponent_new + icalcomponent_add_property instead, and any wrapper a
// variadic function needs goes here as a static inline function. Nothing here owns memory.

#include <libical/ical.h>

#endif
