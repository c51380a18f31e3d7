import Actions
import Core
import Foundation

/// Builds the calendar provider of each host from its `provider` config. The one place a
/// provider type is mapped to its implementation.
enum CalendarProviders {
    struct NotWired: Error, CustomStringConvertible {
        var type: String
        var host: String
        var description: String { "provider type \(type) is not wired yet (host \(host))" }
    }

    /// Providers by host name for `calendar`.
    static func make(calendar: CalendarConfig, bookings: any BookingStore) throws -> [String: any CalendarProvider] {
        var providers: [String: any CalendarProvider] = [:]
        for host in calendar.hosts {
            providers[host.name] = try make(host: host, calendar: calendar.name, bookings: bookings)
        }
        return providers
    }

    static func make(host: CalendarHost, calendar: String, bookings: any BookingStore) throws -> any CalendarProvider {
        switch host.provider {
        case .local:
            return LocalCalendarProvider(calendar: calendar, host: host.name, bookings: bookings)
        case .caldav, .google:
            // CalDAVCalendarProvider / GoogleCalendarProvider live on their own branches; wired at merge.
            throw NotWired(type: host.provider.kind, host: host.name)
        }
    }
}
