@testable import Daemon
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Synchronization
import Testing

/// Collects every log line (message and metadata) so tests can search them for secrets.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: String { lines.withLock { $0.joined(separator: "\n") } }

    var logger: Logger {
        Logger(label: "test") { _ in CapturingLogHandler(sink: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        for (key, value) in event.metadata ?? [:] { all[key] = value }
        sink.append("\(event.level) \(event.message) \(all)")
    }
}

/// A value the `@Sendable` test closures of `app.test(.router)` fill in; each test's requests
/// run one after another on its own task, so plain storage is enough.
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Everything one admin API test needs: a daemon on a real state directory with a rules file, an
/// inline secret in its config, one routed item, and one token per kind of caller.
// @unchecked: DaemonFixture is a class used only by the test that made it, never concurrently.
struct AdminTestEnvironment: @unchecked Sendable {
    static let secret = "inline-secret-Zq81vX"

    enum Caller: String, CaseIterable {
        case none, malformed, unknown, revoked, expired, viewer, `operator`, admin, otherOrg = "other-org"
    }

    let fixture: DaemonFixture
    let app: DaemonApp
    let logs: CapturedLogs
    let rulesPath: String
    let intakeID: String
    let itemID: String
    let tokens: [Caller: String]

    static func make() async throws -> AdminTestEnvironment {
        let fixture = try DaemonFixture()
        let rulesPath = fixture.root.appendingPathComponent("rules.json").path
        try Data(#"{"version": 1, "rules": [{"id": "quotes", "when": {"field": "subject", "op": "contains", "value": "quote"}, "then": {"route": {"pipeline": "sales", "stage": "won", "title": "{{subject}}"}}}]}"#.utf8)
            .write(to: URL(fileURLWithPath: rulesPath))
        let allDay = ["00:00-24:00"]
        let scheduling: [String: Any] = ["calendars": ["demo": [
            "organization": "demo", "slot_interval": "PT30M", "durations": ["PT30M"],
            "hosts": [[
                "name": "ada", "email": "ada@demo.example", "time_zone": "UTC", "provider": ["type": "local"],
                "working_hours": ["mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay],
            ] as [String: Any]],
        ] as [String: Any]]]
        try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["rules_file": rulesPath, "scheduling": scheduling]) { organization in
            var sources = organization["sources"] as? [[String: Any]] ?? []
            sources.append(["id": "api", "type": "webhook", "auth": ["type": "bearer", "tokens": [["value": secret]]] as [String: Any], "max_body_bytes": 65536])
            organization["sources"] = sources
        })
        let logs = CapturedLogs()
        let loaded = try ConfigLoader.load(path: fixture.configPath, environment: [:])
        let app = try await DaemonApp.open(loaded: loaded, environment: [:], notifier: SystemdNotifier(environment: [:]), logLevel: SharedValue(.trace), logger: logs.logger)

        // One intake, processed into an item, as the worker would.
        let intakeBox = Box("")
        try await Application(router: app.makeWebhookRouter()).test(.router) { client in
            let answer = try await client.execute(uri: "/hooks/\(DaemonFixture.source)", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: DaemonFixture.payload(name: "Ada", subject: "Hello")))
            #expect(answer.status == .accepted)
            intakeBox.value = (try JSONValue.parse(Data(answer.body.readableBytesView)))["intake_id"]?.stringValue ?? ""
        }
        let intakeID = intakeBox.value
        let processor = app.intakeProcessor()
        for job in try await app.store.lease(owner: "test", limit: 10, leaseDuration: 60) {
            _ = try await processor.run(job, claim: JobClaim(jobID: job.id, owner: "test"))
        }
        let items = try await app.store.items(ItemFilter())
        let itemID = try #require(items.first?.id)

        var tokens: [Caller: String] = [.none: "", .malformed: "Bearer aops_not-a-token", .unknown: "Bearer " + AdminTokenFormat.generate()]
        let now = Date()
        func addToken(_ role: AdminRole, organization: String? = nil, expires: Date? = nil) async throws -> (String, AdminToken) {
            let secret = AdminTokenFormat.generate()
            let token = AdminToken(id: Identifier.make(prefix: "tok"), name: role.rawValue, role: role, organization: organization, sha256: AdminTokenFormat.sha256(secret), createdAt: now, expiresAt: expires)
            try await app.store.createToken(token, audit: nil)
            return ("Bearer " + secret, token)
        }
        let revoked = try await addToken(.admin)
        _ = try await app.store.revokeToken(id: revoked.1.id, at: now, audit: nil)
        tokens[.revoked] = revoked.0
        tokens[.expired] = try await addToken(.admin, expires: now.addingTimeInterval(-1)).0
        tokens[.viewer] = try await addToken(.viewer).0
        tokens[.operator] = try await addToken(.operator).0
        tokens[.admin] = try await addToken(.admin).0
        tokens[.otherOrg] = try await addToken(.admin, organization: "other").0
        return AdminTestEnvironment(fixture: fixture, app: app, logs: logs, rulesPath: rulesPath, intakeID: intakeID, itemID: itemID, tokens: tokens)
    }

    func headers(_ caller: Caller, _ extra: HTTPFields = [:]) -> HTTPFields {
        var headers = extra
        if let value = tokens[caller], !value.isEmpty { headers[.authorization] = value }
        return headers
    }

    /// A dead job belonging to the test intake's organization.
    func deadJob() async throws -> String {
        let id = Identifier.make(prefix: "job")
        try await app.store.enqueue([NewJob(id: id, kind: "test.dead", payload: .object(["intake": .string(intakeID)]), maxAttempts: 1)])
        for job in try await app.store.lease(owner: "dead-maker", limit: 50, leaseDuration: 60) {
            try await app.store.fail(jobID: job.id, owner: "dead-maker", error: "made dead by the test", permanent: true)
        }
        return id
    }

    /// A fresh confirmed booking of the test intake on calendar demo, each at its own time
    /// (two hours apart, from the day after tomorrow), so the next hour is free to move it to.
    func booking() async throws -> Booking {
        let index = Self.bookings.withLock { value in
            value += 1
            return value
        }
        let midnight = Calendar(identifier: .gregorian).startOfDay(for: Date()).addingTimeInterval(2 * 86_400)
        let start = midnight.addingTimeInterval(Double(index) * 7_200)
        let id = "bk_matrix\(index)"
        let booking = Booking(
            id: id, organization: "demo", calendar: "demo", host: "ada", uid: "\(id)@demo.example", start: start, end: start.addingTimeInterval(1_800),
            state: .confirmed, summary: "Call", attendee: CalendarAttendee(email: "client@example.com"), intakeID: intakeID, itemID: itemID,
            createdAt: Date(), updatedAt: Date())
        _ = try await app.store.insertBooking(booking)
        return booking
    }

    static let bookings = Mutex(0)

    /// A booking of the test organization (`demo`), made once.
    func sharedBooking() async throws -> String {
        let now = Date()
        let booking = Booking(
            id: "bk_matrix", organization: "demo", calendar: "demo", host: "ada", uid: "bk_matrix@astralisd.test", start: now.addingTimeInterval(86_400),
            end: now.addingTimeInterval(88_200), state: .confirmed, summary: "Call", attendee: CalendarAttendee(email: "req@customer.example"),
            intakeID: intakeID, createdAt: now, updatedAt: now)
        _ = try await app.store.insertBooking(booking)
        return booking.id
    }

    func etag(_ path: String) -> String {
        AdminAPI.etag(FileManager.default.contents(atPath: path) ?? Data())
    }
}

