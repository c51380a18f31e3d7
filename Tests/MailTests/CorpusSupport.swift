import Core
import Crypto
import Foundation
import Mail

/// The hand-written messages under `Corpus/` and the bytes their attachments decode to. The
/// expected hashes are computed here with swift-crypto from these literals, independently of the
/// parser's own hashing.
enum Corpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    static func parse(_ name: String, limits: MailLimits = .default) throws -> ParsedMessage {
        try MessageParser(limits: limits).parse(data(name))
    }

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(_ text: String) -> Data { Data(text.utf8) }

    // Attachment contents, exactly as base64-encoded into the corpus files.
    static let pdf = bytes("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    static let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]) + bytes("fake-image-bytes")
    static let tnef = Data([0x78, 0x9F, 0x3E, 0x22]) + bytes("winmail-attachment-stream")
    static let docx = Data([0x50, 0x4B, 0x03, 0x04]) + bytes("docx-bytes-for-the-test")
    static let invoice = bytes("%PDF-1.7\nforwarded invoice 2026-0042\n%%EOF\n")
    static let xlsx = Data([0x50, 0x4B, 0x03, 0x04]) + bytes("xlsx-bytes")
    static let report = bytes("%PDF-1.5\njapanese report\n%%EOF\n")
    static let csv = bytes("id;amount\n1;12.50\n2;7.00\n")

    static func date(_ iso: String) -> Date? {
        ISO8601DateFormatter().date(from: iso)
    }
}
