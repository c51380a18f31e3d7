public import AsyncHTTPClient
public import Core
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1

/// A host's calendar in a CalDAV (RFC 4791) collection: Radicale, Nextcloud, Fastmail...
///
/// - Busy times: `REPORT` calendar-query (Depth: 1) with a VEVENT time-range filter; the events
///   returned are expanded here with libical (`RecurrenceExpansion`), since servers such as
///   Radicale return recurring events unexpanded. A response the calendar answers with errors
///   (a resource refused, no calendar data, data libical cannot read) makes the whole range
///   busy and is logged: a host is never reported free on a broken answer.
/// - Create: `PUT {collection}/{uid}.ics` with `If-None-Match: *`. 412 means the resource
///   exists: it is fetched, and the same UID means an earlier attempt made it (`alreadyExisted`),
///   another UID is `rejected`.
/// - Update: unconditional `PUT` of the same resource (see `updateEvent`).
/// - Cancel: `DELETE`; 404 and 410 count as done.
/// - Errors: 5xx, 429 and connection failures are retried inside the call with exponential
///   backoff and jitter (`retry`), then thrown as `.transient`; 401/403 are `.reconnectNeeded`;
///   other 4xx are `.rejected`.
///
/// Requests carry HTTP Basic credentials, so plain `http://` is refused unless the host is a
/// loopback address and `allowPlaintext` is set (tests).
///
/// With a `health` registry every operation's outcome is recorded under `label` (`calendar/host`),
/// and `observer` counts calls (with their duration), retries and outcomes, as the Google provider does.
public struct CalDAVCalendarProvider: CalendarProvider {
    public var kind: String { "caldav" }

    /// The calendar collection URL, ending in `/`.
    public let collectionURL: String
    private let config: CalDAVConfig
    private let client: HTTPClient
    private let resolveSecret: @Sendable (SecretRef) throws -> String
    private let floatingTimeZone: TimeZone
    private let retry: RetryPolicy
    private let logger: Logger
    private let sleep: @Sendable (TimeInterval) async -> Void
    /// `calendar/host` in health and logs.
    private let label: String
    private let health: CalendarHealth?
    private let observer: CalendarProviderObserver

    /// Largest REPORT or GET body read (a month of a busy calendar is far below).
    static let maxResponseBytes = 32 * 1024 * 1024

    /// - Parameters:
    ///   - resolveSecret: Reads `config.password` (the daemon's secret resolver); called for each
    ///     request so a rotated password file is picked up.
    ///   - client: The process's shared client (it must not follow redirects to other hosts with
    ///     the credentials; AsyncHTTPClient drops Authorization on cross-origin redirects).
    ///   - floatingTimeZone: The host's zone: all-day events and floating times are read in it.
    ///   - retry: Attempts and backoff inside one call.
    ///   - sleep: Waits between attempts (injectable for tests).
    ///   - label: `calendar/host`: the provider's key in `health`.
    ///   - health: The process's provider health; registered at init, updated after each operation.
    ///   - observer: Call, retry and outcome counters (metrics).
    /// - Throws: `CalendarProviderError.rejected` for a URL that is not http(s), or plain http
    ///   to a host that is not loopback or without `allowPlaintext`.
    public init(
        config: CalDAVConfig, resolveSecret: @escaping @Sendable (SecretRef) throws -> String, client: HTTPClient = .shared,
        floatingTimeZone: TimeZone = .gmt, retry: RetryPolicy = RetryPolicy(baseDelay: 0.5, maxDelay: 8, maxAttempts: 4, jitter: 0.5),
        logger: Logger, sleep: @escaping @Sendable (TimeInterval) async -> Void = { try? await Task.sleep(for: .seconds($0)) },
        label: String = "caldav", health: CalendarHealth? = nil, observer: CalendarProviderObserver = CalendarProviderObserver()
    ) throws {
        guard let url = URL(string: config.url), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw CalendarProviderError.rejected("CalDAV url \(config.url.debugDescription) is not an absolute http(s) URL")
        }
        switch scheme {
        case "https": break
        case "http":
            guard config.allowPlaintext, Self.isLoopback(host) else {
                throw CalendarProviderError.rejected("CalDAV url \(config.url) uses plain http: allowed only for a loopback host with allow_plaintext")
            }
        default:
            throw CalendarProviderError.rejected("CalDAV url \(config.url) is not http(s)")
        }
        self.collectionURL = config.url.hasSuffix("/") ? config.url : config.url + "/"
        self.config = config
        self.client = client
        self.resolveSecret = resolveSecret
        self.floatingTimeZone = floatingTimeZone
        self.retry = retry
        self.logger = logger
        self.sleep = sleep
        self.label = label
        self.health = health
        self.observer = observer
        health?.register(provider: label, kind: "caldav")
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The resource URL of an event: the collection plus the percent-encoded UID and `.ics`.
    public func resourceURL(uid: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~@")
        return collectionURL + (uid.addingPercentEncoding(withAllowedCharacters: allowed) ?? uid) + ".ics"
    }

