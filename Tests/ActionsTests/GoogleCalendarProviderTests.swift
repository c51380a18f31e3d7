import Actions
import AsyncHTTPClient
import Core
import Foundation
import Logging
import Synchronization
import Testing

/// Records the waits between retries instead of sleeping.
final class RetrySleeps: Sendable {
    let waits = Mutex<[TimeInterval]>([])
    var recorded: [TimeInterval] { waits.withLock { $0 } }
    var sleep: @Sendable (TimeInterval) async -> Void { { [self] seconds in waits.withLock { $0.append(seconds) } } }
}

/// Keeps every log line (message and metadata) for assertions.
final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))") }
        }
    }

    var logger: Logger { Logger(label: "test.google.captured") { _ in Handler(sink: self) } }
}

/// Health transitions seen by `CalendarHealth.onChange`.
final class StateChanges: Sendable {
    let states = Mutex<[CalendarProviderHealth.State]>([])
}

/// The Google Calendar provider against the local stand-in (`GoogleCalendarStandIn`).
@Suite("Google Calendar provider against a stand-in server")
struct GoogleCalendarProviderTests {
    static let start = Date(timeIntervalSince1970: 1_796_202_000) // 2026-12-02T09:00:00Z

    struct Fixture {
        var provider: GoogleCalendarProvider
        var health: CalendarHealth
        var clock: ManualWallClock
        var sleeps: RetrySleeps
    }

    static func fixture(
        base: String, calendarID: String = "primary", sendUpdates: String = "none", meetLink: Bool = false, refreshToken: String = GoogleCalendarStandIn.refreshToken,
        logger: Logger = Logger(label: "test.google")
    ) -> Fixture {
        let config = GoogleCalendarConfig(
            calendarID: calendarID, clientID: GoogleCalendarStandIn.clientID, clientSecret: .env("GOOGLE_CLIENT_SECRET"), refreshToken: .file("/run/google-refresh"),
            tokenURL: base + "/token", apiBaseURL: base + "/calendar/v3/", sendUpdates: sendUpdates, meetLink: meetLink, timeoutSeconds: 5)
        // Stands in for the daemon's SecretResolver: the provider must go through it.
        let secrets: @Sendable (SecretRef) throws -> String = { ref in
            switch ref {
            case .env("GOOGLE_CLIENT_SECRET"): return GoogleCalendarStandIn.clientSecret
            case .file("/run/google-refresh"): return refreshToken
            default: throw CalendarProviderError.rejected("unexpected secret reference")
            }
        }
        let health = CalendarHealth()
        let clock = ManualWallClock(start)
        let sleeps = RetrySleeps()
        let provider = GoogleCalendarProvider(
            label: "sales/ada", config: config, secrets: secrets, health: health,
            retry: RetryPolicy(baseDelay: 1, maxDelay: 30, maxAttempts: 4, jitter: 0.5), clock: clock, sleep: sleeps.sleep,
            logger: logger)
        return Fixture(provider: provider, health: health, clock: clock, sleeps: sleeps)
    }

    static func event(uid: String = "bk_1@astralisd.test", start: Date = start) -> CalendarEvent {
        CalendarEvent(
            uid: uid, stamp: start.addingTimeInterval(-86_400), start: start, end: start.addingTimeInterval(1800), summary: "Intro call",
            description: "Booked from the website", location: "Online", organizer: CalendarAttendee(email: "ada@acme.example", name: "Ada", role: .chair),
            attendees: [CalendarAttendee(email: "bob@customer.example", name: "Bob"), CalendarAttendee(email: "eve@customer.example", role: .optional)])
    }

