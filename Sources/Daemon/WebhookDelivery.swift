import Actions
import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore

/// An outbound webhook as configured, with its secrets read.
struct OutboundEndpoint: Sendable {
    var organization: String
    var config: OutboundWebhook
    var signer: WebhookSigner?
    var headers: [(String, String)]

    static func key(organization: String, id: String) -> String { "\(organization)/\(id)" }
}

extension Array where Element == NewJob {
    /// The `webhook.deliver` jobs for a decision's forwards: one per (intake, webhook), with a
    /// derived id, so committing the same decision twice queues nothing twice. The body is built
    /// here, once, and every attempt sends exactly these bytes.
    static func webhookDeliveries(forwards: [ForwardRequest], intake: Intake, facts: Facts, decision: Decision, item: NewPipelineItem?, endpoints: [String: OutboundEndpoint], at now: Date) throws -> [NewJob] {
        var seen = Set<String>()
        var jobs: [NewJob] = []
        for forward in forwards where seen.insert(forward.webhook).inserted {
            let endpoint = endpoints[OutboundEndpoint.key(organization: intake.organization, id: forward.webhook)]
            let body = try WebhookEvent.body(webhook: forward.webhook, intake: intake, facts: facts, decision: decision, item: item, at: now)
            jobs.append(NewJob(
                id: WebhookEvent.jobID(intake: intake.id, webhook: forward.webhook),
                kind: JobKind.deliverWebhook,
                payload: .object([
                    "organization": .string(intake.organization),
                    "webhook": .string(forward.webhook),
                    "intake": .string(intake.id),
                    "message_id": .string(WebhookEvent.messageID(intake: intake.id, webhook: forward.webhook)),
                    "body": .string(String(decoding: body, as: UTF8.self)),
                ]),
                maxAttempts: endpoint?.config.maxAttempts))
        }
        return jobs
    }
}

/// `webhook.deliver`: one signed POST per attempt. 2xx records the delivery and completes the job
/// in one transaction; 408/429/5xx/timeouts retry (Retry-After honoured); other answers and
/// refused destinations dead-letter the job with the reason; 410 also disables the endpoint, and
/// later deliveries to a disabled endpoint are skipped and recorded. Receivers dedupe on
/// `webhook-id`, which is the same on every attempt (the Standard Webhooks exactly-once contract).
struct WebhookDeliveryHandler: JobHandling {
    let store: any WebhookDeliveryStore
    let sender: WebhookSender
    /// The endpoints in force (they follow reloads).
    let endpoints: @Sendable () -> [String: OutboundEndpoint]
    let metrics: DaemonMetrics
    let logger: Logger

    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
        guard let organization = job.payload["organization"]?.stringValue, let webhook = job.payload["webhook"]?.stringValue,
              let intakeID = job.payload["intake"]?.stringValue, let messageID = job.payload["message_id"]?.stringValue,
              let body = job.payload["body"]?.stringValue
        else {
            throw PermanentJobError("webhook.deliver payload is incomplete")
        }
        var logger = self.logger
        logger[metadataKey: "webhook.endpoint"] = "\(organization)/\(webhook)"
        logger[metadataKey: "webhook.id"] = "\(messageID)"
        logger[metadataKey: "intake.id"] = "\(intakeID)"
        func update(_ state: WebhookDeliveryState, attempted: Bool, status: Int?, error: String?) -> WebhookDeliveryUpdate {
            WebhookDeliveryUpdate(messageID: messageID, organization: organization, endpoint: webhook, intakeID: intakeID, jobID: job.id, state: state, attempted: attempted, status: status, error: error)
        }

        if let existing = try await store.webhookDelivery(messageID: messageID), existing.state == .delivered {
            logger.debug("Outbound webhook already delivered")
            return .finished
        }
        guard let endpoint = endpoints()[OutboundEndpoint.key(organization: organization, id: webhook)] else {
            let reason = "outbound webhook \(webhook) is no longer configured for organization \(organization)"
            try await store.recordWebhookDelivery(update(.dead, attempted: false, status: nil, error: reason), completing: nil)
            metrics.webhookDelivery(endpoint: webhook, outcome: "failed", duration: nil)
            throw PermanentJobError(reason)
        }
        if let state = try await store.webhookEndpoint(organization: organization, endpoint: webhook), let since = state.disabledAt {
            if state.url == endpoint.config.url {
                let reason = "endpoint disabled since \(ISO8601DateFormatter().string(from: since)): \(state.disabledReason ?? "410 Gone")"
                try await store.recordWebhookDelivery(update(.skipped, attempted: false, status: nil, error: reason), completing: claim)
                metrics.webhookDelivery(endpoint: webhook, outcome: "skipped", duration: nil)
                logger.notice("Outbound webhook skipped: endpoint disabled", metadata: ["webhook.reason": "\(reason)"])
                return .completedWithEffects
            }
            // The configuration now names another URL: the 410 was about the old one.
            try await store.enableWebhookEndpoint(organization: organization, endpoint: webhook)
            logger.notice("Outbound webhook endpoint re-enabled: its URL changed")
        }

        let started = ContinuousClock.now
        let outcome = await sender.send(WebhookAttempt(
            url: endpoint.config.url, messageID: messageID, body: Data(body.utf8), signer: endpoint.signer, headers: endpoint.headers,
            timeout: endpoint.config.timeout, allowPrivate: endpoint.config.allowPrivate))
        let elapsed = ContinuousClock.now - started
        metrics.webhookDelivery(endpoint: webhook, outcome: outcome.name, duration: elapsed)
        let lastAttempt = job.attempts >= job.maxAttempts
        switch outcome {
        case .delivered(let status):
            try await store.recordWebhookDelivery(update(.delivered, attempted: true, status: status, error: nil), completing: claim)
            logger.info("Outbound webhook delivered", metadata: ["http.status": "\(status)", "job.attempt": "\(job.attempts)"])
            return .completedWithEffects
        case .retry(let status, let reason, let retryAfter):
            try await store.recordWebhookDelivery(update(lastAttempt ? .dead : .pending, attempted: true, status: status, error: reason), completing: nil)
            if let retryAfter, !lastAttempt {
                throw RetryLaterJobError(reason, notBefore: Date().addingTimeInterval(retryAfter))
            }
            throw DeliveryFailure(description: reason)
        case .permanent(let status, let reason):
            try await store.recordWebhookDelivery(update(.dead, attempted: true, status: status, error: reason), completing: nil)
            throw PermanentJobError(reason)
        case .gone(let reason):
            try await store.disableWebhookEndpoint(organization: organization, endpoint: webhook, url: endpoint.config.url, reason: reason)
            try await store.recordWebhookDelivery(update(.dead, attempted: true, status: 410, error: reason), completing: nil)
            logger.error("Outbound webhook endpoint disabled: it answered 410 Gone", metadata: ["webhook.reason": "\(reason)"])
            throw PermanentJobError("\(reason); endpoint disabled")
        }
    }

    struct DeliveryFailure: Error, CustomStringConvertible {
        var description: String
    }
}

/// The process's one HTTP client, used by the AI router and the outbound webhook sender. Unlike
/// `HTTPClient.shared` (which follows up to 20 redirects) it follows none: a receiver's `Location`
/// must not lead a delivery past the SSRF guard, and no API we call redirects. It lives as long
/// as the process, like `HTTPClient.shared`, so it is never shut down.
enum ProcessHTTPClient {
    static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
