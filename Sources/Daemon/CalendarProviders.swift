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
        /// Calls, retries and token refreshes (the daemon's metrics; nothing by default).
        var observer: CalendarProviderObserver = CalendarProviderObserver()

        static func process(
            environment: [String: String] = ProcessInfo.processInfo.environment, health: CalendarHealth = CalendarHealth(),
            observer: CalendarProviderObserver = CalendarProviderObserver(), logger: Logger
        ) -> Context {
            let resolver = SecretResolver(environment: environment)
            return Context(resolveSecret: { try resolver.resolve($0) }, health: health, logger: logger, observer: observer)
        }
    }

    /// The key of a host's provider in `CalendarHealth`, logs and metrics.
    static func label(calendar: String, host: String) -> String { "\(calendar)/\(host)" }

    /// Makes every configured host visible in `health` before its first call (state `unknown`),
    /// and forgets hosts no longer configured. No network, no secrets.
    static func register(_ scheduling: SchedulingConfig, in health: CalendarHealth) {
        var labels: Set<String> = []
        for calendar in scheduling.calendars.values {
            for host in calendar.hosts {
                let label = label(calendar: calendar.name, host: host.name)
                labels.insert(label)
                health.register(provider: label, kind: host.provider.kind)
            }
        }
        health.retain(only: labels)
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
        let label = label(calendar: calendar, host: host.name)
        switch host.provider {
        case .local:
            return ObservedCalendarProvider(
                LocalCalendarProvider(calendar: calendar, host: host.name, bookings: bookings), label: label, health: context.health,
                observer: context.observer)
        case .caldav(let config):
            // All-day and floating times in the calendar are read in the host's zone.
            return try CalDAVCalendarProvider(
                config: config, resolveSecret: context.resolveSecret, client: ProcessHTTPClient.shared,
                floatingTimeZone: TimeZone(identifier: host.timeZone) ?? .gmt, logger: logger, label: label, health: context.health,
                observer: context.observer
            )
        case .google(let config):
            return GoogleCalendarProvider(
                label: label, config: config, secrets: context.resolveSecret, client: ProcessHTTPClient.shared,
                health: context.health, observer: context.observer, logger: logger
            )
        }
    }
}

/// Health and metrics for a provider that does not report them itself (`local`: its busy times
/// are store reads, so a failure is the store's, shown as `degraded`).
struct ObservedCalendarProvider: CalendarProvider {
    let inner: any CalendarProvider
    let label: String
    let health: CalendarHealth
    let observer: CalendarProviderObserver

    init(_ inner: any CalendarProvider, label: String, health: CalendarHealth, observer: CalendarProviderObserver) {
        self.inner = inner
        self.label = label
        self.health = health
        self.observer = observer
        health.register(provider: label, kind: inner.kind)
    }

    var kind: String { inner.kind }

    func busyTimes(in range: DateInterval) async throws -> [DateInterval] {
        try await observed("busy") { try await inner.busyTimes(in: range) }
    }

    func createEvent(_ event: CalendarEvent) async throws -> ProviderEventResult {
        try await observed("create") { try await inner.createEvent(event) }
    }

    func updateEvent(_ event: CalendarEvent, providerEventID: String?) async throws -> ProviderEventResult {
        try await observed("update") { try await inner.updateEvent(event, providerEventID: providerEventID) }
    }

    func cancelEvent(_ event: CalendarEvent, providerEventID: String?) async throws {
        try await observed("cancel") { try await inner.cancelEvent(event, providerEventID: providerEventID) }
    }

    private func observed<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        // Store errors may carry internal text: health (shown on the admin port) gets a fixed one.
        try await observer.observe(operation, kind: kind, provider: label, health: health, classify: { [kind] error in
            error as? CalendarProviderError ?? .transient("the \(kind) provider could not read the daemon's bookings", retryAfter: nil)
        }, body)
    }
}
