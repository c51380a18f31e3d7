public import AsyncHTTPClient
public import Core
import Crypto
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One host's Google Calendar over the Calendar API v3 with an OAuth 2.0 refresh token.
///
/// - Access tokens come from `tokenURL` (`grant_type=refresh_token`), are cached and refreshed
///   `refreshMargin` before they expire; concurrent calls share one refresh (single flight).
///   `invalid_grant` (revoked or expired consent), `invalid_client` and `unauthorized_client`
///   end as `CalendarProviderError.reconnectNeeded`; so does a 401 that a fresh token does not cure.
/// - Busy times from `freeBusy.query`; a calendar answered with `errors` (or not answered) is busy
///   for the whole range, never free.
/// - `events.insert` with `iCalUID = event.uid`: a retried insert gets 409 `duplicate`, the event
///   is then found with `events.list?iCalUID=` and returned as `alreadyExisted`. An optional Meet
///   link (`conferenceData.createRequest` with a request id derived from the UID,
///   `conferenceDataVersion=1`). `events.patch` to reschedule, `events.delete` to cancel
///   (404/410: already gone, done). `sendUpdates` from the config on all three.
/// - 429, 403 `rateLimitExceeded`/`userRateLimitExceeded`, 5xx and connection errors are retried
///   inside the call with exponential backoff and jitter (`retry`, honouring `Retry-After` up to
///   `retry.maxDelay`), then `transient`; 400 and other 4xx are `rejected` at once.
/// - Secrets are read through `secrets` (the daemon's SecretRef resolution) when a token is
///   needed, so a rotated credentials file is picked up; they are never logged.
/// - Every outcome updates `health` under `label`.
public final class GoogleCalendarProvider: CalendarProvider {
    public var kind: String { "google" }

    /// `calendar/host`: the key in `CalendarHealth` and the `calendar.provider` log field.
    public let label: String
    private let config: GoogleCalendarConfig
    private let secrets: @Sendable (SecretRef) throws -> String
    private let client: HTTPClient
    private let health: CalendarHealth
    private let observer: CalendarProviderObserver
    private let retry: RetryPolicy
    private let clock: any WallClock
    private let sleep: @Sendable (TimeInterval) async -> Void
    private let logger: Logger
    private let tokens = Mutex(TokenState())

    /// How long before its expiry an access token is replaced.
    public static let refreshMargin: TimeInterval = 60
    static let maxResponseBytes = 4 << 20

    struct AccessToken: Sendable {
        var value: String
        var expiresAt: Date
    }

    struct TokenState: Sendable {
        var token: AccessToken?
        var refreshing: Task<AccessToken, any Error>?
    }

