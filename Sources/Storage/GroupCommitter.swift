import Core
import Foundation
import GRDB
import Synchronization

/// Merges write transactions that arrive together into one: each caller's work runs in its own
/// savepoint of a shared transaction, so a failing caller rolls back only its own changes, and
/// every caller is answered only after the shared transaction has committed. With
/// `synchronous=FULL` each commit is a disk sync; workers that finish jobs at the same moment
/// then share one sync instead of queueing behind each other's (and delaying webhook intake).
final class GroupCommitter: Sendable {
    struct Entry: Sendable {
        /// Runs the caller's work in a savepoint and keeps its outcome.
        let run: @Sendable (Database) -> Void
        /// Answers the caller: with its kept outcome, or with the shared commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Entry] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let maxBatch: Int
    private let state = Mutex(State())

    init(pool: DatabasePool, maxBatch: Int = 64) {
        self.pool = pool
        self.maxBatch = maxBatch
    }

    func submit(_ entry: Entry) {
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(entry)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { scheduleDrain() }
    }

    /// Queues one drain on the writer connection's own queue: the batch runs there directly,
    /// with no task of its own to hop through, and callers are answered from there.
    private func scheduleDrain() {
        pool.asyncWriteWithoutTransaction { db in self.drain(db) }
    }

    /// Commits one batch, then, if more work arrived meanwhile, queues the next drain behind
    /// whatever else is waiting for the writer (webhook intake), so neither starves the other.
    private func drain(_ db: Database) {
        let batch = state.withLock { state -> [Entry] in
            let batch = Array(state.pending.prefix(maxBatch))
            state.pending.removeFirst(batch.count)
            if batch.isEmpty { state.draining = false }
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try db.inTransaction(.immediate) {
                for entry in batch { entry.run(db) }
                return .commit
            }
            for entry in batch { entry.finish(nil) }
        } catch {
            for entry in batch { entry.finish(error) }
        }
        let more = state.withLock { state -> Bool in
            if state.pending.isEmpty {
                state.draining = false
                return false
            }
            return true
        }
        if more { scheduleDrain() }
    }
}

/// One caller's outcome, written inside the transaction and read after it commits.
final class OutcomeBox<Value: Sendable>: Sendable {
    private let outcome = Mutex<Result<Value, any Error>?>(nil)

    func set(_ result: Result<Value, any Error>) { outcome.withLock { $0 = result } }
    var result: Result<Value, any Error>? { outcome.withLock { $0 } }
}

extension SQLiteStore {
    /// Like `write`, but may share its transaction (and its disk sync) with other callers'
    /// work submitted at the same time; see ``GroupCommitter``.
    func groupedWrite<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let box = OutcomeBox<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let entry = GroupCommitter.Entry(
                run: { db in
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        if let value {
                            box.set(.success(value))
                        } else {
                            box.set(.failure(StoreError.unavailable("\(operation): no result")))
                        }
                    } catch {
                        box.set(.failure(error))
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: Self.storeError(commitError, while: operation))
                        return
                    }
                    switch box.result {
                    case .success(let value)?:
                        continuation.resume(returning: value)
                    case .failure(let error)?:
                        continuation.resume(throwing: Self.storeError(error, while: operation))
                    case nil:
                        continuation.resume(throwing: StoreError.unavailable("\(operation): the transaction ended without running it"))
                    }
                }
            )
            groupCommitter.submit(entry)
        }
    }
}
