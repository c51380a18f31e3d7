import Core
import Foundation
import Mail
import Synchronization
import Testing

/// A writer that keeps the pieces in memory, so the tests can compare them.
final class MemoryBlobWriter: BlobWriter, Sendable {
    private let state = Mutex((data: Data(), sealed: false))

    var bytesWritten: Int { state.withLock { $0.data.count } }
    var data: Data { state.withLock { $0.data } }
    var sealed: Bool { state.withLock { $0.sealed } }

    func write(_ chunk: Data) throws {
        try state.withLock { state in
            guard !state.sealed else { throw StoreError.invalid("written after seal") }
            state.data.append(chunk)
        }
    }

    func seal() throws {
        state.withLock { $0.sealed = true }
    }

    func finish() async throws -> BlobRef {
        BlobRef(sha256: Corpus.sha256(data), size: bytesWritten)
    }

    func discard() {}
}

@Suite("Parsing from a file")
struct FileParseTests {
    static func file(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-parse-\(UUID().uuidString).eml").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The file parse reads the same message as the in-memory parse, for every corpus message:
    /// same headers, text, defects and attachment metadata; the streamed bytes are the bytes.
    @Test(arguments: Corpus.names)
    func sameMessageAsFromMemory(name: String) throws {
        let raw = try Corpus.data(name)
        let path = try Self.file(raw)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let expected = try MessageParser().parse(raw)
        var writers: [MemoryBlobWriter] = []
        let streamed = try MessageParser().parse(fileAt: path, attachmentWriter: {
            let writer = MemoryBlobWriter()
            writers.append(writer)
            return writer
        })
        #expect(streamed.parsed.message == expected.message)
        #expect(streamed.parsed.limitReached == expected.limitReached)
        #expect(streamed.writers.count == expected.attachments.count)
        #expect(writers.count == expected.attachments.count)
        for (index, attachment) in expected.attachments.enumerated() where index < writers.count {
            #expect(writers[index].data == attachment.data, "attachment \(attachment.metadata.partPath) of \(name)")
            #expect(writers[index].sealed)
            #expect(streamed.parsed.attachments[index].data.isEmpty)
        }
        // Without a writer the attachments are only hashed.
        let hashed = try MessageParser().parse(fileAt: path)
        #expect(hashed.parsed.message == expected.message)
        #expect(hashed.writers.isEmpty)
    }

    @Test func largeAttachmentIsStreamedNotHeld() throws {
        var payload = Data(count: 5 << 20)
        payload.withUnsafeMutableBytes { buffer in
            for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 7) }
        }
        let raw = Data("""
            From: a@example.com\r
            Subject: big\r
            Message-ID: <big@example.com>\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="b"\r
            \r
            --b\r
            Content-Type: text/plain\r
            \r
            See attached.\r
            --b\r
            Content-Type: application/octet-stream; name="blob.bin"\r
            Content-Disposition: attachment; filename="blob.bin"\r
            Content-Transfer-Encoding: base64\r
            \r

            """.utf8) + Data(payload.base64EncodedString(options: .lineLength76Characters).utf8) + Data("\r\n--b--\r\n".utf8)
        let path = try Self.file(raw)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = MemoryBlobWriter()
        let streamed = try MessageParser().parse(fileAt: path, attachmentWriter: { writer })
        let attachment = try #require(streamed.parsed.attachments.first)
        #expect(attachment.metadata.size == payload.count)
        #expect(attachment.metadata.sha256 == Corpus.sha256(payload))
        #expect(writer.data == payload)
        #expect(streamed.parsed.message.text == "See attached.")
        #expect(streamed.parsed.message.size == raw.count)
    }

    @Test func limitsAndMissingFiles() throws {
        let path = try Self.file(Data("Subject: x\r\n\r\nbody\r\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: MailParseError.messageTooLarge(size: 20, limit: 10)) {
            try MessageParser(limits: MailLimits(maxMessageBytes: 10)).parse(fileAt: path)
        }
        #expect(throws: MessageFileError.self) { try MessageParser().parse(fileAt: path + ".missing") }
    }

    @Test func writerErrorsFailTheParse() throws {
        let raw = try Corpus.data(Corpus.names.first { $0.contains("forwarded") } ?? Corpus.names[0])
        let path = try Self.file(raw)
        defer { try? FileManager.default.removeItem(atPath: path) }
        struct Full: Error {}
        #expect(throws: Full.self) { try MessageParser().parse(fileAt: path, attachmentWriter: { throw Full() }) }
    }
}
