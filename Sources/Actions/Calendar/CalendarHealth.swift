public import Core
public import Foundation
import Synchronization

/// How one host's calendar provider is doing, as the daemon shows it (health endpoint, metrics,
/// `astralisd` logs). Keyed by a label the daemon chooses, `calendar/host` by convention.
public struct CalendarProviderHealth: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Equatable, Codable, CaseIterable {
        /// Registered, no call made yet.
        case unknown
        /// The last call succeeded (or failed only because the request itself was refused).
        case ok
        /// The last call gave up on rate limits, 5xx or connection errors; it may recover alone.
        case degraded
        /// The credentials no longer work (OAuth `invalid_grant`, 401 after a refresh): an
        /// operator must reconnect the account. Stays until a call succeeds again.
        case reconnectNeeded = "reconnect_needed"
    }

    /// `calendar/host`.
    public var provider: String
    /// `local`, `caldav`, `google`.
    public var kind: String
    public var state: State
    /// The last failure's description (no secrets; Google's error reason and message).
    public var lastError: String?
    /// When `state` last changed.
    public var since: Date?
    public var lastSuccess: Date?
    public var lastFailure: Date?
    /// Failed calls since the last success (refused requests not counted).
    public var consecutiveFailures: Int

    public init(
        provider: String, kind: String, state: State = .unknown, lastError: String? = nil, since: Date? = nil, lastSuccess: Date? = nil,
        lastFailure: Date? = nil, consecutiveFailures: Int = 0
    ) {
        self.provider = provider
        self.kind = kind
        self.state = state
        self.lastError = lastError
        self.since = since
        self.lastSuccess = lastSuccess
        self.lastFailure = lastFailure
        self.consecutiveFailures = consecutiveFailures
    }
}

/// The health of every calendar provider of the process, updated by the providers after each
/// call and read by the daemon: `snapshot()` for `/readyz` or a health API, `reconnectNeeded`
/// for a warning, `onChange` to log or count transitions (the daemon wires it to its logger and
/// Prometheus gauges). One instance per daemon, shared by all providers; thread-safe.
public final class CalendarHealth: Sendable {
    private let entries = Mutex<[String: CalendarProviderHealth]>([:])
    private let changeHandler = Mutex<(@Sendable (CalendarProviderHealth) -> Void)?>(nil)
    private let clock: any WallClock

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    /// Called (outside the lock) whenever a provider's `state` changes, with its new entry.
    public func onChange(_ handler: @escaping @Sendable (CalendarProviderHealth) -> Void) {
        changeHandler.withLock { $0 = handler }
    }

    /// Makes `provider` visible as `unknown` before its first call (keeps an existing entry).
    public func register(provider: String, kind: String) {
        entries.withLock { table in
            if table[provider] == nil { table[provider] = CalendarProviderHealth(provider: provider, kind: kind) }
        }
    }

    /// Forgets every provider not in `providers` (a reload removed its calendar or host).
    public func retain(only providers: Set<String>) {
        entries.withLock { table in
            table = table.filter { providers.contains($0.key) }
        }
    }

    /// Every provider, by label.
    public func snapshot() -> [CalendarProviderHealth] {
        entries.withLock { Array($0.values) }.sorted { $0.provider < $1.provider }
    }

    public func health(of provider: String) -> CalendarProviderHealth? {
        entries.withLock { $0[provider] }
    }

    /// Labels of providers whose account must be reconnected.
    public var reconnectNeeded: [String] {
        snapshot().filter { $0.state == .reconnectNeeded }.map(\.provider)
    }

    /// A call succeeded.
    public func recordSuccess(provider: String, kind: String) {
        update(provider: provider, kind: kind) { entry, now in
            entry.lastSuccess = now
            entry.consecutiveFailures = 0
            return .ok
        }
    }

