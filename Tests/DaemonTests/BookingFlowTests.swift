@testable import Daemon
import Actions
import Core
import Foundation
import Inbound
import Logging
import Mail
import Storage
import Testing

/// The booking flow in one process with a hand-moved clock: a form intake → rules `schedule` →
/// booking on the `local` calendar → provider event + invitation at the real SMTP test server →
/// reminders at the right times, once, and not after a move or a cancellation.
@Suite("Booking flow (schedule → booking jobs → emails)", .enabled(if: TestSMTPServer.shouldRun, TestSMTPServer.skipReason), .serialized)
struct BookingFlowTests {
    /// Monday 7 December 2026, 08:00 UTC (09:00 in Berlin).
    static let monday = Date(timeIntervalSince1970: 1_796_630_400)

    final class Fixture {
        let directory: URL
        let clock = ManualWallClock(BookingFlowTests.monday)
        let store: SQLiteStore
        let blobs: TieredBlobStore
        let committer: IntakeCommitter
        let server: TestSMTPServer
        let loaded: LoadedConfig
        let processor: IntakeProcessor
        let service: BookingService
        let jobs: BookingJobs
        let metrics = DaemonMetrics()
        let smtp = SMTPSender(threads: 2)
        /// Errors of job runs, by job id.
        var errors: [String: String] = [:]

        init(hosts: [[String: Any]]? = nil, assignment: String = "intersection") throws {
            server = try TestSMTPServer.require()
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-bookings-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let rules: [String: Any] = [
                "version": 1,
                "rules": [[
                    "id": "book",
                    "when": ["field": "source", "op": "equals", "value": "book-a-call"],
                    "then": [
                        "route": ["pipeline": "sales", "stage": "new", "title": "Call with {{payload.name}}"],
                        "schedule": [
                            "calendar": "demo", "title": "Intro call: {{payload.name}}", "duration_minutes": 30, "attendee": "payload.email",
                            "attendee_name": "payload.name", "proposed_times": "payload.times", "attendee_time_zone": "payload.tz",
                            "earliest_start_hours": 2, "within_days": 14, "location": "Video call",
                        ] as [String: Any],
                    ] as [String: Any],
                ] as [String: Any]],
            ]
            let rulesPath = directory.appendingPathComponent("rules.json")
            try JSONSerialization.data(withJSONObject: rules).write(to: rulesPath)
            let account = server.account(id: "calendar")
            let workdays = ["09:00-17:00"]
            let config: [String: Any] = [
                "state_dir": directory.appendingPathComponent("state").path,
                "listen": ["webhooks": "127.0.0.1:1", "admin": "127.0.0.1:2"],
                "rules_file": rulesPath.path,
                "smtp_accounts": [[
                    "id": "calendar", "host": "127.0.0.1", "port": account.port, "tls": "starttls", "ca_file": server.caFile,
                    "username": server.user, "password": ["value": server.password], "auth": "login",
                    "from_address": "team@demo.example", "from_name": "Demo Agency", "message_id_domain": "demo.example",
                ] as [String: Any]],
                "scheduling": [
                    "reminder_offsets": ["P1D", "PT1H"],
                    "calendars": ["demo": [
                        "organization": "demo", "assignment": assignment, "slot_interval": "PT30M", "durations": ["PT30M"],
                        "organizer": ["email": "team@demo.example", "name": "Demo Agency"], "smtp_account": "calendar",
                        "hosts": hosts ?? [[
                            "name": "ada", "email": "ada@demo.example", "display_name": "Ada Lovelace", "time_zone": "Europe/Berlin",
                            "working_hours": ["mon": workdays, "tue": workdays, "wed": workdays, "thu": workdays, "fri": workdays],
                            "provider": ["type": "local"],
                        ] as [String: Any]],
                    ] as [String: Any]],
                ] as [String: Any],
                "organizations": [[
                    "id": "demo", "name": "Demo",
                    "pipelines": [["id": "sales", "name": "Sales", "stages": [["id": "new", "name": "New"]]] as [String: Any]],
                    "default_route": ["pipeline": "sales", "stage": "new", "title": "{{payload.name}}"],
                    "sources": [["id": "book-a-call", "type": "webhook", "auth": ["type": "none"]] as [String: Any]],
                ] as [String: Any]],
            ]
            let configPath = directory.appendingPathComponent("astralisd.json").path
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
            loaded = try ConfigLoader.load(path: configPath, environment: [:])
            store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, clock: clock, logger: logger)
            blobs = TieredBlobStore(small: SQLiteBlobStore(store: store), large: try FileBlobStore(root: directory.appendingPathComponent("blobs").path))
            committer = IntakeCommitter(store: store, blobs: blobs, clock: clock, maxBatch: 16, logger: logger)
            let current = loaded
            service = BookingService(
                store: store, config: { current.config }, context: .process(environment: [:], logger: logger), clock: clock, logger: logger)
            var processor = IntakeProcessor(
                store: store, blobs: blobs, router: SharedValue(loaded.makeRouter()), composer: ItemComposer(), mail: { current.config.mail }, logger: logger)
            processor.bookings = service
            self.processor = processor
            jobs = BookingJobs(service: service, store: store, sender: smtp, secrets: { try SecretResolver(environment: [:]).resolve($0) }, metrics: metrics, logger: logger)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func start() async throws {
            try await store.syncPipelines(loaded.config.pipelines)
        }

