import Actions
import Core
import Foundation
import Logging
import Mail
import Storage
import Testing

extension DaemonProcessTests {
    /// The issue's end-to-end path in the running daemon: a "book a call" form webhook → the rules'
    /// `schedule` → an event in a real Radicale calendar → the invitation received by the SMTP
    /// test server → reminder jobs queued.
    @Suite(
        "Bookings in the running daemon",
        .enabled(
            if: TestRadicale.shouldRun && TestSMTPServer.shouldRun,
            "needs Radicale and the test SMTP server: run scripts/test.sh (or scripts/radicale.sh and scripts/smtp.sh, sourcing both env files)"))
    struct Bookings {
        @Test("form → schedule → Radicale event → invitation → reminders queued; an operator moves and cancels it", .timeLimit(.minutes(2)))
        func formToInvitation() async throws {
            let radicale = try TestRadicale.require()
            let smtp = try TestSMTPServer.require()
            let calendarURL = try await radicale.makeCalendar()
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }

            let rules = fixture.root.appendingPathComponent("rules.json")
            let rulesJSON: [String: Any] = [
                "version": 1,
                "rules": [[
                    "id": "book-a-call",
                    "when": ["field": "source", "op": "equals", "value": "book-a-call"],
                    "then": [
                        "route": ["pipeline": "sales", "stage": "new", "title": "Call with {{payload.name}}"],
                        "schedule": [
                            "calendar": "team", "title": "Intro call: {{payload.name}}", "duration_minutes": 30, "attendee": "payload.email",
                            "attendee_name": "payload.name", "earliest_start_hours": 26, "within_days": 7,
                        ] as [String: Any],
                    ] as [String: Any],
                ] as [String: Any]],
            ]
            try JSONSerialization.data(withJSONObject: rulesJSON).write(to: rules)
            let account = smtp.account(id: "calendar")
            let allDay = ["00:00-24:00"]
            try fixture.writeConfig(fixture.configJSON(sources: [DaemonFixture.source, "book-a-call"], extraTopLevel: [
                "rules_file": rules.path,
                "smtp_accounts": [[
                    "id": "calendar", "host": "127.0.0.1", "port": account.port, "tls": "starttls", "ca_file": smtp.caFile,
                    "username": smtp.user, "password": ["value": smtp.password], "auth": "login",
                    "from_address": "team@demo.example", "from_name": "Demo Agency", "message_id_domain": "demo.example",
                ] as [String: Any]],
                "scheduling": [
                    "reminder_offsets": ["P1D", "PT1H"],
                    "calendars": ["team": [
                        "organization": "demo", "slot_interval": "PT30M", "durations": ["PT30M"], "smtp_account": "calendar",
                        "hosts": [[
                            "name": "ada", "email": "ada@demo.example", "display_name": "Ada Lovelace", "time_zone": "UTC",
                            "working_hours": ["mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay],
                            "provider": [
                                "type": "caldav", "url": calendarURL, "username": radicale.user,
                                "password": ["env": "ASTRALISD_TEST_CALDAV_PASSWORD"], "allow_plaintext": true,
                            ] as [String: Any],
                        ] as [String: Any]],
                    ] as [String: Any]],
                ] as [String: Any],
            ]))
            let daemon = try await fixture.startReady(environment: ["ASTRALISD_TEST_CALDAV_PASSWORD": radicale.password])

            let client = TestSMTPServer.recipient("client")
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["name": "Grace Client", "email": client]), as: UTF8.self)
            let posted = try await fixture.postWebhook(source: "book-a-call", body: body)
            #expect(posted.status == 202, "\(posted.body)")
            let intakeID = try #require(posted.decode(AcceptedWebhook.self)?.intake_id)

            // The invitation reaches the attendee.
            let received = try await smtp.waitForMessages(to: client, timeout: .seconds(30))
            try #require(received.count == 1, "one invitation\nlog:\n\(daemon.log)")
            let parts = MessageParser().outline(received[0].raw)
            #expect(parts.map(\.mediaType) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics"])
            let calendarPart = try #require(parts.first { $0.mediaType == "text/calendar" })
            #expect(calendarPart.parameters["method"] == "REQUEST")
            let calendarText = String(decoding: calendarPart.content ?? Data(), as: UTF8.self)
            let invite = try #require(try ICalendar.parse(calendarText).first)

