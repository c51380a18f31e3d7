public import Core
public import Foundation
import GRDB

extension SQLiteStore: WebhookDeliveryStore {
    static let webhookEndpointColumns = "organization, id, url, disabled_at, disabled_reason"
    static let webhookDeliveryColumns = """
        message_id, organization, endpoint, intake_id, job_id, state, attempts, last_status, last_error, \
        created_at, updated_at, delivered_at
        """

    public func webhookEndpoint(organization: String, endpoint: String) async throws -> WebhookEndpointState? {
        try await read("reading a webhook endpoint") { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.webhookEndpointColumns) FROM webhook_endpoints WHERE organization = ? AND id = ?",
                arguments: [organization, endpoint]
            ).map(WebhookEndpointState.init(stored:))
        }
    }

    public func disableWebhookEndpoint(organization: String, endpoint: String, url: String, reason: String) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("disabling a webhook endpoint") { db in
            // The first disabling wins: a second 410 from a delivery already in flight keeps the
            // original time and reason.
            try db.execute(
                sql: """
                    INSERT INTO webhook_endpoints (organization, id, url, disabled_at, disabled_reason, updated_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?4)
                    ON CONFLICT (organization, id) DO UPDATE SET
                        url = excluded.url, disabled_at = excluded.disabled_at,
                        disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at
                    WHERE webhook_endpoints.disabled_at IS NULL
                    """,
                arguments: [organization, endpoint, url, now, reason])
        }
    }

    @discardableResult
    public func enableWebhookEndpoint(organization: String, endpoint: String) async throws -> Bool {
        let now = clock.now().timeIntervalSince1970
        return try await write("enabling a webhook endpoint") { db in
            try db.execute(
                sql: """
                    UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, updated_at = ?
                    WHERE organization = ? AND id = ? AND disabled_at IS NOT NULL
                    """,
                arguments: [now, organization, endpoint])
            return db.changesCount > 0
        }
    }

    public func disabledWebhookEndpoints() async throws -> [WebhookEndpointState] {
        try await read("listing disabled webhook endpoints") { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.webhookEndpointColumns) FROM webhook_endpoints WHERE disabled_at IS NOT NULL ORDER BY organization, id"
            ).map(WebhookEndpointState.init(stored:))
        }
    }

    public func webhookDelivery(messageID: String) async throws -> WebhookDelivery? {
        try await read("reading a webhook delivery") { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.webhookDeliveryColumns) FROM webhook_deliveries WHERE message_id = ?",
                arguments: [messageID]
            ).map(WebhookDelivery.init(stored:))
        }
    }

    public func webhookDeliveries(intakeID: String) async throws -> [WebhookDelivery] {
        try await read("listing webhook deliveries") { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.webhookDeliveryColumns) FROM webhook_deliveries WHERE intake_id = ? ORDER BY endpoint",
                arguments: [intakeID]
            ).map(WebhookDelivery.init(stored:))
        }
    }

    public func recordWebhookDelivery(_ update: WebhookDeliveryUpdate, completing claim: JobClaim?) async throws {
        let now = clock.now().timeIntervalSince1970
        try await groupedWrite("recording a webhook delivery") { db in
            if let claim {
                // A lost lease is fine: the record below never leaves `delivered`.
                _ = try Self.markDone(jobID: claim.jobID, owner: claim.owner, now: now, in: db)
            }
            let counted = update.attempted ? 1 : 0
            let deliveredAt: Double? = update.state == .delivered ? now : nil
            try db.execute(
                sql: """
                    INSERT INTO webhook_deliveries (message_id, organization, endpoint, intake_id, job_id, state, attempts,
                        last_status, last_error, created_at, updated_at, delivered_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
                    ON CONFLICT (message_id) DO UPDATE SET
                        state = excluded.state, attempts = webhook_deliveries.attempts + ?7,
                        last_status = COALESCE(excluded.last_status, webhook_deliveries.last_status),
                        last_error = excluded.last_error, updated_at = excluded.updated_at,
                        delivered_at = excluded.delivered_at
                    WHERE webhook_deliveries.state != 'delivered'
                    """,
                arguments: [
                    update.messageID, update.organization, update.endpoint, update.intakeID, update.jobID,
                    update.state.rawValue, counted, update.status, update.error, now, deliveredAt,
                ])
        }
    }
}

extension WebhookEndpointState {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "webhook_endpoints")
        self.init(
            organization: try r.string("organization"),
            endpoint: try r.string("id"),
            url: try r.string("url"),
            disabledAt: try r.optionalDate("disabled_at"),
            disabledReason: try r.optionalString("disabled_reason"))
    }
}

extension WebhookDelivery {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "webhook_deliveries")
        self.init(
            messageID: try r.string("message_id"),
            organization: try r.string("organization"),
            endpoint: try r.string("endpoint"),
            intakeID: try r.string("intake_id"),
            jobID: try r.string("job_id"),
            state: try r.enumeration(WebhookDeliveryState.self, "state"),
            attempts: try r.int("attempts"),
            lastStatus: try r.optionalInt("last_status"),
            lastError: try r.optionalString("last_error"),
            createdAt: try r.date("created_at"),
            updatedAt: try r.date("updated_at"),
            deliveredAt: try r.optionalDate("delivered_at"))
    }
}
