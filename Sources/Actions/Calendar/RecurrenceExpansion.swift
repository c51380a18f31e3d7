import CLibical
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Busy intervals read from iCalendar data, and what could not be read.
public struct BusyTimeExpansion: Sendable, Equatable {
    /// Sorted by start; may overlap each other.
    public var intervals: [DateInterval]
    /// Data that could not be used (unparseable text, an RRULE too fine to expand...). A caller
    /// that must never report a busy person free treats a non-empty list as busy for the whole range.
    public var problems: [String]

    public init(intervals: [DateInterval] = [], problems: [String] = []) {
        self.intervals = intervals
        self.problems = problems
    }
}

/// Expands the VEVENTs of calendar data (one or more VCALENDAR objects, as CalDAV returns them)
/// into the busy intervals overlapping a range, with libical's recurrence iterator
/// (`icalcomponent_foreach_recurrence`: RRULE, RDATE, EXDATE).
///
/// - RECURRENCE-ID overrides replace the instance they name (a cancelled override removes it).
/// - STATUS:CANCELLED and TRANSP:TRANSPARENT events are not busy.
/// - TZID-qualified times use the calendar's VTIMEZONE, else libical's built-in IANA zones (from
///   the system zoneinfo); DATE (all-day) values and floating times are wall-clock times in
///   `floatingTimeZone` (the host's zone).
/// - The length is DTEND − DTSTART, else DURATION, else one day for an all-day event (a timed
///   event without either takes no time and is not busy). All-day lengths count calendar days,
///   so a day across a DST change is 23 or 25 hours.
public enum RecurrenceExpansion {
    /// Instances of one event beyond this many (up to the range's end) are not expanded and are
    /// reported as a problem: such a rule comes from broken or hostile data.
    public static let maxInstancesPerEvent = 50_000

    public static func busyTimes(calendarData: [String], overlapping range: DateInterval, floatingTimeZone: TimeZone = .gmt) -> BusyTimeExpansion {
        var result = BusyTimeExpansion()
        for (index, text) in calendarData.enumerated() {
            do {
                let part = try Libical.run { try expand(text, range: range, floating: floatingTimeZone) }
                result.intervals += part.intervals
                result.problems += part.problems.map { "calendar object \(index + 1): \($0)" }
            } catch {
                result.problems.append("calendar object \(index + 1): \(error)")
            }
        }
        result.intervals.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        return result
    }

    /// Collects instance starts from libical's callback.
    private final class InstanceStarts {
        var starts: [time_t] = []
        var overflowed = false
    }

    private static func expand(_ text: String, range: DateInterval, floating: TimeZone) throws -> BusyTimeExpansion {
        guard let tree = ICalTree.parse(text) else { throw ICalendarError("not iCalendar data: libical found no component") }
        let calendars = Libical.calendars(in: tree.root)
        guard !calendars.isEmpty else { throw ICalendarError("not iCalendar data: no VCALENDAR") }
        var result = BusyTimeExpansion()
        for calendar in calendars {
            let events = Libical.components(of: calendar, kind: ICAL_VEVENT_COMPONENT)
            // Instances replaced by an override, by UID: the master's expansion skips them.
            var overridden: [String: Set<Date>] = [:]
            for event in events {
                guard let property = icalcomponent_get_first_property(event, ICAL_RECURRENCEID_PROPERTY),
                      let replaced = Libical.date(icalproperty_get_datetime_with_component(property, event), floating: floating)
                else { continue }
                overridden[Libical.string(icalcomponent_get_uid(event)) ?? "", default: []].insert(replaced)
            }
            for event in events {
                if icalcomponent_get_status(event) == ICAL_STATUS_CANCELLED { continue }
                if let transp = icalcomponent_get_first_property(event, ICAL_TRANSP_PROPERTY), icalproperty_get_transp(transp) == ICAL_TRANSP_TRANSPARENT { continue }
                let uid = Libical.string(icalcomponent_get_uid(event)) ?? ""
                do {
                    result.intervals += try instances(of: event, range: range, floating: floating, skipping: overridden[uid] ?? [])
                } catch {
                    result.problems.append("VEVENT \(uid.isEmpty ? "without UID" : uid): \(error)")
                }
            }
        }
        return result
    }

