public import Foundation

/// Where an intake came from.
public enum SourceKind: String, Sendable, Codable, CaseIterable {
    case webhook, imap, cli, spool
}

/// The lifecycle of an intake: `received → processing → routed → done | failed | review`.
public enum IntakeStatus: String, Sendable, Codable, CaseIterable {
    /// Raw bytes and the intake row are durable; a processing job is queued.
    case received
    /// A worker holds the processing job.
    case processing
    /// A decision was made and its item committed; follow-up actions may still run.
    case routed
    /// Everything the decision asked for has been carried out.
    case done
    /// Processing failed permanently; `statusReason` says why.
    case failed
    /// The decision asked for a human to look before anything else happens.
    case review
}

/// One inbound unit of work — a webhook submission, an email, a spooled file — as stored before
/// anything is decided about it. The raw bytes live in the blob store under `rawBlob`.
public struct Intake: Sendable, Codable, Equatable {
    public var id: String
    public var organization: String
    public var source: String
    public var sourceKind: SourceKind
    public var receivedAt: Date
    /// Unique per organization: the same key again is the same intake (idempotency).
    public var dedupeKey: String
    /// SHA-256 (hex) of the raw bytes in the blob store.
    public var rawBlob: String
    public var rawSize: Int
    /// Media type of the raw bytes as received (`application/json`, `message/rfc822`, ...).
    public var contentType: String
    public var status: IntakeStatus
    public var statusReason: String?
    /// Free-form metadata recorded at intake (remote address, signature scheme, header subset).
    public var metadata: [String: String]
    public var decision: Decision?
    public var itemID: String?
    public var updatedAt: Date

    public init(
        id: String, organization: String, source: String, sourceKind: SourceKind, receivedAt: Date,
        dedupeKey: String, rawBlob: String, rawSize: Int, contentType: String,
        status: IntakeStatus = .received, statusReason: String? = nil, metadata: [String: String] = [:],
        decision: Decision? = nil, itemID: String? = nil, updatedAt: Date? = nil
    ) {
        self.id = id
        self.organization = organization
        self.source = source
        self.sourceKind = sourceKind
        self.receivedAt = receivedAt
        self.dedupeKey = dedupeKey
        self.rawBlob = rawBlob
        self.rawSize = rawSize
        self.contentType = contentType
        self.status = status
        self.statusReason = statusReason
        self.metadata = metadata
        self.decision = decision
        self.itemID = itemID
        self.updatedAt = updatedAt ?? receivedAt
    }
}

/// Processing state of a document (an attachment or uploaded file).
public enum DocumentStatus: String, Sendable, Codable, CaseIterable {
    case pending, processing, completed, failed, unsupported
}

/// A file that arrived with an intake. Text extraction fills in the rest later.
public struct Document: Sendable, Codable, Equatable {
    public var id: String
    public var intakeID: String
    /// Sanitised filename as the sender named it (may be empty).
    public var filename: String
    /// The type the sender declared; never trusted for decoding.
    public var declaredType: String
    public var size: Int
    /// SHA-256 (hex) of the bytes in the blob store.
    public var blob: String
    /// Form field name (multipart) or MIME part path it came from.
    public var origin: String
    public var status: DocumentStatus
    public var statusReason: String?
    public var createdAt: Date

    public init(
        id: String, intakeID: String, filename: String, declaredType: String, size: Int, blob: String,
        origin: String, status: DocumentStatus = .pending, statusReason: String? = nil, createdAt: Date
    ) {
        self.id = id
        self.intakeID = intakeID
        self.filename = filename
        self.declaredType = declaredType
        self.size = size
        self.blob = blob
        self.origin = origin
        self.status = status
        self.statusReason = statusReason
        self.createdAt = createdAt
    }
}
