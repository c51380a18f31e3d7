public import Core
import Foundation
import GRDB
import Synchronization
public import Logging

/// The embedded backend: the durable state and the job queue in one SQLite file.
///
/// One type implements both ``Store`` and ``JobQueue`` so that a state change and the jobs it
/// causes (an intake and its processing job, a decision and its follow-ups) commit in the same
/// transaction: a crash can never leave one without the other.
///
/// The file is opened through a GRDB `DatabasePool`: WAL journal, one writer connection that
/// serialises every write transaction, concurrent readers. Writes commit with
/// `synchronous = FULL`, so a call that returned has reached the disk. GRDB runs database work on
/// its own dispatch queues, never on the caller's thread, so the async methods do not block the
/// cooperative thread pool.
///
/// Every "now" is read from the injected ``WallClock``.
public final class SQLiteStore: Store, JobQueue {
    let pool: DatabasePool
    /// Shares transactions between concurrent per-job writes (decisions, completions, failures).
    let groupCommitter: GroupCommitter
    let clock: any WallClock
    private let retryPolicy: Mutex<RetryPolicy>
    /// Backoff and the default attempt budget; a configuration reload replaces it.
    public var retry: RetryPolicy {
        get { retryPolicy.withLock { $0 } }
        set { retryPolicy.withLock { $0 = newValue } }
    }
    /// Draws the backoff jitter unit in `[0, 1)`; injectable so tests see exact delays.
    let jitter: @Sendable () -> Double
    let logger: Logger

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - path: The database file. Its directory must exist.
    ///   - clock: The source of every timestamp and of "now" for leases and run-at times.
    ///   - retry: Backoff and the default attempt budget for failed jobs.
    ///   - jitter: A uniform draw in `[0, 1)` that picks the jitter of each backoff delay.
    ///   - logger: Receives queue events (dead-lettered jobs, late completions).
    /// - Throws: ``StoreError/unavailable(_:)`` when the file cannot be opened or migrated, or
    ///   was written by a newer version.
    public init(
        path: String,
        clock: any WallClock = SystemWallClock(),
        retry: RetryPolicy = RetryPolicy(),
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger
    ) throws {
        self.clock = clock
        self.retryPolicy = Mutex(retry)
        self.jitter = jitter
        self.logger = logger

        var configuration = Configuration()
        configuration.label = "astralisd.store"
        configuration.foreignKeysEnabled = true
        // Another process (an `astralisd` CLI command) may briefly hold the write lock.
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }

        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // DatabasePool switches the writer to WAL *after* `prepareDatabase` and sets
            // `synchronous = NORMAL` while doing so, which may lose the last commits on power
            // failure. Intakes are acknowledged as durable, so put FULL back on the one writer
            // connection (it lives as long as the pool).
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            let migrator = SQLiteSchema.migrator
            let superseded = try pool.read { db in try migrator.hasBeenSuperseded(db) }
            if superseded {
                throw StoreError.unavailable("\(path) was written by a newer version of astralisd; refusing to open it")
            }
            try migrator.migrate(pool)
        } catch {
            throw Self.storeError(error, while: "opening the database at \(path)")
        }
        self.pool = pool
        self.groupCommitter = GroupCommitter(pool: pool)
    }

    // MARK: - Source state

    /// The stored progress marker of an inbound source (for example an IMAP folder's UIDVALIDITY
    /// and last seen UID), or nil when the source has none yet.
    public func sourceState(_ key: String) async throws -> String? {
        try await read("reading source state") { db in
            try String.fetchOne(db, sql: "SELECT value FROM source_state WHERE key = ?", arguments: [key])
        }
    }

    /// Stores the progress marker of an inbound source, replacing the previous one.
    public func setSourceState(_ key: String, _ value: String) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("writing source state") { db in
            try db.execute(
                sql: """
                    INSERT INTO source_state (key, value, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                    """,
                arguments: [key, value, now])
        }
    }

    // MARK: - Database access

    /// Runs `body` in one write transaction (IMMEDIATE, so it never fails half-way on lock upgrade)
    /// and maps SQLite errors to ``StoreError``. `operation` names the work for operators.
    func write<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw Self.storeError(error, while: operation)
        }
    }

    /// Like ``write(_:_:)``, but the commit does not wait for the disk (`synchronous = NORMAL` for
    /// this one transaction). Only for changes that are harmless to lose on a power cut, such as
    /// a job lease: the WAL is one file written in order, so the next durable commit (or
    /// checkpoint) carries this one to the disk with it, and a process crash loses nothing. Until
    /// then a power cut rolls it back, and the database is as if it never happened.
    func unsyncedWrite<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Setting the level only flips a flag on the connection; SQLite refuses it only
                // inside a transaction, and `inTransaction` has closed its own by then.
                defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw StoreError.unavailable("\(operation): the transaction ended without a result") }
                return result
            }
        } catch {
            throw Self.storeError(error, while: operation)
        }
    }

    /// Runs `body` on a reader connection, against a snapshot of the last committed state.
    func read<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw Self.storeError(error, while: operation)
        }
    }

    /// Translates an error from GRDB or row decoding into a ``StoreError`` whose text is fine for
    /// an operator: the SQLite result code and message, never SQL or bound values.
    static func storeError(_ error: any Error, while operation: String) -> any Error {
        switch error {
        case is StoreError, is CancellationError:
            return error
        case let error as UnreadableRow:
            return StoreError.unavailable("\(operation): \(error)")
        case let error as DatabaseError:
            let detail = "SQLite \(error.extendedResultCode.rawValue): \(error.message ?? "no message")"
            let what: String
            switch error.resultCode {
            case .SQLITE_CONSTRAINT:
                return StoreError.conflict("\(operation): \(detail)")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                what = "the database stayed locked by another connection past the busy timeout"
            case .SQLITE_IOERR:
                what = "disk I/O error"
            case .SQLITE_FULL:
                what = "the disk is full"
            case .SQLITE_CANTOPEN:
                what = "cannot open the database file (missing directory or permissions?)"
            case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
                what = "the database is not writable"
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                what = "the database file is damaged or not an SQLite database"
            default:
                what = "database error"
            }
            return StoreError.unavailable("\(operation): \(what) (\(detail))")
        default:
            return StoreError.unavailable("\(operation): \(error)")
        }
    }
}

