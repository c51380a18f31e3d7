public import Core
public import Foundation

/// Turns a stored intake back into the Facts routing sees. Runs in the processing job, from the
/// durable raw bytes, so a job re-run after a crash sees exactly what the first run saw.
public enum FactsBuilder {
    /// Form fields commonly used for the sender's address and the subject line, in order of preference.
    static let fromFields = ["email", "from", "sender", "reply_to"]
    static let subjectFields = ["subject", "title", "topic"]
    static let textFields = ["message", "body", "text", "comments", "description"]

    public static func facts(for intake: Intake, raw: Data, documents: [Document]) throws -> Facts {
        switch intake.sourceKind {
        case .webhook, .cli:
            let decoded: DecodedPayload
            do {
                decoded = try WebhookPayload.decode(contentType: intake.contentType, body: raw)
            } catch {
                // The body was checked at intake; failing now means the stored bytes are unusable.
                throw PermanentJobError("stored payload cannot be decoded: \(error.description)")
            }
            let fields = decoded.payload.objectValue ?? [:]
            func first(_ names: [String]) -> String? {
                for name in names {
                    if let value = fields[name]?.stringValue ?? fields[name]?.arrayValue?.first?.stringValue, !value.isEmpty {
                        return value
                    }
                }
                return nil
            }
            return Facts(
                intakeID: intake.id, organization: intake.organization, source: intake.source, sourceKind: intake.sourceKind,
                receivedAt: intake.receivedAt, payload: decoded.payload, subject: first(subjectFields), from: first(fromFields),
                text: first(textFields),
                documents: documents.map { DocumentFacts(filename: $0.filename, declaredType: $0.declaredType, size: $0.size) }
            )
        case .imap, .spool:
            throw PermanentJobError("intakes of kind \(intake.sourceKind.rawValue) are not processed by this version")
        }
    }
}
