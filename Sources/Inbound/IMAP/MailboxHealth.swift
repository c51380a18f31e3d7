public import Foundation
import Synchronization

/// What the daemon knows about each polled folder, for `/readyz` and `/metrics`.
public final class MailboxHealth: Sendable {
    /// One folder's state.
    public struct Snapshot: Sendable, Equatable {
        public var source: String
        public var folder: String
        /// `starting`, `syncing`, `idle`, `polling`, `standby` (another instance holds the lease), `failing`.
        public var state: String
        public var startedAt: Date
        public var lastSync: Date?
        /// When the current IDLE began; nil when not idling.
        public var idleSince: Date?
        public var consecutiveFailures: Int
        public var lastError: String?
        public var unhealthyAfter: TimeInterval
        /// Messages left on the server because they were too large, since start.
        public var skipped: Int

        /// Healthy while the last successful sync (or the start) is younger than `unhealthyAfter`;
        /// a standby folder (polled by another instance) is healthy.
        public func isHealthy(at now: Date) -> Bool {
            if state == "standby" { return true }
            return now.timeIntervalSince(lastSync ?? startedAt) < unhealthyAfter
        }
    }

    private let entries = Mutex<[String: Snapshot]>([:])

    public init() {}

    private static func key(_ source: String, _ folder: String) -> String { "\(source)\u{0}\(folder)" }

    public func register(source: String, folder: String, unhealthyAfter: TimeInterval, at now: Date = Date()) {
        entries.withLock {
            $0[Self.key(source, folder)] = Snapshot(
                source: source, folder: folder, state: "starting", startedAt: now, lastSync: nil, idleSince: nil,
                consecutiveFailures: 0, lastError: nil, unhealthyAfter: unhealthyAfter, skipped: 0)
        }
    }

    public func update(source: String, folder: String, _ body: (inout Snapshot) -> Void) {
        entries.withLock { table in
            let key = Self.key(source, folder)
            guard var entry = table[key] else { return }
            body(&entry)
            table[key] = entry
        }
    }

    public func remove(source: String, folder: String) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(source, folder)) }
    }

    public func snapshots() -> [Snapshot] {
        entries.withLock { Array($0.values) }.sorted { ($0.source, $0.folder) < ($1.source, $1.folder) }
    }

    public func snapshot(source: String, folder: String) -> Snapshot? {
        entries.withLock { $0[Self.key(source, folder)] }
    }
}

/// Counters a poller reports; the daemon maps them onto its metrics registry.
public struct MailboxObserver: Sendable {
    /// `outcome`: `ingested`, `duplicate`, `skipped_too_large`.
    public var message: @Sendable (_ source: String, _ folder: String, _ outcome: String) -> Void
    public var failure: @Sendable (_ source: String, _ folder: String, _ kind: String) -> Void

    public init(
        message: @escaping @Sendable (_ source: String, _ folder: String, _ outcome: String) -> Void = { _, _, _ in },
        failure: @escaping @Sendable (_ source: String, _ folder: String, _ kind: String) -> Void = { _, _, _ in }
    ) {
        self.message = message
        self.failure = failure
    }
}
