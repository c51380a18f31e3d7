import Core
import Foundation
import Hummingbird
import Inbound
import Storage

// `GET /v1/bookings` and `GET /v1/bookings/{id}` (docs/admin-api.md#bookings). The booking flow's
// own operations (cancel, reschedule) are separate endpoints.
extension AdminAPI {
    /// Query parameters: `organization`, `calendar`, `state` (comma-separated), `from`, `to`
    /// (ISO 8601 times, or dates meaning UTC midnight), `limit` (1...500), `before` (a booking
    /// id: the next page after it). Latest start first.
    func listBookings(_ request: Request, caller: AdminCaller) async throws -> Response {
        let query = request.uri.queryParameters
        func value(_ key: String) -> String? { query[key[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        let known: Set<String> = ["organization", "calendar", "state", "from", "to", "limit", "before"]
        if let unknown = query.map({ String($0.key) }).filter({ !known.contains($0) }).sorted().first {
            throw AdminFailure(status: .badRequest, detail: "\(unknown): unknown query parameter; expected \(known.sorted().joined(separator: ", "))")
        }
        var organization = caller.organization
        if let asked = value("organization") {
            guard caller.maySee(asked) else {
                throw AdminFailure(status: .badRequest, detail: "organization: this token may list only its own organization's bookings")
            }
            organization = asked
        }
        var states: Set<BookingState> = []
        for name in (value("state") ?? "").split(separator: ",") {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let state = BookingState(rawValue: trimmed) else {
                throw AdminFailure(status: .badRequest, detail: "state: expected one or more of \(BookingState.allCases.map(\.rawValue).joined(separator: ", ")) separated by commas, got \(trimmed.debugDescription)")
            }
            states.insert(state)
        }
        let from = try Self.time(value("from"), parameter: "from")
        let to = try Self.time(value("to"), parameter: "to")
        if let from, let to, to <= from {
            throw AdminFailure(status: .badRequest, detail: "to: must be later than from")
        }
        let limit = try Self.limit(value("limit"))
        let filter = BookingFilter(
            organization: organization, calendar: value("calendar"), states: states, startingFrom: from, startingBefore: to, limit: limit,
            before: value("before"))
        let bookings = try await store.bookings(filter)
        var body: [String: JSONValue] = ["bookings": try Self.encode(bookings)]
        body["next_before"] = bookings.count == limit ? (bookings.last.map { JSONValue.string($0.id) } ?? .null) : .null
        return Problem.json(.ok, .object(body))
    }

    /// The booking and the emails sent (or tried) for it: reply records `booking.<id>.*`.
    func getBooking(_ id: String, caller: AdminCaller) async throws -> Response {
        guard let booking = try await store.booking(id: id), caller.maySee(booking.organization) else {
            throw AdminFailure(status: .notFound, detail: "no booking \(id)")
        }
        let emails = try await store.bookingEmails(bookingID: id)
        return Problem.json(.ok, .object(["booking": try Self.encode(booking), "emails": try Self.encode(emails)]))
    }

    /// An ISO 8601 time with offset or `Z` (fractional seconds allowed), or a date (UTC midnight).
    static func time(_ text: String?, parameter: String) throws -> Date? {
        guard let text else { return nil }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if text.count == 10, let date = day.date(from: text) { return date }
        throw AdminFailure(status: .badRequest, detail: "\(parameter): expected an ISO 8601 time such as 2026-03-30T09:00:00Z or a date such as 2026-03-30")
    }
}
