public import Foundation

// Read-only booking queries for operators (admin API `GET /v1/bookings`, `GET /v1/bookings/{id}`).
// The booking flow itself uses `BookingStore` and `BookingCommitting`.

/// Which bookings to list. Every field but `limit` is optional; set fields are ANDed.
///
/// Order and paging: bookings come **latest start first** (`start` descending, then `id`
/// descending). `before` is the id of the last booking of the previous page: the next page holds
/// the bookings that sort after it (an earlier start, or the same start and a smaller id). A
/// `before` id that does not exist yields an empty page.
public struct BookingFilter: Sendable, Equatable {
    public var organization: String?
    public var calendar: String?
    /// Any of these states; empty: every state.
    public var states: Set<BookingState>
    /// Bookings starting at or after this instant.
    public var startingFrom: Date?
    /// Bookings starting before this instant.
    public var startingBefore: Date?
    /// At most this many (1...500 on the admin API).
    public var limit: Int
    /// Paging cursor: the id of the last booking already seen.
    public var before: String?

    public init(
        organization: String? = nil, calendar: String? = nil, states: Set<BookingState> = [], startingFrom: Date? = nil,
        startingBefore: Date? = nil, limit: Int = 100, before: String? = nil
    ) {
        self.organization = organization
        self.calendar = calendar
        self.states = states
        self.startingFrom = startingFrom
        self.startingBefore = startingBefore
        self.limit = limit
        self.before = before
    }
}

/// Booking queries for operators.
public protocol BookingQueries: Sendable {
    /// Bookings matching `filter`, latest start first (see `BookingFilter` for paging).
    func bookings(_ filter: BookingFilter) async throws -> [Booking]
    /// The emails sent (or tried) for a booking: reply records whose template starts with
    /// `booking.<bookingID>.` (invitation, update, cancellation, reminders, offer), oldest first.
    func bookingEmails(bookingID: String) async throws -> [ReplyRecord]
}

extension Booking {
    /// The template prefix of the reply records of this booking's emails (`booking.<id>.`).
    public static func emailTemplatePrefix(bookingID: String) -> String { "booking.\(bookingID)." }
}
