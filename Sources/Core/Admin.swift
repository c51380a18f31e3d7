public import Foundation
import Synchronization

/// What an admin API token may do. Each role includes the ones before it.
public enum AdminRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Reads: health details, redacted config, rules, pipelines, items, intakes, jobs, audit.
    case viewer
    /// Also moves and assigns items, retries or discards dead jobs, pauses and resumes sources.
    case `operator`
    /// Also replaces config and rules and manages tokens.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .operator: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: AdminRole, rhs: AdminRole) -> Bool { lhs.rank < rhs.rank }
}

/// A stored admin token: only the SHA-256 of its secret is kept.
public struct AdminToken: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var role: AdminRole
    /// nil: sees every organization; else only this one's data.
    public var organization: String?
    /// Lower-case hex SHA-256 of the whole token string.
    public var sha256: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(id: String, name: String, role: AdminRole, organization: String?, sha256: String, createdAt: Date, expiresAt: Date?, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.organization = organization
        self.sha256 = sha256
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Usable at `now`: not revoked, not expired.
    public func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}

/// One audited admin action: who (token), when, from where, what, and a redacted diff.
public struct AuditEntry: Sendable, Codable, Equatable {
    public var id: String
    /// The token id; `cli` for commands run on the host.
    public var actor: String
    /// The client address as the listener saw it.
    public var address: String
    /// `config.replaced`, `rules.replaced`, `item.moved`, `job.retried`, `source.paused`, `token.created`, ...
    public var action: String
    /// What the action was applied to (item id, job id, source id, file path).
    public var target: String
    /// The organization the target belongs to; nil for daemon-wide actions.
    public var organization: String?
    /// Redacted change: never a secret.
    public var detail: JSONValue
    public var at: Date

    public init(id: String = Identifier.make(prefix: "aud"), actor: String, address: String, action: String, target: String, organization: String?, detail: JSONValue, at: Date) {
        self.id = id
        self.actor = actor
        self.address = address
        self.action = action
        self.target = target
        self.organization = organization
        self.detail = detail
        self.at = at
    }
}

/// Storage the admin API needs beyond ``Store`` and ``JobQueue``: tokens, the audit log, source
/// pauses, item assignment and dead-job discard.
public protocol AdminStore: Sendable {
    func createToken(_ token: AdminToken, audit: AuditEntry?) async throws
    /// Every token, newest first (with hashes; callers never show them).
    func tokens() async throws -> [AdminToken]
    func token(sha256: String) async throws -> AdminToken?
    /// Marks a token revoked; false when there is no such token. Revoking twice keeps the first time.
    func revokeToken(id: String, at: Date, audit: AuditEntry?) async throws -> Bool

    func appendAudit(_ entry: AuditEntry) async throws
    /// Newest first; `organization` nil lists everything, else only that organization's entries.
    func audit(organization: String?, limit: Int, before: String?) async throws -> [AuditEntry]

    /// Persists a source's pause state with its audit entry in one transaction.
    func setSourcePaused(_ source: String, paused: Bool, audit: AuditEntry?) async throws
    func pausedSources() async throws -> Set<String>

    /// Moves an item to `stage` and/or sets its assignee (nil: unchanged; empty string: unassigned),
    /// with one activity entry per change and the audit entry, in one transaction.
    func updateItem(id: String, stage: String?, assignee: String?, actor: String, audit: AuditEntry?) async throws -> PipelineItem
    /// Deletes a dead job (an operator gave up on it), with the audit entry.
    /// - Throws: ``StoreError/notFound(_:)``, or ``StoreError/conflict(_:)`` when it is not dead.
    func discardJob(id: String, audit: AuditEntry?) async throws
    /// Retries a dead job with the audit entry in the same transaction.
    func retryJob(id: String, audit: AuditEntry?) async throws

    /// `[kind: [state: count]]` over the jobs whose payload `intake` belongs to `organization`
    /// (nil: every job).
    func jobCounts(organization: String?) async throws -> [String: [String: Int]]
    /// Dead jobs, most recently dead first, optionally only those of `organization`'s intakes.
    func deadJobs(organization: String?, limit: Int) async throws -> [Job]
    /// The organization of the intake a job's payload names (`{"intake": ID}`), or nil.
    func jobOrganization(id: String) async throws -> String?
}

/// The sources an operator paused, shared by the admin API (writes) and the webhook ingress,
/// mailbox pollers and spool watchers (read at each request or sync).
public final class SourcePauses: Sendable {
    private let paused: Mutex<Set<String>>

    public init(_ initial: Set<String> = []) {
        paused = Mutex(initial)
    }

    public func isPaused(_ source: String) -> Bool { paused.withLock { $0.contains(source) } }

    public func set(_ source: String, paused value: Bool) {
        paused.withLock { set in
            if value { set.insert(source) } else { set.remove(source) }
        }
    }

    public var all: Set<String> { paused.withLock { $0 } }
}