            // The booking is confirmed, and the event is in Radicale at the booked time.
            let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let booking = try #require(try await store.bookings(intakeID: intakeID).first)
            #expect(booking.state == .confirmed)
            #expect(invite.uid == booking.uid && invite.start == booking.start && invite.sequence == 0)
            #expect(booking.start >= Date().addingTimeInterval(26 * 3_600 - 120), "not before earliest_start_hours")
            let provider = try radicale.provider(calendarURL)
            let busy = try await provider.busyTimes(in: DateInterval(start: booking.start.addingTimeInterval(-3_600), end: booking.end.addingTimeInterval(3_600)))
            #expect(busy == [DateInterval(start: booking.start, end: booking.end)], "the event is in the CalDAV calendar")
            let (status, ics) = try await radicale.request("GET", provider.resourceURL(uid: booking.uid))
            #expect(status == 200)
            #expect(ics.contains("UID:\(booking.uid)"))
            #expect(ics.lowercased().contains(client.lowercased()))

            // Both reminders are queued as delayed jobs at their times.
            for offset in [86_400.0, 3_600.0] {
                let job = try #require(try await store.job(id: booking.reminderJobID(sequence: 0, offset: offset)), "reminder \(offset)")
                #expect(job.state == .ready)
                #expect(job.runAt == booking.start.addingTimeInterval(-offset))
            }

            // An operator moves it an hour later, then cancels it, through the admin API.
            let created = try await fixture.cli(["token", "create", "--role", "operator", "--org", "demo", "--name", "ops"])
            try #require(created.exitedCleanly, "\(created.summary)")
            let auth = ["Authorization": "Bearer " + created.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "Content-Type": "application/json"]
            let later = booking.start.addingTimeInterval(3_600)
            let moved = try await HTTP.request(
                "POST", fixture.adminBase + "/v1/bookings/\(booking.id)/reschedule", body: #"{"start": "\#(later.formatted(.iso8601))"}"#, headers: auth)
            #expect(moved.status == 200, "\(moved.body)")
            let updates = try await smtp.waitForMessages(to: client, count: 2, timeout: .seconds(30))
            try #require(updates.count == 2, "the updated invitation\nlog:\n\(daemon.log)")
            let update = try #require(try ICalendar.parse(String(decoding: MessageParser().outline(updates[1].raw).first { $0.mediaType == "text/calendar" }?.content ?? Data(), as: UTF8.self)).first)
            #expect(update.sequence == 1 && update.start == later)
            let movedBusy = try await provider.busyTimes(in: DateInterval(start: booking.start.addingTimeInterval(-3_600), end: later.addingTimeInterval(3_600)))
            #expect(movedBusy == [DateInterval(start: later, duration: 1_800)], "the Radicale event moved")
            let refused = try await HTTP.request(
                "POST", fixture.adminBase + "/v1/bookings/\(booking.id)/reschedule", body: #"{"start": "not a time"}"#, headers: auth)
            #expect(refused.status == 422)

            let cancelled = try await HTTP.request(
                "POST", fixture.adminBase + "/v1/bookings/\(booking.id)/cancel", body: #"{"reason": "client asked"}"#, headers: auth)
            #expect(cancelled.status == 200, "\(cancelled.body)")
            let all = try await smtp.waitForMessages(to: client, count: 3, timeout: .seconds(30))
            try #require(all.count == 3, "the cancellation\nlog:\n\(daemon.log)")
            let cancelPart = try #require(MessageParser().outline(all[2].raw).first { $0.mediaType == "text/calendar" })
            #expect(cancelPart.parameters["method"] == "CANCEL")
            var gone = false
            for _ in 0..<50 where !gone {
                gone = try await radicale.request("GET", provider.resourceURL(uid: booking.uid)).0 == 404
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone, "the event is deleted from Radicale")
            let again = try await HTTP.request("POST", fixture.adminBase + "/v1/bookings/\(booking.id)/cancel", body: "{}", headers: auth)
            #expect(again.status == 409, "a cancelled booking cannot be cancelled again")
            #expect(try await store.booking(id: booking.id)?.state == .cancelled)
            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics").body
            for line in [
                #"astralisd_bookings_total{outcome="planned"} 1"#, #"astralisd_bookings_total{outcome="confirmed"} 1"#,
                #"astralisd_bookings_total{outcome="rescheduled"} 1"#, #"astralisd_bookings_total{outcome="cancelled"} 1"#,
                #"astralisd_booking_emails_total{kind="invitation"} 1"#, #"astralisd_booking_email_outcomes_total{outcome="sent"} 3"#,
            ] {
                #expect(metrics.contains(line + "\n"), "\(line)")
            }
            try await fixture.stop(daemon)
        }
    }
}