@Suite("Admin API: role matrix, config and rules replacement, secrets")
struct AdminAPITests {
    typealias Caller = AdminTestEnvironment.Caller

    /// One request per endpoint; `prepare` makes the state it needs (a dead job, a throwaway
    /// token) and returns the path, headers and body.
    struct Row {
        var method: HTTPRequest.Method
        var route: String
        /// Expected status for none, malformed, unknown, revoked, expired, viewer, operator, admin, other-org.
        var expected: [Int]
        var prepare: @Sendable (AdminTestEnvironment) async throws -> (path: String, headers: HTTPFields, body: String?)
    }

    static func plain(_ path: String, body: String? = nil) -> @Sendable (AdminTestEnvironment) async throws -> (path: String, headers: HTTPFields, body: String?) {
        { _ in (path, [:], body) }
    }

    // THE table: every endpoint × every kind of caller → exact status.
    static let table: [Row] = [
        Row(method: .get, route: "/v1/health", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/health")),
        Row(method: .get, route: "/v1/config", expected: [401, 401, 401, 401, 401, 200, 200, 200, 403], prepare: plain("/v1/config")),
        Row(method: .put, route: "/v1/config", expected: [401, 401, 401, 401, 401, 403, 403, 200, 403]) { env in
            let text = String(decoding: FileManager.default.contents(atPath: env.fixture.configPath) ?? Data(), as: UTF8.self)
            return ("/v1/config", [.ifMatch: env.etag(env.fixture.configPath)], text)
        },
        Row(method: .get, route: "/v1/rules", expected: [401, 401, 401, 401, 401, 200, 200, 200, 403], prepare: plain("/v1/rules")),
        Row(method: .put, route: "/v1/rules", expected: [401, 401, 401, 401, 401, 403, 403, 200, 403]) { env in
            let text = String(decoding: FileManager.default.contents(atPath: env.rulesPath) ?? Data(), as: UTF8.self)
            return ("/v1/rules", [.ifMatch: env.etag(env.rulesPath)], text)
        },
        Row(method: .post, route: "/v1/rules/test", expected: [401, 401, 401, 401, 401, 200, 200, 200, 422],
            prepare: plain("/v1/rules/test", body: #"{"source": "contact-form", "payload": {"subject": "quote please", "name": "Ada"}}"#)),
        Row(method: .get, route: "/v1/pipelines", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/pipelines")),
        Row(method: .get, route: "/v1/items", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/items?pipeline=sales&limit=10")),
        Row(method: .get, route: "/v1/items/{id}", expected: [401, 401, 401, 401, 401, 200, 200, 200, 404]) { env in ("/v1/items/\(env.itemID)", [:], nil) },
        Row(method: .post, route: "/v1/items/{id}/move", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404]) { env in
            ("/v1/items/\(env.itemID)/move", [:], #"{"stage": "won", "assignee": "lin"}"#)
        },
        Row(method: .post, route: "/v1/bookings/{id}/cancel", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404]) { env in
            ("/v1/bookings/\(try await env.booking().id)/cancel", [:], #"{"reason": "matrix"}"#)
        },
        Row(method: .post, route: "/v1/bookings/{id}/reschedule", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404]) { env in
            let booking = try await env.booking()
            return ("/v1/bookings/\(booking.id)/reschedule", [:], #"{"start": "\#(booking.start.addingTimeInterval(3_600).formatted(.iso8601))"}"#)
        },
        Row(method: .get, route: "/v1/intakes/{id}", expected: [401, 401, 401, 401, 401, 200, 200, 200, 404]) { env in ("/v1/intakes/\(env.intakeID)", [:], nil) },
        Row(method: .get, route: "/v1/jobs", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/jobs")),
        Row(method: .post, route: "/v1/jobs/{id}/retry", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404]) { env in ("/v1/jobs/\(try await env.deadJob())/retry", [:], nil) },
        Row(method: .post, route: "/v1/jobs/{id}/discard", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404]) { env in ("/v1/jobs/\(try await env.deadJob())/discard", [:], nil) },
        Row(method: .post, route: "/v1/sources/{id}/pause", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404], prepare: plain("/v1/sources/\(DaemonFixture.source)/pause")),
        Row(method: .post, route: "/v1/sources/{id}/resume", expected: [401, 401, 401, 401, 401, 403, 200, 200, 404], prepare: plain("/v1/sources/\(DaemonFixture.source)/resume")),
        Row(method: .get, route: "/v1/bookings", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/bookings?state=pending,confirmed&limit=10")),
        Row(method: .get, route: "/v1/bookings/{id}", expected: [401, 401, 401, 401, 401, 200, 200, 200, 404]) { env in ("/v1/bookings/\(try await env.sharedBooking())", [:], nil) },
        Row(method: .get, route: "/v1/audit", expected: [401, 401, 401, 401, 401, 200, 200, 200, 200], prepare: plain("/v1/audit?limit=20")),
        Row(method: .get, route: "/v1/tokens", expected: [401, 401, 401, 401, 401, 403, 403, 200, 403], prepare: plain("/v1/tokens")),
        Row(method: .post, route: "/v1/tokens", expected: [401, 401, 401, 401, 401, 403, 403, 201, 403], prepare: plain("/v1/tokens", body: #"{"role": "viewer", "name": "matrix", "expires_in_days": 1}"#)),
        Row(method: .post, route: "/v1/tokens/{id}/revoke", expected: [401, 401, 401, 401, 401, 403, 403, 200, 403]) { env in
            let (_, token) = try await AdminTokens.create(store: env.app.store, role: .viewer, organization: nil, lifetime: nil, name: "throwaway", now: Date(), actor: "test", address: "test")
            return ("/v1/tokens/\(token.id)/revoke", [:], nil)
        },
    ]

    static func render(_ rows: [(String, [Int])]) -> String {
        let header = "endpoint".padding(toLength: 34, withPad: " ", startingAt: 0) + Caller.allCases.map { $0.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined()
        return ([header] + rows.map { name, statuses in
            name.padding(toLength: 34, withPad: " ", startingAt: 0) + statuses.map { String($0).padding(toLength: 10, withPad: " ", startingAt: 0) }.joined()
        }).joined(separator: "\n")
    }

    @Test func roleMatrixGivesTheExactStatusTable() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        // Every failure here comes from one address ("unknown" in router tests): no rate limit.
        let router = env.app.makeAdminRouter(limiter: AuthFailureLimiter(maxFailures: .max))
        let endpoints = env.app.adminAPI().endpoints.map { "\($0.method) \($0.path)" }
        #expect(Set(endpoints) == Set(Self.table.map { "\($0.method) \($0.route)" }), "the table must cover every endpoint exactly")

        let actual = Box<[(String, [Int])]>([])
        let unauthorizedBodies = Box(Set<String>())
        try await Application(router: router).test(.router) { client in
            for row in Self.table {
                var statuses: [Int] = []
                for caller in Caller.allCases {
                    let request = try await row.prepare(env)
                    var headers = env.headers(caller, request.headers)
                    if request.body != nil { headers[.contentType] = "application/json" }
                    let response = try await client.execute(uri: request.path, method: row.method, headers: headers, body: request.body.map { ByteBuffer(string: $0) })
                    statuses.append(Int(response.status.code))
                    if response.status == .unauthorized {
                        unauthorizedBodies.value.insert(String(buffer: response.body))
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    }
                    if response.status.code >= 400 {
                        #expect(response.headers[.contentType] == "application/problem+json", "\(row.method) \(row.route) as \(caller.rawValue)")
                    }
                }
                actual.value.append(("\(row.method) \(row.route)", statuses))
            }
        }
        let expected = Self.table.map { ("\($0.method) \($0.route)", $0.expected) }
        #expect(Self.render(actual.value) == Self.render(expected))
        // Unknown, malformed, revoked, expired and missing tokens are indistinguishable.
        #expect(unauthorizedBodies.value.count == 1, "\(unauthorizedBodies.value)")
    }

    @Test func organizationScopedTokensSeeOnlyTheirOrganization() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            for (caller, count) in [(Caller.otherOrg, 0), (.viewer, 1)] {
                let items = try await client.execute(uri: "/v1/items", method: .get, headers: env.headers(caller))
                let body = try JSONValue.parse(Data(items.body.readableBytesView))
                #expect(body["items"]?.arrayValue?.count == count, "\(caller)")
                let pipelines = try JSONValue.parse(Data(try await client.execute(uri: "/v1/pipelines", method: .get, headers: env.headers(caller)).body.readableBytesView))
                #expect(pipelines["pipelines"]?.arrayValue?.count == count, "\(caller)")
            }
            _ = try await env.deadJob()
            let jobs = try JSONValue.parse(Data(try await client.execute(uri: "/v1/jobs", method: .get, headers: env.headers(.otherOrg)).body.readableBytesView))
            #expect(jobs["dead_letters"]?.arrayValue?.count == 0)
            let all = try JSONValue.parse(Data(try await client.execute(uri: "/v1/jobs", method: .get, headers: env.headers(.viewer)).body.readableBytesView))
            #expect(all["dead_letters"]?.arrayValue?.count == 1)
            #expect(all["by_state"]?["dead"] == .number(1))
        }
    }

    @Test func itemsFilterMoveAssignAndIntakeTrace() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            func get(_ uri: String) async throws -> JSONValue {
                let response = try await client.execute(uri: uri, method: .get, headers: env.headers(.viewer))
                #expect(response.status == .ok, "\(uri)")
                return try JSONValue.parse(Data(response.body.readableBytesView))
            }
            #expect(try await get("/v1/items?text=ada")["items"]?.arrayValue?.count == 1)
            #expect(try await get("/v1/items?text=nobody")["items"]?.arrayValue?.count == 0)
            #expect(try await get("/v1/items?stage=won")["items"]?.arrayValue?.count == 0)
            let moved = try await client.execute(uri: "/v1/items/\(env.itemID)/move", method: .post, headers: env.headers(.operator, [.contentType: "application/json"]), body: ByteBuffer(string: #"{"stage": "won", "assignee": "lin"}"#))
            #expect(moved.status == .ok)
            #expect(try await get("/v1/items?stage=won&assignee=lin")["items"]?.arrayValue?.count == 1)
            let item = try await get("/v1/items/\(env.itemID)")
            let actions = item["activity"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? []
            #expect(actions.contains("item.moved") && actions.contains("item.assigned"), "\(actions)")
            let bad = try await client.execute(uri: "/v1/items/\(env.itemID)/move", method: .post, headers: env.headers(.operator), body: ByteBuffer(string: #"{"stage": "nope"}"#))
            #expect(bad.status == .unprocessableContent)
            let intake = try await get("/v1/intakes/\(env.intakeID)")
            #expect(intake["status"]?.stringValue == "done")
            #expect(intake["decision"]?["trace"] != nil)
            let audit = try await get("/v1/audit")
            #expect(audit["entries"]?.arrayValue?.first?["action"]?.stringValue == "item.updated")
        }
    }

    @Test func pausedWebhookSourceAnswers503AndResumes() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let admin = env.app.makeAdminRouter()
        func post() async throws -> HTTPResponse.Status {
            let status = Box(HTTPResponse.Status.ok)
            try await Application(router: env.app.makeWebhookRouter()).test(.router) { client in
                let answer = try await client.execute(uri: "/hooks/\(DaemonFixture.source)", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: DaemonFixture.payload(name: "Bo", subject: "Hi")))
                status.value = answer.status
                if answer.status == .serviceUnavailable { #expect(answer.headers[.retryAfter] == "60") }
            }
            return status.value
        }
        try await Application(router: admin).test(.router) { client in
            let answer = try await client.execute(uri: "/v1/sources/\(DaemonFixture.source)/pause", method: .post, headers: env.headers(.operator))
            #expect(answer.status == .ok)
        }
        #expect(try await post() == .serviceUnavailable)
        #expect(try await env.app.store.pausedSources() == [DaemonFixture.source])
        try await Application(router: admin).test(.router) { client in
            let answer = try await client.execute(uri: "/v1/sources/\(DaemonFixture.source)/resume", method: .post, headers: env.headers(.operator))
            #expect(answer.status == .ok)
        }
        #expect(try await post() == .accepted)
        #expect(try await env.app.store.pausedSources().isEmpty)
    }

    @Test func configPutValidatesRequiresETagAppliesReloadsAndAudits() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let path = env.fixture.configPath
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            let got = try await client.execute(uri: "/v1/config", method: .get, headers: env.headers(.viewer))
            #expect(got.status == .ok)
            let etag = try #require(got.headers[.eTag])
            let redacted = String(buffer: got.body)
            #expect(!redacted.contains(AdminTestEnvironment.secret))
            #expect(redacted.contains(ConfigRedaction.marker))
            let document = try JSONValue.parse(Data(redacted.utf8))
            let before = FileManager.default.contents(atPath: path)
            let json: HTTPFields = [.contentType: "application/json"]

            // Missing If-Match → 428; stale → 412; nothing changes.
            let missing = try await client.execute(uri: "/v1/config", method: .put, headers: env.headers(.admin, json), body: ByteBuffer(bytes: document.encoded()))
            #expect(missing.status == .preconditionRequired)
            let stale = try await client.execute(uri: "/v1/config", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: "\"0000\""])), body: ByteBuffer(bytes: document.encoded()))
            #expect(stale.status == .preconditionFailed)

            // Invalid → 422 with every error and its pointer; nothing changes.
            var invalid = document.objectValue ?? [:]
            invalid["log"] = .object(["level": .string("loud")])
            invalid["workers"] = .object(["concurrency": .number(0)])
            let refused = try await client.execute(uri: "/v1/config", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: etag])), body: ByteBuffer(bytes: JSONValue.object(invalid).encoded()))
            #expect(refused.status == .unprocessableContent)
            let problems = try JSONValue.parse(Data(refused.body.readableBytesView))
            let pointers = Set(problems["errors"]?.arrayValue?.compactMap { $0["pointer"]?.stringValue } ?? [])
            #expect(pointers.isSuperset(of: ["/log/level", "/workers/concurrency"]), "\(pointers)")
            #expect(FileManager.default.contents(atPath: path) == before)
            #expect(try await env.app.store.audit(organization: nil, limit: 10, before: nil).filter { $0.action == "config.replaced" }.isEmpty)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: env.fixture.root.path).filter { $0.hasSuffix(".tmp") }
            #expect(leftovers.isEmpty, "\(leftovers)")

