public import Core
public import Foundation
public import Logging

/// Metrics hooks (the Daemon owns the registry).
public struct DocumentObserver: Sendable {
    public var finished: @Sendable (_ outcome: String, _ seconds: Double) -> Void
    /// A long-lived extraction worker was replaced: `crash`, `timeout`, `cpu_limit`, `exit`,
    /// `bad_output`, `lost`, `exited`, `recycled` or `settings_changed`.
    public var workerReplaced: @Sendable (_ reason: String) -> Void

    public init(finished: @escaping @Sendable (String, Double) -> Void = { _, _ in }, workerReplaced: @escaping @Sendable (String) -> Void = { _ in }) {
        self.finished = finished
        self.workerReplaced = workerReplaced
    }
}

/// Extraction for an intake's documents: PENDING → PROCESSING → COMPLETED | FAILED | UNSUPPORTED.
/// The type is sniffed and the pre-decode limits are checked here (no decoding); everything that
/// decodes runs in an `astralisd-extract` child: a long-lived worker of `workers` when set (the
/// daemon), else a one-shot child per document (`ExtractionSandbox`), at most `concurrency`
/// children at once. Finished documents are skipped, so a retried job does not
/// extract again.
public struct DocumentPipeline: Sendable {
    let store: any DocumentStore
    let blobs: any BlobStore
    let sandbox: @Sendable () -> ExtractionSandbox
    let slots: ExtractionSlots
    let observer: DocumentObserver
    /// The field model (`documents.model`) in force, read per document so a reload takes effect;
    /// nil: local extraction only.
    public var fieldModel: @Sendable () -> (any FieldExtractionModel)? = { nil }
    /// Long-lived workers (the daemon's); without them every document starts its own child.
    public var workers: ExtractionWorkerPool?

    public init(store: any DocumentStore, blobs: any BlobStore, concurrency: Int, observer: DocumentObserver = DocumentObserver(), sandbox: @escaping @Sendable () -> ExtractionSandbox) {
        self.store = store
        self.blobs = blobs
        self.sandbox = sandbox
        self.slots = ExtractionSlots(concurrency)
        self.observer = observer
    }

    /// Extracts every unfinished document of `documents` (in parallel, bounded), stores each
    /// outcome, and returns the outcomes of all of them by document id.
    public func process(_ documents: [Document], intakeID: String, logger: Logger) async throws -> [String: DocumentOutcome] {
        let pending = documents.filter { $0.status == .pending || $0.status == .processing }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for document in pending {
                group.addTask { try await self.extract(document, logger: logger) }
            }
            try await group.waitForAll()
        }
        return try await store.documentOutcomes(intakeID: intakeID)
    }

    func extract(_ document: Document, logger: Logger) async throws {
        guard try await store.markDocumentProcessing(id: document.id) else { return }
        let started = ContinuousClock.now
        // A blob kept as a file (large attachments) is mapped, not read: sniffing and the header
        // limits touch only what they look at, and the child reads the file itself.
        let file = try await blobs.fileURL(for: document.blob)
        let data: Data
        if let file {
            data = try Data(contentsOf: file, options: .alwaysMapped)
        } else {
            data = try await blobs.get(document.blob)
        }
        let settings = sandbox().settings
        let type = DocumentType.sniff(data)
        var outcome: DocumentOutcome
        if !type.isSupported {
            outcome = type.unsupportedOutcome(declaredType: document.declaredType, filename: document.filename)
        } else {
            do {
                try DocumentPreflight.check(data, type: type, limits: settings.limits)
                if let workers {
                    outcome = await workers.run(sandbox(), data: data, file: file, declaredType: document.declaredType, filename: document.filename)
                } else {
                    outcome = await slots.withSlot {
                        if let file { return await sandbox().run(file: file, declaredType: document.declaredType, filename: document.filename) }
                        return await sandbox().run(data, declaredType: document.declaredType, filename: document.filename)
                    }
                }
            } catch {
                outcome = DocumentOutcome(status: .failed, reason: "\(error)", detectedType: type.rawValue, typeMismatch: type.mismatch(declaredType: document.declaredType, filename: document.filename))
            }
        }
        if outcome.detectedType == nil { outcome.detectedType = type.rawValue }
        if outcome.typeMismatch == nil { outcome.typeMismatch = type.mismatch(declaredType: document.declaredType, filename: document.filename) }
        if let png = outcome.extraction?.thumbnailPNG {
            outcome.thumbnailBlob = try await blobs.put(png).sha256
            outcome.extraction?.thumbnailPNG = nil
        }
        // Page images are model input only: never stored with the extraction.
        let pageImages = outcome.extraction?.pageImages ?? []
        outcome.extraction?.pageImages = nil
        if outcome.status == .completed, let extraction = outcome.extraction {
            let found = await DocumentFieldsExtractor.fields(for: extraction, model: fieldModel(), images: pageImages, logger: logger)
            outcome.kind = found.kind
            outcome.fields = found.fields
        }
        try await store.recordDocumentOutcome(id: document.id, outcome)
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
        observer.finished(outcome.status.rawValue, seconds)
        var metadata: Logger.Metadata = [
            "document.id": "\(document.id)", "document.status": "\(outcome.status.rawValue)",
            "document.type": "\(outcome.detectedType ?? "-")", "document.pages": "\(outcome.extraction?.pageCount ?? 0)",
        ]
        if let reason = outcome.reason { metadata["document.reason"] = "\(reason)" }
        if let mismatch = outcome.typeMismatch { metadata["document.type_mismatch"] = "\(mismatch)" }
        logger.info("Document extracted", metadata: metadata)
    }
}

/// At most `limit` extraction children at once.
actor ExtractionSlots {
    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { self.limit = max(1, limit) }

    func withSlot<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        await acquire()
        let result = await body()
        release()
        return result
    }

    private func acquire() async {
        if running < limit {
            running += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