        /// A form posted to `book-a-call`.
        func form(name: String, email: String, times: [String], tz: String? = nil) async throws -> String {
            var payload: [String: Any] = ["name": name, "email": email, "times": times]
            if let tz { payload["tz"] = tz }
            let raw = try JSONSerialization.data(withJSONObject: payload)
            let pending = PendingIntake(organization: "demo", source: "book-a-call", sourceKind: .webhook, dedupeKey: nil, contentType: "application/json", raw: raw)
            return try await committer.submit(pending).intake.id
        }

        /// Runs every job that is due, as a worker would, until none is left.
        @discardableResult
        func drain() async throws -> [String] {
            var ran: [String] = []
            while true {
                let due = try await store.lease(owner: "test", limit: 10, leaseDuration: 60)
                if due.isEmpty { return ran }
                for job in due {
                    ran.append(job.id)
                    let claim = JobClaim(jobID: job.id, owner: "test")
                    do {
                        let handler: any JobHandling = job.kind == JobKind.processIntake ? processor : jobs
                        if try await handler.run(job, claim: claim) == .finished {
                            try await store.complete(jobID: job.id, owner: "test")
                        }
                    } catch {
                        errors[job.id] = "\(error)"
                        try await store.fail(jobID: job.id, owner: "test", error: "\(error)", permanent: true)
                    }
                }
            }
        }

        func booking(intake: String) async throws -> Booking {
            try #require(try await store.bookings(intakeID: intake).first)
        }

        func emails(to address: String, settle: Bool = true) async throws -> [TestSMTPServer.Received] {
            if settle { try await Task.sleep(for: .milliseconds(300)) }
            return server.received(to: address)
        }
    }

    static func utc(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }

    /// The invitation's MIME layout and its calendar, parsed back by libical.
    static func calendar(in raw: Data, method: String) throws -> ICalendarEventFields {
        let parts = MessageParser().outline(raw)
        #expect(parts.map(\.mediaType) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics"])
        let part = try #require(parts.first { $0.mediaType == "text/calendar" })
        #expect(part.parameters["method"] == method)
        let attached = try #require(parts.first { $0.mediaType == "application/ics" })
        #expect(attached.disposition == "attachment")
        #expect(attached.content == part.content)
        let events = try ICalendar.parse(String(decoding: try #require(part.content), as: UTF8.self))
        try #require(events.count == 1)
        #expect(events[0].method == method)
        return events[0]
    }

    @Test("form → booking → event + invitation → reminders once at their times → reschedule → cancel", .timeLimit(.minutes(2)))
    func wholeFlow() async throws {
        let fixture = try Fixture()
        try await fixture.start()
        let ada = TestSMTPServer.recipient("ada")
        // 10:00 in Berlin on Tuesday = 09:00 UTC.
        let intake = try await fixture.form(name: "Ada Client", email: ada, times: ["2026-12-08T10:00"], tz: "Europe/Berlin")
        try await fixture.drain()
        #expect(fixture.errors.isEmpty, "\(fixture.errors)")

        var booking = try await fixture.booking(intake: intake)
        #expect(booking.state == .confirmed)
        #expect(booking.start == (try Self.utc("2026-12-08T09:00:00Z")))
        #expect(booking.end == (try Self.utc("2026-12-08T09:30:00Z")))
        #expect(booking.summary == "Intro call: Ada Client")
        #expect(booking.attendee.email == ada.lowercased())
        #expect(booking.attendee.name == "Ada Client")
        #expect(booking.itemID != nil, "the booking is linked to the item the decision created")
        #expect(booking.uid.hasSuffix("@demo.example"))

        // The invitation: REQUEST, SEQUENCE 0, the attendee and the organizer.
        let invitations = try await fixture.emails(to: ada)
        try #require(invitations.count == 1, "one invitation")
        let invite = try Self.calendar(in: invitations[0].raw, method: "REQUEST")
        #expect(invite.uid == booking.uid)
        #expect(invite.sequence == 0)
        #expect(invite.start == booking.start && invite.end == booking.end)
        #expect(invite.organizer?.email == "team@demo.example")
        #expect(invite.attendees.contains { $0.email == ada.lowercased() && $0.rsvp && $0.status == .needsAction })
        #expect(invite.attendees.contains { $0.email == "ada@demo.example" })
        #expect(invite.location == "Video call")
        let message = try MessageParser().parse(invitations[0].raw).message
        #expect(message.subject?.hasPrefix("Invitation: Intro call: Ada Client") == true)
        #expect(message.text?.contains("10:00") == true, "times are written in the requester's zone: \(message.text ?? "")")

        // Reminders: queued for 24 h and 1 h before, not before they are due.
        let day = try #require(try await fixture.store.job(id: booking.reminderJobID(sequence: 0, offset: 86_400)))
        #expect(day.runAt == booking.start.addingTimeInterval(-86_400))
        let hour = try #require(try await fixture.store.job(id: booking.reminderJobID(sequence: 0, offset: 3_600)))
        #expect(hour.runAt == booking.start.addingTimeInterval(-3_600))
        fixture.clock.set(booking.start.addingTimeInterval(-86_400 - 60))
        #expect(try await fixture.drain().isEmpty, "nothing is due a minute before the first reminder")
        fixture.clock.set(booking.start.addingTimeInterval(-86_400 + 1))
        #expect(try await fixture.drain() == [day.id])
        try await fixture.drain()
        let afterDay = try await fixture.emails(to: ada)
        try #require(afterDay.count == 2, "the 24 h reminder, once")
        #expect(try MessageParser().parse(afterDay[1].raw).message.subject?.hasPrefix("Reminder: Intro call: Ada Client") == true)
        // Running the reminder job again (a retry after a crash) sends nothing more.
        _ = try await fixture.jobs.run(day, claim: JobClaim(jobID: day.id, owner: "test"))
        #expect(try await fixture.emails(to: ada).count == 2)

        // Reschedule to 14:00 Berlin: SEQUENCE 1, an updated REQUEST threaded under the first, new reminders.
        booking = try await fixture.service.reschedule(bookingID: booking.id, start: try Self.utc("2026-12-08T13:00:00Z"), actor: "admin:test")
        #expect(booking.sequence == 1)
        try await fixture.drain()
        #expect(fixture.errors.isEmpty, "\(fixture.errors)")
        let afterMove = try await fixture.emails(to: ada)
        try #require(afterMove.count == 3)
        let update = try Self.calendar(in: afterMove[2].raw, method: "REQUEST")
        #expect(update.uid == booking.uid)
        #expect(update.sequence == 1)
        #expect(update.start == (try Self.utc("2026-12-08T13:00:00Z")))
        let updateMessage = try MessageParser().parse(afterMove[2].raw).message
        #expect(updateMessage.subject?.hasPrefix("Updated invitation:") == true)
        let firstID = try MessageParser().parse(invitations[0].raw).message.messageID
        #expect(firstID != nil && updateMessage.inReplyTo == [firstID ?? ""])
        let movedHour = try #require(try await fixture.store.job(id: booking.reminderJobID(sequence: 1, offset: 3_600)))
        #expect(movedHour.runAt == (try Self.utc("2026-12-08T12:00:00Z")))

        let movedDay = try #require(try await fixture.store.job(id: booking.reminderJobID(sequence: 1, offset: 86_400)))
        #expect(movedDay.runAt == (try Self.utc("2026-12-07T13:00:00Z")))

        // The old 1 h reminder (09:00 → 08:00 UTC) comes due: the booking moved, so it sends nothing.
        // The new time's 24 h reminder (Monday 13:00 UTC) was due before and is sent.
        fixture.clock.set(try Self.utc("2026-12-08T08:00:01Z"))
        let ranAfterMove = try await fixture.drain()
        #expect(Set(ranAfterMove) == [hour.id, movedDay.id])
        let afterOldHour = try await fixture.emails(to: ada)
        try #require(afterOldHour.count == 4, "only the new time's reminder")
        #expect(try MessageParser().parse(afterOldHour[3].raw).message.text?.contains("14:00") == true)

        // Cancel: SEQUENCE 2, METHOD:CANCEL, and the moved reminder does nothing either.
        booking = try await fixture.service.cancel(bookingID: booking.id, reason: "customer asked", actor: "admin:test")
        try await fixture.drain()
        let afterCancel = try await fixture.emails(to: ada)
        try #require(afterCancel.count == 5)
        let cancel = try Self.calendar(in: afterCancel[4].raw, method: "CANCEL")
        #expect(cancel.sequence == 2)
        #expect(cancel.status == "CANCELLED")
        fixture.clock.set(try Self.utc("2026-12-08T12:00:01Z"))
        #expect(try await fixture.drain().contains(movedHour.id))
        #expect(try await fixture.emails(to: ada).count == 5, "no reminder after a cancellation")
        #expect(try await fixture.store.activeBookings(calendar: "demo", host: nil, overlapping: DateInterval(start: Self.monday, duration: 7 * 86_400)).isEmpty)

        // Every email has its record under the intake, all sent.
        let records = try await fixture.store.replies(intakeID: intake)
        #expect(records.map(\.template).sorted() == [
            "booking.\(booking.id).cancel.2", "booking.\(booking.id).reminder.0.86400", "booking.\(booking.id).reminder.1.86400",
            "booking.\(booking.id).request.0", "booking.\(booking.id).request.1",
        ])
        #expect(records.allSatisfy { $0.state == .sent })
    }

