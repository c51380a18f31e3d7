@testable import Daemon
import Actions
import Core
import Foundation
import Inbound
import Logging
import Mail
import Storage
import Testing

/// iTIP REPLY emails (an attendee pressing Accept / Decline) update their booking, through the
/// daemon's own intake processor on a real SQLite store.
@Suite("Booking replies by email")
struct BookingReplyTests {
    static let attendee = "Req@Customer.Example"

    /// An RFC 5546 §4.2.2-style REPLY (as Google Calendar sends it); libical builds no REPLY.
    static func calendar(uid: String, partstat: String = "ACCEPTED", sequence: Int = 0, attendee: String = attendee) -> String {
        [
            "BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0", "CALSCALE:GREGORIAN", "METHOD:REPLY",
            "BEGIN:VEVENT", "DTSTART:20270115T090000Z", "DTEND:20270115T093000Z", "DTSTAMP:20261202T100000Z",
            "ORGANIZER;CN=Ada:mailto:ada@acme.example", "UID:\(uid)", "ATTENDEE;CN=Req;PARTSTAT=\(partstat):mailto:\(attendee)",
            "SEQUENCE:\(sequence)", "SUMMARY:Call", "STATUS:CONFIRMED", "END:VEVENT", "END:VCALENDAR", "",
        ].joined(separator: "\r\n")
    }

