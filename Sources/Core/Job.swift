public import Foundation

/// Job states in the queue. `ready` jobs whose run-at has come are leased by workers; a `leased`
/// job whose lease expired is ready again (its worker crashed); `dead` is the dead-letter state.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case ready, leased, done, dead
}

/// A unit of background work, at least once; handlers are idempotent.
public struct Job: Sendable, Codable, Equatable {
    public var id: String
    public var kind: String
    public var payload: JSONValue
    public var state: JobState
    /// Attempts started so far (a lease counts as an attempt).
    public var attempts: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, kind: String, payload: JSONValue, state: JobState, attempts: Int, maxAttempts: Int,
        runAt: Date, leaseOwner: String?, leaseExpiresAt: Date?, lastError: String?, createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A job to enqueue. `runAt` nil means now.
public struct NewJob: Sendable, Equatable {
    public var id: String
    public var kind: String
    public var payload: JSONValue
    public var runAt: Date?
    public var maxAttempts: Int?

    public init(id: String = Identifier.make(prefix: "job"), kind: String, payload: JSONValue, runAt: Date? = nil, maxAttempts: Int? = nil) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.runAt = runAt
        self.maxAttempts = maxAttempts
    }
}

/// Job kinds known to the daemon.
public enum JobKind {
    /// Turn an intake into Facts, decide, and commit the item: payload `{"intake": ID}`.
    public static let processIntake = "intake.process"
    /// POST a forwarded intake to an outbound webhook: payload `{"organization", "webhook",
    /// "intake", "message_id", "body"}` (the body is fixed when the decision is committed).
    public static let deliverWebhook = "webhook.deliver"
}

/// How a failed attempt was handled.
public enum JobFailureOutcome: Sendable, Equatable {
    /// Will run again at this time.
    case retryAt(Date)
    /// Moved to the dead-letter state.
    case dead
}

/// Thrown by a job handler for failures that retrying cannot fix (bad input, a 5xx-permanent
/// answer): the job goes straight to the dead-letter state with this reason.
public struct PermanentJobError: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Thrown by a job handler whose attempt failed for now and whose other side said when to come
/// back (HTTP `Retry-After`): the job runs again at `notBefore` instead of after the usual backoff,
/// unless it is out of attempts.
public struct RetryLaterJobError: Error, CustomStringConvertible {
    public var reason: String
    public var notBefore: Date
    public init(_ reason: String, notBefore: Date) {
        self.reason = reason
        self.notBefore = notBefore
    }
    public var description: String { reason }
}

/// Exponential backoff with jitter: attempt n waits `base · 2^(n-1)`, capped at `max`, then
/// scaled by a factor drawn uniformly from `[1 - jitter, 1]` so that failing jobs spread out.
public struct RetryPolicy: Sendable, Equatable {
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval
    public var maxAttempts: Int
    /// Fraction of the delay that is randomised, 0...1.
    public var jitter: Double

    public init(baseDelay: TimeInterval = 2, maxDelay: TimeInterval = 3600, maxAttempts: Int = 8, jitter: Double = 0.25) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before the next attempt after `attempt` attempts failed. `unit` in `[0, 1)` picks
    /// the jitter (0 → shortest, →1 → full delay).
    public func delay(afterAttempt attempt: Int, unit: Double) -> TimeInterval {
        let exponent = Double(max(0, attempt - 1))
        let raw = min(maxDelay, baseDelay * pow(2, min(exponent, 62)))
        let factor = 1 - jitter + jitter * min(max(unit, 0), 1)
        return raw * factor
    }

    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        delay(afterAttempt: attempt, unit: Double.random(in: 0..<1))
    }
}

/// Counts for operators and metrics.
public struct JobStats: Sendable, Equatable, Codable {
    /// `[kind: [state: count]]`
    public var counts: [String: [String: Int]]
    /// Age of the oldest ready job whose run-at has passed, in seconds (0 when none).
    public var oldestReadyAge: TimeInterval

    public init(counts: [String: [String: Int]], oldestReadyAge: TimeInterval) {
        self.counts = counts
        self.oldestReadyAge = oldestReadyAge
    }

    public func total(_ state: JobState) -> Int {
        counts.values.reduce(0) { $0 + ($1[state.rawValue] ?? 0) }
    }
}
