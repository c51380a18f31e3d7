import Core
import Foundation
import Testing

/// Operators' booking queries: filters, order (latest start first), the `before` cursor, and the
/// emails of a booking found by template prefix.
extension StoreContract {
    func bookingsListFilterAndPage() async throws {
        try await run { h in
            let store = try #require(h.store as? any BookingStore & BookingQueries, "the backend implements BookingQueries")
            let now = h.clock.now()
            let base = now.addingTimeInterval(86_400)
            // Seven bookings an hour apart; bk_q3 and bk_q4 share a start (the id breaks the tie).
            let specs: [(String, Double, BookingState, String, String)] = [
                ("bk_q1", 0, .confirmed, "demo", "demo"), ("bk_q2", 1, .pending, "demo", "demo"),
                ("bk_q3", 2, .cancelled, "demo", "demo"), ("bk_q4", 2, .confirmed, "demo", "demo"),
                ("bk_q5", 3, .failed, "sales", "demo"), ("bk_q6", 4, .unavailable, "demo", "demo"),
                ("bk_q7", 5, .confirmed, "other", "globex"),
            ]
            for (id, hours, state, calendar, organization) in specs {
                var booking = Self.booking(id, start: base.addingTimeInterval(hours * 3_600), state: state, at: now)
                booking.calendar = calendar
                booking.organization = organization
                #expect(try await store.insertBooking(booking))
            }

            #expect(try await store.bookings(BookingFilter()).map(\.id) == ["bk_q7", "bk_q6", "bk_q5", "bk_q4", "bk_q3", "bk_q2", "bk_q1"])
            #expect(try await store.bookings(BookingFilter(organization: "demo")).map(\.id) == ["bk_q6", "bk_q5", "bk_q4", "bk_q3", "bk_q2", "bk_q1"])
            #expect(try await store.bookings(BookingFilter(organization: "globex")).map(\.id) == ["bk_q7"])
            #expect(try await store.bookings(BookingFilter(organization: "nobody")).isEmpty)
            #expect(try await store.bookings(BookingFilter(calendar: "sales")).map(\.id) == ["bk_q5"])
            #expect(try await store.bookings(BookingFilter(organization: "demo", states: [.confirmed])).map(\.id) == ["bk_q4", "bk_q1"])
            #expect(try await store.bookings(BookingFilter(states: [.pending, .cancelled])).map(\.id) == ["bk_q3", "bk_q2"])
            // Start range: from is inclusive, before is exclusive.
            let window = BookingFilter(startingFrom: base.addingTimeInterval(3_600), startingBefore: base.addingTimeInterval(3 * 3_600))
            #expect(try await store.bookings(window).map(\.id) == ["bk_q4", "bk_q3", "bk_q2"])
            #expect(try await store.bookings(BookingFilter(limit: 0)).isEmpty)

            // Paging by the last id of each page walks every booking once, ties included.
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await store.bookings(BookingFilter(organization: "demo", limit: 2, before: cursor))
                seen += page.map(\.id)
                cursor = page.count == 2 ? page.last?.id : nil
            } while cursor != nil
            #expect(seen == ["bk_q6", "bk_q5", "bk_q4", "bk_q3", "bk_q2", "bk_q1"])
            #expect(try await store.bookings(BookingFilter(before: "bk_unknown")).isEmpty, "an unknown cursor is an empty page")

            // Emails: reply records whose template starts with booking.<id>. (not booking.<id>x.).
            let replies = try #require(h.store as? any ReplyStore)
            let intake = try await Sample.record("bk-mail", in: h)
            func record(_ template: String, after seconds: Double) -> ReplyRecord {
                ReplyRecord(
                    id: ReplyRecord.key(intakeID: intake.id, template: template), intakeID: intake.id, organization: "demo", template: template,
                    account: "default", recipient: "req@customer.example", messageID: "\(template)@astralisd.test", state: .sent,
                    createdAt: now.addingTimeInterval(seconds), updatedAt: now.addingTimeInterval(seconds))
            }
            _ = try await replies.insertReply(record("booking.bk_q1.reminder.3600", after: 20))
            _ = try await replies.insertReply(record("booking.bk_q1.invitation", after: 10))
            _ = try await replies.insertReply(record("booking.bk_q10.invitation", after: 5))
            _ = try await replies.insertReply(record("booking.bk_q1", after: 6))
            _ = try await replies.insertReply(record("acknowledge", after: 7))
            #expect(try await store.bookingEmails(bookingID: "bk_q1").map(\.template) == ["booking.bk_q1.invitation", "booking.bk_q1.reminder.3600"])
            #expect(try await store.bookingEmails(bookingID: "bk_q10").map(\.template) == ["booking.bk_q10.invitation"])
            #expect(try await store.bookingEmails(bookingID: "bk_q2").isEmpty)
        }
    }
}
