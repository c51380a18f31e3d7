import Actions
import Core
import Foundation
import Testing

/// Invitations built with libical, read back by libical and by Python's `icalendar`.
@Suite("iCalendar builder")
struct ICalendarTests {
    static let start = Date(timeIntervalSince1970: 1_767_607_200)  // 2026-01-05T10:00:00Z
    // Non-ASCII without spaces, longer than a folded line, so libical must fold inside it.
    static let longSummary = "Café, \"Kick-off\"; Zoë's call — " + String(repeating: "ünïcödé", count: 12)

    static func event(sequence: Int = 0, attendees: [CalendarAttendee]? = nil) -> CalendarEvent {
        CalendarEvent(
            uid: "bk_01TEST@astralisd.example", sequence: sequence, stamp: Date(timeIntervalSince1970: 1_767_225_600),
            start: start, end: start.addingTimeInterval(1_800), summary: longSummary,
            description: "Line one\nLine two, with; punctuation", location: "Room 4, Floor 2; Berlin",
            url: "https://meet.example/abc-defg?x=1", organizer: CalendarAttendee(email: "host@acme.example", name: "Doe, \"Jo\"; Ærøskøbing", role: .chair, status: .accepted, rsvp: false),
            attendees: attendees ?? [
                CalendarAttendee(email: "Ann.Lee@Customer.example", name: "Lee, Ann \"AL\""),
                CalendarAttendee(email: "bob@customer.example", name: "Bob Ørsted", role: .optional, status: .tentative, rsvp: false),
            ]
        )
    }

    @Test("REQUEST: every field, CRLF lines folded at 75 octets, read back by libical")
    func request() throws {
        let text = try ICalendar.serialize(Self.event(), method: .request)
        #expect(text.hasPrefix("BEGIN:VCALENDAR\r\n"))
        #expect(text.hasSuffix("END:VCALENDAR\r\n"))
        let lines = text.components(separatedBy: "\r\n").dropLast()
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "only CRLF line ends")
        for line in lines { #expect(line.utf8.count <= 75, "line longer than 75 octets: \(line)") }
        #expect(lines.contains("METHOD:REQUEST"))
        #expect(lines.contains("VERSION:2.0"))
        #expect(lines.contains("PRODID:\(ICalendar.productID)"))
        #expect(lines.contains("DTSTART:20260105T100000Z"))
        #expect(lines.contains("DTEND:20260105T103000Z"))
        #expect(lines.contains("DTSTAMP:20260101T000000Z"))
        #expect(lines.contains("STATUS:CONFIRMED"))
        // Folding never splits a UTF-8 sequence: every line is valid UTF-8 on its own.
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) { #expect(String(validating: line, as: UTF8.self) != nil) }

        let events = try ICalendar.parse(text)
        try #require(events.count == 1)
        let parsed = events[0]
        #expect(parsed.method == "REQUEST")
        #expect(parsed.uid == "bk_01TEST@astralisd.example")
        #expect(parsed.sequence == 0)
        #expect(parsed.start == Self.start)
        #expect(parsed.end == Self.start.addingTimeInterval(1_800))
        #expect(parsed.summary == Self.longSummary)
        #expect(parsed.description == "Line one\nLine two, with; punctuation")
        #expect(parsed.location == "Room 4, Floor 2; Berlin")
        #expect(parsed.url == "https://meet.example/abc-defg?x=1")
        #expect(parsed.status == "CONFIRMED")
        #expect(parsed.organizer?.email == "host@acme.example")
        #expect(parsed.organizer?.name == "Doe, \"Jo\"; Ærøskøbing")
        try #require(parsed.attendees.count == 2)
        #expect(parsed.attendees[0] == CalendarAttendee(email: "ann.lee@customer.example", name: "Lee, Ann \"AL\"", role: .required, status: .needsAction, rsvp: true))
        #expect(parsed.attendees[1] == CalendarAttendee(email: "bob@customer.example", name: "Bob Ørsted", role: .optional, status: .tentative, rsvp: false))
    }

