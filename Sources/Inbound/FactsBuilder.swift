public import Core
public import Foundation
public import Mail

/// Turns a stored intake back into the Facts routing sees. Runs in the processing job, from the
/// durable raw bytes, so a job re-run after a crash sees exactly what the first run saw.
public enum FactsBuilder {
    /// Form fields commonly used for the sender's address and the subject line, in order of preference.
    static let fromFields = ["email", "from", "sender", "reply_to"]
    static let subjectFields = ["subject", "title", "topic"]
    static let textFields = ["message", "body", "text", "comments", "description"]

    /// Facts of one stored intake, read from `blobs`. A message kept as a file (the file tier) is
    /// parsed from the file with its attachments only hashed, so a large message is never loaded
    /// into memory; everything else is read with `get`.
    public static func facts(for intake: Intake, blobs: any BlobStore, documents: [Document], outcomes: [String: DocumentOutcome] = [:], parser: MessageParser = MessageParser()) async throws -> Facts {
        if WebhookPayload.mediaType(intake.contentType) == MailIntake.contentType, let file = try await blobs.fileURL(for: intake.rawBlob) {
            let path = file.path
            let parsed: Result<ParsedMessage, any Error> = await MailIntake.blocking {
                Result { try parser.parse(fileAt: path).parsed }
            }
            let message: Message
            switch parsed {
            case .success(let result): message = result.message
            case .failure(let error as MailParseError):
                throw PermanentJobError("stored message cannot be parsed: \(error.description)")
            case .failure(let error):
                throw error
            }
            return messageFacts(for: intake, message: message, documents: documents, outcomes: outcomes)
        }
        let raw = try await blobs.get(intake.rawBlob)
        return try facts(for: intake, raw: raw, documents: documents, outcomes: outcomes, parser: parser)
    }

    /// Facts of one intake. Messages (`message/rfc822`, whatever the source kind) are parsed with
    /// `parser`; webhook and CLI payloads are decoded by media type.
    /// `outcomes` (by document id) fill in each document's text, kind and fields once extracted.
    public static func facts(for intake: Intake, raw: Data, documents: [Document], outcomes: [String: DocumentOutcome] = [:], parser: MessageParser = MessageParser()) throws -> Facts {
        if WebhookPayload.mediaType(intake.contentType) == MailIntake.contentType {
            return try messageFacts(for: intake, raw: raw, documents: documents, outcomes: outcomes, parser: parser)
        }
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
                documents: documentFacts(documents, outcomes: outcomes)
            )
        case .imap, .spool:
            throw PermanentJobError("intakes of kind \(intake.sourceKind.rawValue) must be message/rfc822, not \(intake.contentType.isEmpty ? "(none)" : intake.contentType)")
        }
    }

    /// A parsed email: subject, first From address and text body up front, the whole message in
    /// `Facts.message`. Malformed mail still routes (its defects are in the message); only a
    /// message over the parser's limits fails, permanently, with the reason.
    static func messageFacts(for intake: Intake, raw: Data, documents: [Document], outcomes: [String: DocumentOutcome], parser: MessageParser) throws -> Facts {
        let message: Message
        do {
            message = try parser.parse(raw).message
        } catch {
            throw PermanentJobError("stored message cannot be parsed: \(error.description)")
        }
        return messageFacts(for: intake, message: message, documents: documents, outcomes: outcomes)
    }

    static func messageFacts(for intake: Intake, message: Message, documents: [Document], outcomes: [String: DocumentOutcome]) -> Facts {
        Facts(
            intakeID: intake.id, organization: intake.organization, source: intake.source, sourceKind: intake.sourceKind,
            receivedAt: intake.receivedAt, subject: message.subject, from: message.from.first?.address, text: message.text,
            message: message,
            documents: documentFacts(documents, outcomes: outcomes)
        )
    }

    /// What routing sees of each document: extracted text, kind and fields when extraction completed.
    static func documentFacts(_ documents: [Document], outcomes: [String: DocumentOutcome]) -> [DocumentFacts] {
        documents.map { document in
            let outcome = outcomes[document.id]
            let completed = outcome?.status == .completed
            return DocumentFacts(
                filename: document.filename, declaredType: document.declaredType, size: document.size,
                kind: completed ? outcome?.kind : nil, text: completed ? outcome?.extraction?.text : nil,
                fields: completed ? outcome?.fields : nil
            )
        }
    }
}