    @Test("the access token is fetched once, reused, and refreshed shortly before it expires", .timeLimit(.minutes(1)))
    func tokenRefreshBeforeExpiry() async throws {
        let google = GoogleCalendarStandIn(tokenLifetime: 3600)
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let range = DateInterval(start: Self.start, duration: 86_400)
            _ = try await fixture.provider.busyTimes(in: range)
            _ = try await fixture.provider.busyTimes(in: range)
            #expect(google.tokenRequests == 1)
            fixture.clock.advance(by: 3500) // 100 s left: still good
            _ = try await fixture.provider.busyTimes(in: range)
            #expect(google.tokenRequests == 1)
            fixture.clock.advance(by: 50) // 50 s left: inside the 60 s margin
            _ = try await fixture.provider.busyTimes(in: range)
            #expect(google.tokenRequests == 2)
            let calls = google.requests(.freeBusy)
            #expect(calls.map(\.authorization) == ["Bearer ya29.token-1", "Bearer ya29.token-1", "Bearer ya29.token-1", "Bearer ya29.token-2"])
            let form = try #require(google.requests(.token).first).form
            #expect(form == [
                "grant_type": "refresh_token", "client_id": GoogleCalendarStandIn.clientID, "client_secret": GoogleCalendarStandIn.clientSecret,
                "refresh_token": GoogleCalendarStandIn.refreshToken,
            ])
        }
    }

    @Test("concurrent calls share exactly one token refresh", .timeLimit(.minutes(1)))
    func singleFlightRefresh() async throws {
        let google = GoogleCalendarStandIn(tokenDelay: 0.3)
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let range = DateInterval(start: Self.start, duration: 3600)
            try await withThrowingTaskGroup(of: [DateInterval].self) { group in
                for _ in 0..<12 { group.addTask { try await fixture.provider.busyTimes(in: range) } }
                for try await _ in group {}
            }
            #expect(google.tokenRequests == 1)
            #expect(google.requests(.token).count == 1)
            #expect(google.requests(.freeBusy).count == 12)
            #expect(Set(google.requests(.freeBusy).map(\.authorization)) == ["Bearer ya29.token-1"])
        }
    }

    @Test("freeBusy: request shape, busy periods parsed (offsets, fractions) and sorted")
    func freeBusyParsed() async throws {
        let google = GoogleCalendarStandIn()
        google.setBusy([
            ("2026-12-02T13:00:00Z", "2026-12-02T14:00:00Z"),
            ("2026-12-02T10:30:00+01:00", "2026-12-02T11:15:00.000+01:00"),
        ])
        try await google.serve { base in
            let fixture = Self.fixture(base: base, calendarID: "ada@acme.example")
            let range = DateInterval(start: Self.start, duration: 86_400)
            let busy = try await fixture.provider.busyTimes(in: range)
            #expect(busy == [
                DateInterval(start: Date(timeIntervalSince1970: 1_796_203_800), end: Date(timeIntervalSince1970: 1_796_206_500)),
                DateInterval(start: Date(timeIntervalSince1970: 1_796_216_400), end: Date(timeIntervalSince1970: 1_796_220_000)),
            ])
            let request = try #require(google.requests(.freeBusy).first)
            #expect(request.method == "POST")
            #expect(request.json == .object([
                "timeMin": .string("2026-12-02T09:00:00Z"), "timeMax": .string("2026-12-03T09:00:00Z"),
                "items": .array([.object(["id": .string("ada@acme.example")])]),
            ]))
            #expect(fixture.health.health(of: "sales/ada")?.state == .ok)
        }
    }

    @Test("a calendar answered with errors is busy for the whole range")
    func freeBusyErrorsMeanBusy() async throws {
        let google = GoogleCalendarStandIn()
        google.setBusy([("2026-12-02T13:00:00Z", "2026-12-02T14:00:00Z")], errors: ["notFound"])
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let range = DateInterval(start: Self.start, duration: 7 * 86_400)
            let busy = try await fixture.provider.busyTimes(in: range)
            #expect(busy == [range])
        }
    }

    @Test("insert: the body and query Google needs; the same iCalUID twice makes one event", .timeLimit(.minutes(1)))
    func insertIsIdempotent() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base, calendarID: "ada@acme.example", sendUpdates: "externalOnly")
            let first = try await fixture.provider.createEvent(Self.event())
            #expect(first.alreadyExisted == false)
            #expect(first.providerEventID == "evt1")
            #expect(first.meetingURL == nil)
            let again = try await fixture.provider.createEvent(Self.event())
            #expect(again == ProviderEventResult(providerEventID: "evt1", meetingURL: nil, alreadyExisted: true))
            #expect(google.liveEvents.count == 1)

            let insert = try #require(google.requests(.insert).first)
            #expect(insert.method == "POST")
            #expect(insert.path == "/calendar/v3/calendars/ada%40acme.example/events")
            #expect(insert.query == ["sendUpdates": "externalOnly"])
            #expect(insert.authorization == "Bearer ya29.token-1")
            #expect(insert.contentType == "application/json")
            #expect(insert.json == .object([
                "iCalUID": .string("bk_1@astralisd.test"), "summary": .string("Intro call"), "description": .string("Booked from the website"),
                "location": .string("Online"), "status": .string("confirmed"),
                "start": .object(["dateTime": .string("2026-12-02T09:00:00Z"), "timeZone": .string("UTC")]),
                "end": .object(["dateTime": .string("2026-12-02T09:30:00Z"), "timeZone": .string("UTC")]),
                "attendees": .array([
                    .object(["email": .string("bob@customer.example"), "displayName": .string("Bob"), "responseStatus": .string("needsAction")]),
                    .object(["email": .string("eve@customer.example"), "optional": .bool(true), "responseStatus": .string("needsAction")]),
                ]),
            ]))
            // The duplicate was found by iCalUID.
            let list = try #require(google.requests(.list).first)
            #expect(list.query == ["iCalUID": "bk_1@astralisd.test"])
            #expect(google.requests(.insert).count == 2)
        }
    }

    @Test("a Meet link is requested with conferenceDataVersion=1 and a stable requestId, and returned")
    func meetLink() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base, sendUpdates: "all", meetLink: true)
            let result = try await fixture.provider.createEvent(Self.event())
            #expect(result.meetingURL == GoogleCalendarStandIn.meetLink)
            let retried = try await fixture.provider.createEvent(Self.event())
            #expect(retried.meetingURL == GoogleCalendarStandIn.meetLink && retried.alreadyExisted)
            let inserts = google.requests(.insert)
            #expect(inserts.count == 2)
            #expect(inserts[0].query == ["sendUpdates": "all", "conferenceDataVersion": "1"])
            let create = inserts[0].json["conferenceData"]?["createRequest"]
            #expect(create?["conferenceSolutionKey"] == .object(["type": .string("hangoutsMeet")]))
            let requestID = try #require(create?["requestId"]?.stringValue)
            #expect(requestID.hasPrefix("astralisd-") && requestID.count > 20)
            #expect(inserts[1].json["conferenceData"]?["createRequest"]?["requestId"]?.stringValue == requestID)
        }
    }

    @Test("429 (Retry-After) and 403 rateLimitExceeded / userRateLimitExceeded back off, then succeed", .timeLimit(.minutes(1)))
    func rateLimitsBackOff() async throws {
        let google = GoogleCalendarStandIn()
        google.fail(
            .insert, with: .api(429, reason: "rateLimitExceeded", headers: ["Retry-After": "7"]), .api(403, reason: "rateLimitExceeded"),
            .api(403, reason: "userRateLimitExceeded"))
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let result = try await fixture.provider.createEvent(Self.event())
            #expect(result.providerEventID == "evt1" && !result.alreadyExisted)
            #expect(google.requests(.insert).count == 4)
            let waits = fixture.sleeps.recorded
            #expect(waits.count == 3)
            #expect(waits.first == 7)
            // Exponential with jitter in [0.5, 1] of base·2^(n-1): attempt 2 → 1...2 s, attempt 3 → 2...4 s.
            #expect(waits.count == 3 && (1...2).contains(waits[1]) && (2...4).contains(waits[2]))
            #expect(google.liveEvents.count == 1)
            #expect(fixture.health.health(of: "sales/ada")?.state == .ok)
        }
    }

    @Test("5xx until the attempts run out: transient, health degraded, then ok again")
    func serverErrorsGiveUp() async throws {
        let google = GoogleCalendarStandIn()
        google.fail(.freeBusy, with: .api(500, reason: "backendError", domain: "global"), .api(503, reason: "backendError", domain: "global"),
                    .api(502, reason: "backendError", domain: "global"), .api(500, reason: "backendError", domain: "global"))
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let range = DateInterval(start: Self.start, duration: 3600)
            await #expect(throws: CalendarProviderError.self) { try await fixture.provider.busyTimes(in: range) }
            do {
                _ = try await fixture.provider.busyTimes(in: range)
            } catch {
                Issue.record("the fifth request should succeed: \(error)")
            }
            #expect(google.requests(.freeBusy).count == 5)
            #expect(fixture.sleeps.recorded.count == 3)
            #expect(fixture.health.health(of: "sales/ada")?.state == .ok)
            #expect(fixture.health.health(of: "sales/ada")?.lastError?.contains("HTTP 500 backendError") == true)
        }
    }

    @Test("the transient error says so, with Retry-After beyond one call's patience")
    func longRetryAfterIsLeftToTheQueue() async throws {
        let google = GoogleCalendarStandIn()
        google.fail(.insert, with: .api(429, reason: "rateLimitExceeded", headers: ["Retry-After": "600"]))
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            do {
                _ = try await fixture.provider.createEvent(Self.event())
                Issue.record("expected a transient error")
            } catch let error as CalendarProviderError {
                guard case .transient(_, let retryAfter) = error else { Issue.record("not transient: \(error)"); return }
                #expect(retryAfter == 600)
            }
            #expect(google.requests(.insert).count == 1)
            #expect(fixture.sleeps.recorded.isEmpty)
            #expect(fixture.health.health(of: "sales/ada")?.state == .degraded)
        }
    }

    @Test("400 is not retried: rejected")
    func badRequestNotRetried() async throws {
        let google = GoogleCalendarStandIn()
        google.fail(.insert, with: .api(400, reason: "timeRangeEmpty", domain: "calendar"))
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            do {
                _ = try await fixture.provider.createEvent(Self.event())
                Issue.record("expected rejected")
            } catch let error as CalendarProviderError {
                guard case .rejected(let text) = error else { Issue.record("not rejected: \(error)"); return }
                #expect(text.contains("HTTP 400 timeRangeEmpty"))
            }
            #expect(google.requests(.insert).count == 1)
            #expect(fixture.sleeps.recorded.isEmpty)
            // A refused request says nothing about the account.
            #expect(fixture.health.health(of: "sales/ada")?.state == .ok)
        }
    }

    @Test("invalid_grant: reconnect needed, shown by health, and a later success clears it")
    func invalidGrant() async throws {
        let google = GoogleCalendarStandIn()
        google.fail(.token, with: .oauth(400, error: "invalid_grant", description: "Token has been expired or revoked."))
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let changes = StateChanges()
            fixture.health.onChange { entry in changes.states.withLock { $0.append(entry.state) } }
            let range = DateInterval(start: Self.start, duration: 3600)
            do {
                _ = try await fixture.provider.busyTimes(in: range)
                Issue.record("expected reconnectNeeded")
            } catch let error as CalendarProviderError {
                guard case .reconnectNeeded(let text) = error else { Issue.record("not reconnectNeeded: \(error)"); return }
                #expect(text.contains("invalid_grant"))
                #expect(!text.contains(GoogleCalendarStandIn.refreshToken) && !text.contains(GoogleCalendarStandIn.clientSecret))
            }
            #expect(google.requests(.token).count == 1)
            #expect(google.requests(.freeBusy).isEmpty)
            #expect(fixture.sleeps.recorded.isEmpty)
            let entry = try #require(fixture.health.health(of: "sales/ada"))
            #expect(entry.state == .reconnectNeeded && entry.kind == "google")
            #expect(fixture.health.reconnectNeeded == ["sales/ada"])
            #expect(entry.lastError?.hasPrefix("reconnect needed: Google token refresh: HTTP 400 invalid_grant") == true)
            // The operator reconnected (the next refresh works).
            _ = try await fixture.provider.busyTimes(in: range)
            #expect(fixture.health.reconnectNeeded.isEmpty)
            #expect(changes.states.withLock { $0 } == [.reconnectNeeded, .ok])
        }
    }

    @Test("a wrong refresh token is invalid_grant too")
    func wrongRefreshToken() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base, refreshToken: "1//revoked")
            await #expect(throws: CalendarProviderError.reconnectNeeded("Google token refresh: HTTP 400 invalid_grant: Bad Request")) {
                try await fixture.provider.cancelEvent(Self.event(), providerEventID: "evt9")
            }
        }
    }

    @Test("401: the token is refreshed once; a second 401 means reconnect needed")
    func unauthorized() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base)
            let range = DateInterval(start: Self.start, duration: 3600)
            _ = try await fixture.provider.busyTimes(in: range)
            google.revokeAccessTokens()
            _ = try await fixture.provider.busyTimes(in: range)
            #expect(google.tokenRequests == 2)
            #expect(google.requests(.freeBusy).map(\.authorization) == ["Bearer ya29.token-1", "Bearer ya29.token-1", "Bearer ya29.token-2"])

            google.fail(.freeBusy, with: .api(401, reason: "authError", domain: "global"), .api(401, reason: "authError", domain: "global"))
            do {
                _ = try await fixture.provider.busyTimes(in: range)
                Issue.record("expected reconnectNeeded")
            } catch let error as CalendarProviderError {
                guard case .reconnectNeeded = error else { Issue.record("not reconnectNeeded: \(error)"); return }
            }
            #expect(google.tokenRequests == 3)
            #expect(fixture.health.health(of: "sales/ada")?.state == .reconnectNeeded)
        }
    }

    @Test("patch: the event id is found by iCalUID when not given; the new times are sent")
    func patch() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base, sendUpdates: "all")
            let created = try await fixture.provider.createEvent(Self.event())
            var moved = Self.event(start: Self.start.addingTimeInterval(7200))
            moved.sequence = 1
            moved.summary = "Intro call (moved)"
            let result = try await fixture.provider.updateEvent(moved, providerEventID: nil)
            #expect(result.providerEventID == created.providerEventID)
            let patch = try #require(google.requests(.patch).first)
            #expect(patch.method == "PATCH")
            #expect(patch.path == "/calendar/v3/calendars/primary/events/evt1")
            #expect(patch.query == ["sendUpdates": "all"])
            #expect(patch.json["iCalUID"] == nil)
            #expect(patch.json["start"]?["dateTime"] == .string("2026-12-02T11:00:00Z"))
            let stored = try #require(google.liveEvents["bk_1@astralisd.test"])
            #expect(stored.json["summary"] == .string("Intro call (moved)"))
            #expect(stored.json["end"]?["dateTime"] == .string("2026-12-02T11:30:00Z"))
            // With the id given, no lookup.
            _ = try await fixture.provider.updateEvent(moved, providerEventID: "evt1")
            #expect(google.requests(.list).count == 1)
        }
    }

    @Test("delete; deleting a gone event (410, 404, no event with the UID) is done")
    func delete() async throws {
        let google = GoogleCalendarStandIn()
        try await google.serve { base in
            let fixture = Self.fixture(base: base, sendUpdates: "externalOnly")
            let created = try await fixture.provider.createEvent(Self.event())
            try await fixture.provider.cancelEvent(Self.event(), providerEventID: created.providerEventID)
            #expect(google.liveEvents.isEmpty)
            let delete = try #require(google.requests(.delete).first)
            #expect(delete.method == "DELETE" && delete.path == "/calendar/v3/calendars/primary/events/evt1")
            #expect(delete.query == ["sendUpdates": "externalOnly"])
            // Again: 410 Gone.
            try await fixture.provider.cancelEvent(Self.event(), providerEventID: created.providerEventID)
            // An id Google never had: 404.
            try await fixture.provider.cancelEvent(Self.event(), providerEventID: "evt404")
            // No id, and no live event with the UID: nothing to do.
            try await fixture.provider.cancelEvent(Self.event(), providerEventID: nil)
            #expect(google.requests(.delete).count == 3)
            #expect(fixture.health.health(of: "sales/ada")?.state == .ok)
        }
    }

    @Test("secrets and access tokens never reach the log or the errors")
    func secretsNotLogged() async throws {
        let google = GoogleCalendarStandIn()
        let logs = CapturedLogs()
        google.fail(.insert, with: .api(503, reason: "backendError", domain: "global"))
        try await google.serve { base in
            let fixture = Self.fixture(base: base, logger: logs.logger)
            var errors: [String] = []
            _ = try await fixture.provider.createEvent(Self.event())
            google.fail(.freeBusy, with: .api(401, reason: "authError", domain: "global"), .api(401, reason: "authError", domain: "global"))
            do { _ = try await fixture.provider.busyTimes(in: DateInterval(start: Self.start, duration: 60)) } catch { errors.append("\(error)") }
            google.fail(.token, with: .oauth(400, error: "invalid_grant", description: "Token has been expired or revoked."))
            do { _ = try await fixture.provider.busyTimes(in: DateInterval(start: Self.start, duration: 60)) } catch { errors.append("\(error)") }
            let lines = logs.lines.withLock { $0 }
            #expect(lines.count == 2)
            #expect(errors.count == 2)
            for text in lines + errors + fixture.health.snapshot().compactMap(\.lastError) {
                for secret in [GoogleCalendarStandIn.clientSecret, GoogleCalendarStandIn.refreshToken, "ya29."] {
                    #expect(!text.contains(secret), "\(text)")
                }
            }
            #expect(lines.allSatisfy { $0.contains("calendar.provider=sales/ada") })
        }
    }

    @Test("plain http is refused for a non-loopback endpoint")
    func plaintextRefused() async throws {
        let config = GoogleCalendarConfig(
            clientID: "x", clientSecret: .value("y"), refreshToken: .value("z"), tokenURL: "http://oauth.example.com/token")
        let provider = GoogleCalendarProvider(label: "c/h", config: config, secrets: { _ in "s" }, health: CalendarHealth(), logger: Logger(label: "test"))
        await #expect(throws: CalendarProviderError.rejected("Google token_url must use https")) {
            try await provider.busyTimes(in: DateInterval(start: Self.start, duration: 60))
        }
    }
}
