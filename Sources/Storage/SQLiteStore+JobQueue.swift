public import Core
public import Foundation
import GRDB
import Logging

extension SQLiteStore {
    public func enqueue(_ jobs: [NewJob]) async throws {
        guard !jobs.isEmpty else { return }
        let now = clock.now()
        try await write("enqueueing jobs") { db in
            try self.insertJobs(jobs, now: now, in: db)
        }
    }

    /// Leases up to `limit` runnable jobs to `owner`, oldest run-at first, counting an attempt for
    /// each. A leased job whose lease expired (its worker died) is runnable again, unless it has
    /// used all its attempts: then it is dead-lettered here instead, so a job that kills its
    /// worker every time cannot circulate forever.
    public func lease(owner: String, limit: Int, leaseDuration: TimeInterval) async throws -> [Job] {
        guard limit > 0 else { return [] }
        let now = clock.now()
        let nowSeconds = now.timeIntervalSince1970
        let expiresAt = now.addingTimeInterval(leaseDuration).timeIntervalSince1970

        // A lease lost to a power cut leaves the job ready and its intake received, which a new
        // start handles like any other due job: the lease need not wait for the disk.
        let (leased, lost) = try await unsyncedWrite("leasing jobs") { db -> ([Job], [String]) in
            let lostRows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    UPDATE jobs
                    SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1,
                        last_error = 'lease expired after ' || attempts || ' attempts (worker lost)'
                    WHERE state = 'leased' AND lease_expires_at <= ?1 AND attempts >= max_attempts
                    RETURNING \(Columns.job)
                    """),
                arguments: [nowSeconds])
            let lostJobs = try lostRows.map(Job.init(stored:))
            for job in lostJobs {
                try Self.markIntake(of: job, status: .failed, reason: "processing gave up: \(job.lastError ?? "lease expired")", from: [.received, .processing], now: nowSeconds, in: db)
            }
            let lost = lostJobs.map(\.id)

            // Two index walks that each stop after `limit` rows, merged here, instead of one OR
            // query that would sort every due job on each lease.
            let due = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, run_at FROM jobs WHERE state = 'ready' AND run_at <= ?
                    ORDER BY run_at, id LIMIT ?
                    """),
                arguments: [nowSeconds, limit])
            let expired = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, run_at FROM jobs WHERE state = 'leased' AND lease_expires_at <= ?
                    ORDER BY run_at, id LIMIT ?
                    """),
                arguments: [nowSeconds, limit])
            let candidates = try (due + expired)
                .map { row in
                    let r = StoredRow(row, table: "jobs")
                    return (id: try r.string("id"), runAt: try r.date("run_at"))
                }
                .sorted { ($0.runAt, $0.id) < ($1.runAt, $1.id) }
                .prefix(limit)

            let take = try db.cachedStatement(sql: """
                UPDATE jobs
                SET state = 'leased', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ?
                WHERE id = ?
                RETURNING \(Columns.job)
                """)
            let jobs = try candidates.compactMap { candidate in
                try Row.fetchOne(take, arguments: [owner, expiresAt, nowSeconds, candidate.id]).map(Job.init(stored:))
            }
            // The intake's status follows its processing job in the same transaction, so it never
            // says `received` while a worker holds the job, and it costs no commit of its own.
            for job in jobs {
                try Self.markIntake(of: job, status: .processing, reason: nil, from: [.received], now: nowSeconds, in: db)
            }
            return (jobs, lost)
        }

        for id in lost {
            logger.warning(
                "Job dead-lettered: its lease expired with no attempts left",
                metadata: ["job.id": "\(id)"])
        }
        return leased
    }

    /// Extends the lease if `owner` still holds it. A lease that has expired but was not yet
    /// taken by another worker is still held.
    public func heartbeat(jobID: String, owner: String, leaseDuration: TimeInterval) async throws -> Bool {
        let now = clock.now()
        return try await write("extending a job lease") { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET lease_expires_at = ?, updated_at = ?
                    WHERE id = ? AND state = 'leased' AND lease_owner = ?
                    """,
                arguments: [now.addingTimeInterval(leaseDuration).timeIntervalSince1970, now.timeIntervalSince1970, jobID, owner])
            return db.changesCount > 0
        }
    }

    /// Marks the job done. When `owner` no longer holds the lease (it expired and another worker
    /// took the job) this changes nothing: the job's current holder decides its fate.
    /// Moves the intake an `intake.process` job works on to `status`, if it is in one of `from`.
    /// Jobs of other kinds are left alone.
    static func markIntake(of job: Job, status: IntakeStatus, reason: String?, from: [IntakeStatus], now: TimeInterval, in db: Database) throws {
        guard job.kind == JobKind.processIntake, let intakeID = job.payload["intake"]?.stringValue else { return }
        let placeholders = Array(repeating: "?", count: from.count).joined(separator: ", ")
        var arguments: StatementArguments = [status.rawValue, reason, now, intakeID]
        arguments += StatementArguments(from.map(\.rawValue))
        try db.execute(
            sql: "UPDATE intakes SET status = ?, status_reason = ?, updated_at = ? WHERE id = ? AND status IN (\(placeholders))",
            arguments: arguments)
    }

    /// Marks a leased job done if `owner` still holds it; false when the lease was lost.
    static func markDone(jobID: String, owner: String, now: TimeInterval, in db: Database) throws -> Bool {
        try db.execute(
            sql: """
                UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND state = 'leased' AND lease_owner = ?
                """,
            arguments: [now, jobID, owner])
        return db.changesCount > 0
    }

    public func complete(jobID: String, owner: String) async throws {
        let now = clock.now().timeIntervalSince1970
        let completed = try await groupedWrite("completing a job") { db in
            try Self.markDone(jobID: jobID, owner: owner, now: now, in: db)
        }
        if !completed {
            logger.notice(
                "Job finished after its lease was lost; completion ignored",
                metadata: ["job.id": "\(jobID)", "job.owner": "\(owner)"])
        }
    }

    /// Records a failed attempt. The job is dead-lettered when `permanent` or out of attempts,
    /// otherwise scheduled again after the retry policy's backoff.
    ///
    /// - Throws: ``StoreError/notFound(_:)`` for an unknown job; ``StoreError/conflict(_:)`` when
    ///   `owner` no longer holds the lease, in which case nothing changes (there is no honest
    ///   outcome to report for a job someone else now runs).
    @discardableResult
    public func fail(jobID: String, owner: String, error: String, permanent: Bool) async throws -> JobFailureOutcome {
        try await fail(jobID: jobID, owner: owner, error: error, permanent: permanent, notBefore: nil)
    }

    /// ``fail(jobID:owner:error:permanent:)``; a retry runs at `notBefore` (no earlier than now,
    /// no later than the policy's `maxDelay` from now) instead of after the backoff.
    @discardableResult
    public func fail(jobID: String, owner: String, error: String, permanent: Bool, notBefore: Date?) async throws -> JobFailureOutcome {
        let now = clock.now()
        let retry = self.retry
        let jitter = self.jitter
        let outcome = try await groupedWrite("recording a job failure") { db -> JobFailureOutcome in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Columns.job) FROM jobs WHERE id = ?"), arguments: [jobID])
            else {
                throw StoreError.notFound("job \(jobID)")
            }
            let job = try Job(stored: row)
            guard job.state == .leased, job.leaseOwner == owner else {
                throw StoreError.conflict("job \(jobID) is not leased by \(owner)")
            }

            if permanent || job.attempts >= job.maxAttempts {
                try db.execute(
                    sql: """
                        UPDATE jobs SET state = 'dead', last_error = ?, lease_owner = NULL, lease_expires_at = NULL,
                            updated_at = ?
                        WHERE id = ?
                        """,
                    arguments: [error, now.timeIntervalSince1970, jobID])
                let reason = permanent ? "processing failed: \(error)" : "processing gave up after \(job.attempts) attempts: \(error)"
                try Self.markIntake(of: job, status: .failed, reason: reason, from: [.received, .processing], now: now.timeIntervalSince1970, in: db)
                return .dead
            }
            let runAt: Date
            if let notBefore {
                runAt = min(max(notBefore, now), now.addingTimeInterval(retry.maxDelay))
            } else {
                runAt = now.addingTimeInterval(retry.delay(afterAttempt: job.attempts, unit: jitter()))
            }
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'ready', run_at = ?, last_error = ?, lease_owner = NULL,
                        lease_expires_at = NULL, updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [runAt.timeIntervalSince1970, error, now.timeIntervalSince1970, jobID])
            // Still being worked on; the reason tells an operator why it is taking a while.
            try Self.markIntake(of: job, status: .processing, reason: "attempt \(job.attempts) failed, retrying: \(error)", from: [.received, .processing], now: now.timeIntervalSince1970, in: db)
            return .retryAt(runAt)
        }
        if outcome == .dead {
            logger.warning(
                "Job dead-lettered",
                metadata: ["job.id": "\(jobID)", "job.permanent": "\(permanent)"])
        }
        return outcome
    }

    /// Hands a leased job back, ready at once, without counting the attempt. Like ``complete(jobID:owner:)``
    /// it changes nothing when `owner` no longer holds the lease.
    public func release(jobID: String, owner: String) async throws {
        let now = clock.now().timeIntervalSince1970
        let released = try await groupedWrite("releasing a job") { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    UPDATE jobs SET state = 'ready', attempts = MAX(attempts - 1, 0), run_at = ?1,
                        lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
                    WHERE id = ?2 AND state = 'leased' AND lease_owner = ?3
                    RETURNING \(Columns.job)
                    """,
                arguments: [now, jobID, owner])
            guard let row else { return false }
            // Nobody works on the intake any more: it waits again, as it did before the lease.
            try Self.markIntake(of: try Job(stored: row), status: .received, reason: nil, from: [.processing], now: now, in: db)
            return true
        }
        if !released {
            logger.notice(
                "Job released after its lease was lost; release ignored",
                metadata: ["job.id": "\(jobID)", "job.owner": "\(owner)"])
        }
    }

    public func job(id: String) async throws -> Job? {
        try await read("reading a job") { db in
            try Row.fetchOne(db, sql: "SELECT \(Columns.job) FROM jobs WHERE id = ?", arguments: [id])
                .map(Job.init(stored:))
        }
    }

    public func stats() async throws -> JobStats {
        let now = clock.now()
        return try await read("counting jobs") { db in
            var counts: [String: [String: Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state") {
                let r = StoredRow(row, table: "jobs")
                counts[try r.string("kind"), default: [:]][try r.string("state")] = try r.int("n")
            }
            let oldest = try Double.fetchOne(
                db,
                sql: "SELECT MIN(run_at) FROM jobs WHERE state = 'ready' AND run_at <= ?",
                arguments: [now.timeIntervalSince1970])
            let age = oldest.map { max(0, now.timeIntervalSince1970 - $0) } ?? 0
            return JobStats(counts: counts, oldestReadyAge: age)
        }
    }

    public func purgeDoneJobs(finishedBefore cutoff: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        return try await write("purging finished jobs") { db in
            try db.execute(
                sql: """
                    DELETE FROM jobs WHERE id IN (
                        SELECT id FROM jobs WHERE state = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?
                    )
                    """,
                arguments: [cutoff.timeIntervalSince1970, limit])
            return db.changesCount
        }
    }

    /// Dead jobs, most recently dead-lettered first.
    public func deadLetters(limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        return try await read("listing dead jobs") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Columns.job) FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT ?",
                arguments: [limit]
            ).map(Job.init(stored:))
        }
    }

    /// Makes a dead job ready now with its attempts reset; `lastError` is kept for reference.
    ///
    /// - Throws: ``StoreError/notFound(_:)`` for an unknown job; ``StoreError/conflict(_:)`` for a
    ///   job that is not dead.
    public func retry(jobID: String) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("retrying a dead job") { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [jobID]) else {
                throw StoreError.notFound("job \(jobID)")
            }
            guard state == JobState.dead.rawValue else {
                throw StoreError.conflict("job \(jobID) is \(state), not dead")
            }
            try db.execute(
                sql: "UPDATE jobs SET state = 'ready', attempts = 0, run_at = ?1, updated_at = ?1 WHERE id = ?2",
                arguments: [now, jobID])
        }
    }
}