    // MARK: - CalendarProvider

    public func busyTimes(in range: DateInterval) async throws -> [DateInterval] {
        try await observed("busy") { try await queryBusyTimes(in: range) }
    }

    private func queryBusyTimes(in range: DateInterval) async throws -> [DateInterval] {
        let body = """
            <?xml version="1.0" encoding="utf-8"?>
            <C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
              <D:prop><D:getetag/><C:calendar-data/></D:prop>
              <C:filter>
                <C:comp-filter name="VCALENDAR">
                  <C:comp-filter name="VEVENT">
                    <C:time-range start="\(Self.caldavTime(range.start))" end="\(Self.caldavTime(range.end))"/>
                  </C:comp-filter>
                </C:comp-filter>
              </C:filter>
            </C:calendar-query>
            """
        let reply = try await send(
            .REPORT, collectionURL, operation: "REPORT",
            headers: [("Depth", "1"), ("Content-Type", "application/xml; charset=utf-8")], body: body
        )
        guard (200..<300).contains(reply.status) else { throw failure(reply, operation: "REPORT") }
        var problems: [String] = []
        var calendarData: [String] = []
        if let multistatus = CalDAVMultistatus.parse(reply.body) {
            for response in multistatus.responses {
                if !(200..<300).contains(response.status) {
                    problems.append("\(response.href) answered \(response.status)")
                } else if let data = response.calendarData {
                    calendarData.append(data)
                } else if response.href.hasSuffix("/") {
                    continue  // the collection itself, listed by some servers
                } else {
                    problems.append("\(response.href) came without calendar data")
                }
            }
        } else {
            problems.append("the REPORT answer is not a DAV multistatus document")
        }
        let expansion = RecurrenceExpansion.busyTimes(calendarData: calendarData, overlapping: range, floatingTimeZone: floatingTimeZone)
        problems += expansion.problems
        if !problems.isEmpty {
            logger.warning("CalDAV calendar answered with errors; the whole range counts as busy", metadata: [
                "caldav.url": "\(collectionURL)", "caldav.problems": "\(problems.count)", "caldav.problem": "\(problems[0])",
            ])
            return [range]
        }
        return expansion.intervals
    }

    public func createEvent(_ event: CalendarEvent) async throws -> ProviderEventResult {
        try await observed("create", outcome: { $0.alreadyExisted ? "already_existed" : "ok" }) { try await putNewEvent(event) }
    }

    private func putNewEvent(_ event: CalendarEvent) async throws -> ProviderEventResult {
        let url = resourceURL(uid: event.uid)
        let body = try resource(event)
        let reply = try await send(
            .PUT, url, operation: "PUT",
            headers: [("If-None-Match", "*"), ("Content-Type", "text/calendar; charset=utf-8")], body: body
        )
        if (200..<300).contains(reply.status) { return ProviderEventResult(providerEventID: url) }
        guard reply.status == 412 else { throw failure(reply, operation: "PUT") }

        // The resource exists: ours from an earlier attempt, or another event under that name.
        let existing = try await send(.GET, url, operation: "GET", headers: [], body: nil)
        if existing.status == 404 || existing.status == 410 {
            throw CalendarProviderError.transient("CalDAV PUT \(url) answered 412 but the resource is gone; try again", retryAfter: nil)
        }
        guard (200..<300).contains(existing.status) else { throw failure(existing, operation: "GET") }
        let events = (try? ICalendar.parse(String(decoding: existing.body, as: UTF8.self))) ?? []
        guard events.contains(where: { $0.uid == event.uid }) else {
            throw CalendarProviderError.rejected("CalDAV resource \(url) exists and holds another event (not UID \(event.uid))")
        }
        logger.info("CalDAV event already existed", metadata: ["caldav.url": "\(url)", "event.uid": "\(event.uid)"])
        return ProviderEventResult(providerEventID: url, alreadyExisted: true)
    }

