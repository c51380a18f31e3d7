public import Foundation

/// A reference to bytes in the blob store.
public struct BlobRef: Sendable, Equatable, Codable {
    /// Lower-case hex SHA-256 of the bytes; the key they are stored under.
    public var sha256: String
    public var size: Int

    public init(sha256: String, size: Int) {
        self.sha256 = sha256
        self.size = size
    }
}

/// Content-addressed, durable byte storage. `put` returns only once the bytes are durable.
public protocol BlobStore: Sendable {
    /// The address `data` has (or would have) in this store, without storing it: callers that
    /// hand small blobs to `Store.recordIntakes` name them by it.
    func reference(for data: Data) -> BlobRef
    func put(_ data: Data) async throws -> BlobRef
    /// Stores several blobs with one durability barrier (group commit).
    func putMany(_ blobs: [Data]) async throws -> [BlobRef]
    func get(_ sha256: String) async throws -> Data
    func contains(_ sha256: String) async throws -> Bool
    /// A writer for one blob whose bytes arrive in pieces (a large message fetched in chunks, an
    /// attachment decoded as it is read), so they never need to be in memory at once.
    func makeWriter() throws -> any BlobWriter
    /// Where a stored blob can be read without loading it (the file tier), or nil when the store
    /// keeps it elsewhere (read it with `get`).
    func fileURL(for sha256: String) async throws -> URL?
}

/// One blob being written in pieces. `write` appends and `seal` ends the writing (both may block
/// on disk I/O: call them from a thread that may block, not from an event loop); `finish` makes
/// the bytes durable under their content address — computed while they were written — and
/// returns it; `discard` drops a write that will not finish. A writer is used by one caller at a
/// time and once.
public protocol BlobWriter: AnyObject, Sendable {
    /// Bytes appended so far.
    var bytesWritten: Int { get }
    func write(_ chunk: Data) throws
    /// No more bytes: flushes them and releases what the writer holds open (a file descriptor),
    /// so many sealed writers can wait for `finish`. `finish` seals when the caller did not.
    func seal() throws
    func finish() async throws -> BlobRef
    func discard()
}

extension BlobStore {
    /// Stores that cannot write in pieces collect the pieces and `put` them at the end.
    public func makeWriter() throws -> any BlobWriter { CollectingBlobWriter(store: self) }
    public func fileURL(for sha256: String) async throws -> URL? { nil }
}

/// The fallback writer: the pieces are joined in memory and stored with one `put`.
final class CollectingBlobWriter: BlobWriter, @unchecked Sendable {
    // @unchecked Sendable: a writer belongs to one caller at a time (BlobWriter's contract), so
    // `buffer` is never touched concurrently.
    private let store: any BlobStore
    private var buffer = Data()

    init(store: any BlobStore) {
        self.store = store
    }

    var bytesWritten: Int { buffer.count }

    func write(_ chunk: Data) throws {
        buffer.append(chunk)
    }

    func seal() throws {}

    func finish() async throws -> BlobRef {
        try await store.put(buffer)
    }

    func discard() {
        buffer = Data()
    }
}

/// Raised by backends; `description` is safe to show an operator, never an HTTP client.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case conflict(String)
    case unavailable(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let what): return "not found: \(what)"
        case .conflict(let what): return "conflict: \(what)"
        case .unavailable(let why): return "store unavailable: \(why)"
        case .invalid(let why): return "invalid: \(why)"
        }
    }
}

/// An intake to record, with the documents that arrived with it.
public struct NewIntake: Sendable, Equatable {
    public var intake: Intake
    public var documents: [Document]

    public init(intake: Intake, documents: [Document] = []) {
        self.intake = intake
        self.documents = documents
    }
}

/// What recording an intake did.
public enum IntakeRecordResult: Sendable, Equatable {
    /// Stored now, and its processing job queued in the same transaction.
    case created(Intake)
    /// An intake with the same organization and dedupe key already existed; nothing was written.
    case duplicate(Intake)

