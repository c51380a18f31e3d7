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

    @Argument(help: "The message file (.eml), or - for standard input.") var file: String?
    @Option(help: "Take the mail limits from this configuration file's `mail` section (the flags below still win).") var config: String?
    @Option(help: "Largest message parsed, in bytes (default: the configuration's, else 50 MiB).") var maxMessageBytes: Int?
    @Option(help: "Most MIME parts examined (default: the configuration's, else 1000).") var maxParts: Int?
    @Option(help: "Deepest MIME nesting examined (default: the configuration's, else 32).") var maxDepth: Int?
    @Option(help: "Benchmark: parse every file in this folder --iterations times in this process and print counts and timings instead of JSON.") var bench: String?
    @Option(help: "With --bench: passes over the folder.") var iterations = 1

    func validate() throws {
        guard (file == nil) != (bench == nil) else { throw ValidationError("give either a message FILE or --bench DIR") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
    }

    /// The configuration's `mail` limits (defaults without `--config`), then the flags on top.
    func limits() throws -> MailLimits {
        var limits = MailLimits.default
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                FileHandle.standardError.write(Data("cannot read \(config)\n".utf8))
                throw ExitCode(1)
            }
            do {
                limits = MailLimits(try ConfigParser.parse(data, sourceName: config, environment: ProcessInfo.processInfo.environment).mail)
            } catch {
                FileHandle.standardError.write(Data("\(error.description)\n".utf8))
                throw ExitCode(1)
            }
        }
        if let maxMessageBytes { limits.maxMessageBytes = maxMessageBytes }
        if let maxParts { limits.maxParts = maxParts }
        if let maxDepth { limits.maxDepth = maxDepth }
        return limits
    }

    func run() async throws {
        let parser = MessageParser(limits: try limits())
        if let bench {
            try runBench(folder: bench, parser: parser)
            return
        }
        let file = self.file ?? "-"
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

extension Parse {
    /// `--bench DIR`: the full parse `parse FILE` does (structure, decoded bodies and attachments,
    /// SHA-256 of each attachment, text from HTML) over every file, on one thread, files read
    /// into memory first so only parsing is timed. Prints one `key=value` line for scripts.
    func runBench(folder: String, parser: MessageParser) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            FileHandle.standardError.write(Data("cannot list \(folder): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        let messages = names.compactMap { FileManager.default.contents(atPath: folder + "/" + $0) }
        let bytes = messages.reduce(0) { $0 + $1.count }
        var parsed = 0
        var refused = 0
        var attachments = 0
        var textCharacters = 0
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations {
            for raw in messages {
                do {
                    let message = try parser.parse(raw)
                    parsed += 1
                    attachments += message.attachments.count
                    textCharacters += message.message.text?.utf8.count ?? 0
                } catch {
                    refused += 1
                }
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let total = Double(bytes) * Double(iterations)
        print("files=\(messages.count) iterations=\(iterations) parsed=\(parsed) refused=\(refused) attachments=\(attachments) text_bytes=\(textCharacters) bytes=\(Int(total)) seconds=\(String(format: "%.4f", seconds)) messages_per_second=\(String(format: "%.1f", Double(parsed + refused) / max(seconds, 1e-9))) mb_per_second=\(String(format: "%.2f", total / 1_000_000 / max(seconds, 1e-9)))")
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