    @Test("a taken time: the second request gets the nearest alternatives by email; none is double-booked", .timeLimit(.minutes(2)))
    func takenTimeOffersAlternatives() async throws {
        let fixture = try Fixture()
        try await fixture.start()
        let first = TestSMTPServer.recipient("first")
        let second = TestSMTPServer.recipient("second")
        // Both intakes are processed concurrently, asking for the same time.
        let a = try await fixture.form(name: "First", email: first, times: ["2026-12-08T09:00:00Z"])
        let b = try await fixture.form(name: "Second", email: second, times: ["2026-12-08T09:00:00Z"])
        let leased = try await fixture.store.lease(owner: "test", limit: 10, leaseDuration: 60)
        try #require(leased.count == 2)
        let processor = fixture.processor
        try await withThrowingTaskGroup(of: Void.self) { group in
            for job in leased {
                group.addTask { _ = try await processor.run(job, claim: JobClaim(jobID: job.id, owner: "test")) }
            }
            try await group.waitForAll()
        }
        try await fixture.drain()
        #expect(fixture.errors.isEmpty, "\(fixture.errors)")
        let bookings = [try await fixture.booking(intake: a), try await fixture.booking(intake: b)]
        #expect(bookings.filter { $0.state == .confirmed }.count == 1, "\(bookings.map(\.state))")
        let lost = try #require(bookings.first { $0.state == .unavailable })
        #expect(lost.reason?.contains("none of the 1 proposed time(s) is free") == true)
        let loser = lost.attendee.email
        let offers = try await fixture.emails(to: loser)
        try #require(offers.count == 1)
        let offer = try MessageParser().parse(offers[0].raw).message
        #expect(offer.subject == "Intro call: \(loser == first.lowercased() ? "First" : "Second"): the requested time is not available")
        // The nearest free starts: 09:30 UTC (10:30 Berlin) after the taken 09:00, and 08:30 before it.
        let text = offer.text ?? ""
        #expect(text.contains("10:30") && text.contains("09:30"), "\(text)")
        #expect(text.contains("- Tuesday 8 December 2026, 09:30–10:00 (Europe/Berlin)\n"), "\(text)")
        #expect(!text.contains("10:00–10:30"), "the taken slot is not offered: \(text)")
        #expect(offers.first.map { MessageParser().outline($0.raw).contains { $0.mediaType == "text/calendar" } } == false, "an offer has no calendar")
    }

