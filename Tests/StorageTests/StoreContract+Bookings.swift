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

    /// The booking flow's transactions: bookings committed with the decision (linked to its item,
    /// once), compare-and-set changes with their jobs and activity, and attendee answers that
    /// neither overwrite nor are overwritten by job changes.
    func bookingFlowTransactions() async throws {
        try await run { h in
            let store = try #require(h.store as? any BookingStore & BookingCommitting, "the backend implements BookingCommitting")
            try await h.store.syncPipelines(Sample.pipelines)
            let intake = try await Sample.record("meeting-1", in: h)
            let now = h.clock.now()
            var pending = Self.booking("bk_flow", start: now.addingTimeInterval(86_400), intake: intake.id, at: now)
            pending.organization = intake.organization
            let create = NewJob(id: pending.createJobID, kind: JobKind.createBooking, payload: .object(["booking": .string(pending.id)]))
            let item = NewPipelineItem(route: Sample.route, title: "Call", description: nil, fields: .null)
            _ = try await store.commitDecision(
                intakeID: intake.id, decision: Sample.decision(), item: item, status: .done, followUps: [create], bookings: [pending],
                actor: "worker", completing: nil)
            let stored = try #require(try await store.booking(id: "bk_flow"))
            #expect(stored.itemID == item.id, "linked to the item the decision created")
            #expect(stored.state == .pending)
            #expect(try await h.store.job(id: create.id)?.kind == JobKind.createBooking)
            // A second commit of the same decision records nothing.
            var other = pending
            other.id = "bk_flow2"
            other.uid = "bk_flow2@astralisd.test"
            _ = try await store.commitDecision(
                intakeID: intake.id, decision: Sample.decision(), item: item, status: .done, followUps: [], bookings: [other], actor: "worker", completing: nil)
            #expect(try await store.booking(id: "bk_flow2") == nil)

            // Confirm (pending → confirmed) with a reminder job and an activity entry.
            var confirmed = stored
            confirmed.state = .confirmed
            confirmed.providerEventID = "evt-1"
            let reminder = NewJob(id: confirmed.reminderJobID(sequence: 0, offset: 3_600), kind: JobKind.sendReminder, payload: .null, runAt: now.addingTimeInterval(82_800))
            let activity = BookingActivity(action: "booking.confirmed", detail: "confirmed", actor: "worker")
            #expect(try await store.changeBooking(confirmed, expectedSequence: 0, from: [.pending], jobs: [reminder], activity: activity))
            #expect(try await h.store.job(id: reminder.id)?.runAt == now.addingTimeInterval(82_800))
            #expect(try await h.store.activity(itemID: item.id).map(\.action).contains("booking.confirmed"))
            // The same change again: the state is no longer pending, nothing is written.
            #expect(try await store.changeBooking(confirmed, expectedSequence: 0, from: [.pending], jobs: [], activity: nil) == false)
            // A stale sequence is refused.
            var moved = confirmed
            moved.sequence = 1
            #expect(try await store.changeBooking(moved, expectedSequence: 5, from: [.confirmed], jobs: [], activity: nil) == false)
            #expect(try await store.booking(id: "bk_flow")?.sequence == 0)

            // The attendee accepts; a job's later write (from a copy read before) keeps the answer.
            var accepted = confirmed.attendee
            accepted.status = .accepted
            #expect(try await store.recordAttendee(
                bookingID: "bk_flow", attendee: accepted, expectedSequence: 0, from: [.confirmed], at: now, activity: BookingActivity(action: "booking.reply", detail: "accepted", actor: "attendee")))
            #expect(try await store.recordAttendee(bookingID: "bk_flow", attendee: accepted, expectedSequence: 3, from: [.confirmed], at: now, activity: nil) == false)
            var staleCopy = confirmed
            staleCopy.meetingURL = "https://meet.example/x"
            #expect(try await store.changeBooking(staleCopy, expectedSequence: 0, from: [.confirmed], jobs: [], activity: nil))
            let final = try #require(try await store.booking(id: "bk_flow"))
            #expect(final.attendee.status == .accepted, "the answer survives the job's write")
            #expect(final.meetingURL == "https://meet.example/x")
            #expect(try await h.store.activity(itemID: item.id).map(\.action).contains("booking.reply"))
            await #expect(throws: StoreError.self) {
                _ = try await store.changeBooking(Self.booking("bk_none", start: now, at: now), expectedSequence: 0, from: [.pending], jobs: [], activity: nil)
            }
        }
    }
}