            // Valid (the redacted GET, edited) → applied, reloaded, audited; restart-only keys reported.
            var valid = document.objectValue ?? [:]
            valid["log"] = .object(["level": .string("debug")])
            var workers = valid["workers"]?.objectValue ?? [:]
            workers["concurrency"] = .number(3)
            valid["workers"] = .object(workers)
            let applied = try await client.execute(uri: "/v1/config", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: etag])), body: ByteBuffer(bytes: JSONValue.object(valid).encoded()))
            #expect(applied.status == .ok, "\(String(buffer: applied.body))")
            let answer = try JSONValue.parse(Data(applied.body.readableBytesView))
            #expect(answer["restart_required"]?.arrayValue?.contains(.string("workers.concurrency")) == true)
            #expect(env.app.config.logLevel == "debug")
            let written = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
            #expect(written.contains(AdminTestEnvironment.secret), "the redacted placeholder keeps the inline secret")
            #expect(applied.headers[.eTag] == env.etag(path))

            // The old ETag is now stale.
            let again = try await client.execute(uri: "/v1/config", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: etag])), body: ByteBuffer(bytes: JSONValue.object(valid).encoded()))
            #expect(again.status == .preconditionFailed)

            let audit = try await env.app.store.audit(organization: nil, limit: 10, before: nil).filter { $0.action == "config.replaced" }
            #expect(audit.count == 1)
            let changes = audit.first?.detail["changes"]?.arrayValue?.compactMap { $0["pointer"]?.stringValue } ?? []
            #expect(Set(changes) == ["/log/level", "/workers/concurrency"], "\(changes)")

            // Secrets never in GET answers, the audit log or the logs.
            let auditText = String(decoding: try JSONEncoder().encode(try await env.app.store.audit(organization: nil, limit: 100, before: nil)), as: UTF8.self)
            #expect(!auditText.contains(AdminTestEnvironment.secret))
            let regot = try await client.execute(uri: "/v1/config", method: .get, headers: env.headers(.admin))
            #expect(!String(buffer: regot.body).contains(AdminTestEnvironment.secret))
        }
        #expect(!env.logs.all.contains(AdminTestEnvironment.secret))
        #expect(env.logs.all.contains("Configuration replaced through the admin API"))
    }

    @Test func rulesPutAndTest() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            let json: HTTPFields = [.contentType: "application/json"]
            let tested = try await client.execute(uri: "/v1/rules/test", method: .post, headers: env.headers(.viewer, json), body: ByteBuffer(string: #"{"source": "contact-form", "payload": {"subject": "quote please"}}"#))
            let decision = try JSONValue.parse(Data(tested.body.readableBytesView))["decision"]
            #expect(decision?["route"]?["stage"]?.stringValue == "won")
            #expect(try await env.app.store.counts().intakesByStatus.values.reduce(0, +) == 1, "rules test writes nothing")

            let etag = env.etag(env.rulesPath)
            let broken = #"{"version": 1, "rules": [{"id": "x", "when": {"field": "subject", "op": "sounds_like", "value": "a"}, "then": {"route": {"pipeline": "nope"}}}]}"#
            let refused = try await client.execute(uri: "/v1/rules", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: etag])), body: ByteBuffer(string: broken))
            #expect(refused.status == .unprocessableContent)
            let errors = try JSONValue.parse(Data(refused.body.readableBytesView))["errors"]?.arrayValue ?? []
            #expect(!errors.isEmpty && errors.allSatisfy { $0["pointer"]?.stringValue?.hasPrefix("/rules/0") == true }, "\(errors)")

            let replacement = #"{"version": 1, "rules": [{"id": "all-won", "when": {"field": "subject", "op": "exists"}, "then": {"route": {"pipeline": "sales", "stage": "won", "title": "{{subject}}"}}}, {"id": "two", "when": {"field": "subject", "op": "contains", "value": "x"}, "then": {"ignore": {"reason": "test"}}}]}"#
            let applied = try await client.execute(uri: "/v1/rules", method: .put, headers: env.headers(.admin, json.merging([.ifMatch: etag])), body: ByteBuffer(string: replacement))
            #expect(applied.status == .ok, "\(String(buffer: applied.body))")
            #expect(try JSONValue.parse(Data(applied.body.readableBytesView))["rules"] == .number(2))
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}
