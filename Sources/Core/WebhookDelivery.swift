public import Foundation

/// The stored state of an outbound webhook endpoint. An endpoint that answered `410 Gone` is
/// disabled: later forwards to it are skipped (and recorded) until the operator re-enables it or
/// its URL changes in the configuration.
public struct WebhookEndpointState: Sendable, Equatable, Codable {
    public var organization: String
    public var endpoint: String
    /// The URL the endpoint had when it was disabled.
    public var url: String
    public var disabledAt: Date?
    public var disabledReason: String?

    public init(organization: String, endpoint: String, url: String, disabledAt: Date?, disabledReason: String?) {
        self.organization = organization
        self.endpoint = endpoint
        self.url = url
        self.disabledAt = disabledAt
        self.disabledReason = disabledReason
    }

    public var isDisabled: Bool { disabledAt != nil }
}

/// Where one outbound delivery stands.
public enum WebhookDeliveryState: String, Sendable, Codable, CaseIterable {
    /// Queued or being retried.
    case pending
    /// A 2xx answer was received.
    case delivered
    /// Given up: a permanent answer (4xx other than 408/429, 410, redirect, refused destination)
    /// or out of attempts. The job is in the dead-letter state with the same reason.
    case dead
    /// Not sent because the endpoint is disabled (410 Gone earlier).
    case skipped
}

/// One delivery of one intake to one endpoint, keyed by its Standard Webhooks `webhook-id`.
public struct WebhookDelivery: Sendable, Equatable, Codable {
    /// The `webhook-id` header: the same on every attempt; receivers dedupe on it.
    public var messageID: String
    public var organization: String
    public var endpoint: String
    public var intakeID: String
    public var jobID: String
    public var state: WebhookDeliveryState
    /// HTTP requests made so far.
    public var attempts: Int
    /// The last HTTP status received (nil: none, e.g. a timeout).
    public var lastStatus: Int?
    /// Why the last attempt did not deliver (status line and body excerpt, or the error).
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var deliveredAt: Date?

    public init(messageID: String, organization: String, endpoint: String, intakeID: String, jobID: String, state: WebhookDeliveryState, attempts: Int, lastStatus: Int?, lastError: String?, createdAt: Date, updatedAt: Date, deliveredAt: Date?) {
        self.messageID = messageID
        self.organization = organization
        self.endpoint = endpoint
        self.intakeID = intakeID
        self.jobID = jobID
        self.state = state
        self.attempts = attempts
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deliveredAt = deliveredAt
    }
}

/// What one attempt (or a skip) did to a delivery.
public struct WebhookDeliveryUpdate: Sendable, Equatable {
    public var messageID: String
    public var organization: String
    public var endpoint: String
    public var intakeID: String
    public var jobID: String
    public var state: WebhookDeliveryState
    /// False for a skip: no HTTP request was made.
    public var attempted: Bool
    public var status: Int?
    public var error: String?

    public init(messageID: String, organization: String, endpoint: String, intakeID: String, jobID: String, state: WebhookDeliveryState, attempted: Bool, status: Int?, error: String?) {
        self.messageID = messageID
        self.organization = organization
        self.endpoint = endpoint
        self.intakeID = intakeID
        self.jobID = jobID
        self.state = state
        self.attempted = attempted
        self.status = status
        self.error = error
    }
}

/// Outbound webhook bookkeeping: endpoint state (410 → disabled) and delivery records.
public protocol WebhookDeliveryStore: Sendable {
    /// The stored state of an endpoint; nil when it was never disabled.
    func webhookEndpoint(organization: String, endpoint: String) async throws -> WebhookEndpointState?
    /// Marks an endpoint disabled (idempotent: the first reason and time are kept).
    func disableWebhookEndpoint(organization: String, endpoint: String, url: String, reason: String) async throws
    /// Re-enables a disabled endpoint; false when it was not disabled.
    @discardableResult
    func enableWebhookEndpoint(organization: String, endpoint: String) async throws -> Bool
    /// Every disabled endpoint, for health and the operator.
    func disabledWebhookEndpoints() async throws -> [WebhookEndpointState]
    func webhookDelivery(messageID: String) async throws -> WebhookDelivery?
    func webhookDeliveries(intakeID: String) async throws -> [WebhookDelivery]
    /// Records an attempt or a skip (creating the record on first use). A delivered record never
    /// changes again. With `completing`, the job is marked done in the same transaction (if its
    /// owner still holds the lease), so a delivery and its job's completion are one commit.
    func recordWebhookDelivery(_ update: WebhookDeliveryUpdate, completing: JobClaim?) async throws
}