    /// - Parameters:
    ///   - label: `calendar/host`, for health and logs.
    ///   - secrets: resolves `clientSecret` and `refreshToken` (the daemon's `SecretResolver`).
    ///   - retry: attempts per call for rate limits / 5xx / connection errors and their backoff.
    ///   - clock: token expiry is judged by it (tests move it).
    ///   - sleep: waits between attempts (tests record instead of sleeping).
    public init(
        label: String, config: GoogleCalendarConfig, secrets: @escaping @Sendable (SecretRef) throws -> String, client: HTTPClient = .shared,
        health: CalendarHealth, observer: CalendarProviderObserver = CalendarProviderObserver(),
        retry: RetryPolicy = RetryPolicy(baseDelay: 1, maxDelay: 30, maxAttempts: 5, jitter: 0.5), clock: any WallClock = SystemWallClock(),
        sleep: @escaping @Sendable (TimeInterval) async -> Void = { seconds in try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) },
        logger: Logger
    ) {
        self.label = label
        self.config = config
        self.secrets = secrets
        self.client = client
        self.health = health
        self.observer = observer
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        var logger = logger
        logger[metadataKey: "calendar.provider"] = "\(label)"
        self.logger = logger
        health.register(provider: label, kind: "google")
    }

    /// One HTTP exchange within the configured timeout: status, body (at most `limit` bytes), headers.
    private func send(_ request: HTTPClientRequest, upTo limit: Int) async throws -> (Int, Data, HTTPHeaders) {
        let response = try await client.execute(request, timeout: .milliseconds(Int64(config.timeoutSeconds * 1000)))
        let buffer = try await response.body.collect(upTo: limit)
        return (Int(response.status.code), Data(buffer.readableBytesView), response.headers)
    }

    // MARK: - CalendarProvider

    public func busyTimes(in range: DateInterval) async throws -> [DateInterval] {
        try await observed("busy") {
            let body = FreeBusyRequest(
                timeMin: Self.timestamp(range.start), timeMax: Self.timestamp(range.end), items: [.init(id: config.calendarID)])
            let response = try await perform("freeBusy", method: .POST, path: "/freeBusy", body: Self.encode(body))
            guard let answer = try? JSONDecoder().decode(FreeBusyResponse.self, from: response.body) else {
                throw CalendarProviderError.transient("Google freeBusy answer is not the expected JSON", retryAfter: nil)
            }
            guard let entry = answer.calendars?[config.calendarID] else {
                logger.warning("Google freeBusy did not answer for the calendar; treating the range as busy")
                return [range]
            }
            if let errors = entry.errors, !errors.isEmpty {
                logger.warning("Google freeBusy answered with errors; treating the range as busy", metadata: [
                    "google.reason": "\(errors.compactMap(\.reason).joined(separator: ","))",
                ])
                return [range]
            }
            var busy: [DateInterval] = []
            for period in entry.busy ?? [] {
                guard let start = Self.date(period.start), let end = Self.date(period.end) else {
                    // An unreadable period could hide a meeting: the whole range is busy.
                    logger.warning("Google freeBusy period has an unreadable time; treating the range as busy")
                    return [range]
                }
                if end > start { busy.append(DateInterval(start: start, end: end)) }
            }
            return busy.sorted { $0.start < $1.start }
        }
    }

    public func createEvent(_ event: CalendarEvent) async throws -> ProviderEventResult {
        try await observed("create", outcome: { $0.alreadyExisted ? "already_existed" : "ok" }) {
            var query = [("sendUpdates", config.sendUpdates)]
            if config.meetLink { query.append(("conferenceDataVersion", "1")) }
            let body = Self.encode(eventBody(event, creating: true))
            let response = try await perform("events.insert", method: .POST, path: eventsPath, query: query, body: body, passing: [409])
            if response.status == 409 {
                // Google answers 409 `duplicate` for an iCalUID it has: an earlier attempt made it.
                guard let existing = try await findEvent(uid: event.uid) else {
                    throw CalendarProviderError.rejected(
                        "Google refused the event as a duplicate (\(response.reason)) but no live event has iCalUID \(event.uid); it may have been deleted")
                }
                var result = Self.result(existing)
                result.alreadyExisted = true
                return result
            }
            guard let created = try? JSONDecoder().decode(GoogleEvent.self, from: response.body) else {
                throw CalendarProviderError.transient("Google events.insert answer is not the expected JSON", retryAfter: nil)
            }
            return Self.result(created)
        }
    }

    public func updateEvent(_ event: CalendarEvent, providerEventID: String?) async throws -> ProviderEventResult {
        try await observed("update") {
            let id = try await eventID(providerEventID, uid: event.uid)
            guard let id else { throw CalendarProviderError.rejected("Google has no live event with iCalUID \(event.uid) to update") }
            var query = [("sendUpdates", config.sendUpdates)]
            if config.meetLink { query.append(("conferenceDataVersion", "1")) }
            let response = try await perform(
                "events.patch", method: .PATCH, path: eventsPath + "/" + Self.pathComponent(id), query: query,
                body: Self.encode(eventBody(event, creating: false)))
            guard let patched = try? JSONDecoder().decode(GoogleEvent.self, from: response.body) else {
                throw CalendarProviderError.transient("Google events.patch answer is not the expected JSON", retryAfter: nil)
            }
            return Self.result(patched)
        }
    }

    public func cancelEvent(_ event: CalendarEvent, providerEventID: String?) async throws {
        try await observed("cancel") {
            guard let id = try await eventID(providerEventID, uid: event.uid) else { return }
            _ = try await perform(
                "events.delete", method: .DELETE, path: eventsPath + "/" + Self.pathComponent(id), query: [("sendUpdates", config.sendUpdates)],
                body: nil, passing: [404, 410])
        }
    }

    // MARK: - Calls

    private var eventsPath: String { "/calendars/\(Self.pathComponent(config.calendarID))/events" }

    /// Runs one provider operation: outcome to health, metrics and (for failures) the log.
    private func observed<T>(_ operation: String, outcome: (T) -> String = { _ in "ok" }, _ body: () async throws -> T) async throws -> T {
        do {
            return try await observer.observe(operation, kind: kind, provider: label, health: health, outcome: outcome, body)
        } catch let error as CalendarProviderError {
            if case .reconnectNeeded = error {
                logger.error("Google Calendar account needs to be reconnected", metadata: ["calendar.operation": "\(operation)", "calendar.error": "\(error)"])
            } else {
                logger.warning("Google Calendar call failed", metadata: [
                    "calendar.operation": "\(operation)", "calendar.outcome": "\(error.outcome)", "calendar.error": "\(error)",
                ])
            }
            throw error
        }
    }

    struct Answer {
        var status: Int
        var body: Data
        /// Google's first error reason (`duplicate`, `rateLimitExceeded`...), or "".
        var reason: String
    }

    /// One API request with the retry policy. 2xx and the statuses in `passing` are returned;
    /// everything else becomes a `CalendarProviderError`.
    private func perform(
        _ operation: String, method: HTTPMethod, path: String, query: [(String, String)] = [], body: Data?, passing: Set<Int> = []
    ) async throws -> Answer {
        let url = try Self.endpoint(config.apiBaseURL, key: "api_base_url") + path + Self.queryString(query)
        var attempt = 0
        var refreshedAfter401 = false
        while true {
            attempt += 1
            let token = try await accessToken()
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
            request.headers.add(name: "Accept", value: "application/json")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let status: Int
            let data: Data
            let headers: HTTPHeaders
            do {
                (status, data, headers) = try await send(request, upTo: Self.maxResponseBytes)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if attempt < retry.maxAttempts {
                    observer.retry(kind, "transport")
                    await sleep(retry.delay(afterAttempt: attempt))
                    continue
                }
                throw CalendarProviderError.transient("Google \(operation) failed after \(attempt) attempts: \(error)", retryAfter: nil)
            }
            let problem = Self.apiError(data)
            if (200..<300).contains(status) || passing.contains(status) {
                return Answer(status: status, body: data, reason: problem.reason)
            }
            let summary = "Google \(operation): HTTP \(status)\(problem.reason.isEmpty ? "" : " \(problem.reason)")\(problem.message.isEmpty ? "" : ": \(problem.message.prefix(300))")"
            if status == 401 {
                // The token may have been revoked early: one fresh token, then give up (and let
                // the next call start from a refresh, which tells whether the grant still works).
                invalidate(token)
                guard !refreshedAfter401 else { throw CalendarProviderError.reconnectNeeded(summary) }
                refreshedAfter401 = true
                attempt -= 1
                continue
            }
            let rateLimited = status == 429 || (status == 403 && ["rateLimitExceeded", "userRateLimitExceeded"].contains(problem.reason))
            guard rateLimited || (500...599).contains(status) else {
                throw CalendarProviderError.rejected(summary)
            }
            let retryAfter = headers.first(name: "Retry-After").flatMap { WebhookSender.retryAfterSeconds($0, now: clock.now()) }
            // A server asking for a longer pause than one call should wait: the job queue waits.
            if attempt < retry.maxAttempts, (retryAfter ?? 0) <= retry.maxDelay {
                observer.retry(kind, problem.reason.isEmpty ? "\(status)" : "\(status) \(problem.reason)")
                await sleep(retryAfter ?? retry.delay(afterAttempt: attempt))
                continue
            }
            throw CalendarProviderError.transient("\(summary) (after \(attempt) attempts)", retryAfter: retryAfter)
        }
    }

    /// The live event with this iCalUID, if any.
    private func findEvent(uid: String) async throws -> GoogleEvent? {
        let response = try await perform("events.list", method: .GET, path: eventsPath, query: [("iCalUID", uid)], body: nil)
        guard let list = try? JSONDecoder().decode(EventList.self, from: response.body) else {
            throw CalendarProviderError.transient("Google events.list answer is not the expected JSON", retryAfter: nil)
        }
        return list.items?.first { $0.status != "cancelled" && ($0.iCalUID == nil || $0.iCalUID == uid) }
    }

    private func eventID(_ given: String?, uid: String) async throws -> String? {
        if let given, !given.isEmpty { return given }
        return try await findEvent(uid: uid)?.id
    }

    // MARK: - OAuth

    /// A token valid for at least `refreshMargin` more seconds; one refresh for all callers.
    func accessToken() async throws -> AccessToken {
        enum Next {
            case ready(AccessToken)
            case wait(Task<AccessToken, any Error>)
        }
        let now = clock.now()
        let next: Next = tokens.withLock { state in
            if let token = state.token, token.expiresAt.timeIntervalSince(now) > Self.refreshMargin { return .ready(token) }
            if let running = state.refreshing { return .wait(running) }
            let task = Task { [self] in
                do {
                    let token = try await refreshToken()
                    tokens.withLock { state in
                        state.token = token
                        state.refreshing = nil
                    }
                    return token
                } catch {
                    tokens.withLock { $0.refreshing = nil }
                    throw error
                }
            }
            state.refreshing = task
            return .wait(task)
        }
        switch next {
        case .ready(let token):
            return token
        case .wait(let task):
            return try await task.value
        }
    }

    /// Forgets `token` (a 401 said it is no good) unless another call already replaced it.
    private func invalidate(_ token: AccessToken) {
        tokens.withLock { state in
            if state.token?.value == token.value { state.token = nil }
        }
    }

    private func refreshToken() async throws -> AccessToken {
        let url = try Self.endpoint(config.tokenURL, key: "token_url")
        let clientSecret: String
        let refreshToken: String
        do {
            clientSecret = try secrets(config.clientSecret)
            refreshToken = try secrets(config.refreshToken)
        } catch {
            observer.tokenRefresh("rejected")
            throw CalendarProviderError.reconnectNeeded("Google credentials cannot be read: \(error)")
        }
        let form = Self.formEncode([
            ("grant_type", "refresh_token"), ("client_id", config.clientID), ("client_secret", clientSecret), ("refresh_token", refreshToken),
        ])
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Accept", value: "application/json")
            request.body = .bytes(ByteBuffer(string: form))
            let status: Int
            let data: Data
            let headers: HTTPHeaders
            do {
                (status, data, headers) = try await send(request, upTo: 1 << 20)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if attempt < retry.maxAttempts {
                    observer.retry(kind, "transport")
                    await sleep(retry.delay(afterAttempt: attempt))
                    continue
                }
                observer.tokenRefresh("transient")
                throw CalendarProviderError.transient("Google token refresh failed after \(attempt) attempts: \(error)", retryAfter: nil)
            }
            if status == 200 {
                guard let answer = try? JSONDecoder().decode(TokenResponse.self, from: data), !answer.accessToken.isEmpty else {
                    observer.tokenRefresh("transient")
                    throw CalendarProviderError.transient("Google token answer has no access_token", retryAfter: nil)
                }
                observer.tokenRefresh("ok")
                let lifetime = TimeInterval(max(0, answer.expiresIn ?? 3600))
                return AccessToken(value: answer.accessToken, expiresAt: clock.now().addingTimeInterval(lifetime))
            }
            let error = (try? JSONDecoder().decode(TokenError.self, from: data)) ?? TokenError(error: "", errorDescription: nil)
            let summary = "Google token refresh: HTTP \(status)\(error.error.isEmpty ? "" : " \(error.error)")\(error.errorDescription.map { ": \($0.prefix(300))" } ?? "")"
            if ["invalid_grant", "invalid_client", "unauthorized_client"].contains(error.error) || status == 401 {
                observer.tokenRefresh("reconnect_needed")
                throw CalendarProviderError.reconnectNeeded(summary)
            }
            if status == 429 || (500...599).contains(status) {
                let retryAfter = headers.first(name: "Retry-After").flatMap { WebhookSender.retryAfterSeconds($0, now: clock.now()) }
                if attempt < retry.maxAttempts, (retryAfter ?? 0) <= retry.maxDelay {
                    observer.retry(kind, "token \(status)")
                    await sleep(retryAfter ?? retry.delay(afterAttempt: attempt))
                    continue
                }
                observer.tokenRefresh("transient")
                throw CalendarProviderError.transient("\(summary) (after \(attempt) attempts)", retryAfter: retryAfter)
            }
            observer.tokenRefresh("rejected")
            throw CalendarProviderError.rejected(summary)
        }
    }

    // MARK: - Request and answer shapes

    func eventBody(_ event: CalendarEvent, creating: Bool) -> GoogleEvent {
        var body = GoogleEvent()
        if creating { body.iCalUID = event.uid }
        body.summary = event.summary
        body.description = event.description
        body.location = event.location
        body.start = .init(dateTime: Self.timestamp(event.start), timeZone: "UTC")
        body.end = .init(dateTime: Self.timestamp(event.end), timeZone: "UTC")
        body.attendees = event.attendees.map { attendee in
            GoogleEvent.Attendee(
                email: attendee.email, displayName: attendee.name, optional: attendee.role == .optional ? true : nil,
                responseStatus: Self.responseStatus(attendee.status))
        }
        body.status = event.status == .tentative ? "tentative" : "confirmed"
        if creating, config.meetLink {
            body.conferenceData = .init(createRequest: .init(requestId: Self.conferenceRequestID(uid: event.uid), conferenceSolutionKey: .init(type: "hangoutsMeet")))
        }
        return body
    }

    /// Stable per booking, so a retried insert asks for the same conference, not a second one.
    static func conferenceRequestID(uid: String) -> String {
        "astralisd-" + SHA256.hash(data: Data(uid.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    static func responseStatus(_ status: CalendarAttendee.ParticipationStatus) -> String {
        switch status {
        case .accepted: return "accepted"
        case .declined: return "declined"
        case .tentative: return "tentative"
        case .needsAction, .delegated: return "needsAction"
        }
    }

    static func result(_ event: GoogleEvent) -> ProviderEventResult {
        let video = event.conferenceData?.entryPoints?.first { $0.entryPointType == "video" }?.uri
        return ProviderEventResult(providerEventID: event.id, meetingURL: event.hangoutLink ?? video)
    }

    struct FreeBusyRequest: Encodable {
        struct Item: Encodable { var id: String }
        var timeMin: String
        var timeMax: String
        var items: [Item]
    }

    struct FreeBusyResponse: Decodable {
        struct Period: Decodable {
            var start: String
            var end: String
        }
        struct Problem: Decodable {
            var domain: String?
            var reason: String?
        }
        struct Calendar: Decodable {
            var busy: [Period]?
            var errors: [Problem]?
        }
        var calendars: [String: Calendar]?
    }

    struct GoogleEvent: Codable {
        struct Time: Codable {
            var dateTime: String?
            var timeZone: String?
        }
        struct Attendee: Codable {
            var email: String
            var displayName: String?
            var optional: Bool?
            var responseStatus: String?
        }
        struct SolutionKey: Codable { var type: String }
        struct CreateRequest: Codable {
            var requestId: String
            var conferenceSolutionKey: SolutionKey
        }
        struct EntryPoint: Codable {
            var entryPointType: String?
            var uri: String?
        }
        struct Conference: Codable {
            var createRequest: CreateRequest?
            var entryPoints: [EntryPoint]?
        }
        var id: String?
        var iCalUID: String?
        var status: String?
        var summary: String?
        var description: String?
        var location: String?
        var start: Time?
        var end: Time?
        var attendees: [Attendee]?
        var conferenceData: Conference?
        var hangoutLink: String?
    }

    struct EventList: Decodable {
        var items: [GoogleEvent]?
    }

    struct TokenResponse: Decodable {
        var accessToken: String
        var expiresIn: Int?
        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case expiresIn = "expires_in"
        }
    }

    struct TokenError: Decodable {
        var error: String
        var errorDescription: String?
        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }

    /// `{"error": {"code": 403, "message": "...", "errors": [{"domain", "reason", "message"}]}}`.
    static func apiError(_ data: Data) -> (reason: String, message: String) {
        guard let value = try? JSONValue.parse(data), let error = value["error"] else { return ("", "") }
        let reason = error["errors"]?.arrayValue?.first?["reason"]?.stringValue ?? error["status"]?.stringValue ?? ""
        return (reason, error["message"]?.stringValue ?? "")
    }

    // MARK: - Encoding helpers

    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// RFC 3339 with or without fractional seconds, any offset.
    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func queryString(_ query: [(String, String)]) -> String {
        query.isEmpty ? "" : "?" + formEncode(query)
    }

    static func formEncode(_ fields: [(String, String)]) -> String {
        fields.map { "\(pathComponent($0.0))=\(pathComponent($0.1))" }.joined(separator: "&")
    }

    /// The configured URL without a trailing slash; `https` unless the host is a loopback address
    /// (the stand-in of the tests): tokens and secrets never travel in clear text.
    static func endpoint(_ text: String, key: String) throws -> String {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw CalendarProviderError.rejected("Google \(key) \"\(text.prefix(200))\" is not a URL")
        }
        let loopback = host == "127.0.0.1" || host == "::1" || host == "[::1]" || host == "localhost"
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw CalendarProviderError.rejected("Google \(key) must use https")
        }
        var trimmed = text
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }
}
