import Core
import Foundation
import Logging
import Storage
import Testing

extension DaemonProcessTests {
    /// `astralisd slots` with the `local` provider: the daemon's own bookings are busy times.
    @Suite("astralisd slots")
    struct SlotsCommand {
        static var scheduling: [String: Any] { [
            "calendars": [
                "demo": [
                    "organization": "demo", "slot_interval": "PT1H", "durations": ["PT1H", "PT30M"], "booking_window": "P90D",
                    "hosts": [[
                        "name": "ada", "email": "ada@demo.example", "time_zone": "Europe/Berlin",
                        "working_hours": Dictionary(uniqueKeysWithValues: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map { ($0, ["09:00-17:00"]) }),
                        "provider": ["type": "local"],
                    ] as [String: Any]],
                ] as [String: Any],
                "remote": [
                    "organization": "demo",
                    "hosts": [[
                        "name": "bob", "email": "bob@demo.example", "time_zone": "UTC", "working_hours": ["mon": ["09:00-17:00"]],
                        "provider": ["type": "caldav", "url": "https://dav.example.com/bob/", "username": "bob", "password": ["env": "BOB_DAV"]],
                    ] as [String: Any]],
                ] as [String: Any],
            ] as [String: Any],
        ] }

        struct Document: Decodable {
            struct Entry: Decodable {
                var start: String
                var end: String
                var local_start: String
                var time_zone: String
                var hosts: [String]
            }
            var calendar: String
            var duration: String
            var slots: [Entry]
        }

        /// A day 20 days ahead, as `YYYY-MM-DD` in Berlin, and its 11:00 local.
        static func day() throws -> (text: String, eleven: Date) {
            var berlin = Calendar(identifier: .gregorian)
            berlin.timeZone = try #require(TimeZone(identifier: "Europe/Berlin"))
            let later = Date().addingTimeInterval(20 * 86_400)
            let parts = berlin.dateComponents([.year, .month, .day], from: later)
            let eleven = try #require(berlin.date(from: DateComponents(year: parts.year, month: parts.month, day: parts.day, hour: 11)))
            let text = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
            return (text, eleven)
        }

        @Test("slots around a stored booking, as JSON and text; errors exit 1", .timeLimit(.minutes(2)))
        func slotsAroundABooking() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["scheduling": Self.scheduling]))
            let (day, eleven) = try Self.day()
            try FileManager.default.createDirectory(atPath: fixture.stateDir, withIntermediateDirectories: true)
            do {
                let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test"))
                let now = Date()
                let booking = Booking(
                    id: "bk_test", organization: "demo", calendar: "demo", host: "ada", uid: "bk_test@demo.example", start: eleven,
                    end: eleven.addingTimeInterval(3_600), state: .confirmed, summary: "Intro call",
                    attendee: CalendarAttendee(email: "req@customer.example"), createdAt: now, updatedAt: now)
                let inserted = try await store.insertBooking(booking)
                #expect(inserted)
            }

            let json = try await fixture.cli(["slots", "--calendar", "demo", "--from", day, "--to", day, "--json"])
            #expect(json.exitedCleanly, "\(json.summary)")
            let document = try #require(try? JSONDecoder().decode(Document.self, from: Data(json.stdout.utf8)), "\(json.summary)")
            #expect(document.calendar == "demo" && document.duration == "PT1H")
            #expect(document.slots.count == 7, "09:00-17:00 in one-hour slots minus the 11:00 booking: \(json.stdout)")
            #expect(document.slots.first?.local_start.hasPrefix("\(day)T09:00:00") == true)
            #expect(document.slots.last?.local_start.hasPrefix("\(day)T16:00:00") == true)
            #expect(!document.slots.contains { $0.local_start.hasPrefix("\(day)T11:00:00") })
            #expect(document.slots.contains { $0.local_start.hasPrefix("\(day)T12:00:00") })
            #expect(document.slots.allSatisfy { $0.hosts == ["ada"] && $0.time_zone == "Europe/Berlin" && $0.start.hasSuffix("Z") })
            let elevenUTC = ISO8601DateFormatter().string(from: eleven)
            #expect(!document.slots.contains { $0.start == elevenUTC })

            let half = try await fixture.cli(["slots", "--calendar", "demo", "--from", day, "--to", day, "--duration", "PT30M"])
            #expect(half.exitedCleanly, "\(half.summary)")
            #expect(half.stdout.contains("7 free slot(s) of PT30M"), "\(half.summary)")
            #expect(half.stdout.contains("\(day)T09:00:00") && half.stdout.contains("Europe/Berlin"), "\(half.summary)")

            let wrongDuration = try await fixture.cli(["slots", "--calendar", "demo", "--duration", "PT45M"])
            #expect(wrongDuration.status == 1 && wrongDuration.stderr.contains("duration PT45M is not offered"), "\(wrongDuration.summary)")
            let unknown = try await fixture.cli(["slots", "--calendar", "nope"])
            #expect(unknown.status == 1 && unknown.stderr.contains("unknown calendar \"nope\"; configured: demo, remote"), "\(unknown.summary)")
            let remote = try await fixture.cli(["slots", "--calendar", "remote"])
            // The CalDAV provider is built and asks for its password, which the environment lacks.
            #expect(remote.status == 1 && remote.stderr.contains("BOB_DAV"), "\(remote.summary)")
            let badTime = try await fixture.cli(["slots", "--calendar", "demo", "--from", "tomorrow"])
            #expect(badTime.status == 1 && badTime.stderr.contains("expected an ISO 8601 time"), "\(badTime.summary)")
        }

        @Test("check reports scheduling mistakes with their key paths", .timeLimit(.minutes(1)))
        func checkReportsScheduling() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            var broken = Self.scheduling
            broken["reminder_offsets"] = ["1 hour"]
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["scheduling": broken]))
            let result = try await runCommand(try TestTools.astralisd(), ["check", "--config", fixture.configPath], environment: TestTools.childEnvironment([:]), in: fixture.root)
            #expect(result.status == 1, "\(result.summary)")
            #expect(result.stderr.contains("  - scheduling.reminder_offsets[0]: expected an ISO 8601 duration"), "\(result.summary)")
        }
    }
}
