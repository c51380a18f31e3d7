import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Inbound
import Logging
import NIOCore
import Rules
import Storage
import Synchronization

/// The admin listener's request context: the framework's storage plus the peer address, which
/// the authentication-failure limiter keys on.
struct AdminRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Config and rules documents are small; anything larger is refused by `collect(upTo:)` anyway.
    var maxUploadSize: Int { 4 << 20 }
}

/// An error a handler answers with a specific status. `detail` is written for the client.
struct AdminFailure: Error {
    var status: HTTPResponse.Status
    var detail: String
    var headers: HTTPFields = [:]
    var extra: [String: JSONValue] = [:]
}

/// Who is calling, after authentication.
struct AdminCaller: Sendable {
    var token: AdminToken
    var address: String

    /// `token:<id>`: how activity entries and logs name the caller.
    var actor: String { "token:\(token.id)" }
    var organization: String? { token.organization }

    /// nil when the caller may see `organization`'s data; callers answer 404 then (not 403), so
    /// other organizations' ids are not confirmed.
    func maySee(_ organization: String?) -> Bool {
        guard let scope = token.organization else { return true }
        return organization == scope
    }

    func audit(_ action: String, target: String, organization: String?, detail: JSONValue = .object([:]), at: Date) -> AuditEntry {
        AuditEntry(actor: token.id, address: address, action: action, target: target, organization: organization, detail: detail, at: at)
    }
}

/// One route of the `/v1` API: method, path template, the least role, and whether tokens scoped to
/// an organization may call it. The router is built from this table and the OpenAPI test compares
/// the router's routes with `openapi.yaml`.
struct AdminEndpoint: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var role: AdminRole
    /// Config, rules and tokens concern every organization: unscoped tokens only.
    var unscopedOnly: Bool
    var handler: @Sendable (Request, AdminRequestContext, AdminCaller) async throws -> Response
}

/// `/v1`: the admin API. See docs/admin-api.md.
struct AdminAPI: Sendable {
    let app: DaemonApp
    let limiter: AuthFailureLimiter
    let now: @Sendable () -> Date
    var logger: Logger { app.logger }
    var store: SQLiteStore { app.store }

    static let maxListLimit = 500

    func addRoutes(to router: Router<AdminRequestContext>) {
        for endpoint in endpoints {
            router.on(RouterPath(endpoint.path), method: endpoint.method) { request, context in
                await self.serve(endpoint, request: request, context: context)
            }
        }
    }

    // MARK: The route table

