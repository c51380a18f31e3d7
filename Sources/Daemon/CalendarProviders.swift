import Actions
import Core
import Foundation
import Logging

/// Builds the calendar provider of each host from its `provider` config. The one place a
/// provider type is mapped to its implementation.
enum CalendarProviders {
    /// What the network providers need besides their config.
    struct Context: Sendable {
        /// Reads CalDAV passwords and Google client secrets / refresh tokens when they are used.
        var resolveSecret: @Sendable (SecretRef) throws -> String
        /// Per-provider state (`reconnect needed` after an `invalid_grant`), one per process.
        var health: CalendarHealth
        var logger: Logger

        static func process(environment: [String: String] = ProcessInfo.processInfo.environment, health: CalendarHealth = CalendarHealth(), logger: Logger) -> Context {
            let resolver = SecretResolver(environment: environment)
            return Context(resolveSecret: { try resolver.resolve($0) }, health: health, logger: logger)
        }
    }

    /// Providers by host name for `calendar`.
    static func make(calendar: CalendarConfig, bookings: any BookingStore, context: Context) throws -> [String: any CalendarProvider] {
        var providers: [String: any CalendarProvider] = [:]
        for host in calendar.hosts {
            providers[host.name] = try make(host: host, calendar: calendar.name, bookings: bookings, context: context)
        }
        return providers
    }

    static func make(host: CalendarHost, calendar: String, bookings: any BookingStore, context: Context) throws -> any CalendarProvider {
        var logger = context.logger
        logger[metadataKey: "calendar.name"] = "\(calendar)"
        logger[metadataKey: "calendar.host"] = "\(host.name)"
        switch host.provider {
        case .local:
            return LocalCalendarProvider(calendar: calendar, host: host.name, bookings: bookings)
        case .caldav(let config):
            // All-day and floating times in the calendar are read in the host's zone.
            return try CalDAVCalendarProvider(
                config: config, resolveSecret: context.resolveSecret, client: ProcessHTTPClient.shared,
                floatingTimeZone: TimeZone(identifier: host.timeZone) ?? .gmt, logger: logger
            )
        case .google(let config):
            return GoogleCalendarProvider(
                label: "\(calendar)/\(host.name)", config: config, secrets: context.resolveSecret, client: ProcessHTTPClient.shared,
                health: context.health, logger: logger
            )
        }
    }
}