// MARK: - Writing rows shared by both protocols

extension SQLiteStore {
    /// Inserts jobs as `ready`. A job whose id already exists is left as it is, so enqueueing
    /// with a deterministic id (an action id) is idempotent.
    /// A job with its payload already serialised: the hot write paths encode before they take
    /// the writer, so the serial part of a commit does only SQL.
    struct EncodedJob: Sendable {
        let id: String
        let kind: String
        let payload: String
        let maxAttempts: Int?
        let runAt: Date?

        init(_ job: NewJob) {
            id = job.id
            kind = job.kind
            payload = StoredJSON.encode(job.payload)
            maxAttempts = job.maxAttempts
            runAt = job.runAt
        }
    }

    func insertJobs(_ jobs: [NewJob], now: Date, in db: Database) throws {
        try insertJobs(jobs.map(EncodedJob.init), now: now, in: db)
    }

    func insertJobs(_ jobs: [EncodedJob], now: Date, in db: Database) throws {
        guard !jobs.isEmpty else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
            VALUES (?, ?, ?, 'ready', 0, ?, ?, ?, ?)
            ON CONFLICT (id) DO NOTHING
            """)
        let created = now.timeIntervalSince1970
        for job in jobs {
            let maxAttempts = max(1, job.maxAttempts ?? retry.maxAttempts)
            let runAt = (job.runAt ?? now).timeIntervalSince1970
            try statement.execute(arguments: [
                job.id, job.kind, job.payload, maxAttempts, runAt, created, created,
            ])
        }
    }

    func insertActivity(_ entry: ActivityEntry, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO activity (id, organization, item_id, intake_id, actor, action, detail, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).execute(arguments: [
            entry.id, entry.organization, entry.itemID, entry.intakeID, entry.actor, entry.action, entry.detail,
            entry.at.timeIntervalSince1970,
        ])
    }
}