    var endpoints: [AdminEndpoint] {
        [
            AdminEndpoint(method: .get, path: "/v1/health", role: .viewer, unscopedOnly: false) { _, _, _ in await healthDetails() },
            AdminEndpoint(method: .get, path: "/v1/config", role: .viewer, unscopedOnly: true) { _, _, _ in try getConfig() },
            AdminEndpoint(method: .put, path: "/v1/config", role: .admin, unscopedOnly: true) { request, _, caller in try await putConfig(request, caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/rules", role: .viewer, unscopedOnly: true) { _, _, _ in try getRules() },
            AdminEndpoint(method: .put, path: "/v1/rules", role: .admin, unscopedOnly: true) { request, _, caller in try await putRules(request, caller: caller) },
            AdminEndpoint(method: .post, path: "/v1/rules/test", role: .viewer, unscopedOnly: false) { request, _, caller in try await testRules(request, caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/pipelines", role: .viewer, unscopedOnly: false) { _, _, caller in try await listPipelines(caller) },
            AdminEndpoint(method: .get, path: "/v1/items", role: .viewer, unscopedOnly: false) { request, _, caller in try await listItems(request, caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/items/{id}", role: .viewer, unscopedOnly: false) { _, context, caller in try await getItem(context.parameters.get("id") ?? "", caller: caller) },
            AdminEndpoint(method: .post, path: "/v1/items/{id}/move", role: .operator, unscopedOnly: false) { request, context, caller in
                try await moveItem(context.parameters.get("id") ?? "", request: request, caller: caller)
            },
            AdminEndpoint(method: .post, path: "/v1/bookings/{id}/cancel", role: .operator, unscopedOnly: false) { request, context, caller in
                try await cancelBooking(context.parameters.get("id") ?? "", request: request, caller: caller)
            },
            AdminEndpoint(method: .post, path: "/v1/bookings/{id}/reschedule", role: .operator, unscopedOnly: false) { request, context, caller in
                try await rescheduleBooking(context.parameters.get("id") ?? "", request: request, caller: caller)
            },
            AdminEndpoint(method: .get, path: "/v1/intakes/{id}", role: .viewer, unscopedOnly: false) { _, context, caller in try await getIntake(context.parameters.get("id") ?? "", caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/jobs", role: .viewer, unscopedOnly: false) { request, _, caller in try await listJobs(request, caller: caller) },
            AdminEndpoint(method: .post, path: "/v1/jobs/{id}/retry", role: .operator, unscopedOnly: false) { _, context, caller in
                try await changeDeadJob(context.parameters.get("id") ?? "", discard: false, caller: caller)
            },
            AdminEndpoint(method: .post, path: "/v1/jobs/{id}/discard", role: .operator, unscopedOnly: false) { _, context, caller in
                try await changeDeadJob(context.parameters.get("id") ?? "", discard: true, caller: caller)
            },
            AdminEndpoint(method: .post, path: "/v1/sources/{id}/pause", role: .operator, unscopedOnly: false) { _, context, caller in
                try await setPaused(context.parameters.get("id") ?? "", paused: true, caller: caller)
            },
            AdminEndpoint(method: .post, path: "/v1/sources/{id}/resume", role: .operator, unscopedOnly: false) { _, context, caller in
                try await setPaused(context.parameters.get("id") ?? "", paused: false, caller: caller)
            },
            AdminEndpoint(method: .get, path: "/v1/bookings", role: .viewer, unscopedOnly: false) { request, _, caller in try await listBookings(request, caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/bookings/{id}", role: .viewer, unscopedOnly: false) { _, context, caller in try await getBooking(context.parameters.get("id") ?? "", caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/audit", role: .viewer, unscopedOnly: false) { request, _, caller in try await listAudit(request, caller: caller) },
            AdminEndpoint(method: .get, path: "/v1/tokens", role: .admin, unscopedOnly: true) { _, _, _ in try await listTokens() },
            AdminEndpoint(method: .post, path: "/v1/tokens", role: .admin, unscopedOnly: true) { request, _, caller in try await createToken(request, caller: caller) },
            AdminEndpoint(method: .post, path: "/v1/tokens/{id}/revoke", role: .admin, unscopedOnly: true) { _, context, caller in
                try await revokeToken(context.parameters.get("id") ?? "", caller: caller)
            },
        ]
    }

    // MARK: Authentication, authorization, errors

    func serve(_ endpoint: AdminEndpoint, request: Request, context: AdminRequestContext) async -> Response {
        let response = await answer(endpoint, request: request, context: context)
        app.metrics.adminRequest(route: "\(endpoint.method) \(endpoint.path)", status: response.status.code)
        return response
    }

    private func answer(_ endpoint: AdminEndpoint, request: Request, context: AdminRequestContext) async -> Response {
        let address = Self.address(context.remoteAddress)
        let moment = now()
        if let wait = limiter.retryAfter(address, now: moment) {
            app.metrics.adminAuthFailure(reason: "rate_limited")
            return Problem.response(.tooManyRequests, detail: "too many failed authentication attempts from this address; retry later", extraHeaders: [.retryAfter: "\(wait)"])
        }
        let token: AdminToken?
        do {
            token = try await AdminAuthenticator(store: store, now: now).authenticate(authorization: request.headers[.authorization])
        } catch {
            logger.error("Admin API: token lookup failed", metadata: ["error": "\(error)"])
            return Problem.response(.serviceUnavailable, detail: "the store is unavailable; retry later", extraHeaders: [.retryAfter: "5"])
        }
        guard let token else {
            limiter.recordFailure(address, now: moment)
            app.metrics.adminAuthFailure(reason: request.headers[.authorization] == nil ? "missing" : "invalid")
            logger.notice("Admin API: authentication failed", metadata: ["net.peer": "\(address)", "http.route": "\(endpoint.path)"])
            return Problem.response(.unauthorized, detail: "a valid admin token is required (Authorization: Bearer aops_...)", extraHeaders: [.wwwAuthenticate: "Bearer"])
        }
        guard token.role >= endpoint.role else {
            return Problem.response(.forbidden, detail: "this endpoint needs the \(endpoint.role.rawValue) role; the token has \(token.role.rawValue)")
        }
        if endpoint.unscopedOnly, token.organization != nil {
            return Problem.response(.forbidden, detail: "this endpoint concerns every organization; organization-scoped tokens cannot use it")
        }
        let caller = AdminCaller(token: token, address: address)
        do {
            return try await endpoint.handler(request, context, caller)
        } catch let failure as AdminFailure {
            return Problem.response(failure.status, detail: failure.detail, extraHeaders: failure.headers, extra: failure.extra)
        } catch let error as StoreError {
            switch error {
            case .notFound: return Problem.response(.notFound, detail: "not found")
            case .invalid(let why): return Problem.response(.unprocessableContent, detail: why)
            case .conflict(let why): return Problem.response(.conflict, detail: why)
            case .unavailable:
                logger.error("Admin API: store unavailable", metadata: ["error": "\(error)", "http.route": "\(endpoint.path)"])
                return Problem.response(.serviceUnavailable, detail: "the store is unavailable; retry later", extraHeaders: [.retryAfter: "5"])
            }
        } catch {
            logger.error("Admin API: request failed", metadata: ["error": "\(error)", "http.route": "\(endpoint.path)"])
            return Problem.response(.internalServerError, detail: "internal error; see the daemon's log")
        }
    }

    static func address(_ remote: SocketAddress?) -> String {
        guard let remote else { return "unknown" }
        return remote.ipAddress ?? "\(remote)"
    }

    // MARK: Health

    func healthDetails() async -> Response {
        await app.adminRoutes().readiness()
    }

    // MARK: Config

    /// The ETag of a file's bytes: a quoted SHA-256 prefix.
    static func etag(_ data: Data) -> String {
        "\"" + SHA256.hash(data: data).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
    }

    func getConfig() throws -> Response {
        let path = app.loaded.withLock { $0.path }
        guard let data = FileManager.default.contents(atPath: path) else {
            logger.error("Admin API: configuration file unreadable", metadata: ["config.path": "\(path)"])
            throw AdminFailure(status: .internalServerError, detail: "the configuration file cannot be read")
        }
        let document = (try? JSONValue.parse(data)) ?? .null
        return Problem.json(.ok, ConfigRedaction.redact(document), headers: [.eTag: Self.etag(data)])
    }

    func putConfig(_ request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        let path = app.loaded.withLock { $0.path }
        let result = try await app.configEditor.replace(path: path, ifMatch: request.headers[.ifMatch], body: body) { candidatePath in
            do {
                let candidate = try ConfigLoader.load(path: candidatePath, stateDirOverride: app.stateDirOverride, rulesOverride: app.loaded.withLock { $0.rulesOverride }, environment: app.environment)
                // The caller holds a token, so only the TLS / opt-out half of the rule can fail.
                if let problem = AdminListenerPolicy.problem(candidate.config, activeTokens: 1) {
                    return [.object(["pointer": .string("/listen/admin"), "message": .string(problem)])]
                }
                return []
            } catch let error as ConfigError {
                return error.issues.map(ConfigRedaction.problemEntry)
            } catch {
                return [.object(["pointer": .string(""), "message": .string("the document cannot be loaded")])]
            }
        }
        let outcome = app.reload()
        var restartOnly: [String] = []
        if case .applied(let keys) = outcome { restartOnly = keys }
        try await store.appendAudit(caller.audit("config.replaced", target: path, organization: nil, detail: .object([
            "changes": ConfigRedaction.diff(ConfigRedaction.redact(result.old), ConfigRedaction.redact(result.new)),
            "restart_required": .array(restartOnly.map(JSONValue.string)),
        ]), at: now()))
        logger.notice("Configuration replaced through the admin API", metadata: ["admin.token": "\(caller.token.id)", "net.peer": "\(caller.address)", "config.restart_only": "\(restartOnly)"])
        return Problem.json(.ok, .object([
            "applied": .bool(outcomeApplied(outcome)),
            "restart_required": .array(restartOnly.map(JSONValue.string)),
            "etag": .string(result.etag),
        ]), headers: [.eTag: result.etag])
    }

    private func outcomeApplied(_ outcome: ReloadOutcome) -> Bool {
        if case .applied = outcome { return true }
        return false
    }

    // MARK: Rules

    private func rulesPath() throws -> String {
        guard let path = app.config.rulesFile else {
            throw AdminFailure(status: .notFound, detail: "no rules file is configured (rules_file); every intake takes its default route")
        }
        return path
    }

    func getRules() throws -> Response {
        let path = try rulesPath()
        guard let data = FileManager.default.contents(atPath: path) else {
            logger.error("Admin API: rules file unreadable", metadata: ["rules.file": "\(path)"])
            throw AdminFailure(status: .internalServerError, detail: "the rules file cannot be read")
        }
        let document = (try? JSONValue.parse(data)) ?? .null
        return Problem.json(.ok, document, headers: [.eTag: Self.etag(data)])
    }

    func putRules(_ request: Request, caller: AdminCaller) async throws -> Response {
        let path = try rulesPath()
        let body = try await Self.readJSON(request)
        let organizations = app.config.organizations
        let scheduling = app.config.scheduling
        let result = try await app.configEditor.replace(path: path, ifMatch: request.headers[.ifMatch], body: body, keepRedacted: false) { candidatePath in
            do {
                _ = try RuleLoader.load(path: candidatePath, context: RuleContext(organizations: organizations, checkTemplate: ConfigLoader.checkTemplate, scheduling: scheduling))
                return []
            } catch let error as RuleFileError {
                return error.issues.map { JSONValue.object(["pointer": .string($0.pointer), "message": .string($0.message)]) }
            } catch {
                return [.object(["pointer": .string(""), "message": .string("the document cannot be loaded")])]
            }
        }
        let outcome = app.reload()
        try await store.appendAudit(caller.audit("rules.replaced", target: path, organization: nil, detail: .object([
            "changes": ConfigRedaction.diff(result.old, result.new),
        ]), at: now()))
        logger.notice("Rules replaced through the admin API", metadata: ["admin.token": "\(caller.token.id)", "net.peer": "\(caller.address)"])
        return Problem.json(.ok, .object([
            "applied": .bool(outcomeApplied(outcome)), "rules": .number(Double(app.loaded.withLock { $0.rules?.count ?? 0 })), "etag": .string(result.etag),
        ]), headers: [.eTag: result.etag])
    }

    /// `{"source": ID, "payload": {...}}`, `{"source": ID, "email": "RFC 822 text"}` or `{"facts": {...}}`.
    func testRules(_ request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        let config = app.config
        let facts: Facts
        if let factsValue = body["facts"] {
            do {
                facts = try RulesCommand.Test.decodeFacts(factsValue.encoded())
            } catch {
                throw AdminFailure(status: .unprocessableContent, detail: "facts: expected a Facts document (see docs/rules.md)")
            }
        } else {
            guard let sourceID = body["source"]?.stringValue, let source = config.source(sourceID) else {
                throw AdminFailure(status: .unprocessableContent, detail: "source: expected the id of a configured source")
            }
            guard caller.maySee(source.organization) else { throw AdminFailure(status: .unprocessableContent, detail: "source: expected the id of a configured source") }
            let sample: Data
            let file: String
            if let email = body["email"]?.stringValue {
                sample = Data(email.utf8)
                file = "sample.eml"
            } else if let payload = body["payload"] {
                sample = payload.encoded()
                file = "sample.json"
            } else {
                throw AdminFailure(status: .unprocessableContent, detail: "expected payload, email or facts")
            }
            do {
                facts = try RulesCommand.Test.facts(from: sample, file: file, source: source)
            } catch {
                throw AdminFailure(status: .unprocessableContent, detail: "the sample cannot be read as an intake")
            }
        }
        guard caller.mayTest(facts.organization) else {
            throw AdminFailure(status: .unprocessableContent, detail: "facts: the organization is outside this token's scope")
        }
        let decision = try await app.router.value.decide(facts)
        return Problem.json(.ok, .object(["decision": try Self.encode(decision)]))
    }

    // MARK: Pipelines, items, intakes

    func listPipelines(_ caller: AdminCaller) async throws -> Response {
        let pipelines = try await store.pipelines(organization: caller.organization)
        return Problem.json(.ok, .object(["pipelines": try Self.encode(pipelines)]))
    }

    func listItems(_ request: Request, caller: AdminCaller) async throws -> Response {
        let query = request.uri.queryParameters
        func value(_ key: String) -> String? { query[key[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        let limit = try Self.limit(value("limit"))
        let filter = ItemFilter(
            organization: caller.organization, pipeline: value("pipeline"), stage: value("stage"), assignee: value("assignee"),
            limit: limit, before: value("before"), text: value("text"))
        let items = try await store.items(filter)
        var body: [String: JSONValue] = ["items": try Self.encode(items)]
        body["next_before"] = items.count == limit ? (items.last.map { JSONValue.string($0.id) } ?? .null) : .null
        return Problem.json(.ok, .object(body))
    }

    func getItem(_ id: String, caller: AdminCaller) async throws -> Response {
        guard let item = try await store.item(id: id), caller.maySee(item.organization) else {
            throw AdminFailure(status: .notFound, detail: "no item \(id)")
        }
        let activity = try await store.activity(itemID: id)
        return Problem.json(.ok, .object(["item": try Self.encode(item), "activity": try Self.encode(activity)]))
    }

    /// `{"stage": ID}` and/or `{"assignee": NAME}` (`""` or null unassigns).
    func moveItem(_ id: String, request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        guard let existing = try await store.item(id: id), caller.maySee(existing.organization) else {
            throw AdminFailure(status: .notFound, detail: "no item \(id)")
        }
        let stage = body["stage"]?.stringValue
        var assignee: String?
        switch body["assignee"] {
        case .string(let name)?: assignee = name
        case .null?: assignee = ""
        default: assignee = nil
        }
        if body["stage"] != nil && stage == nil { throw AdminFailure(status: .unprocessableContent, detail: "stage: expected a stage id") }
        guard stage != nil || assignee != nil else {
            throw AdminFailure(status: .unprocessableContent, detail: "expected stage and/or assignee")
        }
        let audit = caller.audit("item.updated", target: id, organization: existing.organization, detail: .object([
            "stage": stage.map(JSONValue.string) ?? .null, "assignee": assignee.map(JSONValue.string) ?? .null,
        ]), at: now())
        let item = try await store.updateItem(id: id, stage: stage, assignee: assignee, actor: caller.actor, audit: audit)
        return Problem.json(.ok, .object(["item": try Self.encode(item)]))
    }

    func getIntake(_ id: String, caller: AdminCaller) async throws -> Response {
        guard let intake = try await store.intake(id: id), caller.maySee(intake.organization) else {
            throw AdminFailure(status: .notFound, detail: "no intake \(id)")
        }
        let documents = try await store.documents(intakeID: id)
        return Problem.json(.ok, .object([
            "intake": try Self.encode(intake),
            "status": .string(intake.status.rawValue),
            "documents": try Self.encode(documents),
            "decision": try intake.decision.map(Self.encode) ?? .null,
        ]))
    }

    // MARK: Jobs

    func listJobs(_ request: Request, caller: AdminCaller) async throws -> Response {
        let limit = try Self.limit(request.uri.queryParameters["limit"].map(String.init))
        let counts = try await store.jobCounts(organization: caller.organization)
        var byState: [String: JSONValue] = [:]
        for state in JobState.allCases {
            byState[state.rawValue] = .number(Double(counts.values.reduce(0) { $0 + ($1[state.rawValue] ?? 0) }))
        }
        let byKind = counts.mapValues { states in JSONValue.object(states.mapValues { .number(Double($0)) }) }
        let dead = try await store.deadJobs(organization: caller.organization, limit: limit)
        return Problem.json(.ok, .object([
            "by_state": .object(byState), "by_kind": .object(byKind), "dead_letters": try Self.encode(dead),
        ]))
    }

    func changeDeadJob(_ id: String, discard: Bool, caller: AdminCaller) async throws -> Response {
        let organization = try await store.jobOrganization(id: id)
        guard try await store.job(id: id) != nil, caller.mayJobBeSeen(organization) else {
            throw AdminFailure(status: .notFound, detail: "no job \(id)")
        }
        let audit = caller.audit(discard ? "job.discarded" : "job.retried", target: id, organization: organization, at: now())
        if discard {
            try await store.discardJob(id: id, audit: audit)
            return Problem.json(.ok, .object(["id": .string(id), "discarded": .bool(true)]))
        }
        try await store.retryJob(id: id, audit: audit)
        app.doorbell.ring()
        return Problem.json(.ok, .object(["id": .string(id), "state": .string(JobState.ready.rawValue)]))
    }

    // MARK: Sources

    func setPaused(_ id: String, paused: Bool, caller: AdminCaller) async throws -> Response {
        guard let source = app.config.source(id), caller.maySee(source.organization) else {
            throw AdminFailure(status: .notFound, detail: "no source \(id)")
        }
        try await store.setSourcePaused(id, paused: paused, audit: caller.audit(paused ? "source.paused" : "source.resumed", target: id, organization: source.organization, at: now()))
        app.pauses.set(id, paused: paused)
        logger.notice(paused ? "Source paused through the admin API" : "Source resumed through the admin API", metadata: ["source.id": "\(id)", "admin.token": "\(caller.token.id)"])
        return Problem.json(.ok, .object(["id": .string(id), "paused": .bool(paused)]))
    }

    // MARK: Audit and tokens

    func listAudit(_ request: Request, caller: AdminCaller) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try Self.limit(query["limit"].map(String.init))
        let entries = try await store.audit(organization: caller.organization, limit: limit, before: query["before"].map(String.init))
        var body: [String: JSONValue] = ["entries": try Self.encode(entries)]
        body["next_before"] = entries.count == limit ? (entries.last.map { JSONValue.string($0.id) } ?? .null) : .null
        return Problem.json(.ok, .object(body))
    }

    func listTokens() async throws -> Response {
        let tokens = try await store.tokens()
        return Problem.json(.ok, .object(["tokens": .array(tokens.map { AdminTokens.publicView($0, now: now()) })]))
    }

    /// `{"role": "viewer", "organization": "demo", "name": "ci", "expires_in_days": 30}`.
    func createToken(_ request: Request, caller: AdminCaller) async throws -> Response {
        let body = try await Self.readJSON(request)
        guard let roleName = body["role"]?.stringValue, let role = AdminRole(rawValue: roleName) else {
            throw AdminFailure(status: .unprocessableContent, detail: "role: expected viewer, operator or admin")
        }
        let organization = body["organization"]?.stringValue
        if let organization, app.config.organization(organization) == nil {
            throw AdminFailure(status: .unprocessableContent, detail: "organization: expected a configured organization id")
        }
        var expires: TimeInterval?
        if case .number(let days)? = body["expires_in_days"] {
            guard days > 0, days <= 3650 else { throw AdminFailure(status: .unprocessableContent, detail: "expires_in_days: expected a number in 1...3650") }
            expires = days * 86_400
        }
        let name = body["name"]?.stringValue ?? "api"
        let (secret, token) = try await AdminTokens.create(store: store, role: role, organization: organization, lifetime: expires, name: name, now: now(), actor: caller.token.id, address: caller.address)
        var view = AdminTokens.publicView(token, now: now()).objectValue ?? [:]
        view["token"] = .string(secret)
        return Problem.json(.created, .object(view))
    }

    func revokeToken(_ id: String, caller: AdminCaller) async throws -> Response {
        let revoked = try await store.revokeToken(id: id, at: now(), audit: caller.audit("token.revoked", target: id, organization: nil, at: now()))
        guard revoked else { throw AdminFailure(status: .notFound, detail: "no token \(id)") }
        return Problem.json(.ok, .object(["id": .string(id), "revoked": .bool(true)]))
    }

    // MARK: Helpers

    static func readJSON(_ request: Request) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 4 << 20)
        } catch {
            throw AdminFailure(status: .contentTooLarge, detail: "the body exceeds 4 MiB")
        }
        guard let value = try? JSONValue.parse(Data(buffer.readableBytesView)) else {
            throw AdminFailure(status: .badRequest, detail: "the body is not a JSON document")
        }
        return value
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let value = Int(text), value >= 1, value <= maxListLimit else {
            throw AdminFailure(status: .badRequest, detail: "limit: expected an integer in 1...\(maxListLimit)")
        }
        return value
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func encode(_ value: some Encodable) throws -> JSONValue {
        try JSONValue.parse(try encoder.encode(value))
    }
}

extension AdminCaller {
    /// Rules tests for facts of another organization are refused for scoped tokens.
    func mayTest(_ organization: String) -> Bool { maySee(organization) }

    /// Jobs whose payload names no intake belong to no organization: unscoped tokens only.
    func mayJobBeSeen(_ organization: String?) -> Bool {
        token.organization == nil || (organization != nil && organization == token.organization)
    }
}