    /// Replaces the resource unconditionally. The daemon owns the resource (its name is the
    /// booking's UID) and an update carries the whole event with a higher SEQUENCE, so a
    /// conditional `If-Match` would only add a GET (no ETag is stored with bookings) and lose to
    /// the same race; if the host deleted the event meanwhile, the PUT makes it again, which is
    /// what a reschedule wants.
    public func updateEvent(_ event: CalendarEvent, providerEventID: String?) async throws -> ProviderEventResult {
        try await observed("update") {
            let url = resourceURL(for: event, providerEventID: providerEventID)
            let reply = try await send(.PUT, url, operation: "PUT", headers: [("Content-Type", "text/calendar; charset=utf-8")], body: try resource(event))
            guard (200..<300).contains(reply.status) else { throw failure(reply, operation: "PUT") }
            return ProviderEventResult(providerEventID: url)
        }
    }

    public func cancelEvent(_ event: CalendarEvent, providerEventID: String?) async throws {
        try await observed("cancel") {
            let url = resourceURL(for: event, providerEventID: providerEventID)
            let reply = try await send(.DELETE, url, operation: "DELETE", headers: [], body: nil)
            if (200..<300).contains(reply.status) || reply.status == 404 || reply.status == 410 { return }
            throw failure(reply, operation: "DELETE")
        }
    }

    /// Runs one provider operation: its outcome to health and the observer.
    private func observed<T>(_ operation: String, outcome: (T) -> String = { _ in "ok" }, _ body: () async throws -> T) async throws -> T {
        try await observer.observe(operation, kind: kind, provider: label, health: health, outcome: outcome, body)
    }

    // MARK: - HTTP

    /// The stored resource URL when it lies in this collection (never send the credentials
    /// elsewhere), else the one derived from the UID.
    private func resourceURL(for event: CalendarEvent, providerEventID: String?) -> String {
        if let providerEventID, providerEventID.hasPrefix(collectionURL), providerEventID.count > collectionURL.count {
            return providerEventID
        }
        return resourceURL(uid: event.uid)
    }

    private func resource(_ event: CalendarEvent) throws -> String {
        do {
            return try ICalendar.serialize(event, method: nil)
        } catch {
            throw CalendarProviderError.rejected("event \(event.uid) is not valid iCalendar: \(error)")
        }
    }

    private struct Reply {
        var url: String
        var status: Int
        var body: Data
    }

    /// Sends one request, retrying 5xx, 429 and connection failures with backoff.
    private func send(_ method: HTTPMethod, _ url: String, operation: String, headers: [(String, String)], body: String?) async throws -> Reply {
        let password: String
        do {
            password = try resolveSecret(config.password)
        } catch {
            throw CalendarProviderError.reconnectNeeded("CalDAV password (\(config.password)) cannot be read: \(error)")
        }
        let credentials = Data("\(config.username):\(password)".utf8).base64EncodedString()
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Basic \(credentials)")
            request.headers.add(name: "User-Agent", value: "astralisd")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }

            let reason: String
            var retryAfter: TimeInterval?
            do {
                let response = try await client.execute(request, timeout: .milliseconds(Int64(config.timeoutSeconds * 1000)))
                let buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
                let status = Int(response.status.code)
                guard status >= 500 || status == 429 else {
                    return Reply(url: url, status: status, body: Data(buffer.readableBytesView))
                }
                reason = "answered \(status)"
                retryAfter = response.headers.first(name: "Retry-After").flatMap { TimeInterval($0.trimmingCharacters(in: .whitespaces)) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                reason = "failed: \(error)"
            }
            guard attempt < retry.maxAttempts else {
                throw CalendarProviderError.transient("CalDAV \(operation) \(url) \(reason) (\(attempt) attempts)", retryAfter: retryAfter)
            }
            let delay = min(retryAfter ?? retry.delay(afterAttempt: attempt), retry.maxDelay)
            observer.retry(kind, reason.hasPrefix("answered ") ? String(reason.dropFirst("answered ".count)) : "transport")
            logger.warning("CalDAV request failed; retrying", metadata: [
                "caldav.operation": "\(operation)", "caldav.url": "\(url)", "caldav.reason": "\(reason)",
                "caldav.attempt": "\(attempt)", "caldav.delay": "\(delay)",
            ])
            await sleep(delay)
        }
    }

    /// A final non-success answer as the provider error the job decides on.
    private func failure(_ reply: Reply, operation: String) -> CalendarProviderError {
        let text = String(decoding: reply.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let detail = "CalDAV \(operation) \(reply.url) answered \(reply.status)" + (text.isEmpty ? "" : ": \(text)")
        switch reply.status {
        case 401, 403: return .reconnectNeeded(detail)
        default: return .rejected(detail)
        }
    }

    /// `20260105T100000Z`.
    static func caldavTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}