    /// The busy intervals of one VEVENT (a master with its recurrences, or one override) that
    /// overlap `range`.
    private static func instances(of event: OpaquePointer, range: DateInterval, floating: TimeZone, skipping overridden: Set<Date>) throws -> [DateInterval] {
        let dtstart = icalcomponent_get_dtstart(event)
        guard icaltime_is_null_time(dtstart) == 0 else { throw ICalendarError("no DTSTART") }
        let allDay = dtstart.is_date != 0
        let zoned = !allDay && dtstart.zone != nil
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = floating

        // The length: calendar days for all-day events, seconds otherwise.
        var days = 0
        var seconds: TimeInterval = 0
        if let property = icalcomponent_get_first_property(event, ICAL_DTEND_PROPERTY) {
            let dtend = icalproperty_get_datetime_with_component(property, event)
            if allDay {
                let utc = TimeZone.gmt
                if let start = Libical.date(dtstart, floating: utc), let end = Libical.date(dtend, floating: utc) {
                    days = Int((end.timeIntervalSince(start) / 86_400).rounded())
                }
            } else if let start = Libical.date(dtstart, floating: floating), let end = Libical.date(dtend, floating: floating) {
                seconds = end.timeIntervalSince(start)
            }
        } else if let property = icalcomponent_get_first_property(event, ICAL_DURATION_PROPERTY) {
            let duration = icalproperty_get_duration(property)
            if allDay && duration.hours == 0 && duration.minutes == 0 && duration.seconds == 0 {
                days = Int(duration.days + 7 * duration.weeks) * (duration.is_neg != 0 ? -1 : 1)
            } else {
                seconds = TimeInterval(icaldurationtype_as_int(duration))
            }
        } else if allDay {
            days = 1
        }
        guard days > 0 || seconds > 0 else { return [] }

        func interval(startingAt start: Date) -> DateInterval? {
            let end = allDay ? calendar.date(byAdding: .day, value: days, to: start) : start.addingTimeInterval(seconds)
            guard let end, end > start else { return nil }
            return DateInterval(start: start, end: end)
        }

        // An override stands for itself.
        if icalcomponent_get_first_property(event, ICAL_RECURRENCEID_PROPERTY) != nil {
            guard let start = Libical.date(dtstart, floating: floating), let busy = interval(startingAt: start), busy.intersects(range) else { return [] }
            return [busy]
        }

        for property in Libical.properties(of: event, kind: ICAL_RRULE_PROPERTY) {
            let frequency = icalproperty_get_rrule(property).freq
            if frequency == ICAL_SECONDLY_RECURRENCE || frequency == ICAL_MINUTELY_RECURRENCE {
                throw ICalendarError("RRULE FREQ=\(frequency == ICAL_SECONDLY_RECURRENCE ? "SECONDLY" : "MINUTELY") is not expanded")
            }
        }

        // libical compares instances with the limits in UTC, and computes floating and all-day
        // instances as if they were UTC: widen the limits by the longest offset and a day, and
        // filter exactly below.
        let slack: TimeInterval = 2 * 86_400
        let limitStart = Libical.utcTime(range.start.addingTimeInterval(-slack - (allDay ? TimeInterval(days) * 86_400 : seconds)))
        let limitEnd = Libical.utcTime(range.end.addingTimeInterval(slack))
        let collector = InstanceStarts()
        withExtendedLifetime(collector) {
            icalcomponent_foreach_recurrence(event, limitStart, limitEnd, { _, span, context in
                guard let span, let context else { return }
                let collector = Unmanaged<InstanceStarts>.fromOpaque(context).takeUnretainedValue()
                guard collector.starts.count < RecurrenceExpansion.maxInstancesPerEvent else {
                    collector.overflowed = true
                    return
                }
                collector.starts.append(span.pointee.start)
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        if collector.overflowed {
            throw ICalendarError("more than \(maxInstancesPerEvent) instances before the range ends")
        }

        var seen = Set<Date>()
        var busy: [DateInterval] = []
        for rawStart in collector.starts {
            let start: Date?
            if zoned {
                start = Date(timeIntervalSince1970: TimeInterval(rawStart))
            } else {
                // libical computed the wall-clock time as if it were UTC.
                var utc = Calendar(identifier: .gregorian)
                utc.timeZone = .gmt
                let wall = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(rawStart)))
                start = calendar.date(from: wall)
            }
            guard let start, seen.insert(start).inserted, !overridden.contains(start),
                  let instance = interval(startingAt: start), instance.intersects(range), instance.end > range.start, instance.start < range.end
            else { continue }
            busy.append(instance)
        }
        return busy
    }
}
