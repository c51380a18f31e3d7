import Core
import Foundation
import Mail
import Testing

/// Limits, threads, memory, and inputs nobody wrote on purpose.
@Suite("Parser limits and safety")
struct ParserSafetyTests {
    @Test("over maxMessageBytes: a clear error, nothing parsed")
    func tooLarge() throws {
        let raw = try Corpus.data("outlook-related.eml")
        let parser = MessageParser(limits: MailLimits(maxMessageBytes: 1000))
        #expect(throws: MailParseError.messageTooLarge(size: raw.count, limit: 1000)) { try parser.parse(raw) }
        let error = MailParseError.messageTooLarge(size: raw.count, limit: 1000)
        #expect(error.description == "message is \(raw.count) bytes, over the limit of 1000 bytes (MailLimits.maxMessageBytes); it was not parsed")
    }

    @Test("over maxParts: the walk stops there, headers and earlier parts are kept, the reason is given")
    func tooManyParts() throws {
        // mixed(1) › related(2) › alternative(3) › plain(4) › html(5) › image(6) › winmail(7)...
        let parsed = try Corpus.parse("outlook-related.eml", limits: MailLimits(maxParts: 6))
        let reason = "part limit reached: more than 6 MIME parts (MailLimits.maxParts); part 2 and everything after it were not examined"
        #expect(parsed.limitReached == reason)
        #expect(parsed.message.defects == [reason])
        #expect(parsed.message.subject == "AW: Angebot für Wartung")
        #expect(parsed.message.text?.hasPrefix("Guten Tag,") == true)
        #expect(parsed.message.attachments.map(\.filename) == ["image001.png"])
    }

    @Test("over maxDepth: the deep subtree is skipped with the reason, siblings are still read")
    func tooDeep() throws {
        let parsed = try Corpus.parse("forwarded-rfc822.eml", limits: MailLimits(maxDepth: 1))
        let reason = "nesting limit reached: the message in part 2 is nested 2 levels deep (MailLimits.maxDepth is 1); it was not examined"
        #expect(parsed.limitReached == reason)
        #expect(parsed.message.defects == [reason])
        #expect(parsed.message.text == "See the forwarded invoice below.")
        #expect(parsed.message.attachments.isEmpty)
    }

    @Test("thousands of nested multiparts: bounded by the depth limit, no crash")
    func deepNesting() throws {
        let depth = 3000
        var text = "From: a@example.com\nSubject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n"
        for level in 1..<depth { text += "--b\(level - 1)\nContent-Type: multipart/mixed; boundary=\"b\(level)\"\n\n" }
        text += "--b\(depth - 1)\nContent-Type: application/pdf\n\nx\n"
        for level in (0..<depth).reversed() { text += "--b\(level)--\n" }
        let parsed = try MessageParser().parse(Data(text.utf8))
        #expect(parsed.message.subject == "deep")
        #expect(parsed.limitReached?.hasPrefix("nesting limit reached: part 1.1.1.1") == true, "\(String(describing: parsed.limitReached))")
        #expect(parsed.message.attachments.isEmpty)
    }

    @Test("many tasks parse at once and each gets exactly what a lone parse gets")
    func concurrentParses() async throws {
        let inputs = try Corpus.names.map { try Corpus.data($0) }
        let parser = MessageParser()
        let expected = try inputs.map { try parser.parse($0) }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<32 {
                group.addTask {
                    var mismatches = 0
                    for round in 0..<5 {
                        for (index, input) in inputs.enumerated() {
                            let position = (index + task + round) % inputs.count
                            if try parser.parse(inputs[position]) != expected[position] { mismatches += 1 }
                            _ = input
                        }
                    }
                    return mismatches
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test("repeated parses free their GMime objects: memory does not grow")
    func noLeakOnRepeatedParses() throws {
        // A 1 MiB base64 attachment: a parse that leaked its GMime objects would keep the raw copy
        // (1.4 MiB) and the decoded bytes (1 MiB) each time, over 1.2 GiB for 500 parses.
        let payload = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let raw = Data("""
            From: big@example.com
            Subject: big
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="x"

            --x
            Content-Type: text/plain

            see attachment
            --x
            Content-Type: application/octet-stream; name="big.bin"
            Content-Transfer-Encoding: base64

            \(payload.base64EncodedString(options: .lineLength76Characters))
            --x--

            """.utf8)
        let parser = MessageParser()
        for _ in 0..<20 { _ = try parser.parse(raw) }
        let before = residentBytes()
        for _ in 0..<500 {
            let parsed = try parser.parse(raw)
            #expect(parsed.attachments.first?.data.count == payload.count)
        }
        // Other suites run in this process at the same time and move the resident size too (up
        // to ~180 MiB seen in CI); a leak of even the decoded bytes alone would add 500 MiB.
        let growth = residentBytes() - before
        #expect(growth < 400 * 1024 * 1024, "resident memory grew by \(growth / 1024 / 1024) MiB over 500 parses")
    }

    /// Resident set size from /proc (Linux).
    private func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test("cut-off and corrupted copies of every corpus message parse without crashing")
    func mangledInputs() throws {
        var generator = SplitMix(seed: 0x5EED)
        let parser = MessageParser()
        for name in Corpus.names {
            let raw = try Corpus.data(name)
            guard !raw.isEmpty else { continue }
            for cut in stride(from: 0, to: raw.count, by: max(1, raw.count / 12)) {
                _ = try parser.parse(raw.prefix(cut))
            }
            for _ in 0..<12 {
                var mangled = [UInt8](raw)
                for _ in 0..<8 {
                    let index = Int(generator.next() % UInt64(mangled.count))
                    mangled[index] = UInt8(truncatingIfNeeded: generator.next())
                }
                let parsed = try parser.parse(Data(mangled))
                #expect(parsed.message.size == mangled.count)
            }
        }
    }
}

/// A small deterministic generator, so a failing mangled input can be reproduced.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