    public var intake: Intake {
        switch self {
        case .created(let intake), .duplicate(let intake): return intake
        }
    }
}

/// A pipeline item about to be written for a decision.
public struct NewPipelineItem: Sendable, Equatable {
    public var id: String
    public var route: Route
    public var title: String
    public var description: String?
    public var fields: JSONValue

    public init(id: String = Identifier.make(prefix: "it"), route: Route, title: String, description: String?, fields: JSONValue) {
        self.id = id
        self.route = route
        self.title = title
        self.description = description
        self.fields = fields
    }
}

/// Filters for listing items.
public struct ItemFilter: Sendable, Equatable {
    public var organization: String?
    public var pipeline: String?
    public var stage: String?
    public var assignee: String?
    public var limit: Int
    /// Items created strictly before this id (ids sort by time), for paging.
    public var before: String?
    /// Case-insensitive substring of the title or description.
    public var text: String?

    public init(organization: String? = nil, pipeline: String? = nil, stage: String? = nil, assignee: String? = nil, limit: Int = 100, before: String? = nil, text: String? = nil) {
        self.text = text
        self.organization = organization
        self.pipeline = pipeline
        self.stage = stage
        self.assignee = assignee
        self.limit = limit
        self.before = before
    }
}

/// Counts the admin port and metrics show.
public struct StoreCounts: Sendable, Equatable, Codable {
    public var intakesByStatus: [String: Int]
    public var items: Int

    public init(intakesByStatus: [String: Int], items: Int) {
        self.intakesByStatus = intakesByStatus
        self.items = items
    }
}

/// The durable state of the daemon. Implemented on SQLite today and PostgreSQL later; both run
/// the same contract tests.
public protocol Store: Sendable {
    /// Makes pipelines and stages from config known to the store (idempotent upsert).
    func syncPipelines(_ pipelines: [Pipeline]) async throws

    /// Records intakes and enqueues `processJobs[i]` for each new one, all in one transaction per
    /// call. Duplicates (same organization + dedupe key) return the existing intake and queue nothing.
    func recordIntakes(_ intakes: [NewIntake], processJobs: [NewJob]) async throws -> [IntakeRecordResult]

    /// The largest blob this store can keep inline with the intakes that reference it (0: none).
    /// Such blobs become durable in the intake's own transaction: one sync instead of two, and no
    /// blob without its intake.
    var inlineBlobLimit: Int { get }

    /// `recordIntakes`, storing `inlineBlobs` (each at most `inlineBlobLimit` bytes, content-addressed
    /// like a `BlobStore`) in the same transaction.
    func recordIntakes(_ intakes: [NewIntake], processJobs: [NewJob], inlineBlobs: [Data]) async throws -> [IntakeRecordResult]

    func intake(id: String) async throws -> Intake?
    func intake(organization: String, dedupeKey: String) async throws -> Intake?
    func documents(intakeID: String) async throws -> [Document]
    /// What an intake's processing job reads, in one go: the intake, its documents, and its raw
    /// bytes when this store keeps them inline (see `inlineBlobLimit`). Nil for an unknown intake.
    func processingInput(intakeID: String) async throws -> ProcessingInput?
    func setIntakeStatus(id: String, status: IntakeStatus, reason: String?) async throws

    /// Commits a decision: the item (if the decision routes), the intake's new status and decision,
    /// an activity entry and the follow-up jobs, in one transaction. Running it again for the same
    /// intake changes nothing and returns the item made the first time.
    /// With `completing`, the job that did this work is marked done in the same transaction (if
    /// its owner still holds the lease), saving a commit per job and leaving no window in which
    /// the effect is stored but the job would run again.
    func commitDecision(intakeID: String, decision: Decision, item: NewPipelineItem?, status: IntakeStatus, followUps: [NewJob], actor: String, completing: JobClaim?) async throws -> PipelineItem?

