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
    /// - Parameter providers: By host name; a host without one has only the daemon's bookings.
    public static func states(
        calendar: CalendarConfig, providers: [String: any CalendarProvider], bookings: any BookingStore, range: DateInterval
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
        return states
    }
}