    /// A call failed with `error`. A refused request (`rejected`) says nothing about the account
    /// or the service: it is kept as `lastError` without changing the state.
    public func recordFailure(provider: String, kind: String, error: CalendarProviderError) {
        update(provider: provider, kind: kind) { entry, now in
            entry.lastError = error.description
            switch error {
            case .reconnectNeeded:
                entry.lastFailure = now
                entry.consecutiveFailures += 1
                return .reconnectNeeded
            case .transient:
                entry.lastFailure = now
                entry.consecutiveFailures += 1
                // A transient failure does not clear a reconnect-needed account.
                return entry.state == .reconnectNeeded ? .reconnectNeeded : .degraded
            case .rejected:
                return entry.state == .unknown ? .ok : entry.state
            }
        }
    }

    private func update(provider: String, kind: String, _ change: (inout CalendarProviderHealth, Date) -> CalendarProviderHealth.State) {
        let now = clock.now()
        let changed: CalendarProviderHealth? = entries.withLock { table in
            var entry = table[provider] ?? CalendarProviderHealth(provider: provider, kind: kind)
            let state = change(&entry, now)
            let transition = state != entry.state
            if transition {
                entry.state = state
                entry.since = now
            }
            table[provider] = entry
            return transition ? entry : nil
        }
        if let changed, let handler = changeHandler.withLock({ $0 }) { handler(changed) }
    }
}

/// Counts what calendar providers do; the daemon backs these with Prometheus metrics (declared
/// in Metrics.swift) when it wires providers. Every closure defaults to doing nothing.
public struct CalendarProviderObserver: Sendable {
    /// One provider call finished: kind (`google`), operation (`busy`, `create`, `update`,
    /// `cancel`), outcome (`ok`, `already_existed`, `reconnect_needed`, `transient`, `rejected`),
    /// seconds including retries.
    public var call: @Sendable (_ kind: String, _ operation: String, _ outcome: String, _ seconds: Double) -> Void
    /// One HTTP attempt will be retried after a rate limit / 5xx / connection error: kind, reason
    /// (`429`, `403 rateLimitExceeded`, `503`, `transport`).
    public var retry: @Sendable (_ kind: String, _ reason: String) -> Void
    /// One OAuth token refresh: `ok`, `reconnect_needed`, `transient`, `rejected`.
    public var tokenRefresh: @Sendable (_ outcome: String) -> Void

    public init(
        call: @escaping @Sendable (String, String, String, Double) -> Void = { _, _, _, _ in },
        retry: @escaping @Sendable (String, String) -> Void = { _, _ in },
        tokenRefresh: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.call = call
        self.retry = retry
        self.tokenRefresh = tokenRefresh
    }
}

extension CalendarProviderObserver {
    /// Runs one provider operation and reports it: the call metric with its outcome and
    /// duration, and success or failure to `health` under `provider`. A failure is what
    /// `classify` makes of the error (by default only `CalendarProviderError`s count);
    /// cancellation is never the provider's health. The error is rethrown unchanged.
    public func observe<T>(
        _ operation: String, kind: String, provider: String, health: CalendarHealth?, outcome: (T) -> String = { _ in "ok" },
        classify: (any Error) -> CalendarProviderError? = { $0 as? CalendarProviderError }, _ body: () async throws -> T
    ) async throws -> T {
        let started = ContinuousClock.now
        func seconds() -> Double {
            let elapsed = ContinuousClock.now - started
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        do {
            let value = try await body()
            health?.recordSuccess(provider: provider, kind: kind)
            call(kind, operation, outcome(value), seconds())
            return value
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let failure = classify(error) {
                health?.recordFailure(provider: provider, kind: kind, error: failure)
                call(kind, operation, failure.outcome, seconds())
            }
            throw error
        }
    }
}

extension CalendarProviderError {
    /// The outcome label of metrics and logs.
    public var outcome: String {
        switch self {
        case .reconnectNeeded: return "reconnect_needed"
        case .transient: return "transient"
        case .rejected: return "rejected"
        }
    }
}
