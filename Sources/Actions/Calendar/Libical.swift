import CLibical
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serialises every use of libical in the process. libical 3.0 keeps global state that is not
/// safe to share between threads without care (the built-in time zone table it fills lazily from
/// the system zoneinfo, the error state, the ring buffer some getters return strings from), and
/// the work done under the lock is short and CPU-bound (building or parsing one calendar).
enum Libical {
    private static let state = Mutex<Bool>(false)

    /// Runs `body` holding the libical lock. Values returned must be plain Swift values: no libical
    /// pointer may leave the closure.
    static func run<T: Sendable>(_ body: () throws -> T) throws -> T {
        let result: Result<T, any Error> = state.withLock { initialized in
            if !initialized {
                // Never abort the process on a libical error (the default of debug builds).
                icalerror_set_errors_are_fatal(0)
                initialized = true
            }
            return Result { try body() }
        }
        return try result.get()
    }

    /// A C string libical owns (valid until the component changes), copied; nil for NULL or empty.
    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        let text = String(cString: pointer)
        return text.isEmpty ? nil : text
    }

    /// Serialises a component (libical folds lines at 75 octets and ends them with CRLF).
    static func serialize(_ component: OpaquePointer) -> String {
        guard let text = icalcomponent_as_ical_string_r(component) else { return "" }
        defer { free(text) }
        return String(cString: text)
    }

    /// A parameter's value, with RFC 6868 escapes (`^'` `^n` `^^`) decoded: libical 3.0 writes
    /// them (a CN with a double quote) but does not decode them when parsing.
    static func parameter(_ property: OpaquePointer, _ name: String) -> String? {
        guard let raw = icalproperty_get_parameter_as_string_r(property, name) else { return nil }
        defer { free(raw) }
        let value = String(cString: raw)
        guard value.contains("^") else { return value.isEmpty ? nil : value }
        var decoded = ""
        var iterator = value.makeIterator()
        while let character = iterator.next() {
            guard character == "^" else { decoded.append(character); continue }
            switch iterator.next() {
            case "'": decoded.append("\"")
            case "n", "N": decoded.append("\n")
            case "^": decoded.append("^")
            case let other?: decoded.append("^"); decoded.append(other)
            case nil: decoded.append("^")
            }
        }
        return decoded.isEmpty ? nil : decoded
    }

    /// An instant as a UTC DATE-TIME (whole seconds).
    static func utcTime(_ date: Date) -> icaltimetype {
        icaltime_from_timet_with_zone(time_t(date.timeIntervalSince1970.rounded(.down)), 0, icaltimezone_get_utc_timezone())
    }

    /// The instant a libical time stands for. UTC and zoned times convert with their zone (a
    /// VTIMEZONE of the calendar or libical's built-in IANA zones); DATE values and floating
    /// times (no zone, or a TZID neither knows) are wall-clock times in `floating`.
    static func date(_ time: icaltimetype, floating: TimeZone) -> Date? {
        if icaltime_is_null_time(time) != 0 { return nil }
        if time.is_date == 0, let zone = time.zone {
            return Date(timeIntervalSince1970: TimeInterval(icaltime_as_timet_with_zone(time, zone)))
        }
        return wallClock(year: time.year, month: time.month, day: time.day,
                         hour: time.is_date != 0 ? 0 : time.hour, minute: time.is_date != 0 ? 0 : time.minute,
                         second: time.is_date != 0 ? 0 : time.second, in: floating)
    }

    static func wallClock(year: Int32, month: Int32, day: Int32, hour: Int32, minute: Int32, second: Int32, in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let components = DateComponents(year: Int(year), month: Int(month), day: Int(day), hour: Int(hour), minute: Int(minute), second: Int(second))
        return calendar.date(from: components)
    }

    /// The calendars in a parse result: the component itself, or the VCALENDARs under libical's
    /// XROOT when the text held several.
    static func calendars(in root: OpaquePointer) -> [OpaquePointer] {
        if icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT { return [root] }
        var found: [OpaquePointer] = []
        var child = icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT)
        while let current = child {
            found.append(current)
            child = icalcomponent_get_next_component(root, ICAL_VCALENDAR_COMPONENT)
        }
        return found
    }

    /// The children of `parent` of one kind.
    static func components(of parent: OpaquePointer, kind: icalcomponent_kind) -> [OpaquePointer] {
        var found: [OpaquePointer] = []
        var child = icalcomponent_get_first_component(parent, kind)
        while let current = child {
            found.append(current)
            child = icalcomponent_get_next_component(parent, kind)
        }
        return found
    }

    /// The properties of `component` of one kind.
    static func properties(of component: OpaquePointer, kind: icalproperty_kind) -> [OpaquePointer] {
        var found: [OpaquePointer] = []
        var property = icalcomponent_get_first_property(component, kind)
        while let current = property {
            found.append(current)
            property = icalcomponent_get_next_property(component, kind)
        }
        return found
    }
}

/// Owns a parsed or built libical component tree; frees it when released. Used only inside
/// `Libical.run`, never shared between tasks.
final class ICalTree {
    let root: OpaquePointer

    init(root: OpaquePointer) {
        self.root = root
    }

    /// Parses iCalendar text; nil when libical finds no component in it.
    static func parse(_ text: String) -> ICalTree? {
        guard let root = text.withCString({ icalparser_parse_string($0) }) else { return nil }
        return ICalTree(root: root)
    }

    deinit {
        icalcomponent_free(root)
    }
}