    func items(_ filter: ItemFilter) async throws -> [PipelineItem]
    func item(id: String) async throws -> PipelineItem?
    /// Moves an item to another stage of its pipeline (appended at the end), with an activity entry.
    func moveItem(id: String, toStage stage: String, actor: String) async throws -> PipelineItem
    func activity(itemID: String) async throws -> [ActivityEntry]
    func pipelines(organization: String?) async throws -> [Pipeline]

    func counts() async throws -> StoreCounts
    /// Cheap liveness check of the backend.
    func ping() async throws
}

/// An intake as its processing job first reads it.
public struct ProcessingInput: Sendable {
    public var intake: Intake
    public var documents: [Document]
    /// The raw bytes, when the store had them inline; nil: read `intake.rawBlob` from the blob store.
    public var inlineRaw: Data?

    public init(intake: Intake, documents: [Document], inlineRaw: Data?) {
        self.intake = intake
        self.documents = documents
        self.inlineRaw = inlineRaw
    }
}

extension Store {
    /// Two reads, and the raw bytes left to the blob store; a backend that can do better overrides it.
    public func processingInput(intakeID: String) async throws -> ProcessingInput? {
        guard let intake = try await intake(id: intakeID) else { return nil }
        return ProcessingInput(intake: intake, documents: try await documents(intakeID: intakeID), inlineRaw: nil)
    }

    public func commitDecision(intakeID: String, decision: Decision, item: NewPipelineItem?, status: IntakeStatus, followUps: [NewJob], actor: String) async throws -> PipelineItem? {
        try await commitDecision(intakeID: intakeID, decision: decision, item: item, status: status, followUps: followUps, actor: actor, completing: nil)
    }
}

/// A leased job and the worker holding it.
public struct JobClaim: Sendable, Equatable {
    public var jobID: String
    public var owner: String

    public init(jobID: String, owner: String) {
        self.jobID = jobID
        self.owner = owner
    }
}

/// The job queue: leases with expiry, retries with backoff, dead letters, delayed jobs.
public protocol JobQueue: Sendable {
    func enqueue(_ jobs: [NewJob]) async throws
    /// Leases up to `limit` runnable jobs (ready and due, or leased with an expired lease) to `owner`.
    /// For `intake.process` jobs the intake moves `received → processing` in the same transaction;
    /// one dead-lettered here (lease expired with no attempts left) marks its intake `failed`.
    /// `release` puts such an intake back to `received`.
    func lease(owner: String, limit: Int, leaseDuration: TimeInterval) async throws -> [Job]
    /// Extends a lease the owner still holds; false if it was lost.
    func heartbeat(jobID: String, owner: String, leaseDuration: TimeInterval) async throws -> Bool
    func complete(jobID: String, owner: String) async throws
    /// Records a failed attempt: retried later with backoff, or dead-lettered when permanent or out of attempts.
    /// For `intake.process` jobs the intake's status and reason follow in the same transaction
    /// (`processing` with the error while retrying, `failed` with it once dead).
    @discardableResult
    func fail(jobID: String, owner: String, error: String, permanent: Bool) async throws -> JobFailureOutcome
    /// `fail`, with the next attempt not before `notBefore` (when given) instead of the policy's
    /// backoff: an HTTP `Retry-After`.
    @discardableResult
    func fail(jobID: String, owner: String, error: String, permanent: Bool, notBefore: Date?) async throws -> JobFailureOutcome
    /// Gives a leased job back without counting the attempt (graceful shutdown).
    func release(jobID: String, owner: String) async throws
    func job(id: String) async throws -> Job?
    func stats() async throws -> JobStats
    func deadLetters(limit: Int) async throws -> [Job]
    /// Makes a dead job ready again with a fresh attempt budget.
    func retry(jobID: String) async throws
    /// Deletes up to `limit` `done` jobs last changed before `cutoff`, oldest first; returns how
    /// many. Dead jobs are never purged: they wait for an operator.
    func purgeDoneJobs(finishedBefore cutoff: Date, limit: Int) async throws -> Int
}
