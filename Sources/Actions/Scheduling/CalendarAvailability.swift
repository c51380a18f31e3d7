public import Core
public import Foundation

/// Gathers what the engine needs for one search: each host's busy times from its provider and
/// the daemon's own active bookings of the calendar. The one place the booking flow and
/// `astralisd slots` read calendars from.
public enum CalendarAvailability {
    /// Busy times and bookings per host for slots starting in `range`. Busy times are read a day
    /// beyond the range (buffers and long meetings reach past it); bookings eight days beyond it,
    /// so whole local days and ISO weeks count towards `max_per_day` / `max_per_week`.
    ///
    /// - Parameters:
    ///   - providers: By host name; a host without one has only the daemon's bookings.
    ///   - others: The other configured calendars. A host (by email) who is also a host there has
    ///     those bookings too: one person is never booked twice through two calendars.
    public static func states(
        calendar: CalendarConfig, providers: [String: any CalendarProvider], bookings: any BookingStore, range: DateInterval,
        others: [CalendarConfig] = []
    ) async throws -> [String: HostCalendarState] {
        let day: TimeInterval = 86_400
        let busyRange = DateInterval(start: range.start.addingTimeInterval(-day), end: range.end.addingTimeInterval(day))
        let bookingRange = DateInterval(start: range.start.addingTimeInterval(-8 * day), end: range.end.addingTimeInterval(8 * day))
        var states: [String: HostCalendarState] = [:]
        for host in calendar.hosts {
            let own = try await bookings.activeBookings(calendar: calendar.name, host: host.name, overlapping: bookingRange)
            let intervals = own.compactMap { $0.end > $0.start ? DateInterval(start: $0.start, end: $0.end) : nil }
            var busy: [DateInterval] = []
            // A `local` provider's busy times are these same bookings: not read twice.
            if let provider = providers[host.name], provider.kind != "local" {
                busy = try await provider.busyTimes(in: busyRange)
            }
            states[host.name] = HostCalendarState(busy: busy, bookings: intervals)
        }
        // Intersection bookings block every host: the booking row names the first host only.
        if calendar.assignment == .intersection, calendar.hosts.count > 1 {
            let all = try await bookings.activeBookings(calendar: calendar.name, host: nil, overlapping: bookingRange)
                .compactMap { $0.end > $0.start ? DateInterval(start: $0.start, end: $0.end) : nil }
            for host in calendar.hosts { states[host.name]?.bookings = all }
        }
        for host in calendar.hosts {
            let email = host.email.lowercased()
            for other in others where other.name != calendar.name {
                for shared in other.hosts where shared.email.lowercased() == email {
                    // An intersection booking's row names the other calendar's first host only.
                    let everyHost = other.assignment == .intersection && other.hosts.count > 1
                    let rows = try await bookings.activeBookings(calendar: other.name, host: everyHost ? nil : shared.name, overlapping: bookingRange)
                    states[host.name]?.bookings += rows.compactMap { $0.end > $0.start ? DateInterval(start: $0.start, end: $0.end) : nil }
                }
            }
            states[host.name]?.bookings.sort { $0.start < $1.start }
        }
        return states
    }
}