    @Test("CANCEL: METHOD:CANCEL, STATUS:CANCELLED, the new SEQUENCE")
    func cancel() throws {
        let text = try ICalendar.serialize(Self.event(sequence: 2), method: .cancel)
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.contains("METHOD:CANCEL"))
        #expect(lines.contains("STATUS:CANCELLED"))
        #expect(lines.contains("SEQUENCE:2"))
        let parsedEvents = try ICalendar.parse(text)
        let parsed = try #require(parsedEvents.first)
        #expect(parsed.method == "CANCEL")
        #expect(parsed.status == "CANCELLED")
        #expect(parsed.sequence == 2)
        #expect(parsed.uid == "bk_01TEST@astralisd.example")
    }

    @Test("a CalDAV resource has no METHOD")
    func resource() throws {
        let text = try ICalendar.serialize(Self.event(), method: nil)
        #expect(!text.contains("METHOD:"))
        let parsedEvents = try ICalendar.parse(text)
        let parsed = try #require(parsedEvents.first)
        #expect(parsed.method == nil)
        #expect(parsed.uid == "bk_01TEST@astralisd.example")
        #expect(parsed.attendees.count == 2)
    }

    @Test("libical's restriction check refuses a REQUEST without ATTENDEE, naming it")
    func restrictionFailure() throws {
        let error = try #require(throws: ICalendarError.self) { try ICalendar.serialize(Self.event(attendees: []), method: .request) }
        #expect(error.description.contains("ATTENDEE"), "\(error)")
        #expect(error.description.contains("restriction"), "\(error)")
        // The CalDAV resource is checked as a REQUEST too.
        #expect(throws: ICalendarError.self) { try ICalendar.serialize(Self.event(attendees: []), method: nil) }
    }

    @Test("DTEND before DTSTART and line breaks in addresses are refused")
    func invalidInput() throws {
        var backwards = Self.event()
        backwards.end = backwards.start.addingTimeInterval(-60)
        let error = try #require(throws: ICalendarError.self) { try ICalendar.serialize(backwards, method: .request) }
        #expect(error.description.contains("DTEND"))
        var injected = Self.event()
        injected.attendees[0].email = "a@b.example\r\nATTENDEE:mailto:evil@x.example"
        #expect(throws: ICalendarError.self) { try ICalendar.serialize(injected, method: .request) }
    }

    @Test("Python's icalendar package reads the invitation and the cancellation", .enabled(if: PythonICalendar.shouldRun, PythonICalendar.skipReason))
    func pythonIcalendar() throws {
        let python = try PythonICalendar.require()
        let request = try python.read(try ICalendar.serialize(Self.event(sequence: 1), method: .request))
        #expect(request["method"] as? String == "REQUEST")
        let event = try #require((request["events"] as? [[String: Any]])?.first)
        #expect(event["uid"] as? String == "bk_01TEST@astralisd.example")
        #expect(event["sequence"] as? Int == 1)
        #expect(event["start"] as? String == "2026-01-05T10:00:00+00:00")
        #expect(event["end"] as? String == "2026-01-05T10:30:00+00:00")
        #expect(event["summary"] as? String == Self.longSummary)
        #expect(event["description"] as? String == "Line one\nLine two, with; punctuation")
        #expect(event["location"] as? String == "Room 4, Floor 2; Berlin")
        #expect(event["url"] as? String == "https://meet.example/abc-defg?x=1")
        #expect(event["status"] as? String == "CONFIRMED")
        #expect(event["organizer"] as? String == "mailto:host@acme.example")
        #expect(event["organizer_cn"] as? String == "Doe, \"Jo\"; Ærøskøbing")
        let attendees = try #require(event["attendees"] as? [[String: Any]])
        try #require(attendees.count == 2)
        #expect(attendees[0]["address"] as? String == "mailto:Ann.Lee@Customer.example")
        #expect(attendees[0]["cn"] as? String == "Lee, Ann \"AL\"")
        #expect(attendees[0]["role"] as? String == "REQ-PARTICIPANT")
        #expect(attendees[0]["partstat"] as? String == "NEEDS-ACTION")
        #expect(attendees[0]["rsvp"] as? String == "TRUE")
        #expect(attendees[1]["cn"] as? String == "Bob Ørsted")
        #expect(attendees[1]["role"] as? String == "OPT-PARTICIPANT")

        let cancel = try python.read(try ICalendar.serialize(Self.event(sequence: 2), method: .cancel))
        #expect(cancel["method"] as? String == "CANCEL")
        let cancelled = try #require((cancel["events"] as? [[String: Any]])?.first)
        #expect(cancelled["status"] as? String == "CANCELLED")
        #expect(cancelled["sequence"] as? Int == 2)
    }
}