    @Test("requests that cannot be served are recorded as failed with the reason, and the intake still routes")
    func unservable() async throws {
        let fixture = try Fixture()
        try await fixture.start()
        let intake = try await fixture.form(name: "No Address", email: "not an address", times: [])
        try await fixture.drain()
        #expect(fixture.errors.isEmpty, "\(fixture.errors)")
        let booking = try await fixture.booking(intake: intake)
        #expect(booking.state == .failed)
        #expect(booking.reason == "no attendee address in payload.email")
        #expect(try await fixture.store.intake(id: intake)?.status == .done)
    }

    @Test("times: ISO 8601 with and without zones, dates, free text")
    func times() throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        #expect(BookingTimes.parse("2026-12-08T10:00", zone: berlin) == (try Self.utc("2026-12-08T09:00:00Z")))
        #expect(BookingTimes.parse("2026-12-08 10:00:30", zone: berlin) == (try Self.utc("2026-12-08T09:00:30Z")))
        #expect(BookingTimes.parse("2026-12-08T10:00:00Z", zone: berlin) == (try Self.utc("2026-12-08T10:00:00Z")))
        #expect(BookingTimes.parse("2026-12-08T10:00-05:00", zone: berlin) == (try Self.utc("2026-12-08T15:00:00Z")))
        #expect(BookingTimes.parse("2026-07-08T10:00", zone: berlin) == (try Self.utc("2026-07-08T08:00:00Z")), "summer time")
        #expect(BookingTimes.parse("2026-12-08", zone: berlin) == (try Self.utc("2026-12-07T23:00:00Z")))
        #expect(BookingTimes.parse("2026-12-08", zone: berlin, endOfDay: true) == (try Self.utc("2026-12-08T23:00:00Z")))
        #expect(BookingTimes.parse("2026-02-30T10:00", zone: berlin) == nil)
        #expect(BookingTimes.parse("2026-12-08T25:00", zone: berlin) == nil)
        #expect(BookingTimes.parse("tomorrow", zone: berlin) == nil)
        let text = "Could we talk on 2026-12-09 14:30 or else 2026-12-10T09:00Z? Not on 2026-12-11."
        #expect(BookingTimes.scan(text, zone: berlin, limit: 10) == [try Self.utc("2026-12-09T13:30:00Z"), try Self.utc("2026-12-10T09:00:00Z")])
        #expect(BookingTimes.isAddress("ada@example.com"))
        #expect(!BookingTimes.isAddress("Ada <ada@example.com>"))
        #expect(!BookingTimes.isAddress("ada@localhost"))
    }
}
