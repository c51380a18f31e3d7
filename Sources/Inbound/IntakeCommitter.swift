public import Core
public import Foundation
public import Logging

/// An inbound unit of work before it is durable.
public struct PendingIntake: Sendable {
    public var organization: String
    public var source: String
    public var sourceKind: SourceKind
    /// Idempotency key (webhook-id, Idempotency-Key, Message-ID...). Nil: every submission is new.
    public var dedupeKey: String?
    public var contentType: String
    public var raw: Data
    /// Set when the raw bytes are already durable in the blob store (a large message streamed
    /// there as it was fetched); `raw` is then empty and the committer stores nothing for it.
    public var storedRaw: BlobRef?
    public var metadata: [String: String]
    public var files: [UploadedFile]

    public init(organization: String, source: String, sourceKind: SourceKind, dedupeKey: String?, contentType: String, raw: Data, metadata: [String: String] = [:], files: [UploadedFile] = []) {
        self.organization = organization
        self.source = source
        self.sourceKind = sourceKind
        self.dedupeKey = dedupeKey
        self.contentType = contentType
        self.raw = raw
        self.metadata = metadata
        self.files = files
    }

    /// An intake whose raw bytes are already durable as `storedRaw`.
    public init(organization: String, source: String, sourceKind: SourceKind, dedupeKey: String?, contentType: String, storedRaw: BlobRef, metadata: [String: String] = [:], files: [UploadedFile] = []) {
        self.init(organization: organization, source: source, sourceKind: sourceKind, dedupeKey: dedupeKey, contentType: contentType, raw: Data(), metadata: metadata, files: files)
        self.storedRaw = storedRaw
    }
}

/// Makes intakes durable — raw bytes and attached files in the blob store, then the intake row
/// with its processing job — and only then answers. Submissions that arrive while a write is in
/// flight are committed together in the next write (group commit), so one fsync serves many
/// webhooks under load while a lone request still goes straight through.
public actor IntakeCommitter {
    private let store: any Store
    /// Where the committer stores bytes; also where callers stream large payloads first.
    public nonisolated let blobs: any BlobStore
    private let clock: any WallClock
    private let maxBatch: Int
    private let logger: Logger
    private let onCommitted: @Sendable (_ created: Int) -> Void

    private var pending: [(PendingIntake, CheckedContinuation<IntakeRecordResult, any Error>)] = []
    private var flushing = false

    public init(store: any Store, blobs: any BlobStore, clock: any WallClock = SystemWallClock(), maxBatch: Int, logger: Logger, onCommitted: @escaping @Sendable (_ created: Int) -> Void = { _ in }) {
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.maxBatch = max(1, maxBatch)
        self.logger = logger
        self.onCommitted = onCommitted
    }

    /// Returns once the intake is durable (or was already there: `.duplicate`).
    public func submit(_ intake: PendingIntake) async throws -> IntakeRecordResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((intake, continuation))
            if !flushing {
                flushing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let results = try await write(batch.map(\.0))
                for (index, entry) in batch.enumerated() { entry.1.resume(returning: results[index]) }
            } catch {
                logger.error("Intake batch not committed", metadata: ["intake.batch": "\(batch.count)", "error": "\(error)"])
                for entry in batch { entry.1.resume(throwing: error) }
            }
        }
        flushing = false
    }

    private func write(_ batch: [PendingIntake]) async throws -> [IntakeRecordResult] {
        let now = clock.now()
        // One entry per blob the batch names, in order: bytes to store, or a ref already stored.
        var payloads: [Data] = []
        var stored: [Int: BlobRef] = [:]
        for item in batch {
            if let ref = item.storedRaw { stored[payloads.count] = ref }
            payloads.append(item.storedRaw == nil ? item.raw : Data())
            for file in item.files {
                if let ref = file.stored { stored[payloads.count] = ref }
                payloads.append(file.stored == nil ? file.data : Data())
            }
        }
        // Small payloads ride in the intake transaction when the store can keep them; the rest
        // are made durable in the blob store first, so an intake never names a missing blob.
        let inlineLimit = store.inlineBlobLimit
        let toStore = payloads.indices.filter { stored[$0] == nil }
        let inline = toStore.map { payloads[$0] }.filter { $0.count <= inlineLimit }
        let separate = toStore.map { payloads[$0] }.filter { $0.count > inlineLimit }
        var separateRefs = try await blobs.putMany(separate).makeIterator()
        CrashPoint.reached(CrashPoint.afterBlobWrite)
        var refs: [BlobRef] = []
        refs.reserveCapacity(payloads.count)
        for (index, payload) in payloads.enumerated() {
            if let ref = stored[index] {
                refs.append(ref)
            } else if payload.count <= inlineLimit {
                refs.append(blobs.reference(for: payload))
            } else if let ref = separateRefs.next() {
                refs.append(ref)
            }
        }

        var cursor = 0
        var intakes: [NewIntake] = []
        var jobs: [NewJob] = []
        for item in batch {
            let id = Identifier.make(prefix: "in", at: now)
            let raw = refs[cursor]
            cursor += 1
            var documents: [Document] = []
            for file in item.files {
                let ref = refs[cursor]
                cursor += 1
                documents.append(Document(
                    id: Identifier.make(prefix: "doc", at: now), intakeID: id, filename: file.filename,
                    declaredType: file.declaredType, size: ref.size, blob: ref.sha256, origin: file.origin, createdAt: now
                ))
            }
            let intake = Intake(
                id: id, organization: item.organization, source: item.source, sourceKind: item.sourceKind, receivedAt: now,
                dedupeKey: item.dedupeKey ?? "unique:\(id)", rawBlob: raw.sha256, rawSize: raw.size,
                contentType: item.contentType, metadata: item.metadata
            )
            intakes.append(NewIntake(intake: intake, documents: documents))
            jobs.append(NewJob(kind: JobKind.processIntake, payload: .object(["intake": .string(id)])))
        }
        let results = try await store.recordIntakes(intakes, processJobs: jobs, inlineBlobs: inline)
        CrashPoint.reached(CrashPoint.afterIntakeCommit)
        let created = results.reduce(0) { count, result in if case .created = result { return count + 1 } else { return count } }
        if created > 0 { onCommitted(created) }
        return results
    }
}