/// Python 3 with the `icalendar` package (scripts/test.sh installs it with pip into
/// `.build/pytools`; `ASTRALISD_TEST_PYTHONPATH` overrides). Required in CI.
struct PythonICalendar {
    var pythonPath: String

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static let script = """
        import sys, json, icalendar
        cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
        out = {"method": str(cal.get("METHOD", "")), "events": []}
        for ev in cal.walk("VEVENT"):
            org = ev.get("ORGANIZER")
            atts = ev.get("ATTENDEE", [])
            if not isinstance(atts, list):
                atts = [atts]
            out["events"].append({
                "uid": str(ev.get("UID")), "sequence": int(ev.get("SEQUENCE", 0)),
                "start": ev.decoded("DTSTART").isoformat(), "end": ev.decoded("DTEND").isoformat(),
                "summary": str(ev.get("SUMMARY")), "description": str(ev.get("DESCRIPTION", "")),
                "location": str(ev.get("LOCATION", "")), "url": str(ev.get("URL", "")), "status": str(ev.get("STATUS", "")),
                "organizer": str(org), "organizer_cn": org.params.get("CN") if org is not None else None,
                "attendees": [{"address": str(a), "cn": a.params.get("CN"), "role": a.params.get("ROLE"),
                               "partstat": a.params.get("PARTSTAT"), "rsvp": a.params.get("RSVP")} for a in atts],
            })
        print(json.dumps(out))
        """

    static let environment = ProcessInfo.processInfo.environment
    static let defaultPath: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return environment["ASTRALISD_TEST_PYTHONPATH"] ?? root.appendingPathComponent(".build/pytools").path
    }()
    static let available = (try? PythonICalendar(pythonPath: defaultPath).run(["-c", "import icalendar"], input: Data()))?.status == 0
    /// In CI the test runs (and fails when Python or the package is missing).
    static let shouldRun = available || environment["CI"] == "true"
    static let skipReason: Comment = "python3 with the icalendar package is not available: run scripts/test.sh, or pip install --target .build/pytools icalendar"

    static func require() throws -> PythonICalendar {
        guard available else {
            throw Missing(description: "python3 cannot import icalendar (PYTHONPATH=\(defaultPath)): run scripts/test.sh, or pip install --target .build/pytools icalendar")
        }
        return PythonICalendar(pythonPath: defaultPath)
    }

    func run(_ arguments: [String], input: Data) throws -> (status: Int32, output: Data, error: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = pythonPath
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output, error)
    }

    /// The calendar as Python's icalendar read it (see `script`).
    func read(_ text: String) throws -> [String: Any] {
        let result = try run(["-c", Self.script], input: Data(text.utf8))
        guard result.status == 0 else {
            throw Missing(description: "python icalendar failed: \(String(decoding: result.error, as: UTF8.self))")
        }
        guard let object = try JSONSerialization.jsonObject(with: result.output) as? [String: Any] else {
            throw Missing(description: "python printed no JSON object")
        }
        return object
    }
}
