import Core
import Foundation
import Hummingbird
import Inbound
import Logging
import Storage

/// `POST /v1/bookings/{id}/cancel` and `/reschedule`: an operator cancels or moves a booking.
/// The change and its `booking.update` job commit together (`BookingService`); the job updates the
/// provider and emails the attendee.
extension AdminAPI {
    func cancelBooking(_ id: String, request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        let existing = try await visibleBooking(id, caller: caller)
        var reason: String?
        switch body["reason"] {
        case nil, .null?: reason = nil
        case .string(let text)? where !text.contains(where: \.isNewline) && text.count <= 500: reason = text
        default: throw AdminFailure(status: .unprocessableContent, detail: "reason: expected one line of text (at most 500 characters)")
        }
        let booking = try await change(existing) { service in
            try await service.cancel(bookingID: id, reason: reason.map { "\($0) (cancelled by \(caller.actor))" }, actor: caller.actor)
        }
        try await store.appendAudit(caller.audit("booking.cancelled", target: id, organization: existing.organization, detail: .object([
            "reason": reason.map(JSONValue.string) ?? .null,
        ]), at: now()))
        logger.notice("Booking cancelled through the admin API", metadata: ["booking.id": "\(id)", "admin.token": "\(caller.token.id)"])
        return Problem.json(.ok, .object(["booking": try Self.encode(booking)]))
    }

    func rescheduleBooking(_ id: String, request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        let existing = try await visibleBooking(id, caller: caller)
        let zone = TimeZone(identifier: app.config.scheduling.calendars[existing.calendar]?.hosts.first?.timeZone ?? "") ?? .gmt
        guard let text = body["start"]?.stringValue, let start = BookingTimes.parse(text, zone: zone), text.contains(where: { $0 == "T" || $0 == " " }) else {
            throw AdminFailure(status: .unprocessableContent, detail: "start: expected an ISO 8601 date-time such as 2026-12-08T14:00:00+01:00 (without an offset it is read in the calendar's zone, \(zone.identifier))")
        }
        let booking = try await change(existing) { service in
            try await service.reschedule(bookingID: id, start: start, actor: caller.actor)
        }
        try await store.appendAudit(caller.audit("booking.rescheduled", target: id, organization: existing.organization, detail: .object([
            "from": .string(existing.start.formatted(.iso8601)), "to": .string(booking.start.formatted(.iso8601)),
        ]), at: now()))
        logger.notice("Booking rescheduled through the admin API", metadata: ["booking.id": "\(id)", "admin.token": "\(caller.token.id)"])
        return Problem.json(.ok, .object(["booking": try Self.encode(booking)]))
    }

    private func visibleBooking(_ id: String, caller: AdminCaller) async throws -> Booking {
        guard let booking = try await store.booking(id: id), caller.maySee(booking.organization) else {
            throw AdminFailure(status: .notFound, detail: "no booking \(id)")
        }
        return booking
    }

    /// Runs a change, mapping its refusals to HTTP: gone → 404, wrong state → 409, not free → 422.
    private func change(_ booking: Booking, _ body: (BookingService) async throws -> Booking) async throws -> Booking {
        do {
            let changed = try await body(app.bookings)
            app.doorbell.ring()
            return changed
        } catch let error as BookingService.ChangeError {
            switch error {
            case .notFound(let text): throw AdminFailure(status: .notFound, detail: text)
            case .conflict(let text): throw AdminFailure(status: .conflict, detail: text)
            case .notFree(let text): throw AdminFailure(status: .unprocessableContent, detail: text)
            }
        } catch let error as CalendarProviderError {
            throw AdminFailure(status: .serviceUnavailable, detail: "the calendar could not be read: \(error)")
        }
    }
}
