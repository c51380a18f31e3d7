public import Core
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import Synchronization

/// A webhook source ready to take requests: its config and its verifier with resolved secrets.
public struct WebhookEndpoint: Sendable {
    public var config: SourceConfig
    public var verifier: WebhookVerifier

    public init(config: SourceConfig, verifier: WebhookVerifier) {
        self.config = config
        self.verifier = verifier
    }
}

/// The current set of webhook sources, replaced whole on reload so a request sees either the old
/// or the new set, never a mix.
public final class WebhookDirectory: Sendable {
    private let endpoints: Mutex<[String: WebhookEndpoint]>

    public init(_ endpoints: [WebhookEndpoint]) {
        self.endpoints = Mutex(Dictionary(endpoints.map { ($0.config.id, $0) }, uniquingKeysWith: { first, _ in first }))
    }

    public func replace(with endpoints: [WebhookEndpoint]) {
        let table = Dictionary(endpoints.map { ($0.config.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.endpoints.withLock { $0 = table }
    }

    public subscript(id: String) -> WebhookEndpoint? { endpoints.withLock { $0[id] } }
}

/// Counters the ingress reports; the daemon maps them onto its metrics registry.
public struct IngressObserver: Sendable {
    public var accepted: @Sendable (_ source: String, _ duplicate: Bool) -> Void
    public var rejected: @Sendable (_ source: String, _ reason: String) -> Void

    public init(accepted: @escaping @Sendable (String, Bool) -> Void = { _, _ in }, rejected: @escaping @Sendable (String, String) -> Void = { _, _ in }) {
        self.accepted = accepted
        self.rejected = rejected
    }
}

/// Request context for the public listener: records the peer address for intake metadata.
public struct IngressRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are limited per source in the handler; this is only the framework's outer bound.
    public var maxUploadSize: Int { 100 << 20 }
}

/// `POST /hooks/{source}`: authenticate over the raw bytes, refuse what cannot be taken with the
/// right 4xx, make the intake durable, and only then answer 202.
public struct WebhookIngress: Sendable {
    public static let maxIdempotencyKeyBytes = 256
    // A valid token by construction: the name is a constant of letters and dashes.
    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key") ?? .contentType

    let directory: WebhookDirectory
    let committer: IntakeCommitter
    let store: any Store
    let clock: any WallClock
    let observer: IngressObserver
    let logger: Logger
    /// Sources an operator paused: answered 503 with Retry-After so senders retry later.
    let pauses: SourcePauses
    static let pausedRetryAfterSeconds = 60

    public init(directory: WebhookDirectory, committer: IntakeCommitter, store: any Store, clock: any WallClock = SystemWallClock(), observer: IngressObserver = IngressObserver(), logger: Logger, pauses: SourcePauses = SourcePauses()) {
        self.pauses = pauses
        self.directory = directory
        self.committer = committer
        self.store = store
        self.clock = clock
        self.observer = observer
        self.logger = logger
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/hooks/{source}") { request, context in
            await self.receive(request, source: context.parameters.get("source") ?? "", remote: (context as? any RemoteAddressRequestContext)?.remoteAddress)
        }
        router.get("/hooks/{source}/intakes/{id}") { _, context in
            await self.status(source: context.parameters.get("source") ?? "", id: context.parameters.get("id") ?? "")
        }
    }

    func receive(_ request: Request, source sourceID: String, remote: SocketAddress?) async -> Response {
        // Metadata is built only for lines that are written (swift-log's arguments are lazy).
        guard let endpoint = directory[sourceID] else {
            observer.rejected(sourceID, "unknown_source")
            return Problem.response(.notFound, detail: "no webhook source named \"\(sourceID)\"")
        }
        if pauses.isPaused(sourceID) {
            observer.rejected(sourceID, "paused")
            return Problem.response(.serviceUnavailable, detail: "this source is paused by an operator; retry later", extraHeaders: [.retryAfter: "\(Self.pausedRetryAfterSeconds)"])
        }
        let limit = endpoint.config.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            observer.rejected(sourceID, "too_large")
            return Problem.response(.contentTooLarge, detail: "body of \(declared) bytes exceeds this source's limit of \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            observer.rejected(sourceID, "too_large")
            return Problem.response(.contentTooLarge, detail: "body exceeds this source's limit of \(limit) bytes")
        } catch {
            observer.rejected(sourceID, "read_error")
            return Problem.response(.badRequest, detail: "the request body could not be read")
        }
        let body = Data(buffer.readableBytesView)

        let verified: VerifiedWebhook
        switch endpoint.verifier.verify(headers: request.headers, body: body, now: clock.now()) {
        case .success(let result):
            verified = result
        case .failure(let failure):
            observer.rejected(sourceID, "unauthorized")
            logger.notice("Webhook authentication failed", metadata: ["webhook.source": "\(sourceID)", "webhook.reason": "\(failure)", "net.peer": "\(remote.map { "\($0)" } ?? "-")"])
            var headers: HTTPFields = [:]
            if case .bearer = endpoint.config.auth { headers[.wwwAuthenticate] = "Bearer" }
            return Problem.response(.unauthorized, detail: "authentication failed", extraHeaders: headers)
        }

        let contentType = request.headers[.contentType]
        guard WebhookPayload.isSupported(contentType) else {
            observer.rejected(sourceID, "unsupported_type")
            return Problem.response(.unsupportedMediaType, detail: PayloadError.unsupportedMediaType(WebhookPayload.mediaType(contentType)).description)
        }
        let files: [UploadedFile]
        do {
            files = try WebhookPayload.accept(contentType: contentType, body: body)
        } catch {
            observer.rejected(sourceID, "malformed")
            return Problem.response(.badRequest, detail: error.description)
        }

        var dedupeKey: String?
        if let id = verified.webhookID {
            dedupeKey = "\(sourceID):webhook-id:\(id)"
        } else if let key = request.headers[Self.idempotencyKeyHeader] {
            guard !key.isEmpty, key.utf8.count <= Self.maxIdempotencyKeyBytes else {
                observer.rejected(sourceID, "malformed")
                return Problem.response(.badRequest, detail: "Idempotency-Key must be 1-\(Self.maxIdempotencyKeyBytes) bytes")
            }
            dedupeKey = "\(sourceID):idempotency-key:\(key)"
        }
        var metadata: [String: String] = ["auth": verified.scheme]
        if let remote { metadata["remote"] = "\(remote)" }
        if let agent = request.headers[.userAgent] { metadata["user_agent"] = String(agent.prefix(200)) }
        if let id = verified.webhookID { metadata["webhook_id"] = id }

        let pending = PendingIntake(
            organization: endpoint.config.organization, source: sourceID, sourceKind: .webhook, dedupeKey: dedupeKey,
            contentType: contentType ?? "", raw: body, metadata: metadata, files: files
        )
        let result: IntakeRecordResult
        do {
            result = try await committer.submit(pending)
        } catch {
            observer.rejected(sourceID, "store_unavailable")
            logger.error("Webhook not stored", metadata: ["webhook.source": "\(sourceID)", "error": "\(error)"])
            return Problem.response(.serviceUnavailable, detail: "the intake could not be stored; retry later", extraHeaders: [.retryAfter: "5"])
        }
        let intake = result.intake
        var duplicate = false
        if case .duplicate = result { duplicate = true }
        observer.accepted(sourceID, duplicate)
        logger.debug("Webhook accepted", metadata: ["webhook.source": "\(sourceID)", "intake.id": "\(intake.id)", "intake.duplicate": "\(duplicate)"])
        let statusURL = "/hooks/\(sourceID)/intakes/\(intake.id)"
        // Written directly rather than through JSONEncoder (the hot path's largest single cost):
        // every interpolated value is from a closed alphabet — source ids are [a-z0-9_-], intake
        // ids Crockford base32, statuses an enum — so nothing needs escaping.
        let answer = #"{"duplicate":\#(duplicate),"intake_id":"\#(intake.id)","status":"\#(intake.status.rawValue)","status_url":"\#(statusURL)"}"#
        return Response(status: .accepted, headers: [.contentType: "application/json", .location: statusURL], body: .init(byteBuffer: ByteBuffer(string: answer)))
    }

    func status(source: String, id: String) async -> Response {
        do {
            guard let intake = try await store.intake(id: id), intake.source == source else {
                return Problem.response(.notFound, detail: "no intake \(id) from source \(source)")
            }
            var body: [String: JSONValue] = [
                "intake_id": .string(intake.id),
                "status": .string(intake.status.rawValue),
                "received_at": .string(intake.receivedAt.formatted(.iso8601)),
            ]
            if let reason = intake.statusReason { body["status_reason"] = .string(reason) }
            return Problem.json(.ok, .object(body))
        } catch {
            logger.error("Intake status lookup failed", metadata: ["intake.id": "\(id)", "error": "\(error)"])
            return Problem.response(.serviceUnavailable, detail: "the store is unavailable; retry later", extraHeaders: [.retryAfter: "5"])
        }
    }
}
