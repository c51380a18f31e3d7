import Actions
import Core
import Foundation
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("CalDAV provider against Radicale", .enabled(if: TestRadicale.shouldRun, TestRadicale.skipReason))
struct CalDAVProviderTests {
    static func utc(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }
    /// A fixed interval from two ISO 8601 UTC times (a typo is recorded as an issue).
    static func interval(_ start: String, _ end: String) -> DateInterval {
        guard let from = try? utc(start), let to = try? utc(end), to >= from else {
            Issue.record("bad test interval \(start)–\(end)")
            return DateInterval()
        }
        return DateInterval(start: from, end: to)
    }

    static func event(uid: String, start: String = "2026-06-10T13:00:00Z", minutes: Double = 30, sequence: Int = 0) throws -> CalendarEvent {
        let begin = try utc(start)
        return CalendarEvent(
            uid: uid, sequence: sequence, stamp: try utc("2026-06-01T00:00:00Z"), start: begin, end: begin.addingTimeInterval(minutes * 60),
            summary: "Intro call, \"Acme\"; Zoë", description: "Booked by astralisd", organizer: CalendarAttendee(email: "host@acme.example", name: "Host"),
            attendees: [CalendarAttendee(email: "ann@customer.example", name: "Ann")]
        )
    }

    static func fixture(_ lines: [String]) -> String {
        (["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Other Client//EN"] + lines + ["END:VCALENDAR", ""]).joined(separator: "\r\n")
    }

