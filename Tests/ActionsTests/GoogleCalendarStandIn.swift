import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// A local stand-in for Google's OAuth token endpoint and the Calendar API v3 calls the provider
/// makes (freeBusy, events insert/list/patch/delete), with an in-memory event store keyed by
/// iCalUID, access tokens it issued and checks, and scripted faults per endpoint. It records
/// every request so tests can assert what the client sent.
final class GoogleCalendarStandIn: Sendable {
    /// An endpoint faults can be scripted for.
    enum Endpoint: String, Sendable {
        case token, freeBusy, insert, list, patch, delete
    }

    struct Fault: Sendable {
        var status: Int
        var headers: [String: String] = [:]
        var body: String

        /// A Calendar API error document (`{"error": {"errors": [{"reason"}], "code", "message"}}`).
        static func api(_ status: Int, reason: String, domain: String = "usageLimits", headers: [String: String] = [:]) -> Fault {
            Fault(status: status, headers: headers, body: #"{"error": {"errors": [{"domain": "\#(domain)", "reason": "\#(reason)", "message": "scripted \#(reason)"}], "code": \#(status), "message": "scripted \#(reason)"}}"#)
        }

        /// An OAuth token endpoint error (`{"error", "error_description"}`).
        static func oauth(_ status: Int, error: String, description: String) -> Fault {
            Fault(status: status, body: #"{"error": "\#(error)", "error_description": "\#(description)"}"#)
        }
    }

    struct Received: Sendable {
        var endpoint: Endpoint
        var method: String
        var path: String
        var query: [String: String]
        var authorization: String?
        var contentType: String?
        var body: Data

        var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        /// The form fields of a token request.
        var form: [String: String] { GoogleCalendarStandIn.formFields(String(decoding: body, as: UTF8.self)) }
    }

    struct StoredEvent: Sendable {
        var id: String
        var calendar: String
        var json: [String: JSONValue]
        var deleted = false
    }

    struct State: Sendable {
        var faults: [Endpoint: [Fault]] = [:]
        var received: [Received] = []
        var issued: Set<String> = []
        var tokenCount = 0
        var events: [String: StoredEvent] = [:]
        var nextID = 1
        var busy: [(String, String)] = []
        var freeBusyErrors: [String] = []
    }

    static let clientID = "client-123.apps.googleusercontent.com"
    static let clientSecret = "s3cret-client"
    static let refreshToken = "1//refresh-token"
    static let meetLink = "https://meet.google.com/abc-defg-hij"

    let state = Mutex(State())
    /// Seconds the token endpoint takes (to make concurrent callers overlap).
    let tokenDelay: Double
    let tokenLifetime: Int

    init(tokenDelay: Double = 0, tokenLifetime: Int = 3600) {
        self.tokenDelay = tokenDelay
        self.tokenLifetime = tokenLifetime
    }

    // MARK: - Scripting and inspection

    func fail(_ endpoint: Endpoint, with faults: Fault...) {
        state.withLock { $0.faults[endpoint, default: []].append(contentsOf: faults) }
    }

    func setBusy(_ periods: [(String, String)], errors: [String] = []) {
        state.withLock {
            $0.busy = periods
            $0.freeBusyErrors = errors
        }
    }

    /// Access tokens stop working (revoked) without the client knowing.
    func revokeAccessTokens() {
        state.withLock { $0.issued.removeAll() }
    }

    var requests: [Received] { state.withLock { $0.received } }
    func requests(_ endpoint: Endpoint) -> [Received] { requests.filter { $0.endpoint == endpoint } }
    var tokenRequests: Int { state.withLock { $0.tokenCount } }
    /// Live (not deleted) events by iCalUID.
    var liveEvents: [String: StoredEvent] { state.withLock { $0.events.filter { !$0.value.deleted } } }

    // MARK: - Server

    /// Runs `body` with the stand-in listening on 127.0.0.1; the argument is the base URL.
    func serve<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/token") { [self] request, _ in try await handle(.token, request, nil) }
        router.post("/calendar/v3/freeBusy") { [self] request, _ in try await handle(.freeBusy, request, nil) }
        router.post("/calendar/v3/calendars/:calendar/events") { [self] request, context in
            try await handle(.insert, request, (context.parameters.get("calendar") ?? "", nil))
        }
        router.get("/calendar/v3/calendars/:calendar/events") { [self] request, context in
            try await handle(.list, request, (context.parameters.get("calendar") ?? "", nil))
        }
        router.patch("/calendar/v3/calendars/:calendar/events/:id") { [self] request, context in
            try await handle(.patch, request, (context.parameters.get("calendar") ?? "", context.parameters.get("id")))
        }
        router.delete("/calendar/v3/calendars/:calendar/events/:id") { [self] request, context in
            try await handle(.delete, request, (context.parameters.get("calendar") ?? "", context.parameters.get("id")))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private func handle(_ endpoint: Endpoint, _ request: Request, _ target: (calendar: String, id: String?)?) async throws -> Response {
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let body = Data(bytes.readableBytesView)
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let received = Received(
            endpoint: endpoint, method: request.method.rawValue, path: request.uri.path, query: query, authorization: request.headers[.authorization],
            contentType: request.headers[.contentType], body: body)
        let fault: Fault? = state.withLock { state in
            state.received.append(received)
            return state.faults[endpoint]?.isEmpty == false ? state.faults[endpoint]?.removeFirst() : nil
        }
        if endpoint == .token {
            if tokenDelay > 0 { try await Task.sleep(for: .milliseconds(Int(tokenDelay * 1000))) }
            if let fault { return Self.response(fault.status, fault.body, headers: fault.headers) }
            return token(received)
        }
        if let fault { return Self.response(fault.status, fault.body, headers: fault.headers) }
        let bearer = received.authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
        guard state.withLock({ $0.issued.contains(bearer) }) else {
            return Self.response(401, Fault.api(401, reason: "authError", domain: "global").body, headers: ["WWW-Authenticate": "Bearer"])
        }
        let calendar = target.map { $0.calendar.removingPercentEncoding ?? $0.calendar } ?? ""
        switch endpoint {
        case .freeBusy: return freeBusy(received)
        case .insert: return insert(received, calendar: calendar)
        case .list: return list(received)
        case .patch: return patch(received, id: target?.id ?? "")
        case .delete: return delete(id: target?.id ?? "")
        case .token: return Self.response(500, "{}")
        }
    }

    private func token(_ received: Received) -> Response {
        let form = received.form
        guard received.contentType == "application/x-www-form-urlencoded", form["grant_type"] == "refresh_token", form["client_id"] == Self.clientID,
              form["client_secret"] == Self.clientSecret else {
            return Self.response(401, Fault.oauth(401, error: "invalid_client", description: "The OAuth client was not found.").body)
        }
        guard form["refresh_token"] == Self.refreshToken else {
            return Self.response(400, Fault.oauth(400, error: "invalid_grant", description: "Bad Request").body)
        }
        let token: String = state.withLock { state in
            state.tokenCount += 1
            let token = "ya29.token-\(state.tokenCount)"
            state.issued.insert(token)
            return token
        }
        return Self.response(200, #"{"access_token": "\#(token)", "expires_in": \#(tokenLifetime), "scope": "https://www.googleapis.com/auth/calendar.events", "token_type": "Bearer"}"#)
    }

    private func freeBusy(_ received: Received) -> Response {
        let json = received.json
        guard let timeMin = json["timeMin"]?.stringValue, let timeMax = json["timeMax"]?.stringValue,
              let items = json["items"]?.arrayValue, !items.isEmpty else {
            return Self.response(400, Fault.api(400, reason: "required", domain: "global").body)
        }
        let (busy, errors) = state.withLock { ($0.busy, $0.freeBusyErrors) }
        var calendars: [String: JSONValue] = [:]
        for item in items {
            guard let id = item["id"]?.stringValue else { continue }
            if !errors.isEmpty {
                calendars[id] = .object(["busy": .array([]), "errors": .array(errors.map { .object(["domain": .string("global"), "reason": .string($0)]) })])
            } else {
                calendars[id] = .object(["busy": .array(busy.map { .object(["start": .string($0.0), "end": .string($0.1)]) })])
            }
        }
        let answer: JSONValue = .object([
            "kind": .string("calendar#freeBusy"), "timeMin": .string(timeMin), "timeMax": .string(timeMax), "calendars": .object(calendars),
        ])
        return Self.response(200, String(decoding: answer.encoded(), as: UTF8.self))
    }

    private func insert(_ received: Received, calendar: String) -> Response {
        guard var json = received.json.objectValue, let uid = json["iCalUID"]?.stringValue,
              json["start"]?["dateTime"]?.stringValue != nil, json["end"]?["dateTime"]?.stringValue != nil else {
            return Self.response(400, Fault.api(400, reason: "required", domain: "global").body)
        }
        let wantsMeet = received.query["conferenceDataVersion"] == "1" && json["conferenceData"]?["createRequest"] != nil
        let stored: StoredEvent? = state.withLock { state in
            // Google keeps a deleted event's iCalUID too: a second insert is a duplicate either way.
            guard state.events[uid] == nil else { return nil }
            let id = "evt\(state.nextID)"
            state.nextID += 1
            json["id"] = .string(id)
            json["status"] = json["status"] ?? .string("confirmed")
            if wantsMeet {
                json["hangoutLink"] = .string(Self.meetLink)
                json["conferenceData"] = .object([
                    "entryPoints": .array([.object(["entryPointType": .string("video"), "uri": .string(Self.meetLink)])]),
                    "conferenceSolution": .object(["key": .object(["type": .string("hangoutsMeet")])]),
                ])
            }
            let event = StoredEvent(id: id, calendar: calendar, json: json)
            state.events[uid] = event
            return event
        }
        guard let stored else {
            return Self.response(409, Fault.api(409, reason: "duplicate", domain: "global").body)
        }
        return Self.response(200, String(decoding: JSONValue.object(stored.json).encoded(), as: UTF8.self))
    }

    private func list(_ received: Received) -> Response {
        let uid = received.query["iCalUID"] ?? ""
        let items: [JSONValue] = state.withLock { state in
            guard let event = state.events[uid], !event.deleted else { return [] }
            return [.object(event.json)]
        }
        return Self.response(200, String(decoding: JSONValue.object(["kind": .string("calendar#events"), "items": .array(items)]).encoded(), as: UTF8.self))
    }

    private func patch(_ received: Received, id: String) -> Response {
        guard let changes = received.json.objectValue else { return Self.response(400, Fault.api(400, reason: "parseError", domain: "global").body) }
        let patched: [String: JSONValue]? = state.withLock { state in
            guard let uid = state.events.first(where: { $0.value.id == id && !$0.value.deleted })?.key, var event = state.events[uid] else { return nil }
            for (key, value) in changes where key != "id" && key != "iCalUID" { event.json[key] = value }
            state.events[uid] = event
            return event.json
        }
        guard let patched else { return Self.response(404, Fault.api(404, reason: "notFound", domain: "global").body) }
        return Self.response(200, String(decoding: JSONValue.object(patched).encoded(), as: UTF8.self))
    }

    private func delete(id: String) -> Response {
        let status: Int = state.withLock { state in
            guard let uid = state.events.first(where: { $0.value.id == id })?.key else { return 404 }
            if state.events[uid]?.deleted == true { return 410 }
            state.events[uid]?.deleted = true
            return 204
        }
        return status == 204 ? Response(status: .noContent) : Self.response(status, Fault.api(status, reason: status == 410 ? "deleted" : "notFound", domain: "global").body)
    }

    static func response(_ status: Int, _ body: String, headers extra: [String: String] = [:]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=UTF-8"
        for (name, value) in extra {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func formFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (value: Substring) in value.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(value) }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
