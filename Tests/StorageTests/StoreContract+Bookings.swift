import Core
import Foundation
import Testing

/// Bookings (scheduling): insert once by id and uid, update, overlap queries by calendar/host/time.
extension StoreContract {
    static func booking(_ id: String, host: String = "ada", start: Date, minutes: Double = 30, state: BookingState = .pending, intake: String? = nil, at now: Date) -> Booking {
        Booking(
            id: id, organization: "demo", calendar: "demo", host: host, uid: "\(id)@astralisd.test", start: start,
            end: start.addingTimeInterval(minutes * 60), state: state, summary: "Call \(id)",
            attendee: CalendarAttendee(email: "req-\(id)@customer.example", name: "Requester"), intakeID: intake, createdAt: now, updatedAt: now)
    }

    func bookingsInsertUpdateAndOverlap() async throws {
        try await run { h in
            let store = try #require(h.store as? any BookingStore, "the backend implements BookingStore")
            let now = h.clock.now()
            let nine = now.addingTimeInterval(86_400)
            let first = Self.booking("bk_1", start: nine, intake: "in_1", at: now)
            let inserted = try await store.insertBooking(first)
            #expect(inserted)
            let again = try await store.insertBooking(first)
            #expect(again == false, "same id")
            var sameUID = Self.booking("bk_other", start: nine, at: now)
            sameUID.uid = first.uid
            let duplicateUID = try await store.insertBooking(sameUID)
            #expect(duplicateUID == false, "same uid")
            #expect(try await store.booking(id: "bk_other") == nil)

            let stored = try #require(try await store.booking(id: "bk_1"))
            #expect(stored == first)
            #expect(try await store.booking(uid: first.uid) == first)
            #expect(try await store.booking(uid: "nope") == nil)

            // Other bookings: another host, later, a cancelled one, another calendar.
            _ = try await store.insertBooking(Self.booking("bk_2", host: "bob", start: nine.addingTimeInterval(1_800), at: now))
            _ = try await store.insertBooking(Self.booking("bk_3", start: nine.addingTimeInterval(7_200), state: .confirmed, intake: "in_1", at: now.addingTimeInterval(1)))
            _ = try await store.insertBooking(Self.booking("bk_4", start: nine.addingTimeInterval(3_600), state: .cancelled, at: now))
            var elsewhere = Self.booking("bk_5", start: nine, at: now)
            elsewhere.calendar = "other"
            _ = try await store.insertBooking(elsewhere)

            let day = DateInterval(start: nine.addingTimeInterval(-3_600), duration: 86_400)
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: day).map(\.id) == ["bk_1", "bk_3"])
            #expect(try await store.activeBookings(calendar: "demo", host: nil, overlapping: day).map(\.id) == ["bk_1", "bk_2", "bk_3"])
            #expect(try await store.activeBookings(calendar: "other", host: nil, overlapping: day).map(\.id) == ["bk_5"])
            // Overlap is half-open: a range ending at the start or starting at the end misses it.
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: DateInterval(start: nine.addingTimeInterval(-600), end: nine)).isEmpty)
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: DateInterval(start: nine.addingTimeInterval(1_800), duration: 600)).isEmpty)
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: DateInterval(start: nine.addingTimeInterval(1_799), duration: 600)).map(\.id) == ["bk_1"])

            // Update: reschedule (sequence + 1) and confirm; then cancel drops it from the active set.
            var moved = stored
            moved.start = nine.addingTimeInterval(14_400)
            moved.end = moved.start.addingTimeInterval(1_800)
            moved.sequence = 1
            moved.state = .confirmed
            moved.providerEventID = "evt-1"
            moved.meetingURL = "https://meet.example/abc"
            moved.updatedAt = now.addingTimeInterval(60)
            try await store.updateBooking(moved)
            #expect(try await store.booking(id: "bk_1") == moved)
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: day).map(\.id) == ["bk_3", "bk_1"])
            moved.state = .cancelled
            moved.sequence = 2
            try await store.updateBooking(moved)
            #expect(try await store.activeBookings(calendar: "demo", host: "ada", overlapping: day).map(\.id) == ["bk_3"])

            var missing = moved
            missing.id = "bk_missing"
            await #expect(throws: StoreError.self) { try await store.updateBooking(missing) }

            #expect(try await store.bookings(intakeID: "in_1").map(\.id) == ["bk_1", "bk_3"])
            #expect(try await store.bookings(intakeID: "in_none").isEmpty)

            // Survives a restart.
            let reopened = try #require(try await h.reopen() as? any BookingStore)
            #expect(try await reopened.booking(id: "bk_1") == moved)
        }
    }
}
