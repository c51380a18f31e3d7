public import Core
public import Foundation

/// The `local` provider: a host's calendar is the bookings the daemon itself made.
///
/// Busy times are the host's active (pending or confirmed) bookings in the calendar, read through
/// ``BookingStore``. Creating, updating and cancelling events do no I/O and always succeed: the
/// booking row the booking flow writes (and moves, and cancels) *is* the event, so there is
/// nothing else to keep in step. `providerEventID` stays nil. The invitation email still carries
/// the iCalendar event, so the requester's calendar gets it as usual.
public struct LocalCalendarProvider: CalendarProvider {
    public let kind = "local"
    public let calendar: String
    public let host: String
    private let bookings: any BookingStore

    public init(calendar: String, host: String, bookings: any BookingStore) {
        self.calendar = calendar
        self.host = host
        self.bookings = bookings
    }

    public func busyTimes(in range: DateInterval) async throws -> [DateInterval] {
        try await bookings.activeBookings(calendar: calendar, host: host, overlapping: range)
            .compactMap { $0.end > $0.start ? DateInterval(start: $0.start, end: $0.end) : nil }
    }

    public func createEvent(_ event: CalendarEvent) async throws -> ProviderEventResult {
        ProviderEventResult(providerEventID: nil, meetingURL: nil, alreadyExisted: false)
    }

    public func updateEvent(_ event: CalendarEvent, providerEventID: String?) async throws -> ProviderEventResult {
        ProviderEventResult(providerEventID: providerEventID, meetingURL: nil, alreadyExisted: true)
    }

    public func cancelEvent(_ event: CalendarEvent, providerEventID: String?) async throws {}
}
