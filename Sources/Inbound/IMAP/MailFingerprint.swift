public import Foundation
import Crypto

/// How a message is recognised when its UID no longer says anything (the folder's UIDVALIDITY
/// changed): its Message-ID plus the SHA-256 of its raw bytes.
public enum MailFingerprint {
    /// `"<message-id>:<sha256 hex>"` (`"<none>:..."` without a Message-ID).
    public static func make(_ raw: Data) -> String {
        let digest = SHA256.hash(data: raw).map { String(format: "%02x", $0) }.joined()
        return "\(messageID(in: raw) ?? "<none>"):\(digest)"
    }

    /// The Message-ID header's value (with its angle brackets), found by a small scan of the header
    /// block. The Mail module's parser replaces this once it lands; keep it the one place that reads it.
    public static func messageID(in raw: Data) -> String? {
        let limit = min(raw.count, 256 * 1024)
        let bytes = raw.prefix(limit)
        // The header block ends at the first empty line.
        var lines: [String] = []
        var current: [UInt8] = []
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                current.append(byte)
                continue
            }
            if current.last == UInt8(ascii: "\r") { current.removeLast() }
            if current.isEmpty { break }
            let line = String(decoding: current, as: UTF8.self)
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                // A folded continuation of the previous header.
                lines[lines.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
            } else {
                lines.append(line)
            }
            current.removeAll(keepingCapacity: true)
        }
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            guard line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "message-id" else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let open = value.firstIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
                let id = String(value[open...close])
                return id.count > 2 && id.count <= 998 ? id : nil
            }
            return value.isEmpty || value.count > 998 ? nil : "<\(value)>"
        }
        return nil
    }
}