    /// A reply email: text, the calendar inline (`text/calendar; method=REPLY`) and/or as an
    /// `invite.ics` attachment (base64), like Gmail and Outlook send it.
    static func email(from: String, calendar: String, inline: Bool = true, attachment: Bool = true) -> Data {
        var parts = ["--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nReq has accepted this invitation.\r\n"]
        if inline {
            parts.append("--b1\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n\(calendar)")
        }
        if attachment {
            let encoded = Data(calendar.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
            parts.append("--b1\r\nContent-Type: application/ics; name=\"invite.ics\"\r\nContent-Disposition: attachment; filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\(encoded)\r\n")
        }
        let text = "From: Req <\(from)>\r\nTo: ada@acme.example\r\nSubject: Accepted: Call @ Fri Jan 15, 2027\r\nMessage-ID: <\(UUID().uuidString)@customer.example>\r\n"
            + "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            + parts.joined() + "--b1--\r\n"
        return Data(text.utf8)
    }

    struct Setup {
        let env: AdminTestEnvironment
        var store: SQLiteStore { env.app.store }

        /// A pending booking on the test item, attendee `req@customer.example`.
        func booking(_ id: String, sequence: Int = 0, state: BookingState = .pending) async throws -> Booking {
            let now = Date()
            let booking = Booking(
                id: id, organization: "demo", calendar: "demo", host: "ada", uid: "\(id)@astralisd.test", sequence: sequence, start: now.addingTimeInterval(86_400),
                end: now.addingTimeInterval(88_200), state: state, summary: "Call", attendee: CalendarAttendee(email: "req@customer.example", name: "Req"),
                intakeID: env.intakeID, itemID: env.itemID, createdAt: now, updatedAt: now)
            #expect(try await store.insertBooking(booking))
            return booking
        }

        /// Records the email as an intake and runs the daemon's processing job on it; returns the intake.
        func deliver(_ raw: Data) async throws -> Intake {
            let result = try await env.app.committer.submit(MailIntake.pending(raw: raw, organization: "demo", source: DaemonFixture.source, sourceKind: .spool))
            let processor = env.app.intakeProcessor()
            #expect(processor.bookingReplies != nil, "DaemonApp wires the reply intake")
            for job in try await store.lease(owner: "test", limit: 10, leaseDuration: 60) where job.kind == JobKind.processIntake {
                _ = try await processor.run(job, claim: JobClaim(jobID: job.id, owner: "test"))
            }
            return try #require(try await store.intake(id: result.intake.id))
        }

        /// The same email straight through `BookingReplyIntake`, for its outcomes.
        func outcomes(_ raw: Data) async throws -> [BookingReplyIntake.Outcome] {
            let result = try await env.app.committer.submit(MailIntake.pending(raw: raw, organization: "demo", source: DaemonFixture.source, sourceKind: .spool))
            let facts = try await FactsBuilder.facts(for: result.intake, blobs: env.app.blobs, documents: [], parser: MessageParser())
            let intake = BookingReplyIntake(bookings: store, blobs: env.app.blobs, mail: { MailConfig() }, logger: env.logs.logger)
            return try await intake.process(result.intake, facts: facts)
        }
    }

    @Test("an accepting REPLY (inline + .ics) moves the attendee to ACCEPTED, once, with an activity entry; the email still routes")
    func acceptedThroughTheProcessor() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let setup = Setup(env: env)
        let booking = try await setup.booking("bk_r1")
        let intake = try await setup.deliver(Self.email(from: "REQ@customer.example", calendar: Self.calendar(uid: booking.uid)))
        #expect(intake.status == .done, "the reply email is routed as usual")
        let stored = try #require(try await setup.store.booking(id: "bk_r1"))
        #expect(stored.attendee.status == .accepted)
        #expect(stored.sequence == 0)
        #expect(stored.state == .pending)
        let activity = try await setup.store.activity(itemID: env.itemID).filter { $0.action == "booking.reply" }
        #expect(activity.count == 1)
        #expect(activity.first?.actor == "attendee")
        #expect(activity.first?.detail == "req@customer.example accepted")
        let metrics = String(decoding: env.app.metrics.emit(), as: UTF8.self)
        #expect(metrics.contains(#"astralisd_booking_replies_total{outcome="updated"} 1"#), "\(metrics)")

        // The same answer again (a re-sent email): unchanged, nothing written.
        let again = try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: booking.uid)))
        #expect(again == [.unchanged])
        #expect(try await setup.store.activity(itemID: env.itemID).filter { $0.action == "booking.reply" }.count == 1)
    }

    @Test("a declining REPLY as an .ics attachment only moves the attendee to DECLINED")
    func declinedAttachment() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let setup = Setup(env: env)
        let booking = try await setup.booking("bk_r2", state: .confirmed)
        let outcomes = try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: booking.uid, partstat: "DECLINED"), inline: false))
        #expect(outcomes == [.updated(.declined)])
        let stored = try #require(try await setup.store.booking(id: "bk_r2"))
        #expect(stored.attendee.status == .declined)
        #expect(stored.state == .confirmed, "a decline is recorded, not a cancellation")
    }

    @Test("a reply from another address changes nothing")
    func otherSender() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let setup = Setup(env: env)
        let booking = try await setup.booking("bk_r3")
        let outcomes = try await setup.outcomes(Self.email(from: "mallory@evil.example", calendar: Self.calendar(uid: booking.uid)))
        #expect(outcomes == [.senderMismatch])
        #expect(booking.attendee.status == .needsAction)
        #expect(try await setup.store.booking(id: "bk_r3")?.attendee == booking.attendee)
        #expect(env.logs.all.contains("the sender is not the booking's attendee"))
        // The right sender, but a REPLY naming someone else as the attendee (a forwarded invitation).
        let forwarded = try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: booking.uid, attendee: "friend@customer.example")))
        #expect(forwarded == [.unknownAttendee])
        #expect(try await setup.store.booking(id: "bk_r3")?.attendee == booking.attendee)
        // A UID no booking has is unknown (so is another organization's booking: same answer).
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: "nope@astralisd.test"))) == [.unknownBooking])
    }

    @Test("a stale SEQUENCE is ignored, as ITIPReply.apply says; a cancelled booking too")
    func staleAndInactive() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let setup = Setup(env: env)
        let moved = try await setup.booking("bk_r4", sequence: 2, state: .confirmed)
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: moved.uid, sequence: 1))) == [.stale])
        #expect(try await setup.store.booking(id: "bk_r4")?.attendee.status == .needsAction)
        // The answer to the current version counts.
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: moved.uid, sequence: 2))) == [.updated(.accepted)])
        let cancelled = try await setup.booking("bk_r5", state: .cancelled)
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: cancelled.uid))) == [.inactive])
        #expect(try await setup.store.booking(id: "bk_r5")?.attendee.status == .needsAction)
    }

    @Test("a garbage calendar is counted and logged; the intake still routes")
    func garbageCalendar() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let setup = Setup(env: env)
        let garbage = "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:x\r\n\u{1}\u{2}ATTENDEE;PARTSTAT=MAYBE:mailto:req@customer.example\r\nEND:VEVENT\r\n"
        let intake = try await setup.deliver(Self.email(from: "req@customer.example", calendar: garbage, attachment: false))
        #expect(intake.status == .done)
        let metrics = String(decoding: env.app.metrics.emit(), as: UTF8.self)
        #expect(metrics.contains(#"astralisd_booking_replies_total{outcome="malformed"} 1"#), "\(metrics)")
        #expect(env.logs.all.contains("unreadable calendar part ignored"))
        // Bytes that are not a calendar at all, and an invitation (METHOD:REQUEST) sent to us.
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: "\u{0}\u{ff}not a calendar", attachment: false)) == [.malformed])
        let request = Self.calendar(uid: "someone-else@x").replacingOccurrences(of: "METHOD:REPLY", with: "METHOD:REQUEST")
        #expect(try await setup.outcomes(Self.email(from: "req@customer.example", calendar: request)).isEmpty, "an invitation is not a reply")
        // Mail without any calendar costs no MIME walk.
        #expect(BookingReplyIntake.mentionsCalendar(Data("From: a@b.c\r\n\r\nhello\r\n".utf8)) == false)
        #expect(BookingReplyIntake.mentionsCalendar(Data("Content-Type: TEXT/Calendar; method=REPLY\r\n".utf8)))
        #expect(BookingReplyIntake.mentionsCalendar(Data("Content-Disposition: attachment; filename=\"Invite.ICS\"\r\n".utf8)))
        // Nor a second read of its bytes: the parsed message's parts already tell.
        let parser = MessageParser()
        let plain = try parser.parse(Data("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name=x.pdf\r\n\r\n%PDF\r\n--b--\r\n".utf8)).message
        #expect(BookingReplyIntake.mayHoldCalendar(plain) == false)
        let inline = try parser.parse(Self.email(from: "req@customer.example", calendar: Self.calendar(uid: "u@x"), attachment: false)).message
        #expect(BookingReplyIntake.mayHoldCalendar(inline), "an inline text/calendar alternative is listed as a part")
    }
}
