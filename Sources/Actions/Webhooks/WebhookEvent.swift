public import Core
public import Foundation

/// The JSON body of an outbound webhook (docs/webhooks.md, "Body"). It is built once, when the
/// decision is committed, and stored with the delivery job: every attempt sends the same bytes.
public enum WebhookEvent {
    /// The event type of a forwarded intake.
    public static let forwardedType = "intake.forwarded"

    private struct Body: Encodable {
        var type: String
        var timestamp: Date
        var data: DataSection
    }

    private struct DataSection: Encodable {
        var organization: String
        var webhook: String
        var intake: IntakeSection
        var item: ItemSection?
        var decision: Decision
        var facts: Facts
    }

    private struct IntakeSection: Encodable {
        var id: String
        var source: String
        var sourceKind: SourceKind
        var receivedAt: Date
        var contentType: String
    }

    private struct ItemSection: Encodable {
        var id: String
        var pipeline: String
        var stage: String
        var priority: Priority
        var assignee: String?
        var tags: [String]
        var title: String
        var description: String?
        var fields: JSONValue
    }

    /// `{"type", "timestamp", "data": {"organization", "webhook", "intake", "item", "decision", "facts"}}`,
    /// keys sorted, dates in ISO 8601 (UTC).
    public static func body(webhook: String, intake: Intake, facts: Facts, decision: Decision, item: NewPipelineItem?, at timestamp: Date) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let body = Body(
            type: forwardedType, timestamp: timestamp,
            data: DataSection(
                organization: intake.organization, webhook: webhook,
                intake: IntakeSection(id: intake.id, source: intake.source, sourceKind: intake.sourceKind, receivedAt: intake.receivedAt, contentType: intake.contentType),
                item: item.map {
                    ItemSection(id: $0.id, pipeline: $0.route.pipeline, stage: $0.route.stage, priority: $0.route.priority, assignee: $0.route.assignee, tags: $0.route.tags, title: $0.title, description: $0.description, fields: $0.fields)
                },
                decision: decision, facts: facts))
        return try encoder.encode(body)
    }

    /// The `webhook-id` of the delivery of `intake` to `webhook`: derived, so it is the same on
    /// every attempt and for a re-run of the decision, and receivers can dedupe on it.
    public static func messageID(intake: String, webhook: String) -> String {
        "msg_\(intake)_\(webhook)"
    }

    /// The delivery job's id: one job per (intake, webhook), so a repeated commit queues nothing.
    public static func jobID(intake: String, webhook: String) -> String {
        "job_whk_\(intake)_\(webhook)"
    }
}