    @Test("busy times: a recurring event (expanded here, DST-correct, EXDATE), a single event; transparent ones are free")
    func busyTimes() async throws {
        let server = try TestRadicale.require()
        let calendar = try await server.makeCalendar()
        let weekly = Self.fixture([
            "BEGIN:VEVENT", "UID:weekly@other", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=Europe/Berlin:20260316T100000",
            "DTEND;TZID=Europe/Berlin:20260316T110000", "RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Berlin:20260330T100000", "SUMMARY:Weekly", "END:VEVENT",
        ])
        let single = Self.fixture(["BEGIN:VEVENT", "UID:single@other", "DTSTAMP:20260101T000000Z", "DTSTART:20260325T150000Z", "DTEND:20260325T160000Z", "SUMMARY:One", "END:VEVENT"])
        let free = Self.fixture([
            "BEGIN:VEVENT", "UID:free@other", "DTSTAMP:20260101T000000Z", "DTSTART:20260324T150000Z", "DTEND:20260324T160000Z", "TRANSP:TRANSPARENT", "END:VEVENT",
        ])
        let outside = Self.fixture(["BEGIN:VEVENT", "UID:later@other", "DTSTAMP:20260101T000000Z", "DTSTART:20260601T150000Z", "DTEND:20260601T160000Z", "END:VEVENT"])
        for (name, body) in [("weekly", weekly), ("single", single), ("free", free), ("outside", outside)] {
            let (status, text) = try await server.request("PUT", calendar + name + ".ics", body: body)
            try #require(status == 201, "PUT \(name): \(status) \(text)")
        }
        let provider = try server.provider(calendar)
        #expect(provider.kind == "caldav")
        let range = Self.interval("2026-03-20T00:00:00Z", "2026-04-10T00:00:00Z")
        let busy = try await provider.busyTimes(in: range)
        #expect(busy == [
            Self.interval("2026-03-23T09:00:00Z", "2026-03-23T10:00:00Z"),
            Self.interval("2026-03-25T15:00:00Z", "2026-03-25T16:00:00Z"),
            // March 30 is excluded; April 6 is in summer time.
            Self.interval("2026-04-06T08:00:00Z", "2026-04-06T09:00:00Z"),
        ])
    }

    @Test("create, idempotent retry (one resource), update, cancel, cancel again")
    func lifecycle() async throws {
        let server = try TestRadicale.require()
        let calendar = try await server.makeCalendar()
        let provider = try server.provider(calendar)
        let event = try Self.event(uid: "bk_\(UUID().uuidString.prefix(8))@astralisd.test")
        let day = Self.interval("2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z")

        let created = try await provider.createEvent(event)
        #expect(created.alreadyExisted == false)
        #expect(created.providerEventID == provider.resourceURL(uid: event.uid))
        let (status, body) = try await server.request("GET", try #require(created.providerEventID))
        #expect(status == 200)
        let stored = try ICalendar.parse(body)
        #expect(stored.map(\.uid) == [event.uid])
        #expect(stored.first?.summary == event.summary)
        #expect(stored.first?.method == nil)

        let again = try await provider.createEvent(event)
        #expect(again.alreadyExisted == true)
        #expect(again.providerEventID == created.providerEventID)
        let afterRetry = try await provider.busyTimes(in: day)
        #expect(afterRetry == [DateInterval(start: event.start, end: event.end)], "exactly one event")

        var moved = try Self.event(uid: event.uid, start: "2026-06-10T15:00:00Z", minutes: 45, sequence: 1)
        moved.description = "Rescheduled"
        let updated = try await provider.updateEvent(moved, providerEventID: created.providerEventID)
        #expect(updated.providerEventID == created.providerEventID)
        let afterUpdate = try await provider.busyTimes(in: day)
        #expect(afterUpdate == [DateInterval(start: moved.start, end: moved.end)])
        let (_, movedBody) = try await server.request("GET", try #require(created.providerEventID))
        let movedEvents = try ICalendar.parse(movedBody)
        #expect(movedEvents.first?.sequence == 1)

        try await provider.cancelEvent(moved, providerEventID: created.providerEventID)
        let afterCancel = try await provider.busyTimes(in: day)
        #expect(afterCancel == [])
        let gone = try await server.request("GET", try #require(created.providerEventID))
        #expect(gone.0 == 404)
        try await provider.cancelEvent(moved, providerEventID: nil)  // already gone: done
    }

    @Test("create where another event holds the resource name: rejected")
    func otherEventAtName() async throws {
        let server = try TestRadicale.require()
        let calendar = try await server.makeCalendar()
        let provider = try server.provider(calendar)
        let event = try Self.event(uid: "taken")
        let other = Self.fixture(["BEGIN:VEVENT", "UID:someone-else", "DTSTAMP:20260101T000000Z", "DTSTART:20260610T090000Z", "DTEND:20260610T100000Z", "END:VEVENT"])
        let put = try await server.request("PUT", provider.resourceURL(uid: "taken"), body: other)
        try #require(put.0 == 201)
        let error = await #expect(throws: CalendarProviderError.self) { try await provider.createEvent(event) }
        guard case .rejected(let text)? = error else {
            Issue.record("expected rejected, got \(String(describing: error))")
            return
        }
        #expect(text.contains("another event"), "\(text)")
    }

    @Test("wrong password: reconnectNeeded for every operation")
    func wrongPassword() async throws {
        let server = try TestRadicale.require()
        let calendar = try await server.makeCalendar()
        let provider = try server.provider(calendar, password: "wrong-password")
        let range = Self.interval("2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z")
        for operation in ["busy", "create", "cancel"] {
            let error = await #expect(throws: CalendarProviderError.self) {
                switch operation {
                case "busy": _ = try await provider.busyTimes(in: range)
                case "create": _ = try await provider.createEvent(try Self.event(uid: "x"))
                default: try await provider.cancelEvent(try Self.event(uid: "x"), providerEventID: nil)
                }
            }
            guard case .reconnectNeeded(let text)? = error else {
                Issue.record("\(operation): expected reconnectNeeded, got \(String(describing: error))")
                continue
            }
            #expect(text.contains("401") && !text.contains("wrong-password"), "\(text)")
        }
    }

    @Test("a calendar that does not exist (404) is rejected, not free")
    func missingCalendar() async throws {
        let server = try TestRadicale.require()
        let provider = try server.provider(server.home + "no-such-calendar-\(UUID().uuidString.prefix(6))/")
        let range = Self.interval("2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z")
        let error = await #expect(throws: CalendarProviderError.self) { _ = try await provider.busyTimes(in: range) }
        guard case .rejected(let text)? = error else {
            Issue.record("expected rejected, got \(String(describing: error))")
            return
        }
        #expect(text.contains("404"), "\(text)")
    }
}

@Suite("CalDAV provider configuration and transport errors")
struct CalDAVProviderErrorTests {
    static let logger = Logger(label: "test.caldav")

    static func config(_ url: String, allowPlaintext: Bool = false) -> CalDAVConfig {
        CalDAVConfig(url: url, username: "u", password: .value("p"), allowPlaintext: allowPlaintext, timeoutSeconds: 2)
    }

    @Test("plain http is refused unless loopback and allow_plaintext")
    func plaintext() throws {
        #expect(throws: CalendarProviderError.self) { try CalDAVCalendarProvider(config: Self.config("http://calendar.example/dav/"), resolveSecret: { _ in "p" }, logger: Self.logger) }
        #expect(throws: CalendarProviderError.self) {
            try CalDAVCalendarProvider(config: Self.config("http://calendar.example/dav/", allowPlaintext: true), resolveSecret: { _ in "p" }, logger: Self.logger)
        }
        #expect(throws: CalendarProviderError.self) { try CalDAVCalendarProvider(config: Self.config("http://127.0.0.1:1/dav/"), resolveSecret: { _ in "p" }, logger: Self.logger) }
        #expect(throws: CalendarProviderError.self) { try CalDAVCalendarProvider(config: Self.config("ftp://calendar.example/"), resolveSecret: { _ in "p" }, logger: Self.logger) }
        let loopback = try CalDAVCalendarProvider(config: Self.config("http://127.0.0.1:1/dav", allowPlaintext: true), resolveSecret: { _ in "p" }, logger: Self.logger)
        #expect(loopback.collectionURL == "http://127.0.0.1:1/dav/")
        #expect(loopback.resourceURL(uid: "bk_1@x/y z") == "http://127.0.0.1:1/dav/bk_1@x%2Fy%20z.ics")
        _ = try CalDAVCalendarProvider(config: Self.config("https://calendar.example/dav/"), resolveSecret: { _ in "p" }, logger: Self.logger)
    }

    /// Delays the provider asked to wait.
    final class Delays: Sendable {
        let values = Mutex<[TimeInterval]>([])
    }

    @Test("connection refused: retried with backoff inside the call, then transient")
    func connectionRefused() async throws {
        // A port nothing listens on: bind, read the port, close.
        let port = try Self.closedPort()
        let delays = Delays()
        let provider = try CalDAVCalendarProvider(
            config: Self.config("http://127.0.0.1:\(port)/cal/", allowPlaintext: true), resolveSecret: { _ in "p" },
            retry: RetryPolicy(baseDelay: 0.2, maxDelay: 1, maxAttempts: 3, jitter: 0.5), logger: Self.logger,
            sleep: { delay in delays.values.withLock { $0.append(delay) } }
        )
        let range = DateInterval(start: Date(timeIntervalSince1970: 1_781_000_000), duration: 86_400)
        let error = await #expect(throws: CalendarProviderError.self) { _ = try await provider.busyTimes(in: range) }
        guard case .transient(let text, _)? = error else {
            Issue.record("expected transient, got \(String(describing: error))")
            return
        }
        #expect(text.contains("3 attempts"), "\(text)")
        let waited = delays.values.withLock { $0 }
        #expect(waited.count == 2)
        if waited.count == 2 {
            #expect(waited[0] >= 0.1 && waited[0] <= 0.2, "first delay: base with jitter")
            #expect(waited[1] >= 0.2 && waited[1] <= 0.4, "second delay doubles")
        }
    }

    @Test("an unreadable password is reconnectNeeded, naming the reference only")
    func unreadableSecret() async throws {
        struct Unreadable: Error, CustomStringConvertible { var description: String { "environment variable X is not set" } }
        let provider = try CalDAVCalendarProvider(
            config: CalDAVConfig(url: "https://calendar.example/dav/", username: "u", password: .env("X")), resolveSecret: { _ in throw Unreadable() }, logger: Self.logger
        )
        let event = CalendarEvent(uid: "x", stamp: Date(), start: Date(), end: Date().addingTimeInterval(60), summary: "s", organizer: CalendarAttendee(email: "a@b.c"), attendees: [])
        let error = await #expect(throws: CalendarProviderError.self) { try await provider.cancelEvent(event, providerEventID: nil) }
        guard case .reconnectNeeded(let text)? = error else {
            Issue.record("expected reconnectNeeded, got \(String(describing: error))")
            return
        }
        #expect(text.contains("env:X"), "\(text)")
    }

    @Test("health and observer: registered at init, degraded after retries, reconnect needed, calls counted")
    func healthAndObserver() async throws {
        let port = try Self.closedPort()
        let health = CalendarHealth()
        let events = Mutex<[String]>([])
        let observer = CalendarProviderObserver(
            call: { kind, operation, outcome, seconds in events.withLock { $0.append("call \(kind) \(operation) \(outcome) \(seconds >= 0)") } },
            retry: { kind, reason in events.withLock { $0.append("retry \(kind) \(reason)") } })
        let provider = try CalDAVCalendarProvider(
            config: Self.config("http://127.0.0.1:\(port)/cal/", allowPlaintext: true), resolveSecret: { _ in "p" },
            retry: RetryPolicy(baseDelay: 0.01, maxDelay: 0.01, maxAttempts: 2, jitter: 0), logger: Self.logger, sleep: { _ in },
            label: "demo/ada", health: health, observer: observer)
        #expect(health.health(of: "demo/ada")?.state == .unknown)
        #expect(health.health(of: "demo/ada")?.kind == "caldav")
        let range = DateInterval(start: Date(timeIntervalSince1970: 1_781_000_000), duration: 86_400)
        _ = try? await provider.busyTimes(in: range)
        let degraded = try #require(health.health(of: "demo/ada"))
        #expect(degraded.state == .degraded)
        #expect(degraded.consecutiveFailures == 1)
        #expect(degraded.lastError?.contains("2 attempts") == true)
        #expect(events.withLock { $0 } == ["retry caldav transport", "call caldav busy transient true"])

        struct Unreadable: Error {}
        let locked = try CalDAVCalendarProvider(
            config: Self.config("http://127.0.0.1:\(port)/cal/", allowPlaintext: true), resolveSecret: { _ in throw Unreadable() }, logger: Self.logger,
            label: "demo/ada", health: health, observer: observer)
        let event = CalendarEvent(uid: "x", stamp: Date(), start: Date(), end: Date().addingTimeInterval(60), summary: "s", organizer: CalendarAttendee(email: "a@b.c"), attendees: [])
        _ = try? await locked.cancelEvent(event, providerEventID: nil)
        #expect(health.health(of: "demo/ada")?.state == .reconnectNeeded)
        #expect(health.reconnectNeeded == ["demo/ada"])
        #expect(events.withLock { $0.last } == "call caldav cancel reconnect_needed true")
    }

    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw TestRadicale.Failure(description: "bind failed") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Answers Radicale cannot be made to give (a 503 then a multistatus with a failed resource, a
/// 429 with Retry-After) from a few lines of Python's http.server on 127.0.0.1: fault injection
/// for the provider's classification, next to the real-server suite above.
@Suite("CalDAV provider on faulty answers")
struct CalDAVFaultTests {
    static let script = #"""
        import http.server, sys
        seen = {}
        BODY = ('<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                '<D:response><D:href>/flaky/ok.ics</D:href><D:propstat><D:prop><C:calendar-data>BEGIN:VCALENDAR\r\nVERSION:2.0\r\n'
                'PRODID:x\r\nBEGIN:VEVENT\r\nUID:ok\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260610T090000Z\r\nDTEND:20260610T100000Z\r\n'
                'END:VEVENT\r\nEND:VCALENDAR\r\n</C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>'
                '<D:response><D:href>/flaky/bad.ics</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>'
                '</D:multistatus>').encode()
        class H(http.server.BaseHTTPRequestHandler):
            def answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_REPORT(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen[self.path] = seen.get(self.path, 0) + 1
                if self.path.startswith("/flaky/"):
                    if seen[self.path] == 1:
                        self.answer(503, headers=[("Retry-After", "0")])
                    else:
                        self.answer(207, BODY, [("Content-Type", "application/xml")])
                else:
                    self.answer(429, headers=[("Retry-After", "7")])
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), H)
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        server.serve_forever()
        """#

    final class Delays: Sendable {
        let values = Mutex<[TimeInterval]>([])
    }

    static func withServer(_ body: (Int) async throws -> Void) async throws {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("caldav-fault-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, portFile]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: the server is ours and holds nothing worth a clean shutdown.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: portFile)
        }
        var port: Int?
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                port = value
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let port else { throw TestRadicale.Failure(description: "the Python fault server did not start") }
        try await body(port)
    }

    static func provider(_ url: String, delays: Delays) throws -> CalDAVCalendarProvider {
        try CalDAVCalendarProvider(
            config: CalDAVConfig(url: url, username: "u", password: .value("p"), allowPlaintext: true, timeoutSeconds: 5), resolveSecret: { _ in "p" },
            retry: RetryPolicy(baseDelay: 0.2, maxDelay: 1, maxAttempts: 3, jitter: 0.5), logger: Logger(label: "test.caldav"),
            sleep: { delay in delays.values.withLock { $0.append(delay) } }
        )
    }

    @Test("503 (Retry-After: 0) is retried; a multistatus with a failed resource makes the whole range busy")
    func erroredReport() async throws {
        try await Self.withServer { port in
            let delays = Delays()
            let provider = try Self.provider("http://127.0.0.1:\(port)/flaky/", delays: delays)
            let range = DateInterval(start: try Date("2026-06-10T00:00:00Z", strategy: .iso8601), duration: 86_400)
            let busy = try await provider.busyTimes(in: range)
            #expect(busy == [range], "never free on an answer with errors")
            #expect(delays.values.withLock { $0 } == [0])
        }
    }

    @Test("429 with Retry-After: retried up to the attempts (waits capped), then transient with retryAfter")
    func rateLimited() async throws {
        try await Self.withServer { port in
            let delays = Delays()
            let provider = try Self.provider("http://127.0.0.1:\(port)/limited/", delays: delays)
            let range = DateInterval(start: try Date("2026-06-10T00:00:00Z", strategy: .iso8601), duration: 86_400)
            let error = await #expect(throws: CalendarProviderError.self) { _ = try await provider.busyTimes(in: range) }
            guard case .transient(let text, let retryAfter)? = error else {
                Issue.record("expected transient, got \(String(describing: error))")
                return
            }
            #expect(text.contains("429"), "\(text)")
            #expect(retryAfter == 7)
            #expect(delays.values.withLock { $0 } == [1, 1])
        }
    }
}
