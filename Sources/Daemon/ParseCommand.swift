import ArgumentParser
import Core
import Foundation
import Mail

/// `astralisd parse FILE`: how the daemon reads an email, as JSON. Needs no configuration and
/// never touches the store. The JSON schema is documented in docs/mail.md.
struct Parse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse an email file (RFC 5322, .eml) and print what the daemon reads from it as JSON."
    )

    @Argument(help: "The message file (.eml), or - for standard input.") var file: String
    @Option(help: "Largest message parsed, in bytes.") var maxMessageBytes = MailLimits.default.maxMessageBytes
    @Option(help: "Most MIME parts examined.") var maxParts = MailLimits.default.maxParts
    @Option(help: "Deepest MIME nesting examined.") var maxDepth = MailLimits.default.maxDepth

    func run() async throws {
        let raw: Data
        do {
            if file == "-" {
                raw = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                raw = try Data(contentsOf: URL(fileURLWithPath: file))
            }
        } catch {
            FileHandle.standardError.write(Data("cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        let parser = MessageParser(limits: MailLimits(maxMessageBytes: maxMessageBytes, maxParts: maxParts, maxDepth: maxDepth))
        let parsed: ParsedMessage
        do {
            parsed = try parser.parse(raw)
        } catch {
            FileHandle.standardError.write(Data("\(file): \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(ParsedMessageJSON(parsed)), as: UTF8.self))
    }
}

/// The JSON `astralisd parse` prints (docs/mail.md): snake_case keys, every key always present
/// (null when absent), dates in ISO 8601.
struct ParsedMessageJSON: Encodable {
    let parsed: ParsedMessage

    init(_ parsed: ParsedMessage) {
        self.parsed = parsed
    }

    private enum Keys: String, CodingKey {
        case messageID = "message_id", subject, date, from, to, cc, replyTo = "reply_to", returnPath = "return_path"
        case inReplyTo = "in_reply_to", references, headers, text, textSource = "text_source", attachments, defects, size
        case limitReached = "limit_reached"
    }

    private struct Address: Encodable {
        let name: String?
        let address: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(address, forKey: .address)
        }

        private enum CodingKeys: String, CodingKey { case name, address }
    }

    private struct Attachment: Encodable {
        let metadata: MessageAttachment

        private enum CodingKeys: String, CodingKey {
            case filename, type, size, sha256, disposition, contentID = "content_id", part
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(metadata.filename, forKey: .filename)
            try container.encode(metadata.declaredType, forKey: .type)
            try container.encode(metadata.size, forKey: .size)
            try container.encode(metadata.sha256, forKey: .sha256)
            try container.encode(metadata.disposition.rawValue, forKey: .disposition)
            try container.encode(metadata.contentID, forKey: .contentID)
            try container.encode(metadata.partPath, forKey: .part)
        }
    }

    func encode(to encoder: any Encoder) throws {
        let message = parsed.message
        func addresses(_ list: [MailAddress]) -> [Address] { list.map { Address(name: $0.name, address: $0.address) } }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(message.messageID, forKey: .messageID)
        try container.encode(message.subject, forKey: .subject)
        try container.encode(message.date, forKey: .date)
        try container.encode(addresses(message.from), forKey: .from)
        try container.encode(addresses(message.to), forKey: .to)
        try container.encode(addresses(message.cc), forKey: .cc)
        try container.encode(addresses(message.replyTo), forKey: .replyTo)
        try container.encode(message.returnPath, forKey: .returnPath)
        try container.encode(message.inReplyTo, forKey: .inReplyTo)
        try container.encode(message.references, forKey: .references)
        try container.encode(message.headers.map { ["name": $0.name, "value": $0.value] }, forKey: .headers)
        try container.encode(message.text, forKey: .text)
        try container.encode(message.textSource.rawValue, forKey: .textSource)
        try container.encode(message.attachments.map(Attachment.init), forKey: .attachments)
        try container.encode(message.defects, forKey: .defects)
        try container.encode(message.size, forKey: .size)
        try container.encode(parsed.limitReached, forKey: .limitReached)
    }
}
